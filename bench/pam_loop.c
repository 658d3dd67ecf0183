/* pam_loop: full PAM round trips (pam_start_confdir + pam_authenticate +
 * pam_end) with a conversation that answers the password prompt with the
 * next token from a file. Linked with libpam only, like a real host (epam,
 * saslauthd) that does not carry OpenSSL itself, so the module's own
 * dependencies are part of what is measured.
 *
 *   pam_loop CONFDIR SERVICE USER TOKENFILE COUNT [refused]
 *
 * Prints "<count> <CPU seconds> <wall seconds>" on stdout (wall clock for a
 * module that waits on a server, e.g. the replay store on Redis); exit 0
 * only if every round trip returned PAM_SUCCESS, or with `refused`
 * PAM_AUTH_ERR (what refusals cost). */
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct conv_state {
    const char *password;
};

/* Answers every PROMPT_ECHO_OFF with the current token; others get "". */
static int answer_prompts(int n, const struct pam_message **msgs, struct pam_response **resp,
                          void *appdata)
{
    const struct conv_state *state = appdata;
    struct pam_response *replies = calloc((size_t)n, sizeof(*replies));
    if (replies == NULL)
        return PAM_BUF_ERR;
    for (int i = 0; i < n; i++) {
        const char *text = msgs[i]->msg_style == PAM_PROMPT_ECHO_OFF ? state->password : "";
        replies[i].resp = strdup(text);
        if (replies[i].resp == NULL) {
            for (int j = 0; j < i; j++)
                free(replies[j].resp);
            free(replies);
            return PAM_BUF_ERR;
        }
    }
    *resp = replies;
    return PAM_SUCCESS;
}

/* Reads up to max lines of the token file into a malloc'ed array. */
static char **read_tokens(const char *path, size_t max, size_t *count)
{
    FILE *f = fopen(path, "r");
    char **tokens = (char **)calloc(max, sizeof(*tokens));
    char line[512];
    size_t n = 0;
    if (f == NULL || tokens == NULL)
        goto done;
    while (n < max && fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        tokens[n] = strdup(line);
        if (tokens[n] == NULL)
            break;
        n++;
    }
done:
    if (f != NULL)
        fclose(f);
    *count = n;
    return tokens;
}

/* CPU time (user + system) of this process: what the round trips cost,
 * whatever else the machine is doing meanwhile. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 6 && !(argc == 7 && strcmp(argv[6], "refused") == 0)) {
        fprintf(stderr, "usage: pam_loop CONFDIR SERVICE USER TOKENFILE COUNT [refused]\n");
        return 2;
    }
    int expect = argc == 7 ? PAM_AUTH_ERR : PAM_SUCCESS;
    size_t want = strtoul(argv[5], NULL, 10), have = 0, failures = 0;
    char **tokens = read_tokens(argv[4], want, &have);
    if (tokens == NULL || have == 0) {
        fprintf(stderr, "pam_loop: no tokens in %s\n", argv[4]);
        free((void *)tokens);
        return 2;
    }
    struct conv_state state = {NULL};
    struct pam_conv conv = {answer_prompts, &state};
    double start = now_s();
    struct timespec wall0, wall1;
    clock_gettime(CLOCK_MONOTONIC, &wall0);
    for (size_t i = 0; i < want; i++) {
        pam_handle_t *pamh = NULL;
        state.password = tokens[i % have];
        int rc = pam_start_confdir(argv[2], argv[3], &conv, argv[1], &pamh);
        if (rc == PAM_SUCCESS)
            rc = pam_authenticate(pamh, PAM_SILENT);
        if (rc != expect && failures++ == 0)
            fprintf(stderr, "pam_loop: round trip %zu: %s\n", i, pam_strerror(pamh, rc));
        if (pamh != NULL)
            pam_end(pamh, rc);
    }
    double elapsed = now_s() - start;
    clock_gettime(CLOCK_MONOTONIC, &wall1);
    printf("%zu %.6f %.6f\n", want, elapsed,
           (double)(wall1.tv_sec - wall0.tv_sec) + (double)(wall1.tv_nsec - wall0.tv_nsec) / 1e9);
    for (size_t i = 0; i < have; i++)
        free(tokens[i]);
    free((void *)tokens);
    return failures == 0 ? 0 : 1;
}
