/* xtoken doctor: the command, the report lines and the list of who uses
 * which config. The checks live in doctor_*.c, one area each. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "doctor.h"
#include "tool.h"

static const char doctor_usage[] =
    "Usage: xtoken doctor [--config F] [--root DIR]\n"
    "Check this machine's token login setup: the config (check-config, readable by\n"
    "each service user), ejabberd (/etc/ejabberd/ejabberd.yml), Prosody\n"
    "(/etc/prosody/prosody.cfg.lua), saslauthd (/etc/default/saslauthd), every\n"
    "/etc/pam.d file naming pam_xtoken.so, the replay directory and the clock.\n"
    "One line per finding: ok, warn or FAIL, with what is wrong, why it matters and\n"
    "the fix.\n"
    "  --config F   the config a service uses when it names none (default\n"
    "               " XT_DEFAULT_CONFIG ")\n"
    "  --root DIR   read every file below DIR instead of / (a staged image, tests)\n"
    "Exit 0 no FAIL, 1 any FAIL, 2 usage error.\n";

void doc_report(struct doctor *d, enum doc_level level, const char *area, const char *fmt, ...)
{
    static const char *const names[] = {"ok", "warn", "FAIL"};
    va_list ap;

    if (level == DOC_OK)
        d->n_ok++;
    else if (level == DOC_WARN)
        d->n_warn++;
    else
        d->n_fail++;
    printf("%-4s %s: ", names[level], area);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

void doc_add_use(struct doctor *d, const char *user, const char *config, const char *domain,
                 const char *who, int replay_off)
{
    struct doc_use *use;

    if (d->n_uses == DOC_USES_MAX) {
        doc_report(d, DOC_WARN, "doctor", "more than %d services use tokens; %s not checked",
                   DOC_USES_MAX, who);
        return;
    }
    use = &d->uses[d->n_uses++];
    snprintf(use->user, sizeof use->user, "%s", user);
    snprintf(use->config, sizeof use->config, "%s", config ? config : d->config);
    snprintf(use->domain, sizeof use->domain, "%s", domain ? domain : "");
    snprintf(use->who, sizeof use->who, "%s", who);
    use->replay_off = replay_off;
}

/* --root DIR as a prefix: "" for /, no trailing slash. 0; -1 if unusable. */
static int root_prefix(const char *root, char *out, size_t outlen)
{
    size_t n;

    if (root == NULL)
        root = "/";
    if (root[0] != '/') {
        tool_error("doctor: --root wants an absolute path, got '%s'", root);
        return -1;
    }
    n = strlen(root);
    while (n > 0 && root[n - 1] == '/')
        n--;
    if (n >= outlen) {
        tool_error("doctor: --root is too long");
        return -1;
    }
    memcpy(out, root, n);
    out[n] = '\0';
    return 0;
}

int cmd_doctor(int argc, char **argv)
{
    static struct doctor d; /* large (the uses): not on the stack */
    static char root[DOC_PATH_MAX];
    struct cli_opts opts;
    int rc = cli_parse("doctor", doctor_usage, argc, argv, OPT_CONFIG | OPT_ROOT, 0, &opts);

    if (rc != EXIT_OK || opts.help)
        return rc;
    if (root_prefix(opts.root, root, sizeof root) != 0)
        return EXIT_USAGE;
    if (opts.config[0] != '/') {
        tool_error("doctor: --config wants an absolute path, got '%s'", opts.config);
        return EXIT_USAGE;
    }
    memset(&d, 0, sizeof d);
    d.root = root;
    d.config = opts.config;
    doc_check_pam_files(&d);
    doc_check_ejabberd(&d);
    doc_check_prosody(&d);
    doc_check_saslauthd(&d);
    doc_check_configs(&d);
    doc_check_clock(&d);
    printf("doctor: %u ok, %u warn, %u FAIL\n", d.n_ok, d.n_warn, d.n_fail);
    if (fflush(stdout) != 0) {
        tool_error("doctor: cannot write to stdout");
        return EXIT_USAGE;
    }
    return d.n_fail > 0 ? EXIT_REFUSED : EXIT_OK;
}
