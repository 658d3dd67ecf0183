/* xtoken-credentials: Converse.js's credentials_url as a CGI program.
 *
 * The web server authenticates the request (any auth module) and runs the
 * program with REMOTE_USER set; the program maps that name to a JID by the
 * credentials_* keys of its config and answers {"jid", "password"} with a
 * fresh token from xt_issue(). The config is the pam_xtoken.conf format
 * plus the credentials_* keys (conf.c), which must come before any
 * [domain] section. Nothing here logs a token.
 */
#ifndef XTOKEN_CREDENTIALS_H
#define XTOKEN_CREDENTIALS_H

#include <stddef.h>
#include <time.h>

#include "xtoken.h"

#define CRED_DEFAULT_CONFIG "/etc/xtoken/credentials.conf"
#define CRED_CONFIG_ENV     "XTOKEN_CONFIG"

enum cred_realm {
    CRED_REALM_REFUSE, /* a name with "@realm" is refused (the default) */
    CRED_REALM_DROP,   /* "alice@REALM" is alice@credentials_domain */
    CRED_REALM_KEEP,   /* "alice@Example.ORG" is alice@example.org */
};

struct cred_conf {
    xt_config *keys; /* otp_seed, token_secret, ...: what xt_issue needs */
    char *domain;    /* credentials_domain: the domain of bare names */
    enum cred_realm realm;
    char *drop_realms; /* drop: the realms listed after "drop", one space
                          between them; NULL: any realm is dropped */
    int lowercase;     /* credentials_lowercase = yes (1) | no (0) */
    char *allow;       /* credentials_allow: any | nss | /path | group:NAME */
};

/* Parse a whole config (name is used in messages, which never contain a
 * value of a key). XT_OK and *conf set; XT_CONFIG with err = "NAME:LINE:
 * reason" or "NAME: reason"; XT_NOMEM. */
int cred_conf_parse(const char *text, size_t len, const char *name, struct cred_conf **conf,
                    char *err, size_t errlen);

/* Read path like every xtoken config (no symlinks, owner root or the euid,
 * not writable by group or other, not readable by other) and parse it.
 * Same returns as cred_conf_parse. */
int cred_conf_load(const char *path, struct cred_conf **conf, char *err, size_t errlen);

/* Wipes the keys. NULL is fine. */
void cred_conf_free(struct cred_conf *conf);

/* Map the web server's user name to a JID (jid, jidlen bytes; XT_JID_MAX + 1
 * is enough) and apply credentials_allow.
 * XT_OK; a refusal, with the reason for the log in why (it never quotes
 * the name: the caller logs the name escaped): XT_BAD_USER (maps to no
 * valid JID), XT_UNKNOWN_DOMAIN (its domain has no keys), XT_UNKNOWN_USER
 * (not allowed); XT_CONFIG (the allow-list is unusable, why says how);
 * XT_NOMEM. */
int cred_map_user(const struct cred_conf *conf, const char *user, char *jid, size_t jidlen,
                  char *why, size_t whylen);

/* 1 if s (len bytes) is well-formed UTF-8 (no overlong forms, surrogates
 * or code points above U+10FFFF), 0 otherwise. */
int cred_utf8_valid(const char *s, size_t len);

/* Write s as the contents of a JSON string (without the quotes) into out:
 * '"' and '\' escaped, control characters as \u00XX, other bytes as they
 * are (s is valid UTF-8). Returns the length written (out NUL-terminated),
 * or 0 if it does not fit (out is then ""). */
size_t cred_json_escape(const char *s, char *out, size_t outlen);

/* ---- the CGI request (cgi.c) -------------------------------------------- */

/* What the program reads from its CGI environment. */
struct cred_request {
    const char *method;      /* REQUEST_METHOD (NULL: not run as CGI) */
    const char *remote_user; /* REMOTE_USER, never an HTTP_* variable */
    const char *auth_type;   /* AUTH_TYPE: how the server authenticated it */
    const char *config;      /* XTOKEN_CONFIG or NULL: CRED_DEFAULT_CONFIG */
    time_t now;
};

/* Answer one request on fd (a CGI response: Status and headers, a blank
 * line, a JSON body) and log the outcome with log_msg. Returns the HTTP
 * status sent, or -1 if the response could not be written. */
int cred_serve(const struct cred_request *req, int fd);

#endif
