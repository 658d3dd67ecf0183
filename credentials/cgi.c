/* One CGI/1.1 request (RFC 3875): the status, the headers and a JSON body
 * on standard output, and one log line per request: what was issued to
 * whom, or why nothing was. */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "credentials.h"
#include "log.h"
#include "xtoken.h"

/* Headers and the longest body: {"jid": JID escaped (at most 6 bytes per
 * byte), "password": token}. */
#define RESPONSE_MAX (1024 + 6 * XT_JID_MAX + XT_TOKEN_MAX)

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 405:
        return "Method Not Allowed";
    default:
        return "Internal Server Error";
    }
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Status, headers, body. No CORS header: the page that asks must be on the
 * same origin (a cross-origin page cannot read the answer). nosniff and
 * Cross-Origin-Resource-Policy keep other sites from loading the answer as
 * a script or a resource. The buffer held a token: wiped. */
static int respond(int fd, int status, const char *body)
{
    char buf[RESPONSE_MAX];
    int n = snprintf(buf, sizeof buf,
                     "Status: %d %s\n"
                     "Content-Type: application/json\n"
                     "Cache-Control: no-store\n"
                     "X-Content-Type-Options: nosniff\n"
                     "Cross-Origin-Resource-Policy: same-origin\n"
                     "%s"
                     "Content-Length: %zu\n"
                     "\n"
                     "%s",
                     status, reason_phrase(status), status == 405 ? "Allow: GET, POST\n" : "",
                     strlen(body), body);
    int rc = n > 0 && (size_t)n < sizeof buf ? write_all(fd, buf, (size_t)n) : -1;

    OPENSSL_cleanse(buf, sizeof buf);
    return rc == 0 ? status : -1;
}

static int refuse(int fd, int status, const char *error)
{
    char body[128];

    snprintf(body, sizeof body, "{\"error\": \"%s\"}\n", error);
    return respond(fd, status, body);
}

/* The token for jid as the 200 answer. */
static int issue(int fd, const struct cred_conf *conf, const char *jid, const char *who, time_t now)
{
    char token[XT_TOKEN_MAX + 1], jid_json[6 * XT_JID_MAX + 1], body[RESPONSE_MAX];
    char shown[2 * XT_JID_MAX];
    int status = xt_issue(conf->keys, jid, now, token, sizeof token), rc;

    xt_printable(jid, strlen(jid), shown, sizeof shown);
    if (status != XT_OK) {
        log_msg(LOG_ERR, "cannot issue a token to user '%s' as %s: %s", who, shown,
                xt_strerror(status));
        return refuse(fd, 500, "internal error");
    }
    /* token: digits, one space and base64: nothing to escape */
    if (cred_json_escape(jid, jid_json, sizeof jid_json) == 0 ||
        snprintf(body, sizeof body, "{\"jid\": \"%s\", \"password\": \"%s\"}\n", jid_json, token) >=
            (int)sizeof body) {
        rc = refuse(fd, 500, "internal error");
        log_msg(LOG_ERR, "response for user '%s' too long", who);
    } else {
        rc = respond(fd, 200, body);
        if (rc == 200)
            log_msg(LOG_INFO, "issued a token to user '%s' as %s", who, shown);
        else
            log_msg(LOG_ERR, "cannot write the response for user '%s'", who);
    }
    OPENSSL_cleanse(token, sizeof token);
    OPENSSL_cleanse(body, sizeof body);
    return rc;
}

/* The config, mapping and token for an authenticated user. */
static int serve_user(const struct cred_request *req, int fd, const char *who)
{
    const char *path = req->config ? req->config : CRED_DEFAULT_CONFIG;
    struct cred_conf *conf = NULL;
    char err[XT_ERR_MAX * 2], jid[XT_JID_MAX + 1];
    int rc, status;

    if (path[0] != '/') {
        log_msg(LOG_ERR, "config: %s must be an absolute path", CRED_CONFIG_ENV);
        return refuse(fd, 500, "internal error");
    }
    rc = cred_conf_load(path, &conf, err, sizeof err);
    if (rc != XT_OK) {
        log_msg(LOG_ERR, "config: %s", rc == XT_NOMEM ? "out of memory" : err);
        return refuse(fd, 500, "internal error");
    }
    rc = cred_map_user(conf, req->remote_user, jid, sizeof jid, err, sizeof err);
    if (rc == XT_OK) {
        status = issue(fd, conf, jid, who, req->now);
    } else if (rc == XT_CONFIG || rc == XT_NOMEM) {
        log_msg(LOG_ERR, "refused user '%s': %s", who, rc == XT_NOMEM ? "out of memory" : err);
        status = refuse(fd, 500, "internal error");
    } else {
        log_msg(LOG_NOTICE, "refused user '%s': %s", who, err);
        status = refuse(fd, 403, "no chat account for this user");
    }
    cred_conf_free(conf);
    return status;
}

int cred_serve(const struct cred_request *req, int fd)
{
    char who[256], method[64];
    const char *m = req->method ? req->method : "";

    xt_printable(m, strlen(m), method, sizeof method);
    if (strcmp(m, "GET") != 0 && strcmp(m, "POST") != 0) {
        log_msg(LOG_NOTICE, "refused a %s request: only GET and POST", method);
        return refuse(fd, 405, "method not allowed");
    }
    if (req->remote_user == NULL || req->remote_user[0] == '\0') {
        log_msg(LOG_NOTICE, "refused a request without REMOTE_USER: the web server did not "
                            "authenticate it (put the URL behind authentication)");
        return refuse(fd, 401, "not authenticated");
    }
    /* RFC 3875 4.1.11: REMOTE_USER means something only with AUTH_TYPE.
     * nginx's fastcgi_params pass $remote_user, the name in whatever
     * Authorization header came, checked or not: a location that runs this
     * program without auth_basic would mint for any name a client sends.
     * Apache sets AUTH_TYPE whenever it authenticated; an nginx location
     * sets it where it did (fastcgi_param AUTH_TYPE), and nowhere else. */
    if (req->auth_type == NULL || req->auth_type[0] == '\0') {
        log_msg(LOG_WARNING, "refused a request with REMOTE_USER but no AUTH_TYPE: the web "
                             "server did not say that it authenticated it (nginx: "
                             "fastcgi_param AUTH_TYPE in the location with auth_basic)");
        return refuse(fd, 401, "not authenticated");
    }
    xt_printable(req->remote_user, strlen(req->remote_user), who, sizeof who);
    return serve_user(req, fd, who);
}
