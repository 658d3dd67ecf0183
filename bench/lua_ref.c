/* The C side of bench/lua_bench.lua (make bench-lua): the same loop as the
 * Lua one, through the verifier handle directly, so the two rates printed
 * side by side differ only by the binding's per-call cost.
 *
 *   lua_ref mint CONF JID N FILE     N fresh tokens for JID, one a line
 *   lua_ref time CONF JID FILE WARM CALLS
 *       a handle on CONF; verify the first WARM tokens of FILE (not timed:
 *       a new replay store's first uses map and touch its pages), then
 *       CALLS verifications cycling through the others, timed in CPU time
 *       of this process; prints verifications per CPU second.
 * Every verification must succeed: a refusal ends the run (exit 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xtoken.h"

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int mint(const char *conf, const char *jid, unsigned long n, const char *path)
{
    char err[XT_ERR_MAX] = "", token[XT_TOKEN_MAX + 1];
    xt_config *cfg = NULL;
    FILE *out = NULL;
    int rc = 2;

    if (xt_config_load(conf, &cfg, err, sizeof(err)) != XT_OK) {
        fprintf(stderr, "lua_ref: %s\n", err);
        goto cleanup;
    }
    out = fopen(path, "w");
    if (out == NULL) {
        perror(path);
        goto cleanup;
    }
    for (unsigned long i = 0; i < n; i++) {
        int st = xt_issue(cfg, jid, time(NULL), token, sizeof(token));
        if (st != XT_OK) {
            fprintf(stderr, "lua_ref: issue: %s\n", xt_strerror(st));
            goto cleanup;
        }
        fprintf(out, "%s\n", token);
    }
    rc = 0;
cleanup:
    if (out != NULL && fclose(out) != 0 && rc == 0) {
        perror(path);
        rc = 2;
    }
    xt_config_free(cfg);
    return rc;
}

/* The tokens of path, back to back as the file has them (each line's
 * newline made a NUL), and *n pointers to them: the layout of the Lua
 * side's strings, not a padded array (a 16 MiB store plus a sparse pool
 * would cost the C loop TLB misses the Lua loop does not pay). */
static char **read_tokens(const char *path, char **text, size_t *n)
{
    size_t cap = 0, count = 0, len = 0;
    char **tokens = NULL;
    FILE *in = fopen(path, "r");
    long end;

    *text = NULL;
    if (in == NULL || fseek(in, 0, SEEK_END) != 0)
        goto fail;
    end = ftell(in); /* -1 on error: refused, never a size */
    if (end <= 0 || fseek(in, 0, SEEK_SET) != 0)
        goto fail;
    len = (size_t)end;
    *text = malloc(len + 1);
    if (*text == NULL || fread(*text, 1, len, in) != len)
        goto fail;
    (*text)[len] = '\0';
    for (char *line = *text; line < *text + len;) {
        char *nl = strchr(line, '\n');
        if (nl == NULL)
            nl = *text + len;
        *nl = '\0';
        if (count == cap) {
            char **bigger = (char **)realloc((void *)tokens, (cap ? 2 * cap : 1024) * sizeof(*tokens));
            if (bigger == NULL)
                goto fail;
            tokens = bigger;
            cap = cap ? 2 * cap : 1024;
        }
        tokens[count++] = line;
        line = nl + 1;
    }
    fclose(in);
    *n = count;
    return tokens;
fail:
    if (in != NULL)
        fclose(in);
    free(*text);
    *text = NULL;
    free((void *)tokens);
    return NULL;
}

static int verify_one(xt_verifier *v, const char *jid, const char *token)
{
    time_t now = time(NULL);
    int st;

    xt_verifier_refresh(v, now, 0);
    st = xt_verifier_verify(v, jid, token, strlen(token), now, NULL);
    if (st != XT_OK)
        fprintf(stderr, "lua_ref: refused: %s\n", xt_strerror(st));
    return st;
}

static int time_calls(const char *conf, const char *jid, const char *path, size_t warm,
                      size_t calls)
{
    xt_verifier *v = NULL;
    size_t n = 0, pool;
    char *text;
    char **tokens = read_tokens(path, &text, &n);
    double start;
    int rc = 1;

    if (tokens == NULL || n <= warm) {
        fprintf(stderr, "lua_ref: %s: want more than %zu tokens\n", path, warm);
        goto cleanup;
    }
    if (xt_verifier_new(conf, 0, &v) != XT_OK || xt_verifier_status(v) != XT_OK) {
        fprintf(stderr, "lua_ref: %s\n", v ? xt_verifier_error(v) : "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < warm; i++)
        if (verify_one(v, jid, tokens[i]) != XT_OK)
            goto cleanup;
    pool = n - warm;
    start = cpu_seconds();
    for (size_t i = 0; i < calls; i++)
        if (verify_one(v, jid, tokens[warm + i % pool]) != XT_OK)
            goto cleanup;
    printf("%.0f\n", (double)calls / (cpu_seconds() - start));
    rc = 0;
cleanup:
    xt_verifier_free(v);
    free((void *)tokens);
    free(text);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "mint") == 0)
        return mint(argv[2], argv[3], strtoul(argv[4], NULL, 10), argv[5]);
    if (argc == 7 && strcmp(argv[1], "time") == 0)
        return time_calls(argv[2], argv[3], argv[4], strtoul(argv[5], NULL, 10),
                          strtoul(argv[6], NULL, 10));
    fprintf(stderr, "usage: lua_ref mint CONF JID N FILE | time CONF JID FILE WARM CALLS\n");
    return 2;
}
