/* The users policy: which users of a configured domain exist (asked by
 * pam_sm_acct_mgmt and extauth's isuser, never with a password). */
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "xtoken.h"

#define USERS_FILE_MAX (4 * 1024 * 1024)

int xt_users_policy_check(const char *policy)
{
    if (strcmp(policy, "any") == 0 || strcmp(policy, "nss") == 0 || policy[0] == '/')
        return XT_OK;
    return XT_CONFIG;
}

/* XT_OK if getpwnam knows the localpart; XT_UNKNOWN_USER; XT_NOMEM. */
static int nss_has(const char *local, size_t len)
{
    long size = sysconf(_SC_GETPW_R_SIZE_MAX);
    size_t bufsize = size > 0 ? (size_t)size : 16384;
    char *name = strndup(local, len), *buf = malloc(bufsize);
    struct passwd pw, *found = NULL;
    int rc = XT_NOMEM;

    if (name != NULL && buf != NULL) {
        rc = XT_UNKNOWN_USER;
        if (getpwnam_r(name, &pw, buf, bufsize, &found) == 0 && found != NULL)
            rc = XT_OK;
    }
    free(name);
    free(buf);
    return rc;
}

/* Is a line of the users file (trimmed) this JID or its localpart? */
static int line_matches(const char *line, size_t n, const char *jid, size_t local_len)
{
    while (n > 0 && (line[0] == ' ' || line[0] == '\t')) {
        line++;
        n--;
    }
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
        n--;
    if (n == strlen(jid) && memcmp(line, jid, n) == 0)
        return 1;
    return n == local_len && memcmp(line, jid, n) == 0;
}

/* XT_OK if the file lists the JID or its localpart; XT_UNKNOWN_USER;
 * XT_CONFIG (unsafe or unreadable file); XT_NOMEM. */
static int file_has(const char *path, const char *jid, size_t local_len, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0, pos = 0;
    int rc = xt_read_file_safely(path, USERS_FILE_MAX, 0, &text, &len, err, errlen);

    if (rc != XT_OK)
        return rc;
    rc = XT_UNKNOWN_USER;
    while (pos < len && rc == XT_UNKNOWN_USER) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = (nl ? (size_t)(nl - text) : len) - pos;

        if (line_matches(text + pos, n, jid, local_len))
            rc = XT_OK;
        pos += n + 1;
    }
    free(text);
    return rc;
}

int xt_user_exists(const xt_config *cfg, const char *policy, const char *jid, char *err,
                   size_t errlen)
{
    const struct xt_scope *scope;
    const char *at;
    int rc = xt_scope_for_jid(cfg, jid, &scope);

    if (rc != XT_OK)
        return rc;
    at = strchr(jid, '@');
    if (strcmp(policy, "any") == 0)
        return XT_OK;
    if (strcmp(policy, "nss") == 0)
        return nss_has(jid, (size_t)(at - jid));
    if (policy[0] == '/')
        return file_has(policy, jid, (size_t)(at - jid), err, errlen);
    xt_seterr(err, errlen, "users policy must be any, nss or an absolute file path");
    return XT_CONFIG;
}
