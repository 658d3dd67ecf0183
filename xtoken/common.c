/* Option parsing, config loading and error output shared by the subcommands. */
#include <errno.h>
#include <getopt.h> /* IWYU pragma: keep (getopt_long is in glibc's bits/getopt_ext.h) */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tool.h"
#include "xtoken.h"

void tool_error(const char *fmt, ...)
{
    va_list ap;

    fputs("xtoken: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Unix seconds from a decimal string: 1 on success, 0 if not a plain
 * non-negative number that fits in time_t. */
static int parse_unix_seconds(const char *text, time_t *out)
{
    char *end = NULL;
    unsigned long long value;

    if (text[0] < '0' || text[0] > '9')
        return 0; /* strtoull would accept "-1", " 1" and "+1" */
    errno = 0;
    value = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || value > (unsigned long long)(time_t)0x7fffffffffffLL)
        return 0;
    *out = (time_t)value;
    return 1;
}

/* Store one recognised option into opts: EXIT_OK or EXIT_USAGE. */
static int apply_option(const char *name, int opt, const char *value, struct cli_opts *opts)
{
    switch (opt) {
    case 'c':
        opts->config = value;
        opts->config_given = 1;
        break;
    case 'r':
        opts->root = value;
        break;
    case 'u':
        opts->users = value;
        break;
    case 'd':
        opts->domain = value;
        break;
    case 'p':
        opts->protocol = value;
        break;
    case 'n':
        opts->no_replay = 1;
        break;
    case 'v':
        opts->verbose = 1;
        break;
    case 'h':
        opts->help = 1;
        break;
    case 'a':
        if (!parse_unix_seconds(value, &opts->at)) {
            tool_error("%s: --at wants unix seconds (a non-negative integer), got '%s'", name,
                       value);
            return EXIT_USAGE;
        }
        /* a check at another time never touches the replay store: judged by
         * that time, live entries would look expired and could be reused */
        opts->no_replay = 1;
        break;
    default:
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

int cli_parse(const char *name, const char *usage, int argc, char **argv, unsigned allowed,
              int takes_jid, struct cli_opts *opts)
{
    /* Every option of every subcommand; `allowed` filters per subcommand. */
    static const struct {
        struct option opt;
        unsigned bit;
    } table[] = {
        {{"config", required_argument, NULL, 'c'}, OPT_CONFIG},
        {{"at", required_argument, NULL, 'a'}, OPT_AT},
        {{"no-replay", no_argument, NULL, 'n'}, OPT_NO_REPLAY},
        {{"users", required_argument, NULL, 'u'}, OPT_USERS},
        {{"domain", required_argument, NULL, 'd'}, OPT_DOMAIN},
        {{"protocol", required_argument, NULL, 'p'}, OPT_PROTOCOL},
        {{"verbose", no_argument, NULL, 'v'}, OPT_VERBOSE},
        {{"root", required_argument, NULL, 'r'}, OPT_ROOT},
    };
    struct option longopts[sizeof table / sizeof table[0] + 2];
    size_t n = 0;
    int opt;

    memset(opts, 0, sizeof *opts);
    opts->config = XT_DEFAULT_CONFIG;
    opts->users = "any";
    opts->protocol = "ejabberd";
    opts->at = time(NULL);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (allowed & table[i].bit)
            longopts[n++] = table[i].opt;
    longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[n] = (struct option){NULL, 0, NULL, 0};

    opterr = 0; /* our own one-line messages below */
    optind = 1;
    while ((opt = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
        if (opt == '?') {
            tool_error("%s: unknown option '%s' (see xtoken %s --help)", name, argv[optind - 1],
                       name);
            return EXIT_USAGE;
        }
        if (opt == ':') {
            tool_error("%s: option '%s' needs a value", name, argv[optind - 1]);
            return EXIT_USAGE;
        }
        if (apply_option(name, opt, optarg, opts) != EXIT_OK)
            return EXIT_USAGE;
    }
    if (opts->help) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (takes_jid && optind < argc)
        opts->jid = argv[optind++];
    if (takes_jid && opts->jid == NULL) {
        tool_error("%s: missing JID argument (see xtoken %s --help)", name, name);
        return EXIT_USAGE;
    }
    if (optind < argc) {
        tool_error("%s: unexpected argument '%s' (see xtoken %s --help)", name, argv[optind], name);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

int tool_load_config(const char *path, xt_config **cfg)
{
    char err[XT_ERR_MAX] = "";
    int status = xt_config_load(path, cfg, err, sizeof err);

    if (status != XT_OK)
        tool_error("%s", err[0] ? err : xt_strerror(status));
    return status;
}

