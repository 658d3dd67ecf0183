/* xtoken extauth: config (re)loading, answers, signals, the command itself.
 * The framing lives in extauth_proto.c; see extauth.h for the data path. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extauth.h"
#include "log.h"
#include "tool.h"
#include "xtoken.h"

volatile sig_atomic_t extauth_stop_requested;
volatile sig_atomic_t extauth_reload_requested;
volatile sig_atomic_t extauth_waiting;

static const char extauth_usage[] =
    "Usage: xtoken extauth [--config F] [--protocol ejabberd] [--users any|nss|FILE]\n"
    "                      [--no-replay] [--verbose]\n"
    "Serve ejabberd's external authentication on stdin/stdout, one request at a time:\n"
    "2-byte big-endian length + auth:U:S:P | isuser:U:S | ...; reply 00 02 00 01 (yes)\n"
    "or 00 02 00 00 (no). --protocol ejabberd is the default and the only protocol.\n"
    "auth verifies the password as a token for U@S; isuser follows --users (default any);\n"
    "setpass, tryregister, removeuser, removeuser3 and anything else answer 0.\n"
    "A missing or bad config is logged once and answered 0 until it is fixed; the file\n"
    "is re-read when it changes (checked at most once a second) and on SIGHUP.\n"
    "SIGTERM, end of input or a zero-length frame end it with exit 0.\n"
    "Logs go to syslog (ident xtoken, facility authpriv); --verbose: stderr too, and\n"
    "accepted logins as well as refusals.\n";

void extauth_ctx_init(struct extauth_ctx *ctx)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->users = "any";
}

void extauth_ctx_free(struct extauth_ctx *ctx)
{
    xt_verifier_free(ctx->verifier);
    ctx->verifier = NULL;
}

/* Log a problem at `priority` unless it is the one logged last: a broken
 * config or store would otherwise flood the log once per request. */
static void log_problem(struct extauth_ctx *ctx, int priority, const char *message)
{
    if (strcmp(ctx->last_error, message) == 0)
        return;
    snprintf(ctx->last_error, sizeof ctx->last_error, "%s", message);
    log_msg(priority, "%s", message);
}

/* Log the outcome of the verifier's last load. */
static int log_load(struct extauth_ctx *ctx, const char *why)
{
    int status = xt_verifier_status(ctx->verifier);
    const xt_config *cfg = xt_verifier_config(ctx->verifier);

    if (status != XT_OK) {
        char message[EXTAUTH_MSG_MAX];
        snprintf(message, sizeof message, "config not loaded, answering no to everything: %s",
                 xt_verifier_error(ctx->verifier));
        log_problem(ctx, LOG_ERR, message);
        return status;
    }
    log_msg(LOG_INFO, "config %s loaded (%s), replay %s", ctx->config_path, why,
            xt_verifier_replay(ctx->verifier) ? xt_config_replay_dir(cfg) : "off");
    ctx->last_error[0] = '\0';
    return status;
}

int extauth_load(struct extauth_ctx *ctx, const char *why)
{
    /* one handle for the process: the file store stays mapped, a Redis
     * store keeps its connection (and reconnects on the request after an
     * error), the OTPs of the current step are computed once */
    if (ctx->verifier == NULL) {
        int status = xt_verifier_new(ctx->config_path, ctx->no_replay ? XT_VERIFIER_NO_REPLAY : 0,
                                     &ctx->verifier);
        if (status != XT_OK) {
            log_problem(ctx, LOG_ERR, "config not loaded, answering no to everything: out of memory");
            return status;
        }
    } else {
        xt_verifier_refresh(ctx->verifier, time(NULL), 1);
    }
    return log_load(ctx, why);
}

void extauth_refresh(struct extauth_ctx *ctx, time_t now)
{
    if (ctx->config_path == NULL || ctx->verifier == NULL)
        return;
    if (extauth_reload_requested) {
        extauth_reload_requested = 0;
        extauth_load(ctx, "SIGHUP");
        return;
    }
    if (xt_verifier_refresh(ctx->verifier, now, 0))
        log_load(ctx, "file changed");
}

/* auth:U:S:P -> 1 if P is a valid token for U@S. */
static int answer_auth(struct extauth_ctx *ctx, const struct extauth_request *req, time_t now)
{
    char jid[XT_JID_MAX + 1] = "";
    char shown[128], why[XT_ERR_MAX + 32];
    struct xt_detail detail = {0, 0};
    int status = xt_jid_make(req->user, req->server, jid, sizeof jid);
    enum xt_class class;

    /* for the log: the JID, or what came if it is not one, escaped and bounded */
    if (status != XT_OK)
        xt_printable(req->user, strlen(req->user), shown, sizeof shown);
    else
        xt_printable(jid, strlen(jid), shown, sizeof shown);
    if (status == XT_OK)
        status = xt_verifier_verify(ctx->verifier, jid, req->password, req->password_len, now,
                                    &detail);
    class = xt_status_class(status);
    if (class == XT_CLASS_OK) {
        if (ctx->verbose)
            log_msg(LOG_INFO, "auth: accepted token for %s", shown);
        ctx->last_error[0] = '\0'; /* working again: log the next problem */
        return 1;
    }
    if (class == XT_CLASS_REFUSED || class == XT_CLASS_NO_USER) {
        log_msg(LOG_NOTICE, "auth: refused token for %s: %s", shown,
                xt_reason(status, &detail, why, sizeof why));
    } else { /* the token could not be checked: log it once, not per request */
        char message[EXTAUTH_MSG_MAX];
        snprintf(message, sizeof message, "auth: cannot check tokens: %s",
                 xt_verifier_reason(ctx->verifier, status, &detail, why, sizeof why));
        log_problem(ctx, LOG_ERR, message);
    }
    return 0;
}

/* isuser:U:S -> 1 if U@S exists under the users policy. */
static int answer_isuser(struct extauth_ctx *ctx, const struct extauth_request *req)
{
    char jid[XT_JID_MAX + 1] = "";
    char err[XT_ERR_MAX] = "", shown[128];
    int status = xt_jid_make(req->user, req->server, jid, sizeof jid);

    if (status == XT_OK)
        status = xt_verifier_user_exists(ctx->verifier, ctx->users, jid, err, sizeof err);
    if (status == XT_CONFIG || status == XT_NOMEM)
        log_problem(ctx, LOG_ERR, err[0] ? err : xt_strerror(status));
    xt_printable(jid, strlen(jid), shown, sizeof shown);
    if (ctx->verbose)
        log_msg(LOG_INFO, "isuser: %s: %s", jid[0] ? shown : "(bad user name)",
                status == XT_OK ? "yes" : xt_strerror(status));
    return status == XT_OK;
}

int extauth_answer(struct extauth_ctx *ctx, const struct extauth_request *req, time_t now)
{
    if (ctx->verifier == NULL || xt_verifier_config(ctx->verifier) == NULL)
        return 0; /* missing or bad config: already logged once */
    switch (req->kind) {
    case EXTAUTH_AUTH:
        return answer_auth(ctx, req, now);
    case EXTAUTH_ISUSER:
        return answer_isuser(ctx, req);
    default:
        return 0; /* we never change or create accounts */
    }
}

static void on_terminate(int sig)
{
    (void)sig;
    if (extauth_waiting)
        _exit(EXIT_OK);         /* idle in read(): nothing half-done, nothing to write */
    extauth_stop_requested = 1; /* busy: finish this reply, stop before reading */
}

static void on_hangup(int sig)
{
    (void)sig;
    extauth_reload_requested = 1;
}

/* Handlers without SA_RESTART, so SIGHUP interrupts a blocked read() and
 * the config is reloaded at once. EXIT_OK or EXIT_USAGE. */
static int setup_signals(void)
{
    struct sigaction term = {.sa_handler = on_terminate};
    struct sigaction hup = {.sa_handler = on_hangup};
    struct sigaction ignore = {.sa_handler = SIG_IGN};

    sigemptyset(&term.sa_mask);
    sigaddset(&term.sa_mask, SIGHUP);
    sigaddset(&term.sa_mask, SIGTERM);
    sigaddset(&term.sa_mask, SIGINT);
    hup.sa_mask = term.sa_mask;
    if (sigaction(SIGTERM, &term, NULL) || sigaction(SIGINT, &term, NULL) ||
        sigaction(SIGHUP, &hup, NULL) ||
        sigaction(SIGPIPE, &ignore, NULL)) /* a gone server: EPIPE, then a clean exit */
        return EXIT_USAGE;
    return EXIT_OK;
}

/* Keep fd 1 for replies only: move it to a private descriptor and point
 * fd 1 at /dev/null, so no stray printf anywhere can corrupt the stream.
 * The private fd, or -1. */
static int claim_stdout(void)
{
    int out_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

    if (out_fd < 0 || null_fd < 0 || dup2(null_fd, STDOUT_FILENO) < 0) {
        if (out_fd >= 0)
            close(out_fd);
        out_fd = -1;
    }
    if (null_fd >= 0)
        close(null_fd);
    return out_fd;
}

/* Apply the command line to ctx: EXIT_OK or EXIT_USAGE (message printed).
 * The line protocol (one request per line, for Prosody's mod_auth_external)
 * is gone: a password with a newline in it became two requests and two
 * answers, and a caller that reads one answer per request then took the
 * stale one for its next user. Without framing that cannot be made safe
 * from this side, so asking for it fails at start, naming the way out. */
static int configure(struct extauth_ctx *ctx, const struct cli_opts *opts)
{
    if (strcmp(opts->protocol, "line") == 0) {
        tool_error("extauth: --protocol line was removed (a password with a newline got two "
                   "answers, see xtoken(1)): for ejabberd drop --protocol (its framed protocol "
                   "is the default); for Prosody use mod_auth_xtoken, the in-process provider "
                   "of the package lua-xtoken");
        return EXIT_USAGE;
    }
    if (strcmp(opts->protocol, "ejabberd") != 0) {
        tool_error("extauth: --protocol wants ejabberd, got '%s'", opts->protocol);
        return EXIT_USAGE;
    }
    if (xt_users_policy_check(opts->users) != XT_OK) {
        tool_error("extauth: --users wants any, nss or an absolute path, got '%s'", opts->users);
        return EXIT_USAGE;
    }
    ctx->config_path = opts->config;
    ctx->users = opts->users;
    ctx->no_replay = opts->no_replay;
    ctx->verbose = opts->verbose;
    return EXIT_OK;
}

int cmd_extauth(int argc, char **argv)
{
    struct cli_opts opts;
    struct extauth_ctx ctx;
    int out_fd = -1;
    int rc =
        cli_parse("extauth", extauth_usage, argc, argv,
                  OPT_CONFIG | OPT_PROTOCOL | OPT_USERS | OPT_NO_REPLAY | OPT_VERBOSE, 0, &opts);

    extauth_ctx_init(&ctx);
    if (rc != EXIT_OK || opts.help)
        goto done;
    rc = configure(&ctx, &opts);
    if (rc != EXIT_OK)
        goto done;
    rc = EXIT_USAGE;
    if (setup_signals() == EXIT_OK)
        out_fd = claim_stdout();
    if (out_fd < 0) {
        tool_error("extauth: cannot set up signals or stdout: %s", strerror(errno));
        goto done;
    }
    log_open(ctx.verbose);
    extauth_load(&ctx, "start"); /* a bad config is logged; we answer 0 until fixed */
    rc = extauth_serve(STDIN_FILENO, out_fd, &ctx) == 0 ? EXIT_OK : EXIT_REFUSED;
    log_msg(LOG_DEBUG, "extauth: exiting (%s)", rc == EXIT_OK ? "end of input" : "I/O error");
done:
    if (out_fd >= 0)
        close(out_fd);
    extauth_ctx_free(&ctx);
    return rc;
}
