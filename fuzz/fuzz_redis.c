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
 * error has a message, and no message holds the password (when one is set:
 * without one, the server's text is shown as it is). */
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
    int sv[2], rc;
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
