/* xtoken doctor: the command, the report lines and the list of who uses
 * which config. The checks live in doctor_*.c, one area each. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "doctor.h"
#include "tool.h"
#include "xtoken.h"

static const char doctor_usage[] =
    "Usage: xtoken doctor [--config F] [--root DIR]\n"
    "Check this machine's token login setup: the config (check-config, readable by\n"
    "each service user), ejabberd (/etc/ejabberd/ejabberd.yml), Prosody\n"
    "(/etc/prosody/prosody.cfg.lua), saslauthd (/etc/default/saslauthd), every\n"
    "/etc/pam.d file naming pam_xtoken.so, the replay directory and the clock.\n"
    "One line per finding: ok, warn or FAIL, with what is wrong, why it matters and\n"
    "the fix. The server configs are evaluated in a child process confined to the\n"
    "root, as the service's user, and stopped after " DOC_STR(DOC_SANDBOX_SECONDS) " s each; bytes\n"
    "that are not printable ASCII are shown as \\xNN.\n"
    "  --config F   the config a service uses when it names none (default\n"
    "               " XT_DEFAULT_CONFIG ")\n"
    "  --root DIR   read every file below DIR instead of / (a staged image, tests)\n"
    "Exit 0 no FAIL, 1 any FAIL, 2 usage error.\n";

/* The line as it may reach a terminal: printable ASCII as is, every other
 * byte (newline, ESC, other control bytes, bytes >= 0x80) as \xNN, so that a
 * config can neither fake or hide a line nor send terminal sequences. */
static void print_escaped(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p >= 0x20 && *p < 0x7f)
            putchar(*p);
        else
            printf("\\x%02x", *p);
    }
}

void doc_report(struct doctor *d, enum doc_level level, const char *area, const char *fmt, ...)
{
    static const char *const names[] = {"ok", "warn", "FAIL"};
    char text[DOC_LINE_MAX];
    va_list ap;
    int n;

    if (level == DOC_OK)
        d->n_ok++;
    else if (level == DOC_WARN)
        d->n_warn++;
    else
        d->n_fail++;
    va_start(ap, fmt);
    n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof text)
        memcpy(text + sizeof text - 4, "...", 4);
    printf("%-4s ", names[level]);
    print_escaped(area);
    fputs(": ", stdout);
    print_escaped(text);
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

void doc_claim_pam_service(struct doctor *d, const char *service)
{
    char who[DOC_NAME_MAX];
    size_t kept = 0;

    snprintf(who, sizeof who, "/etc/pam.d/%s", service);
    for (size_t i = 0; i < d->n_uses; i++)
        if (strcmp(d->uses[i].who, who) != 0)
            d->uses[kept++] = d->uses[i];
    d->n_uses = kept;
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
    d.rootfd = open(root[0] ? root : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (d.rootfd < 0) {
        tool_error("doctor: cannot open --root %s", root);
        return EXIT_USAGE;
    }
    doc_check_pam_files(&d);
    doc_check_ejabberd(&d);
    doc_check_prosody(&d);
    doc_check_saslauthd(&d);
    doc_check_configs(&d);
    doc_check_clock(&d);
    close(d.rootfd);
    printf("doctor: %u ok, %u warn, %u FAIL\n", d.n_ok, d.n_warn, d.n_fail);
    if (fflush(stdout) != 0) {
        tool_error("doctor: cannot write to stdout");
        return EXIT_USAGE;
    }
    return d.n_fail > 0 ? EXIT_REFUSED : EXIT_OK;
}
