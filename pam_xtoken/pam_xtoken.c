/* pam_xtoken: the PAM entry points, a thin adapter over xt_verify(). */
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "args.h"
#include "xtoken.h"

#define LOG_NAME_MAX 128

/* Copy of a client-chosen name safe to put in a log line. */
static const char *printable(const char *name, char *buf, size_t size)
{
    const char *in = name != NULL ? name : "";

    xt_printable(in, strlen(in), buf, size);
    return buf;
}

/* PAM code for a library status, logging the reason (never the token);
 * why: what xt_reason says of a refused token (NULL: the status alone). */
static int report(pam_handle_t *pamh, const struct xt_pam_args *args, const char *jid, int status,
                  const char *detail, const char *why)
{
    char who[LOG_NAME_MAX];

    printable(jid, who, sizeof(who));
    switch (xt_status_class(status)) {
    case XT_CLASS_OK:
        DBG(pamh, args, "user %s: accepted", who);
        return PAM_SUCCESS;
    case XT_CLASS_REFUSED:
        pam_syslog(pamh, LOG_NOTICE, "user %s: token refused: %s", who,
                   why != NULL ? why : xt_strerror(status));
        return PAM_AUTH_ERR;
    case XT_CLASS_NO_USER:
        pam_syslog(pamh, LOG_NOTICE, "user %s: %s", who, xt_strerror(status));
        return PAM_USER_UNKNOWN;
    case XT_CLASS_UNAVAILABLE:
        pam_syslog(pamh, LOG_ALERT, "user %s: %s: %s", who, xt_strerror(status),
                   detail && *detail ? detail : "-");
        return PAM_AUTHINFO_UNAVAIL;
    case XT_CLASS_NOMEM:
        pam_syslog(pamh, LOG_CRIT, "out of memory");
        return PAM_BUF_ERR;
    default:
        pam_syslog(pamh, LOG_ERR, "user %s: %s", who, xt_strerror(status));
        return PAM_SYSTEM_ERR;
    }
}

/* The JID to check, from PAM_USER and domain=, without ever prompting.
 * PAM_SUCCESS; PAM_USER_UNKNOWN (no or malformed user, no domain). */
static int get_jid(pam_handle_t *pamh, const struct xt_pam_args *args, char *jid, size_t size)
{
    const void *item = NULL;
    char who[LOG_NAME_MAX];
    int status;

    if (pam_get_item(pamh, PAM_USER, &item) != PAM_SUCCESS || item == NULL) {
        pam_syslog(pamh, LOG_NOTICE, "no user name");
        return PAM_USER_UNKNOWN;
    }
    status = xt_jid_make(item, args->domain, jid, size);
    if (status == XT_OK)
        return PAM_SUCCESS;
    pam_syslog(pamh, LOG_NOTICE, "user %s: %s%s", printable(item, who, sizeof(who)),
               xt_strerror(status),
               status == XT_UNKNOWN_DOMAIN && !strchr(item, '@') ? " (no domain= argument)" : "");
    return PAM_USER_UNKNOWN;
}

/* Parse the arguments, build the JID, load the config and apply the users
 * policy: everything both entry points do before their own work.
 * PAM_SUCCESS with *cfg set; otherwise the PAM code to return. */
static int prepare(pam_handle_t *pamh, int argc, const char **argv, struct xt_pam_args *args,
                   char *jid, size_t jidlen, xt_config **cfg)
{
    char err[XT_ERR_MAX] = "";
    int retval, status;

    *cfg = NULL;
    retval = args_parse(pamh, argc, argv, args);
    if (retval == PAM_SUCCESS)
        retval = get_jid(pamh, args, jid, jidlen);
    if (retval != PAM_SUCCESS)
        return retval;
    status = xt_config_load(args->conf, cfg, err, sizeof(err));
    if (status == XT_OK && args->window != XT_PAM_WINDOW_UNSET)
        status = xt_config_set_window(*cfg, args->window, err, sizeof(err));
    if (status == XT_OK)
        status = xt_user_exists(*cfg, args->users, jid, err, sizeof(err));
    if (status != XT_OK) {
        retval = report(pamh, args, jid, status, err, NULL);
        xt_config_free(*cfg);
        *cfg = NULL;
    }
    return retval;
}

/* Verify the token PAM gives us (prompting once if needed). */
static int check_token(pam_handle_t *pamh, const struct xt_pam_args *args, const xt_config *cfg,
                       const char *jid)
{
    const char *token = NULL;
    xt_replay *replay = NULL;
    struct xt_detail detail;
    char why[XT_ERR_MAX];
    size_t len;
    int retval, status;

    retval = pam_get_authtok(pamh, PAM_AUTHTOK, &token, NULL);
    if (retval != PAM_SUCCESS || token == NULL) {
        pam_syslog(pamh, LOG_NOTICE, "could not get the token: %s", pam_strerror(pamh, retval));
        return retval == PAM_SUCCESS || retval == PAM_CONV_AGAIN ? PAM_AUTH_ERR : retval;
    }
    /* refuse oversized tokens before looking at them */
    len = strnlen(token, XT_TOKEN_MAX + 1);
    if (len > XT_TOKEN_MAX)
        return report(pamh, args, jid, XT_MALFORMED, NULL, NULL);
    /* a Redis store connects at its first use and closes with the handle:
     * one connection per authentication, within redis_timeout_ms */
    if (!args->noreplay && xt_replay_open(cfg, &replay) != XT_OK)
        return report(pamh, args, jid, XT_NOMEM, NULL, NULL);
    status = xt_verify_detail(cfg, replay, jid, token, len, time(NULL), &detail);
    retval = report(pamh, args, jid, status, replay ? xt_replay_error(replay) : NULL,
                    xt_reason(status, &detail, why, sizeof(why)));
    xt_replay_free(replay);
    return retval;
}

/* Both entry points: prepare, then verify the token if authenticating.
 * Account management never prompts: ejabberd calls it alone to ask whether
 * a user exists, and prepare() has applied the users policy. */
static int run(pam_handle_t *pamh, int argc, const char **argv, int authenticate)
{
    struct xt_pam_args args;
    char jid[XT_JID_MAX + 1] = "";
    char who[LOG_NAME_MAX];
    xt_config *cfg = NULL;
    int retval;

    retval = prepare(pamh, argc, argv, &args, jid, sizeof(jid), &cfg);
    if (retval == PAM_SUCCESS && authenticate)
        retval = check_token(pamh, &args, cfg, jid);
    else if (retval == PAM_SUCCESS)
        DBG(pamh, &args, "user %s exists (users=%s)", printable(jid, who, sizeof(who)),
            args.users);
    xt_config_free(cfg);
    return retval;
}

int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)flags;
    return run(pamh, argc, argv, 1);
}

int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)flags;
    return run(pamh, argc, argv, 0);
}

int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)pamh;
    (void)flags;
    (void)argc;
    (void)argv;
    return PAM_SUCCESS;
}
