/* xtoken-credentials: run by the web server as a CGI program, it answers
 * Converse.js's credentials_url with a fresh token for REMOTE_USER. Run
 * from a shell (no CGI environment), it checks its config. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "credentials.h"
#include "log.h"
#include "tool.h" /* XTOKEN_VERSION, exit codes */
#include "xtoken.h"

static const char usage[] =
    "Usage: xtoken-credentials                 (as a CGI program, run by the web server)\n"
    "       xtoken-credentials --check [--config F] [--user NAME]\n"
    "As a CGI program: a fresh token for the user the web server authenticated\n"
    "(REMOTE_USER), as {\"jid\": ..., \"password\": ...} for Converse.js's credentials_url.\n"
    "Config: $" CRED_CONFIG_ENV ", default " CRED_DEFAULT_CONFIG ".\n"
    "--check loads the config and prints its credentials_* settings; with --user,\n"
    "also the JID that NAME maps to, or why it gets none.\n"
    "Exit status: 0 ok, 1 the user gets no token, 2 usage or config error.\n";

static const char *realm_text(const struct cred_conf *conf)
{
    switch (conf->realm) {
    case CRED_REALM_KEEP:
        return "keep";
    case CRED_REALM_DROP:
        return "drop";
    default:
        return "refuse";
    }
}

static int check_user(const struct cred_conf *conf, const char *user)
{
    char jid[XT_JID_MAX + 1], why[XT_ERR_MAX * 2], shown[256];
    int rc = cred_map_user(conf, user, jid, sizeof jid, why, sizeof why);

    xt_printable(user, strlen(user), shown, sizeof shown);
    if (rc == XT_OK) {
        printf("user '%s': %s\n", shown, jid);
        return EXIT_OK;
    }
    printf("user '%s': no token: %s\n", shown, why);
    return rc == XT_CONFIG || rc == XT_NOMEM ? EXIT_USAGE : EXIT_REFUSED;
}

static int check(const char *path, const char *user)
{
    struct cred_conf *conf = NULL;
    char err[XT_ERR_MAX * 2];
    int rc = cred_conf_load(path, &conf, err, sizeof err);

    if (rc != XT_OK) {
        fprintf(stderr, "xtoken-credentials: %s\n", rc == XT_NOMEM ? "out of memory" : err);
        return EXIT_USAGE;
    }
    printf("config %s: ok\n"
           "credentials_domain = %s\n"
           "credentials_realm = %s%s%s\n"
           "credentials_lowercase = %s\n"
           "credentials_allow = %s\n",
           path, conf->domain, realm_text(conf), conf->drop_realms ? " " : "",
           conf->drop_realms ? conf->drop_realms : "", conf->lowercase ? "yes" : "no", conf->allow);
    rc = user ? check_user(conf, user) : EXIT_OK;
    cred_conf_free(conf);
    return rc;
}

static int command_line(int argc, char **argv)
{
    const char *path = getenv(CRED_CONFIG_ENV), *user = NULL;
    int checking = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("xtoken-credentials %s\n", XTOKEN_VERSION);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--check") == 0) {
            checking = 1;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc) {
            user = argv[++i];
        } else {
            fputs(usage, stderr);
            return EXIT_USAGE;
        }
    }
    if (!checking) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    return check(path ? path : CRED_DEFAULT_CONFIG, user);
}

int main(int argc, char **argv)
{
    struct cred_request req = {0};

    /* A CGI program's arguments come from the query string (RFC 3875 4.4:
     * a query without '=' is split into argv): under a web server they
     * are never options. Only a shell, with no CGI variables, gets those. */
    req.method = getenv("REQUEST_METHOD");
    if (req.method == NULL && getenv("GATEWAY_INTERFACE") == NULL)
        return command_line(argc, argv);
    log_open_as("xtoken-credentials", LOG_OPEN_QUIET);
    req.remote_user = getenv("REMOTE_USER");
    req.auth_type = getenv("AUTH_TYPE");
    req.config = getenv(CRED_CONFIG_ENV);
    req.now = time(NULL);
    return cred_serve(&req, STDOUT_FILENO) < 0 ? 1 : 0;
}
