/* The xtoken command-line tool: declarations shared by its files. */
#ifndef XTOKEN_TOOL_H
#define XTOKEN_TOOL_H

#include <stddef.h>
#include <time.h>

#include "xtoken.h"

#ifndef XTOKEN_VERSION
#define XTOKEN_VERSION "0.3.0"
#endif

/* Exit codes of every subcommand. */
#define EXIT_OK      0
#define EXIT_REFUSED 1 /* token refused, user does not exist */
#define EXIT_USAGE   2 /* bad command line, config or system error */

/* Which options a subcommand accepts (bits for cli_parse). */
#define OPT_CONFIG    (1u << 0)
#define OPT_AT        (1u << 1)
#define OPT_NO_REPLAY (1u << 2)
#define OPT_USERS     (1u << 3)
#define OPT_DOMAIN    (1u << 4)
#define OPT_PROTOCOL  (1u << 5)
#define OPT_VERBOSE   (1u << 6)
#define OPT_ROOT      (1u << 7)

struct cli_opts {
    const char *config;   /* --config, default XT_DEFAULT_CONFIG */
    const char *users;    /* --users, default "any" */
    const char *domain;   /* --domain, NULL if not given */
    const char *protocol; /* --protocol, default "ejabberd" */
    const char *root;     /* --root, NULL if not given */
    int config_given;     /* --config was given */
    time_t at;            /* --at, else time(NULL) at parse time */
    int no_replay;
    int verbose;
    int help;        /* --help was given: the caller prints its usage, exits 0 */
    const char *jid; /* the positional JID argument (commands that take one) */
};

/* Parse argv of subcommand `name` (argv[0] is the subcommand).
 * `allowed` is a set of OPT_* bits; takes_jid says whether one positional
 * JID argument is required. EXIT_OK with *opts filled (with --help: usage
 * printed to stdout and opts->help set, nothing else to do);
 * EXIT_USAGE after printing one line to stderr. */
int cli_parse(const char *name, const char *usage, int argc, char **argv, unsigned allowed,
              int takes_jid, struct cli_opts *opts);

/* One line "xtoken: <message>" on stderr. */
void tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Load opts->config; on failure print the library's one-line reason.
 * XT_OK with *cfg set, or the library's status. */
int tool_load_config(const char *path, xt_config **cfg);

/* Reach the config's replay store as the services will, as check-config
 * does (Redis: connect, authenticate, PING, the clocks, the eviction
 * policy; the file store: nothing). XT_OK with report ('\n'-terminated
 * lines) and warning ("" or what could let a token in twice); otherwise
 * the status with the reason in err. Shared by check-config and doctor. */
int tool_replay_probe(const xt_config *cfg, char *report, size_t reportlen, char *warning,
                      size_t warnlen, char *err, size_t errlen);

/* Subcommands: each returns the process exit code. */
int cmd_keygen(int argc, char **argv);
int cmd_issue(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_check_config(int argc, char **argv);
int cmd_isuser(int argc, char **argv);
int cmd_extauth(int argc, char **argv);
int cmd_doctor(int argc, char **argv);

#endif
