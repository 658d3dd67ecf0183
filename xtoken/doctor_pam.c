/* xtoken doctor: /etc/pam.d service files. Each line naming pam_xtoken.so
 * has its arguments checked by the module's own rules (shared/pamargs.c)
 * and its module file looked for where Linux-PAM looks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor.h"
#include "xtoken.h"

#ifndef XT_PAM_MODULE_DIR /* set by the build from pkg-config pam */
#define XT_PAM_MODULE_DIR "/lib/x86_64-linux-gnu/security"
#endif
#define PAMD_FILE_MAX  (256 * 1024)
#define PAMD_WORDS_MAX 64
#define INCLUDE_DEPTH  4

/* One logical line split into words; "[...]" is one word (brackets kept
 * off, "\]" inside unescaped), as Linux-PAM reads control values and
 * arguments. Modifies line. Returns the number of words. */
static int split_words(char *line, char **words, int max)
{
    int n = 0;
    char *p = line;

    while (n < max) {
        p += strspn(p, " \t\r\n");
        if (*p == '\0')
            break;
        if (*p == '[') {
            char *out = ++p;
            words[n++] = out;
            for (; *p && *p != ']'; p++) {
                if (p[0] == '\\' && p[1] == ']')
                    p++;
                *out++ = *p;
            }
            if (*p)
                p++;
            *out = '\0';
            continue;
        }
        words[n++] = p;
        p += strcspn(p, " \t\r\n");
        if (*p)
            *p++ = '\0';
    }
    return n;
}

/* Next logical line of text (comments cut, "\"-newline joined), in place.
 * NULL at the end. *lineno gets the number of its first physical line. */
static char *next_line(char **cursor, unsigned *lineno, unsigned *next_no)
{
    char *start = *cursor, *p, *out;

    if (*start == '\0')
        return NULL;
    *lineno = *next_no;
    for (p = out = start; *p && *p != '\n'; p++) {
        if (p[0] == '\\' && p[1] == '\n') {
            p++;
            (*next_no)++;
            *out++ = ' ';
            continue;
        }
        *out++ = *p;
    }
    (*next_no)++;
    *cursor = *p ? p + 1 : p;
    *out = '\0';
    out = strchr(start, '#');
    if (out)
        *out = '\0';
    return start;
}

static int names_pam_xtoken(const char *module)
{
    const char *base = strrchr(module, '/');

    return strcmp(base ? base + 1 : module, "pam_xtoken.so") == 0;
}

/* The module's type word without a leading '-' (optional module). */
static const char *line_type(const char *word)
{
    return word[0] == '-' ? word + 1 : word;
}

static void record_line(struct doc_pam_service *svc, char **words, int n)
{
    const char *type = line_type(words[0]);
    int first = !svc->auth && !svc->account;

    if (strcmp(type, "auth") == 0)
        svc->auth = 1;
    else if (strcmp(type, "account") == 0)
        svc->account = 1;
    else
        return;
    if (!first)
        return;
    xt_pam_args_init(&svc->args);
    /* keep the argument strings: copy them into argbuf first */
    size_t used = 0;
    for (int i = 3; i < n; i++) {
        size_t len = strlen(words[i]) + 1;
        if (used + len > sizeof svc->argbuf)
            break;
        memcpy(svc->argbuf + used, words[i], len);
        if (xt_pam_arg_apply(svc->argbuf + used, &svc->args) != XT_ARG_OK)
            svc->args_bad = 1;
        used += len;
    }
}

static int load_service(const struct doctor *d, const char *name, struct doc_pam_service *svc,
                        int depth);

/* @include recurses through load_service, at most INCLUDE_DEPTH deep. */
// NOLINTNEXTLINE(misc-no-recursion)
static void parse_service(const struct doctor *d, char *text, struct doc_pam_service *svc,
                          int depth)
{
    char *cursor = text, *line, *words[PAMD_WORDS_MAX];
    unsigned lineno, next_no = 1;

    while ((line = next_line(&cursor, &lineno, &next_no)) != NULL) {
        int n = split_words(line, words, PAMD_WORDS_MAX);
        if (n >= 2 && strcmp(words[0], "@include") == 0)
            load_service(d, words[1], svc, depth + 1);
        else if (n >= 3 && names_pam_xtoken(words[2]))
            record_line(svc, words, n);
    }
}

// NOLINTNEXTLINE(misc-no-recursion): bounded by INCLUDE_DEPTH
static int load_service(const struct doctor *d, const char *name, struct doc_pam_service *svc,
                        int depth)
{
    char path[DOC_PATH_MAX], *text = NULL;
    size_t len;

    if (name[0] == '\0' || strchr(name, '/') || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0 || depth > INCLUDE_DEPTH)
        return -1;
    snprintf(path, sizeof path, "/etc/pam.d/%s", name);
    if (doc_read(d, path, PAMD_FILE_MAX, &text, &len) != 0)
        return 0;
    if (depth == 0)
        svc->exists = 1;
    parse_service(d, text, svc, depth);
    free(text);
    return 0;
}

int doc_pam_service(const struct doctor *d, const char *name, struct doc_pam_service *svc)
{
    memset(svc, 0, sizeof *svc);
    xt_pam_args_init(&svc->args);
    return load_service(d, name, svc, 0);
}

/* Report each bad argument of one pam_xtoken.so line. */
static void check_args(struct doctor *d, const char *where, char **words, int n)
{
    struct xt_pam_args args;

    xt_pam_args_init(&args);
    for (int i = 3; i < n; i++) {
        int rc = xt_pam_arg_apply(words[i], &args);
        if (rc == XT_ARG_MALFORMED)
            doc_report(d, DOC_FAIL, where,
                       "malformed argument '%s': pam_xtoken refuses every login of this service "
                       "(PAM_SERVICE_ERR); fix: conf= wants an absolute path, domain= a domain, "
                       "users= any, nss or an absolute path, window= 0..%d (pam_xtoken(8))",
                       words[i], XT_WINDOW_MAX);
        else if (rc == XT_ARG_UNKNOWN)
            doc_report(d, DOC_FAIL, where,
                       "unknown argument '%s': pam_xtoken refuses every login of this service "
                       "(PAM_SERVICE_ERR); fix: remove it (known: conf= domain= users= window= "
                       "debug noreplay use_first_pass try_first_pass)",
                       words[i]);
    }
    if (args.noreplay)
        doc_report(d, DOC_FAIL, where,
                   "noreplay: a used token logs in again as long as it is fresh; fix: remove "
                   "noreplay from this line");
}

/* Is the module file there, and an ELF file? */
static void check_module(struct doctor *d, const char *where, const char *module)
{
    char path[DOC_PATH_MAX], *text = NULL;
    size_t len = 0;
    int n = module[0] == '/' ? snprintf(path, sizeof path, "%s", module)
                             : snprintf(path, sizeof path, "%s/%s", XT_PAM_MODULE_DIR, module);

    if (n < 0 || (size_t)n >= sizeof path)
        doc_report(d, DOC_FAIL, where, "module path too long; fix: name the module by a path "
                                       "under %s", XT_PAM_MODULE_DIR);
    else if (doc_read(d, path, 64 * 1024 * 1024, &text, &len) != 0)
        doc_report(d, DOC_FAIL, where,
                   "module %s not found: PAM fails every login of this service; fix: "
                   "apt-get install libpam-xtoken (or make install)",
                   path);
    else if (len < 4 || memcmp(text, "\177ELF", 4) != 0)
        doc_report(d, DOC_FAIL, where, "%s is not a shared library; fix: reinstall libpam-xtoken",
                   path);
    else
        doc_report(d, DOC_OK, where, "names pam_xtoken.so, module %s found", path);
    free(text);
}

/* Check one /etc/pam.d file's own pam_xtoken.so lines; 1 if it has any. */
static int check_file(struct doctor *d, const char *name)
{
    char path[DOC_PATH_MAX], where[DOC_PATH_MAX + 32], *text = NULL, *cursor, *line;
    char *words[PAMD_WORDS_MAX], module[DOC_PATH_MAX] = "";
    unsigned lineno, next_no = 1;
    struct doc_pam_service svc;

    snprintf(path, sizeof path, "/etc/pam.d/%s", name);
    size_t len;
    if (doc_read(d, path, PAMD_FILE_MAX, &text, &len) != 0)
        return 0;
    for (cursor = text; (line = next_line(&cursor, &lineno, &next_no)) != NULL;) {
        int n = split_words(line, words, PAMD_WORDS_MAX);
        if (n < 3 || !names_pam_xtoken(words[2]))
            continue;
        snprintf(where, sizeof where, "%s line %u", path, lineno);
        check_args(d, where, words, n);
        if (module[0] == '\0')
            snprintf(module, sizeof module, "%s", words[2]);
    }
    free(text);
    if (module[0] == '\0')
        return 0;
    check_module(d, path, module);
    if (doc_pam_service(d, name, &svc) == 0 && !svc.args_bad)
        doc_add_use(d, "root", svc.args.conf, svc.args.domain ? svc.args.domain : "", path,
                    svc.args.noreplay);
    return 1;
}

void doc_check_pam_files(struct doctor *d)
{
    char **names = NULL;
    int n = doc_list_dir(d, "/etc/pam.d", &names), found = 0;

    if (n < 0) {
        doc_report(d, DOC_WARN, "pam.d", "cannot list /etc/pam.d: no PAM service checked");
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *name = names[i];
        /* dpkg leftovers and editor backups are not services PAM reads */
        if (name[0] != '.' && !strstr(name, ".dpkg-") && name[strlen(name) - 1] != '~')
            found += check_file(d, name);
        free(names[i]);
    }
    free((void *)names);
    d->pam_services = found;
    if (!found)
        doc_report(d, DOC_OK, "pam.d", "no service in /etc/pam.d names pam_xtoken.so");
}
