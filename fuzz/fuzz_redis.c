/* libFuzzer target: everything a Redis server can answer. The input is the
 * server's side of a connection (after one FLAGS byte), written into a
 * socketpair whose other end the Redis replay backend adopts as if it had
 * just connected: it authenticates and selects (if FLAGS ask for it), then
 * uses one key (TIME + SET NX EXAT) or probes the server (check-config:
 * PING, TIME, CONFIG GET, INFO), reading and judging the replies with the
 * real code: our own I/O, hiredis's reader, our bounded reply objects.
 *
 *   FLAGS bit 0: a password is set (AUTH comes first);
 *   FLAGS bit 1: database 3 (SELECT comes first);
 *   FLAGS bit 2: probe instead of use;
 *   FLAGS bit 3: use a second time on the same handle (reconnects: fails).
 * Invariants: the answer is one of the statuses the backend may give, an
 * error has a message, no message holds the password (when one is set:
 * without one, the server's text is shown as it is), and no answer is
 * accepted (XT_OK, or XT_REPLAYED for a use) when the replies it read hold
 * anything the store must refuse: a RESP3 type (hiredis 1.x parses them
 * even on a RESP2 connection) or an array inside an array. That is judged
 * by a small RESP2 scanner of our own here, independent of hiredis. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "replay_redis.h"
#include "xtoken.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_PASSWORD "fuzz-Password-9"
#define INPUT_MAX     65536 /* fits a socketpair's buffer: the write never blocks */

/* The server's bytes as RESP2 replies, for the oracle. */
struct scan {
    const uint8_t *p, *end;
};

/* A canonical decimal ending in CRLF ("-1", "0", "42"): what hiredis's
 * string2ll reads the same way. 0; -1 if not that (no claim then). */
static int scan_number(struct scan *s, long long *out)
{
    const uint8_t *p = s->p;
    int neg = p < s->end && *p == '-', digits = 0;
    long long v = 0;

    p += neg;
    if (p < s->end && *p == '0' && p + 1 < s->end && p[1] != '\r')
        return -1; /* a leading zero */
    for (; p < s->end && *p >= '0' && *p <= '9' && digits < 18; p++, digits++)
        v = v * 10 + (*p - '0');
    if (digits == 0 || p + 1 >= s->end || p[0] != '\r' || p[1] != '\n')
        return -1;
    s->p = p + 2;
    *out = neg ? -v : v;
    return 0;
}

static int scan_line(struct scan *s)
{
    for (const uint8_t *p = s->p; p + 1 < s->end; p++)
        if (p[0] == '\r' && p[1] == '\n') {
            s->p = p + 2;
            return 0;
        }
    return -1;
}

/* One reply: 1 if it holds what the store must refuse, 0 if it is flat
 * RESP2, -1 if the bytes end or are not RESP2 first (no claim). */
static int scan_item(struct scan *s, int depth) // NOLINT(misc-no-recursion): depth <= 1
{
    long long n;

    if (s->p >= s->end)
        return -1;
    switch (*s->p++) {
    case '+':
    case '-':
    case ':':
        return scan_line(s);
    case '$':
        if (scan_number(s, &n) != 0 || n < -1)
            return -1;
        if (n == -1)
            return 0;
        if (n > s->end - s->p || s->end - s->p - n < 2)
            return -1;
        s->p += n + 2;
        return 0;
    case '*':
        if (scan_number(s, &n) != 0 || n < -1)
            return -1;
        if (n >= 0 && depth > 0)
            return 1; /* an array inside an array ("*-1" is a nil element) */
        for (long long i = 0; i < n; i++) {
            int r = scan_item(s, depth + 1); // NOLINT(misc-no-recursion): see above

            if (r != 0)
                return r;
        }
        return 0;
    case ',': case '#': case '%': case '~': case '>': case '(': case '=': case '|': case '_':
    case '!':
        return 1; /* RESP3 */
    default:
        return -1;
    }
}

/* 1 if one of the first n replies holds what the store must refuse. */
static int must_refuse(const uint8_t *data, size_t size, int n)
{
    struct scan s = {data, data + size};

    for (int i = 0; i < n; i++) {
        int r = scan_item(&s, 0);

        if (r != 0)
            return r == 1;
    }
    return 0;
}

static void check_answer(int rc, const struct xt_redis *redis, int has_password)
{
    const char *err = xt_redis_error(redis);

    if (rc != XT_OK && rc != XT_REPLAYED && rc != XT_STORE && rc != XT_NOMEM)
        abort();
    if (rc == XT_STORE && err[0] == '\0')
        abort();
    if (has_password && strstr(err, FUZZ_PASSWORD) != NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char host[] = "127.0.0.1", password[] = FUZZ_PASSWORD;
    struct xt_redis_settings settings = {.host = host, .port = 1, .timeout_ms = 50};
    struct xt_redis *redis = NULL;
    unsigned char key[XT_REPLAY_KEY_LEN];
    char report[1024], warning[1024];
    int sv[2], rc, replies;
    unsigned flags;

    if (size < 1 || size > INPUT_MAX + 1)
        return 0;
    flags = data[0];
    settings.password = (flags & 1) ? password : NULL;
    settings.db = (flags & 2) ? 3 : 0;
    if (xt_redis_new(&settings, &redis) != XT_OK)
        return 0;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    if (size > 1 && write(sv[1], data + 1, size - 1) != (ssize_t)(size - 1))
        abort();
    shutdown(sv[1], SHUT_WR); /* then EOF: no input waits for the timeout */
    xt_redis_adopt_fd(redis, sv[0]);
    memset(key, 0xa5, sizeof(key));
    if (flags & 4)
        rc = xt_redis_probe(redis, report, sizeof(report), warning, sizeof(warning));
    else
        rc = xt_redis_use(redis, key, time(NULL) + 300);
    check_answer(rc, redis, (flags & 1) != 0);
    /* replies read before an answer: AUTH, SELECT, then TIME + SET or
     * PING, TIME, CONFIG GET x2, INFO */
    replies = ((flags & 1) ? 1 : 0) + ((flags & 2) ? 1 : 0) + ((flags & 4) ? 5 : 2);
    if ((rc == XT_OK || (rc == XT_REPLAYED && !(flags & 4))) &&
        must_refuse(data + 1, size - 1, replies))
        abort();
    if ((flags & 8) && !(flags & 4)) {
        /* the next use on the same handle: reconnecting to 127.0.0.1:1 fails */
        rc = xt_redis_use(redis, key, time(NULL) + 300);
        if (rc != XT_OK && rc != XT_REPLAYED)
            check_answer(rc, redis, (flags & 1) != 0);
    }
    xt_redis_free(redis);
    close(sv[1]);
    return 0;
}
