/* The config file: `key = value` lines, full-line `#` comments, optional
 * [domain] sections that override (key by key) the global scope.
 * Messages name the file and line and never contain a value. */
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "replay_redis.h"
#include "xtoken.h"

#define CONFIG_MAX_BYTES (64 * 1024)
#define LINE_MAX_BYTES   1024
#define SECTIONS_MAX     1024
#define SEED_MAX_BYTES   128

enum {
    XT_GIVEN_SEED = 1 << 0,
    XT_GIVEN_SECRET = 1 << 1,
    XT_GIVEN_WINDOW = 1 << 2,
    XT_GIVEN_DIGITS = 1 << 3,
    XT_GIVEN_INTERVAL = 1 << 4,
    XT_GIVEN_REPLAY = 1 << 5,
    XT_GIVEN_NONCE = 1 << 6,
};

/* The example keys published in mod_auth_token's, collective.converse's and
 * collective.xmpp.buildout's documentation: anyone can mint tokens with them,
 * so a config using either is refused like any other unsafe config. */
static const char published_seed[] = "XVGR73KMZH2M4XMY";
static const char published_secret[] = "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7";

struct parser {
    xt_config *cfg;
    struct xt_scope *scope; /* where keys go: &cfg->global or a section */
    size_t sections_cap;
    const char *name; /* file name for messages */
    unsigned line;
    char *err;
    size_t errlen;
};

/* Record "FILE:LINE: message" and return XT_CONFIG. */
__attribute__((format(printf, 2, 3))) static int perr(struct parser *p, const char *fmt, ...)
{
    char msg[XT_ERR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    xt_seterr(p->err, p->errlen, "%s:%u: %s", p->name, p->line, msg);
    return XT_CONFIG;
}

static void scope_clear(struct xt_scope *s)
{
    for (unsigned i = 0; i < s->n_seeds; i++)
        xt_free_wipe(s->seeds[i].key, s->seeds[i].len);
    for (unsigned i = 0; i < s->n_secrets; i++) {
        xt_hmac_free(&s->secrets[i].hmac);
        xt_free_wipe(s->secrets[i].text, s->secrets[i].len);
    }
    free(s->name);
    memset(s, 0, sizeof(*s));
}

void xt_config_free(xt_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->n_sections; i++)
        scope_clear(&cfg->sections[i]);
    free(cfg->sections);
    scope_clear(&cfg->global);
    free(cfg->replay_dir);
    xt_redis_settings_clear(&cfg->redis);
    free(cfg);
}

/* 1 if the decoded seed is the published example seed to HMAC-SHA1 (in
 * any case or padding of its base32, and with any zero bytes appended: HMAC
 * pads the key with zeros, so "XVGR73KMZH2M4XMYAA" gives the published
 * seed's OTPs); 0 if not; -1 if the comparison failed. */
static int is_published_seed(const unsigned char *key, size_t len)
{
    unsigned char example[SEED_MAX_BYTES];
    size_t n = xt_base32_decode(published_seed, sizeof(published_seed) - 1, example,
                                sizeof(example));

    return xt_hmac_same_key("SHA1", example, n, key, len);
}

static int add_seed(struct parser *p, const char *value)
{
    struct xt_scope *s = p->scope;
    unsigned char buf[SEED_MAX_BYTES];
    size_t n;
    int rc = XT_CONFIG;

    if (*value == '\0')
        return perr(p, "empty otp_seed");
    if (s->n_seeds == XT_KEYS_MAX)
        return perr(p, "more than %d otp_seed entries in one scope", XT_KEYS_MAX);
    n = xt_base32_decode(value, strlen(value), buf, sizeof(buf));
    if (n == 0) {
        perr(p, "otp_seed is not valid base32 (A-Z, 2-7) or longer than %d bytes", SEED_MAX_BYTES);
        goto done;
    }
    if (n < XT_SEED_MIN) {
        perr(p, "otp_seed decodes to %zu bytes, at least %d are needed", n, XT_SEED_MIN);
        goto done;
    }
    if (is_published_seed(buf, n) != 0) {
        perr(p, "otp_seed is the example seed published in the mod_auth_token and "
                "collective.converse documentation (or the same key to HMAC): anyone can mint "
                "tokens with it; generate your own (xtoken keygen)");
        goto done;
    }
    rc = XT_NOMEM;
    s->seeds[s->n_seeds].key = malloc(n);
    if (s->seeds[s->n_seeds].key == NULL)
        goto done;
    memcpy(s->seeds[s->n_seeds].key, buf, n);
    s->seeds[s->n_seeds++].len = n;
    rc = XT_OK;
done:
    OPENSSL_cleanse(buf, sizeof(buf));
    return rc;
}

static int add_secret(struct parser *p, const char *value)
{
    struct xt_scope *s = p->scope;
    size_t n = strlen(value);

    if (n == 0)
        return perr(p, "empty token_secret");
    if (n < XT_SECRET_MIN)
        return perr(p, "token_secret is %zu bytes long, at least %d are needed", n, XT_SECRET_MIN);
    if (s->n_secrets == XT_KEYS_MAX)
        return perr(p, "more than %d token_secret entries in one scope", XT_KEYS_MAX);
    if (value[0] == '<' && value[n - 1] == '>')
        return perr(p, "token_secret is still a <placeholder>: generate one (xtoken keygen)");
    /* any case: a re-cased copy of a published key is no secret either;
     * and the same key to HMAC-SHA256 (a value cannot end in zero bytes,
     * but a long one is the same key as its digest) */
    if (strcasecmp(value, published_secret) == 0 ||
        xt_hmac_same_key("SHA256", (const unsigned char *)published_secret,
                         sizeof(published_secret) - 1, (const unsigned char *)value, n) != 0)
        return perr(p, "token_secret is the example secret published in the mod_auth_token and "
                       "collective.converse documentation: anyone can mint tokens with it; "
                       "generate your own (xtoken keygen)");
    s->secrets[s->n_secrets].text = strdup(value);
    if (s->secrets[s->n_secrets].text == NULL)
        return XT_NOMEM;
    s->secrets[s->n_secrets++].len = n;
    return XT_OK;
}

static int set_replay(struct parser *p, const char *value)
{
    if (p->scope != &p->cfg->global)
        return perr(p, "replay can only be set outside [domain] sections");
    free(p->cfg->replay_dir);
    p->cfg->replay_dir = NULL;
    if (strcmp(value, "off") == 0)
        return XT_OK;
    if (xt_redis_is_url(value)) {
        const char *why = "";
        int rc = xt_redis_settings_url(&p->cfg->redis, value, &why);

        if (rc != XT_OK)
            return rc == XT_CONFIG ? perr(p, "%s", why) : rc;
    } else if (value[0] != '/') {
        return perr(p, "replay must be an absolute directory, a redis:// URL or off");
    }
    p->cfg->replay_dir = strdup(value);
    return p->cfg->replay_dir ? XT_OK : XT_NOMEM;
}

static int set_number(struct parser *p, const char *key, const char *value, unsigned *out,
                      unsigned min, unsigned max)
{
    if (!xt_parse_uint(value, min, max, out))
        return perr(p, "%s must be a number from %u to %u", key, min, max);
    return XT_OK;
}

/* redis_password, redis_user, redis_timeout_ms: global, once each. */
static int set_redis(struct parser *p, const char *key, const char *value)
{
    const char *why = "";
    int rc;

    if (p->scope != &p->cfg->global)
        return perr(p, "%s can only be set outside [domain] sections", key);
    rc = xt_redis_settings_key(&p->cfg->redis, key, value, &why);
    return rc == XT_CONFIG ? perr(p, "%s", why) : rc;
}

/* 1 if text could be a key name ([a-z_]{1,32}): only then may a message
 * quote it. Anything else may be a value typed without its '=' (e.g.
 * "token_secret: <secret>"), and no message may ever contain a value. */
static int looks_like_key(const char *text)
{
    size_t n = strspn(text, "abcdefghijklmnopqrstuvwxyz_");

    return n > 0 && n <= 32 && text[n] == '\0';
}

/* One `key = value` line. Single-valued keys may appear once per scope. */
static int parse_key(struct parser *p, const char *key, const char *value)
{
    static const struct {
        const char *key;
        unsigned bit, repeatable;
    } keys[] = {
        {"otp_seed", XT_GIVEN_SEED, 1},     {"token_secret", XT_GIVEN_SECRET, 1},
        {"window", XT_GIVEN_WINDOW, 0},     {"digits", XT_GIVEN_DIGITS, 0},
        {"interval", XT_GIVEN_INTERVAL, 0}, {"replay", XT_GIVEN_REPLAY, 0},
        {"nonce_digits", XT_GIVEN_NONCE, 0},
    };
    struct xt_scope *s = p->scope;
    size_t i;

    if (xt_redis_is_key(key))
        return set_redis(p, key, value);
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strcmp(key, keys[i].key) == 0)
            break;
    if (i == sizeof(keys) / sizeof(keys[0]))
        return looks_like_key(key) ? perr(p, "unknown key '%s'", key)
                                   : perr(p, "malformed line (expected key = value)");
    if ((s->given & keys[i].bit) && !keys[i].repeatable)
        return perr(p, "%s given twice in the same scope", key);
    s->given |= keys[i].bit;
    switch (keys[i].bit) {
    case XT_GIVEN_SEED:
        return add_seed(p, value);
    case XT_GIVEN_SECRET:
        return add_secret(p, value);
    case XT_GIVEN_WINDOW:
        return set_number(p, key, value, &s->window, 0, XT_WINDOW_MAX);
    case XT_GIVEN_DIGITS:
        return set_number(p, key, value, &s->digits, XT_DIGITS_MIN, XT_DIGITS_MAX);
    case XT_GIVEN_INTERVAL:
        return set_number(p, key, value, &s->interval, 1, XT_INTERVAL_MAX);
    case XT_GIVEN_NONCE:
        return set_number(p, key, value, &s->nonce_digits, XT_NONCE_MIN, XT_NONCE_MAX);
    default:
        return set_replay(p, value);
    }
}

/* Domains are compared byte for byte with what the server sends, which is
 * lowercase: refuse anything that could never match. */
static int valid_domain(const char *d)
{
    size_t n = strlen(d);

    if (n == 0 || n > XT_DOMAIN_MAX)
        return 0;
    for (; *d; d++) {
        unsigned char c = (unsigned char)*d;

        if (c <= ' ' || c == 0x7f || (c >= 'A' && c <= 'Z') || strchr("@/[]\"'\\:", c))
            return 0;
    }
    return 1;
}

static int parse_section(struct parser *p, char *line)
{
    size_t n = strlen(line);
    struct xt_scope *s;

    if (line[n - 1] != ']')
        return perr(p, "section header must be [domain]");
    line[n - 1] = '\0';
    line++;
    if (!valid_domain(line))
        return perr(p, "bad domain name in section header (lowercase, no spaces, @, /, :)");
    for (size_t i = 0; i < p->cfg->n_sections; i++)
        if (strcmp(p->cfg->sections[i].name, line) == 0)
            return perr(p, "duplicate section [%s]", line);
    if (p->cfg->n_sections == SECTIONS_MAX)
        return perr(p, "more than %d sections", SECTIONS_MAX);
    if (p->cfg->n_sections == p->sections_cap) {
        size_t cap = p->sections_cap ? 2 * p->sections_cap : 8;
        /* the array holds pointers to key material, never the keys themselves */
        struct xt_scope *grown = realloc(p->cfg->sections, cap * sizeof(*grown));

        if (grown == NULL)
            return XT_NOMEM;
        p->cfg->sections = grown;
        p->sections_cap = cap;
    }
    s = &p->cfg->sections[p->cfg->n_sections];
    memset(s, 0, sizeof(*s));
    s->name = strdup(line);
    if (s->name == NULL)
        return XT_NOMEM;
    p->cfg->n_sections++;
    p->scope = s;
    return XT_OK;
}

static char *trim(char *s)
{
    char *end = s + strlen(s);

    while (*s == ' ' || *s == '\t')
        s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    *end = '\0';
    return s;
}

static int parse_line(struct parser *p, char *line)
{
    char *eq;
    const char *key;

    line = trim(line);
    if (*line == '\0' || *line == '#')
        return XT_OK;
    if (*line == '[')
        return parse_section(p, line);
    eq = strchr(line, '=');
    if (eq == NULL)
        return perr(p, "expected key = value");
    *eq = '\0';
    key = trim(line);
    if (*key == '\0')
        return perr(p, "missing key before '='");
    return parse_key(p, key, trim(eq + 1));
}

/* Split text into lines and parse each; the line buffer is wiped. */
static int parse_text(struct parser *p, const char *text, size_t len)
{
    char buf[LINE_MAX_BYTES + 1];
    size_t pos = 0;
    int rc = XT_OK;

    while (pos < len && rc == XT_OK) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = (nl ? (size_t)(nl - text) : len) - pos;

        p->line++;
        if (n > LINE_MAX_BYTES)
            rc = perr(p, "line longer than %d bytes", LINE_MAX_BYTES);
        else if (memchr(text + pos, '\0', n) != NULL)
            rc = perr(p, "NUL byte in line");
        else {
            memcpy(buf, text + pos, n);
            buf[n] = '\0';
            rc = parse_line(p, buf);
        }
        pos += n + 1;
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return rc;
}

/* Copy the global value of every key the section did not set. */
static int inherit(struct xt_scope *s, const struct xt_scope *g)
{
    if (!(s->given & XT_GIVEN_SEED)) {
        for (unsigned i = 0; i < g->n_seeds; i++) {
            s->seeds[i].key = malloc(g->seeds[i].len);
            if (s->seeds[i].key == NULL)
                return XT_NOMEM;
            memcpy(s->seeds[i].key, g->seeds[i].key, g->seeds[i].len);
            s->seeds[i].len = g->seeds[i].len;
            s->n_seeds = i + 1;
        }
    }
    if (!(s->given & XT_GIVEN_SECRET)) {
        for (unsigned i = 0; i < g->n_secrets; i++) {
            s->secrets[i].text = strdup(g->secrets[i].text);
            if (s->secrets[i].text == NULL)
                return XT_NOMEM;
            s->secrets[i].len = g->secrets[i].len;
            s->n_secrets = i + 1;
        }
    }
    if (!(s->given & XT_GIVEN_WINDOW))
        s->window = g->window;
    if (!(s->given & XT_GIVEN_DIGITS))
        s->digits = g->digits;
    if (!(s->given & XT_GIVEN_INTERVAL))
        s->interval = g->interval;
    if (!(s->given & XT_GIVEN_NONCE))
        s->nonce_digits = g->nonce_digits;
    return XT_OK;
}

/* Key every secret of s once, so verifying only copies ready states. */
static int key_macs(struct xt_scope *s)
{
    for (unsigned i = 0; i < s->n_secrets; i++) {
        int rc = xt_hmac_key(&s->secrets[i].hmac, (const unsigned char *)s->secrets[i].text,
                             s->secrets[i].len);

        if (rc != XT_OK)
            return rc;
    }
    return XT_OK;
}

static int finish_scope(struct parser *p, struct xt_scope *s)
{
    char msg[XT_ERR_MAX];
    const char *what = s->n_seeds == 0 ? "otp_seed" : "token_secret";

    if (s->n_seeds == 0 || s->n_secrets == 0) {
        xt_seterr(p->err, p->errlen, "%s: [%s] has no %s (neither in its section nor globally)",
                  p->name, s->name, what);
        return XT_CONFIG;
    }
    if (xt_lifetime_check(s->interval, s->window, msg, sizeof(msg)) != XT_OK) {
        xt_seterr(p->err, p->errlen, "%s: [%s]: %s", p->name, s->name, msg);
        return XT_CONFIG;
    }
    return key_macs(s);
}

/* Apply inheritance, check completeness, key the MACs. */
static int finish(struct parser *p)
{
    xt_config *cfg = p->cfg;
    struct xt_scope *g = &cfg->global;
    const char *why = "";

    if (xt_redis_settings_finish(&cfg->redis, &why) != XT_OK) {
        xt_seterr(p->err, p->errlen, "%s: %s", p->name, why);
        return XT_CONFIG;
    }

    if (!(g->given & XT_GIVEN_WINDOW))
        g->window = 1;
    if (!(g->given & XT_GIVEN_DIGITS))
        g->digits = 8;
    if (!(g->given & XT_GIVEN_INTERVAL))
        g->interval = 30;
    if (!(g->given & XT_GIVEN_NONCE))
        g->nonce_digits = XT_NONCE_DIGITS;
    cfg->global_serves = g->n_seeds > 0 && g->n_secrets > 0;
    if (!cfg->global_serves && cfg->n_sections == 0) {
        xt_seterr(p->err, p->errlen, "%s: no %s configured", p->name,
                  g->n_seeds == 0 ? "otp_seed" : "token_secret");
        return XT_CONFIG;
    }
    for (size_t i = 0; i < cfg->n_sections; i++) {
        int rc = inherit(&cfg->sections[i], g);

        if (rc == XT_OK)
            rc = finish_scope(p, &cfg->sections[i]);
        if (rc != XT_OK)
            return rc;
    }
    return cfg->global_serves ? finish_scope(p, g) : XT_OK;
}

int xt_config_parse(const char *text, size_t len, const char *name, xt_config **cfg, char *err,
                    size_t errlen)
{
    struct parser p = {.name = name ? name : "config", .err = err, .errlen = errlen};
    int rc = XT_NOMEM;

    *cfg = NULL;
    p.cfg = calloc(1, sizeof(*p.cfg));
    if (p.cfg == NULL)
        goto done;
    p.cfg->global.name = strdup("*");
    p.cfg->replay_dir = strdup(XT_DEFAULT_REPLAY_DIR);
    if (p.cfg->global.name == NULL || p.cfg->replay_dir == NULL)
        goto done;
    p.scope = &p.cfg->global;
    rc = parse_text(&p, text, len);
    if (rc == XT_OK)
        rc = finish(&p);
done:
    if (rc == XT_NOMEM)
        xt_seterr(err, errlen, "%s: out of memory", p.name);
    if (rc == XT_INTERNAL)
        xt_seterr(err, errlen, "%s: OpenSSL cannot provide SHA-256", p.name);
    if (rc != XT_OK)
        xt_config_free(p.cfg);
    else
        *cfg = p.cfg;
    return rc;
}

int xt_config_read(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    return xt_read_file_safely(path, CONFIG_MAX_BYTES, 1, text, len, err, errlen);
}

int xt_config_load(const char *path, xt_config **cfg, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    *cfg = NULL;
    rc = xt_config_read(path, &text, &len, err, errlen);
    if (rc == XT_OK)
        rc = xt_config_parse(text, len, path, cfg, err, errlen);
    xt_free_wipe(text, len + 1);
    return rc;
}
