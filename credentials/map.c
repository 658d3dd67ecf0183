/* From the web server's REMOTE_USER to a JID, and who may chat. */
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "credentials.h"
#include "internal.h" /* xt_seterr */
#include "xtoken.h"

#define GROUPS_MAX 4096 /* supplementary groups looked at per user */

int cred_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        unsigned c = u[i], need, cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        /* a continuation byte, an overlong lead (0xc0, 0xc1) or > U+10FFFF: none */
        if (c < 0xc2 || c > 0xf4)
            return 0;
        need = c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
        cp = c & (0x3fu >> need);
        if (len - i <= need)
            return 0;
        for (unsigned k = 1; k <= need; k++) {
            if ((u[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (u[i + k] & 0x3f);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += need + 1;
    }
    return 1;
}

size_t cred_json_escape(const char *s, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[7];
        size_t n = 1;

        esc[0] = (char)c;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            n = 2;
        } else if (c < 0x20 || c == 0x7f) {
            esc[1] = 'u';
            esc[2] = esc[3] = '0';
            esc[0] = '\\';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        if (o + n >= outlen) {
            if (outlen > 0)
                out[0] = '\0';
            return 0;
        }
        memcpy(out + o, esc, n);
        o += n;
    }
    if (outlen > 0)
        out[o] = '\0';
    return o;
}

/* Is realm (len bytes) one of the space-separated names of list (any case)? */
static int realm_listed(const char *list, const char *realm, size_t len)
{
    while (*list) {
        size_t n = strcspn(list, " ");

        if (n == len && strncasecmp(list, realm, n) == 0)
            return 1;
        list += n + (list[n] == ' ');
    }
    return 0;
}

/* With credentials_realm = keep: the realm is a domain of the config's own
 * [domain] sections, or credentials_domain. Keys in the global scope serve
 * any domain; they do not make every realm a chat domain. */
static int keep_domain_known(const struct cred_conf *conf, const char *domain)
{
    struct xt_domain_info info;

    if (strcmp(domain, conf->domain) == 0)
        return 1;
    for (size_t i = 0; i < xt_config_domain_count(conf->keys); i++)
        if (xt_config_domain_info(conf->keys, i, &info) == XT_OK && strcmp(info.name, domain) == 0)
            return 1;
    return 0;
}

/* local (the name before '@', writable, NUL-terminated) and *domain by the
 * realm rules. XT_OK; XT_BAD_USER or XT_UNKNOWN_DOMAIN with why. */
static int apply_realm(const struct cred_conf *conf, char *local, const char **domain, char *why,
                       size_t whylen)
{
    size_t at = strcspn(local, "@");
    char *realm = local[at] == '@' ? local + at + 1 : NULL;

    *domain = conf->domain;
    if (realm == NULL)
        return XT_OK;
    local[at] = '\0';
    if (strchr(realm, '@') != NULL) {
        xt_seterr(why, whylen, "the name has more than one '@'");
        return XT_BAD_USER;
    }
    if (*realm == '\0') {
        xt_seterr(why, whylen, "the name ends with an empty realm");
        return XT_BAD_USER;
    }
    switch (conf->realm) {
    case CRED_REALM_REFUSE:
        xt_seterr(why, whylen, "the name has a realm (credentials_realm = refuse)");
        return XT_BAD_USER;
    case CRED_REALM_DROP:
        if (conf->drop_realms && !realm_listed(conf->drop_realms, realm, strlen(realm))) {
            xt_seterr(why, whylen, "its realm is not one credentials_realm = drop names");
            return XT_UNKNOWN_DOMAIN;
        }
        return XT_OK;
    default:
        for (char *c = realm; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        if (!keep_domain_known(conf, realm)) {
            xt_seterr(why, whylen,
                      "its realm is neither credentials_domain nor a [domain] "
                      "section of the config");
            return XT_UNKNOWN_DOMAIN;
        }
        *domain = realm;
        return XT_OK;
    }
}

/* credentials_lowercase: yes folds A-Z; no refuses names with A-Z, whose
 * tokens no server would accept (servers lowercase the user name). */
static int apply_case(const struct cred_conf *conf, char *local, char *why, size_t whylen)
{
    for (char *c = local; *c; c++) {
        if (*c < 'A' || *c > 'Z')
            continue;
        if (!conf->lowercase) {
            xt_seterr(why, whylen, "the name has upper-case letters (credentials_lowercase = no)");
            return XT_BAD_USER;
        }
        *c = (char)(*c - 'A' + 'a');
    }
    return XT_OK;
}

/* Is the user called local (getpwnam) a member of group (getgrnam), as
 * primary group or through NSS's initgroups (getgrouplist)? */
static int in_group(const char *local, const char *group, char *why, size_t whylen)
{
    long size = sysconf(_SC_GETPW_R_SIZE_MAX), gsize = sysconf(_SC_GETGR_R_SIZE_MAX);
    size_t bufsize = (size > 0 ? (size_t)size : 16384) + (gsize > 0 ? (size_t)gsize : 16384);
    char *buf = malloc(bufsize);
    gid_t *gids = malloc(GROUPS_MAX * sizeof *gids);
    struct passwd pw, *found = NULL;
    struct group gr, *gfound = NULL;
    int n = GROUPS_MAX, rc = XT_NOMEM;

    if (buf == NULL || gids == NULL)
        goto done;
    rc = XT_CONFIG;
    if (getgrnam_r(group, &gr, buf, bufsize / 2, &gfound) != 0 || gfound == NULL) {
        xt_seterr(why, whylen, "credentials_allow: group %s does not exist", group);
        goto done;
    }
    rc = XT_UNKNOWN_USER;
    xt_seterr(why, whylen, "not a member of group %s (credentials_allow)", group);
    if (getpwnam_r(local, &pw, buf + bufsize / 2, bufsize - bufsize / 2, &found) != 0 ||
        found == NULL) {
        xt_seterr(why, whylen, "no such user in NSS (credentials_allow = group:%s)", group);
        goto done;
    }
    if (getgrouplist(local, pw.pw_gid, gids, &n) < 0)
        n = 0; /* more than GROUPS_MAX: only the primary group counts */
    if (pw.pw_gid == gr.gr_gid)
        rc = XT_OK;
    for (int i = 0; i < n && rc != XT_OK; i++)
        if (gids[i] == gr.gr_gid)
            rc = XT_OK;
done:
    free(buf);
    free(gids);
    return rc;
}

/* credentials_allow for the JID. */
static int apply_allow(const struct cred_conf *conf, const char *jid, const char *local, char *why,
                       size_t whylen)
{
    char err[XT_ERR_MAX] = "";
    int rc;

    if (strncmp(conf->allow, "group:", 6) == 0)
        return in_group(local, conf->allow + 6, why, whylen);
    rc = xt_user_exists(conf->keys, conf->allow, jid, err, sizeof err);
    if (rc == XT_UNKNOWN_USER)
        xt_seterr(why, whylen, "not in credentials_allow = %s", conf->allow);
    else if (rc != XT_OK)
        xt_seterr(why, whylen, "credentials_allow: %s", err[0] ? err : xt_strerror(rc));
    return rc;
}

int cred_map_user(const struct cred_conf *conf, const char *user, char *jid, size_t jidlen,
                  char *why, size_t whylen)
{
    size_t len = strlen(user);
    const char *domain;
    char *local;
    int rc;

    xt_seterr(why, whylen, "%s", "");
    if (len > XT_JID_MAX || !cred_utf8_valid(user, len)) {
        xt_seterr(why, whylen,
                  len > XT_JID_MAX ? "the name is too long" : "the name is not valid UTF-8");
        return XT_BAD_USER;
    }
    local = strdup(user);
    if (local == NULL)
        return XT_NOMEM;
    rc = apply_realm(conf, local, &domain, why, whylen);
    if (rc == XT_OK)
        rc = apply_case(conf, local, why, whylen);
    if (rc == XT_OK) {
        rc = xt_jid_make(local, domain, jid, jidlen);
        if (rc != XT_OK) {
            xt_seterr(why, whylen, "it maps to no valid JID (%s)", xt_strerror(rc));
            rc = XT_BAD_USER;
        }
    }
    if (rc == XT_OK && xt_config_has_domain(conf->keys, domain) != XT_OK) {
        xt_seterr(why, whylen, "no keys serve the domain of its JID");
        rc = XT_UNKNOWN_DOMAIN;
    }
    if (rc == XT_OK)
        rc = apply_allow(conf, jid, local, why, whylen);
    free(local);
    return rc;
}
