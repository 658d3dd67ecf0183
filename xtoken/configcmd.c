/* xtoken check-config and xtoken isuser. */
#include <stdio.h>

#include "tool.h"
#include "xtoken.h"

static const char check_config_usage[] =
    "Usage: xtoken check-config [--config F]\n"
    "Check the config file's safety (owner, mode) and syntax, then list each domain\n"
    "with how many keys it has. With the replay store on Redis, connect, authenticate\n"
    "and PING it, compare the clocks and check its eviction policy (warnings go to\n"
    "stderr). Never prints a secret. Exit 0 ok, 2 error.\n";

static const char isuser_usage[] =
    "Usage: xtoken isuser [--config F] [--users any|nss|FILE] JID\n"
    "Does the user exist? any: every user of a configured domain (the default);\n"
    "nss: the localpart is a system user (getpwnam); FILE: an absolute path to a\n"
    "file listing JIDs or localparts, one per line.\n"
    "Exit 0 exists, 1 does not, 2 error.\n";

int tool_replay_probe(const xt_config *cfg, char *report, size_t reportlen, char *warning,
                      size_t warnlen, char *err, size_t errlen)
{
    xt_replay *replay = NULL;
    int status = xt_replay_open(cfg, &replay);

    report[0] = warning[0] = err[0] = '\0';
    if (status == XT_OK)
        status = xt_replay_probe(replay, report, reportlen, warning, warnlen);
    if (status != XT_OK)
        snprintf(err, errlen, "%s",
                 replay && *xt_replay_error(replay) ? xt_replay_error(replay)
                                                    : xt_strerror(status));
    xt_replay_free(replay);
    return status;
}

/* Reach the replay store as the services will (Redis: connect, AUTH, PING)
 * and print what it says. EXIT_OK; EXIT_USAGE after an error line. */
static int check_replay(const xt_config *cfg)
{
    char report[1024], warning[1024], err[1024];

    if (tool_replay_probe(cfg, report, sizeof report, warning, sizeof warning, err,
                          sizeof err) != XT_OK) {
        tool_error("check-config: replay store: %s", err);
        return EXIT_USAGE;
    }
    fputs(report, stdout);
    if (warning[0] != '\0')
        tool_error("check-config: warning: %s", warning);
    return EXIT_OK;
}

int cmd_check_config(int argc, char **argv)
{
    struct cli_opts opts;
    xt_config *cfg = NULL;
    const char *replay_dir;
    int rc = cli_parse("check-config", check_config_usage, argc, argv, OPT_CONFIG, 0, &opts);

    if (rc != EXIT_OK || opts.help)

        goto done;
    rc = EXIT_USAGE;
    if (tool_load_config(opts.config, &cfg) != XT_OK)
        goto done;
    printf("%s: ok\n", opts.config);
    for (size_t i = 0; i < xt_config_domain_count(cfg); i++) {
        struct xt_domain_info info;
        if (xt_config_domain_info(cfg, i, &info) != XT_OK)
            goto done;
        printf("domain %s: %u otp_seed, %u token_secret, window %u, digits %u, interval %u, "
               "nonce_digits %u\n",
               info.name, info.n_seeds, info.n_secrets, info.window, info.digits, info.interval,
               info.nonce_digits);
    }
    replay_dir = xt_config_replay_dir(cfg);
    printf("replay: %s\n", replay_dir ? replay_dir : "off");
    fflush(stdout);
    if (check_replay(cfg) != EXIT_OK)
        goto done;
    if (fflush(stdout) != 0) {
        tool_error("check-config: cannot write to stdout");
        goto done;
    }
    rc = EXIT_OK;
done:
    xt_config_free(cfg);
    return rc;
}

int cmd_isuser(int argc, char **argv)
{
    struct cli_opts opts;
    xt_config *cfg = NULL;
    char err[XT_ERR_MAX] = "";
    int status;
    int rc = cli_parse("isuser", isuser_usage, argc, argv, OPT_CONFIG | OPT_USERS, 1, &opts);

    if (rc != EXIT_OK || opts.help)

        goto done;
    rc = EXIT_USAGE;
    if (xt_users_policy_check(opts.users) != XT_OK) {
        tool_error("isuser: --users wants any, nss or an absolute path, got '%s'", opts.users);
        goto done;
    }
    if (tool_load_config(opts.config, &cfg) != XT_OK)
        goto done;
    status = xt_user_exists(cfg, opts.users, opts.jid, err, sizeof err);
    switch (xt_status_class(status)) {
    case XT_CLASS_OK:
        rc = EXIT_OK;
        break;
    case XT_CLASS_NO_USER:
        rc = EXIT_REFUSED;
        tool_error("isuser: %s", xt_strerror(status));
        break;
    default:
        tool_error("isuser: %s", err[0] ? err : xt_strerror(status));
        break;
    }
done:
    xt_config_free(cfg);
    return rc;
}
