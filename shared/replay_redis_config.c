/* The Redis settings of the config file: `replay = redis://HOST[:PORT][/DB]`
 * or `redis+unix:///PATH`, and redis_password, redis_user, redis_timeout_ms.
 * Called by config.c; every message is a fixed text that never holds a
 * value from the file (a password must not reach a log through a typo). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "replay_redis.h"
#include "xtoken.h"

enum {
    GIVEN_PASSWORD = 1 << 0,
    GIVEN_USER = 1 << 1,
    GIVEN_TIMEOUT = 1 << 2,
};

int xt_redis_is_url(const char *value)
{
    return strncmp(value, "redis://", 8) == 0 || strncmp(value, "redis+unix://", 13) == 0;
}

int xt_redis_is_key(const char *key)
{
    return strcmp(key, "redis_password") == 0 || strcmp(key, "redis_user") == 0 ||
           strcmp(key, "redis_timeout_ms") == 0;
}

/* A host name (letters, digits, '-', '.') or an IPv4 address. */
static int valid_host_name(const char *h, size_t len)
{
    if (len == 0 || len > XT_REDIS_HOST_MAX || h[0] == '-' || h[0] == '.')
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z') ||
              (h[i] >= '0' && h[i] <= '9') || h[i] == '-' || h[i] == '.'))
            return 0;
    return 1;
}

/* An IPv6 address as written between brackets: hex digits, ':' and '.'. */
static int valid_ipv6(const char *h, size_t len)
{
    if (len < 2 || len > 45)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((h[i] >= 'a' && h[i] <= 'f') || (h[i] >= 'A' && h[i] <= 'F') ||
              (h[i] >= '0' && h[i] <= '9') || h[i] == ':' || h[i] == '.'))
            return 0;
    return 1;
}

/* A decimal in [min, max] spelled by the len bytes at text. */
static int number_in(const char *text, size_t len, unsigned min, unsigned max, unsigned *out)
{
    char buf[16];

    if (len == 0 || len >= sizeof(buf))
        return 0;
    memcpy(buf, text, len);
    buf[len] = '\0';
    return xt_parse_uint(buf, min, max, out);
}

/* redis://HOST[:PORT][/DB], HOST a name, an IPv4 address or [IPv6]. */
static int parse_tcp_url(struct xt_redis_settings *s, const char *rest, const char **why)
{
    const char *host = rest, *end;
    size_t host_len;

    *why = "malformed Redis URL: want redis://HOST[:PORT][/DB] (no user, password, path or "
           "query in it)";
    if (strchr(rest, '@') != NULL) {
        *why = "no user or password in the Redis URL: set redis_user and redis_password";
        return XT_CONFIG;
    }
    if (*rest == '[') {
        end = strchr(rest, ']');
        if (end == NULL || !valid_ipv6(rest + 1, (size_t)(end - rest - 1)))
            return XT_CONFIG;
        host = rest + 1;
        host_len = (size_t)(end - host);
        end++;
    } else {
        end = rest + strcspn(rest, ":/");
        host_len = (size_t)(end - rest);
        if (!valid_host_name(rest, host_len))
            return XT_CONFIG;
    }
    s->port = XT_REDIS_PORT_DEFAULT;
    s->db = 0;
    if (*end == ':') {
        const char *port = end + 1;

        end = port + strcspn(port, "/");
        if (!number_in(port, (size_t)(end - port), 1, 65535, &s->port)) {
            *why = "Redis URL: the port must be a number from 1 to 65535";
            return XT_CONFIG;
        }
    }
    if (*end == '/') {
        if (!number_in(end + 1, strlen(end + 1), 0, XT_REDIS_DB_MAX, &s->db)) {
            *why = "Redis URL: the database must be a number from 0 to 65535";
            return XT_CONFIG;
        }
        end += strlen(end);
    }
    if (*end != '\0')
        return XT_CONFIG;
    s->host = strndup(host, host_len);
    return s->host ? XT_OK : XT_NOMEM;
}

/* redis+unix:///PATH: an absolute path that fits a sockaddr_un. */
static int parse_unix_url(struct xt_redis_settings *s, const char *path, const char **why)
{
    size_t len = strlen(path);

    *why = "malformed Redis URL: want redis+unix:///ABSOLUTE/PATH (no query, at most 107 bytes)";
    if (path[0] != '/' || len > XT_REDIS_PATH_MAX || strpbrk(path, "?#") != NULL)
        return XT_CONFIG;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
            return XT_CONFIG;
    s->socket_path = strdup(path);
    return s->socket_path ? XT_OK : XT_NOMEM;
}

int xt_redis_settings_url(struct xt_redis_settings *s, const char *value, const char **why)
{
    int rc;

    free(s->url);
    free(s->host);
    free(s->socket_path);
    s->url = s->host = s->socket_path = NULL;
    if (strncmp(value, "redis://", 8) == 0)
        rc = parse_tcp_url(s, value + 8, why);
    else
        rc = parse_unix_url(s, value + 13, why);
    if (rc == XT_OK) {
        s->url = strdup(value);
        rc = s->url ? XT_OK : XT_NOMEM;
    }
    return rc;
}

int xt_redis_settings_key(struct xt_redis_settings *s, const char *key, const char *value,
                          const char **why)
{
    size_t len = strlen(value);
    unsigned bit = strcmp(key, "redis_timeout_ms") == 0 ? GIVEN_TIMEOUT
                   : strcmp(key, "redis_user") == 0     ? GIVEN_USER
                                                        : GIVEN_PASSWORD;

    if (s->given & bit) {
        *why = "each redis_* key may be given once";
        return XT_CONFIG;
    }
    if (strcmp(key, "redis_timeout_ms") == 0) {
        *why = "redis_timeout_ms must be a number from 50 to 5000";
        s->given |= GIVEN_TIMEOUT;
        return xt_parse_uint(value, XT_REDIS_TIMEOUT_MIN, XT_REDIS_TIMEOUT_MAX, &s->timeout_ms)
                   ? XT_OK
                   : XT_CONFIG;
    }
    if (strcmp(key, "redis_user") == 0) {
        *why = "redis_user must be 1 to 128 printable characters without spaces";
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)value[i] <= ' ' || (unsigned char)value[i] >= 0x7f)
                return XT_CONFIG;
        if (len == 0 || len > XT_REDIS_USER_MAX)
            return XT_CONFIG;
        s->given |= GIVEN_USER;
        s->user = strdup(value);
        return s->user ? XT_OK : XT_NOMEM;
    }
    *why = "redis_password must be 1 to 512 bytes";
    if (len == 0 || len > XT_REDIS_PASSWORD_MAX)
        return XT_CONFIG;
    s->given |= GIVEN_PASSWORD;
    s->password = strdup(value);
    return s->password ? XT_OK : XT_NOMEM;
}

int xt_redis_settings_finish(const struct xt_redis_settings *s, const char **why)
{
    if (s->given != 0 && s->url == NULL) {
        *why = "redis_password, redis_user and redis_timeout_ms need replay = redis://... or "
               "redis+unix://...";
        return XT_CONFIG;
    }
    if ((s->given & GIVEN_USER) && !(s->given & GIVEN_PASSWORD)) {
        *why = "redis_user needs redis_password";
        return XT_CONFIG;
    }
    return XT_OK;
}

void xt_redis_settings_clear(struct xt_redis_settings *s)
{
    if (s->password != NULL)
        xt_free_wipe(s->password, strlen(s->password));
    free(s->url);
    free(s->host);
    free(s->socket_path);
    free(s->user);
    memset(s, 0, sizeof(*s));
}

