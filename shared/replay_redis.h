/* Private: the replay store on Redis (replay_redis.c), its settings as the
 * config parser fills them, and the hooks replay.c and config.c call.
 * Nothing here is part of the public API (xtoken.h). */
#ifndef XTOKEN_REPLAY_REDIS_H
#define XTOKEN_REPLAY_REDIS_H

#include <stddef.h>
#include <time.h>

#include "xtoken.h"

#define XT_REDIS_KEY_PREFIX    "xtoken:replay:"
#define XT_REDIS_KEY_LABEL     "pam_xtoken replay v1" /* domain separation of the digest */
#define XT_REDIS_DIGEST_BYTES  16                     /* 128 bits of SHA-256, 32 hex chars */
#define XT_REDIS_KEY_LEN       (sizeof(XT_REDIS_KEY_PREFIX) - 1 + 2 * XT_REDIS_DIGEST_BYTES)
#define XT_REDIS_PORT_DEFAULT  6379
#define XT_REDIS_DB_MAX        65535
#define XT_REDIS_TIMEOUT_MIN   50
#define XT_REDIS_TIMEOUT_MAX   5000
#define XT_REDIS_TIMEOUT_DEFAULT 500
#define XT_REDIS_PASSWORD_MAX  512
#define XT_REDIS_USER_MAX      128
#define XT_REDIS_HOST_MAX      253
#define XT_REDIS_PATH_MAX      107 /* sun_path holds 108 bytes with the NUL */

/* `replay = redis://...` and the redis_* keys, global scope only. */
struct xt_redis_settings {
    char *url;         /* the replay value as written (never holds a password); NULL: not Redis */
    char *host;        /* TCP: a name or an address (IPv6 without brackets) */
    char *socket_path; /* redis+unix: an absolute path; host is NULL then */
    unsigned port, db, timeout_ms;
    char *user;     /* redis_user (Redis 6 ACL), NULL: the default user */
    char *password; /* redis_password, NULL: no AUTH; wiped when freed */
    unsigned given; /* which redis_* keys the file set (each at most once) */
};

/* ---- config.c's hooks (replay_redis.c): why is a static message that never
 * holds a value from the file. ------------------------------------------ */

/* 1 if value is meant as a Redis URL (redis:// or redis+unix://). */
int xt_redis_is_url(const char *value);
/* Parse a Redis URL strictly into s. XT_OK; XT_CONFIG with *why; XT_NOMEM. */
int xt_redis_settings_url(struct xt_redis_settings *s, const char *value, const char **why);
/* 1 if key is one of the redis_* keys. */
int xt_redis_is_key(const char *key);
/* Set redis_password, redis_user or redis_timeout_ms.
 * XT_OK; XT_CONFIG with *why; XT_NOMEM. */
int xt_redis_settings_key(struct xt_redis_settings *s, const char *key, const char *value,
                          const char **why);
/* After the whole file: the redis_* keys need a Redis URL, redis_user needs
 * redis_password. XT_OK; XT_CONFIG with *why. */
int xt_redis_settings_finish(const struct xt_redis_settings *s, const char **why);
/* Free and wipe. */
void xt_redis_settings_clear(struct xt_redis_settings *s);

/* ---- the backend ------------------------------------------------------- */

struct xt_redis;

/* A handle on the server s names (copied). No I/O until the first use.
 * XT_OK; XT_NOMEM. */
int xt_redis_new(const struct xt_redis_settings *s, struct xt_redis **redis);
void xt_redis_free(struct xt_redis *redis);
/* xt_replay_use for Redis: reads the clock itself. */
int xt_redis_use(struct xt_redis *redis, const unsigned char key[XT_REPLAY_KEY_LEN], time_t expires);
const char *xt_redis_error(const struct xt_redis *redis);
/* xt_replay_probe for Redis. */
int xt_redis_probe(struct xt_redis *redis, char *report, size_t reportlen, char *warning,
                   size_t warnlen);

/* The Redis key for a replay key (the token's MAC): prefix + hex digest,
 * NUL-terminated. XT_OK; XT_INTERNAL. */
int xt_redis_key(const unsigned char key[XT_REPLAY_KEY_LEN], char out[XT_REDIS_KEY_LEN + 1]);

/* Tests and fuzzing: use fd (a connected stream socket, taken over) as the
 * connection, as if just connected: the next use authenticates over it. */
void xt_redis_adopt_fd(struct xt_redis *redis, int fd);

/* ---- replay.c's side ---------------------------------------------------- */

/* An xt_replay handle that dispatches to redis (taken over; freed with the
 * handle). XT_OK; XT_NOMEM (redis freed). */
int xt_replay_wrap_redis(struct xt_redis *redis, xt_replay **replay);
/* The Redis backend of a handle, NULL for the file store. */
struct xt_redis *xt_replay_redis(const xt_replay *replay);

#endif
