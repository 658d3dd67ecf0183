/* xtoken issue and xtoken verify. */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "tool.h"
#include "xtoken.h"

static const char issue_usage[] =
    "Usage: xtoken issue [--config F] [--at UNIX_SECONDS] JID\n"
    "Print one token for JID (user@domain, as the XMPP server will see it: lowercase),\n"
    "signed with the first otp_seed and token_secret of the JID's domain.\n"
    "--at mints it for that time instead of now. Exit 0 ok, 2 error.\n";

static const char verify_usage[] =
    "Usage: xtoken verify [--config F] [--at UNIX_SECONDS] [--no-replay] JID\n"
    "Read one token from stdin (one trailing newline is ignored) and check it for JID.\n"
    "Exit 0 valid, 1 refused (the reason on stderr), 2 error.\n"
    "A valid token is recorded in the replay store (used up) unless --no-replay;\n"
    "--at implies --no-replay: a check at another time never touches the store.\n";

int cmd_issue(int argc, char **argv)
{
    struct cli_opts opts;
    xt_config *cfg = NULL;
    char token[XT_TOKEN_MAX + 1] = "";
    int status;
    int rc = cli_parse("issue", issue_usage, argc, argv, OPT_CONFIG | OPT_AT, 1, &opts);

    if (rc != EXIT_OK || opts.help)

        goto done;
    rc = EXIT_USAGE;
    if (tool_load_config(opts.config, &cfg) != XT_OK)
        goto done;
    status = xt_issue(cfg, opts.jid, opts.at, token, sizeof token);
    if (status != XT_OK) {
        tool_error("issue: %s: %s", opts.jid, xt_strerror(status));
        goto done;
    }
    if (printf("%s\n", token) < 0 || fflush(stdout) != 0) {
        tool_error("issue: cannot write to stdout");
        goto done;
    }
    rc = EXIT_OK;
done:
    OPENSSL_cleanse(token, sizeof token);
    xt_config_free(cfg);
    return rc;
}

/* Read all of stdin into buf (at most cap bytes kept). Returns the number of
 * bytes read, or cap + 1 if there was more, or (size_t)-1 on a read error. */
static size_t read_stdin(char *buf, size_t cap)
{
    size_t len = 0;
    char extra;

    while (len < cap) {
        ssize_t got = read(STDIN_FILENO, buf + len, cap - len);
        if (got == 0)
            return len;
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return (size_t)-1;
        len += (size_t)got;
    }
    for (;;) { /* full: one more byte means the input is too long */
        ssize_t got = read(STDIN_FILENO, &extra, 1);
        if (got == 0)
            return len;
        if (got < 0 && errno == EINTR)
            continue;
        return got < 0 ? (size_t)-1 : cap + 1;
    }
}

/* Exit code for a status, by the library's one classification: the token
 * or user is refused (1), or it could not be checked at all (2). */
static int status_exit_code(int status)
{
    switch (xt_status_class(status)) {
    case XT_CLASS_OK:
        return EXIT_OK;
    case XT_CLASS_REFUSED:
    case XT_CLASS_NO_USER:
        return EXIT_REFUSED;
    default:
        return EXIT_USAGE;
    }
}

int cmd_verify(int argc, char **argv)
{
    struct cli_opts opts;
    xt_config *cfg = NULL;
    xt_replay *replay = NULL;
    struct xt_detail detail;
    char why[XT_ERR_MAX];
    char token[XT_TOKEN_MAX + 2]; /* the token and its optional newline */
    size_t len = 0;
    int status;
    int rc = cli_parse("verify", verify_usage, argc, argv, OPT_CONFIG | OPT_AT | OPT_NO_REPLAY, 1,
                       &opts);

    if (rc != EXIT_OK || opts.help)

        goto done;
    rc = EXIT_USAGE;
    if (tool_load_config(opts.config, &cfg) != XT_OK)
        goto done;
    if (!opts.no_replay && xt_replay_open(cfg, &replay) != XT_OK) {
        tool_error("verify: out of memory");
        goto done;
    }
    len = read_stdin(token, sizeof token);
    if (len == (size_t)-1) {
        tool_error("verify: cannot read the token from stdin: %s", strerror(errno));
        goto done;
    }
    if (len <= sizeof token && len > 0 && token[len - 1] == '\n')
        len--;
    /* Longer than a token can be: let the library call it malformed. */
    status = xt_verify_detail(cfg, replay, opts.jid, token,
                              len > XT_TOKEN_MAX ? XT_TOKEN_MAX + 1 : len, opts.at, &detail);
    rc = status_exit_code(status);
    if (status == XT_STORE || status == XT_STORE_FULL)
        tool_error("verify: %s", xt_replay_error(replay));
    else if (status != XT_OK)
        tool_error("verify: %s: %s", rc == EXIT_REFUSED ? "refused" : "error",
                   xt_reason(status, &detail, why, sizeof why));
done:
    OPENSSL_cleanse(token, sizeof token);
    xt_replay_free(replay);
    xt_config_free(cfg);
    return rc;
}
