/* The credentials_* keys of xtoken-credentials' config. They share the
 * pam_xtoken.conf file format and must come before any [domain] section;
 * every other line goes to the library's own parser (xt_config_parse),
 * with the credentials_* lines blanked so that its line numbers still
 * match the file. Messages name the file and line, never a value. */
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "credentials.h"
#include "internal.h"
#include "xtoken.h"

#define CONF_MAX_BYTES (64 * 1024)
#define CONF_LINE_MAX  1024
#define KEY_PREFIX     "credentials_"

enum { GIVEN_DOMAIN = 1, GIVEN_REALM = 2, GIVEN_LOWERCASE = 4, GIVEN_ALLOW = 8 };

struct cparser {
    struct cred_conf *conf;
    const char *name;
    unsigned line, given;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int cerr(struct cparser *p, const char *fmt, ...)
{
    char msg[XT_ERR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    xt_seterr(p->err, p->errlen, "%s:%u: %s", p->name, p->line, msg);
    return XT_CONFIG;
}

void cred_conf_free(struct cred_conf *conf)
{
    if (conf == NULL)
        return;
    xt_config_free(conf->keys);
    free(conf->domain);
    free(conf->drop_realms);
    free(conf->allow);
    free(conf);
}

/* A realm as REMOTE_USER may carry it: printable ASCII, no '@'. */
static int valid_realm(const char *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (r[i] <= ' ' || r[i] >= 0x7f || r[i] == '@')
            return 0;
    return n > 0;
}

/* refuse | keep | drop [REALM ...] */
static int set_realm(struct cparser *p, char *value)
{
    char *words = value + strcspn(value, " \t");
    size_t n = (size_t)(words - value);

    words += strspn(words, " \t");
    if (n == 6 && strncmp(value, "refuse", 6) == 0 && *words == '\0')
        p->conf->realm = CRED_REALM_REFUSE;
    else if (n == 4 && strncmp(value, "keep", 4) == 0 && *words == '\0')
        p->conf->realm = CRED_REALM_KEEP;
    else if (n == 4 && strncmp(value, "drop", 4) == 0)
        p->conf->realm = CRED_REALM_DROP;
    else
        return cerr(p, "credentials_realm must be refuse, keep, drop, or drop REALM...");
    if (*words == '\0')
        return XT_OK;
    /* the realms, each checked, kept with one space between them */
    char *list = calloc(1, strlen(words) + 1), *out = list;

    if (list == NULL)
        return XT_NOMEM;
    while (*words) {
        size_t len = strcspn(words, " \t");

        if (!valid_realm(words, len)) {
            free(list);
            return cerr(p, "credentials_realm: a realm is printable ASCII without '@'");
        }
        if (out != list)
            *out++ = ' ';
        memcpy(out, words, len);
        out += len;
        words += len;
        words += strspn(words, " \t");
    }
    p->conf->drop_realms = list;
    return XT_OK;
}

/* any | nss | /path | group:NAME */
static int set_allow(struct cparser *p, const char *value)
{
    int ok = xt_users_policy_check(value) == XT_OK;

    if (strncmp(value, "group:", 6) == 0)
        ok = value[6] != '\0' && strpbrk(value + 6, " \t:") == NULL;
    if (!ok)
        return cerr(p, "credentials_allow must be any, nss, an absolute file path or group:NAME");
    p->conf->allow = strdup(value);
    return p->conf->allow ? XT_OK : XT_NOMEM;
}

static int set_key(struct cparser *p, const char *key, char *value)
{
    static const struct {
        const char *key;
        unsigned bit;
    } keys[] = {{"credentials_domain", GIVEN_DOMAIN},
                {"credentials_realm", GIVEN_REALM},
                {"credentials_lowercase", GIVEN_LOWERCASE},
                {"credentials_allow", GIVEN_ALLOW}};
    size_t i = 0;

    while (i < sizeof keys / sizeof keys[0] && strcmp(key, keys[i].key) != 0)
        i++;
    if (i == sizeof keys / sizeof keys[0])
        return strlen(key) <= 40 && strspn(key, "abcdefghijklmnopqrstuvwxyz_") == strlen(key)
                   ? cerr(p, "unknown key '%s'", key)
                   : cerr(p, "malformed line (expected key = value)");
    if (p->given & keys[i].bit)
        return cerr(p, "%s given twice", key);
    p->given |= keys[i].bit;
    switch (keys[i].bit) {
    case GIVEN_DOMAIN:
        p->conf->domain = strdup(value);
        return p->conf->domain ? XT_OK : XT_NOMEM;
    case GIVEN_REALM:
        return set_realm(p, value);
    case GIVEN_LOWERCASE:
        if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0)
            return cerr(p, "credentials_lowercase must be yes or no");
        p->conf->lowercase = strcmp(value, "yes") == 0;
        return XT_OK;
    default:
        return set_allow(p, value);
    }
}

static char *trim(char *s)
{
    char *end = s + strlen(s);

    s += strspn(s, " \t");
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    *end = '\0';
    return s;
}

/* One line that starts with credentials_ (after blanks). */
static int parse_cred_line(struct cparser *p, const char *text, size_t n, int in_section)
{
    char buf[CONF_LINE_MAX + 1], *eq;
    int rc;

    if (in_section)
        return cerr(p, "credentials_* keys go before the first [domain] section");
    if (n > CONF_LINE_MAX)
        return cerr(p, "line longer than %d bytes", CONF_LINE_MAX);
    memcpy(buf, text, n);
    buf[n] = '\0';
    eq = strchr(buf, '=');
    if (eq == NULL) {
        rc = cerr(p, "expected key = value");
    } else {
        *eq = '\0';
        rc = set_key(p, trim(buf), trim(eq + 1));
    }
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

/* Take the credentials_* lines out of text (blanked in place). */
static int take_cred_lines(struct cparser *p, char *text, size_t len)
{
    size_t pos = 0;
    int in_section = 0, rc = XT_OK;

    while (pos < len && rc == XT_OK) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = (nl ? (size_t)(nl - text) : len) - pos;
        size_t lead = 0;

        p->line++;
        while (lead < n && (text[pos + lead] == ' ' || text[pos + lead] == '\t'))
            lead++;
        if (lead < n && text[pos + lead] == '[')
            in_section = 1;
        if (n - lead >= strlen(KEY_PREFIX) &&
            memcmp(text + pos + lead, KEY_PREFIX, strlen(KEY_PREFIX)) == 0) {
            if (memchr(text + pos, '\0', n) != NULL)
                rc = cerr(p, "NUL byte in line");
            else
                rc = parse_cred_line(p, text + pos + lead, n - lead, in_section);
            memset(text + pos, ' ', n);
        }
        pos += n + 1;
    }
    return rc;
}

/* The domain must be one the keys serve and look like a domain (the
 * library's JID rules, lowercase). */
static int check_domain(struct cparser *p)
{
    char jid[XT_JID_MAX + 1];
    const char *d = p->conf->domain;

    if (d == NULL) {
        xt_seterr(p->err, p->errlen, "%s: credentials_domain is required", p->name);
        return XT_CONFIG;
    }
    if (xt_jid_make("x", d, jid, sizeof jid) != XT_OK || strpbrk(d, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")) {
        xt_seterr(p->err, p->errlen, "%s: credentials_domain is not a lowercase domain name",
                  p->name);
        return XT_CONFIG;
    }
    if (xt_config_has_domain(p->conf->keys, d) != XT_OK) {
        xt_seterr(p->err, p->errlen, "%s: no otp_seed and token_secret serve credentials_domain %s",
                  p->name, d);
        return XT_CONFIG;
    }
    return XT_OK;
}

int cred_conf_parse(const char *text, size_t len, const char *name, struct cred_conf **conf,
                    char *err, size_t errlen)
{
    struct cparser p = {.name = name ? name : "config", .err = err, .errlen = errlen};
    char *copy = malloc(len + 1);
    int rc = XT_NOMEM;

    *conf = NULL;
    p.conf = calloc(1, sizeof *p.conf);
    if (copy == NULL || p.conf == NULL)
        goto done;
    memcpy(copy, text, len);
    copy[len] = '\0';
    p.conf->realm = CRED_REALM_REFUSE;
    p.conf->lowercase = 1;
    rc = take_cred_lines(&p, copy, len);
    if (rc == XT_OK)
        rc = xt_config_parse(copy, len, p.name, &p.conf->keys, err, errlen);
    if (rc == XT_OK)
        rc = check_domain(&p);
    if (rc == XT_OK && p.conf->allow == NULL)
        p.conf->allow = strdup("any");
    if (rc == XT_OK && p.conf->allow == NULL)
        rc = XT_NOMEM;
done:
    if (rc == XT_NOMEM)
        xt_seterr(err, errlen, "%s: out of memory", p.name);
    xt_free_wipe(copy, copy ? len + 1 : 0);
    if (rc != XT_OK)
        cred_conf_free(p.conf);
    else
        *conf = p.conf;
    return rc;
}

int cred_conf_load(const char *path, struct cred_conf **conf, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    *conf = NULL;
    rc = xt_read_file_safely(path, CONF_MAX_BYTES, 1, &text, &len, err, errlen);
    if (rc == XT_OK)
        rc = cred_conf_parse(text, len, path, conf, err, errlen);
    xt_free_wipe(text, text ? len + 1 : 0);
    return rc;
}
