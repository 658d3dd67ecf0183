/* Cost of xt_replay_use: `make bench-replay` (not part of make check).
 *   long-lived handle (xtoken extauth): first uses and replays
 *   one handle per use (the PAM module: open, map, use, close)
 * Prints microseconds per call. Optional argument: the store directory
 * (default: a fresh temp dir, removed afterwards). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testkeys.h"
#include "xtoken.h"

#define T0 ((time_t)1700000000)

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Run n uses of keys base..base+n-1; every answer must be `want`. */
static double run(const char *dir, int per_call_handle, uint64_t base, int n, int want)
{
    unsigned char k[XT_REPLAY_KEY_LEN];
    xt_replay *r = NULL;
    double t;

    if (xt_replay_new(dir, &r) != XT_OK)
        exit(2);
    t = now_us();
    for (int i = 0; i < n; i++) {
        int rc;

        make_key(k, 0, base + (uint64_t)i);
        if (per_call_handle) {
            xt_replay *one = NULL;

            if (xt_replay_new(dir, &one) != XT_OK)
                exit(2);
            rc = xt_replay_use(one, k, time(NULL) + XT_LIFETIME_MAX);
            xt_replay_free(one);
        } else {
            rc = xt_replay_use(r, k, time(NULL) + XT_LIFETIME_MAX);
        }
        if (rc != want) {
            fprintf(stderr, "bench-replay: unexpected %s: %s\n", xt_strerror(rc),
                    xt_replay_error(r));
            exit(1);
        }
    }
    t = (now_us() - t) / n;
    xt_replay_free(r);
    return t;
}

int main(int argc, char **argv)
{
    char tmp[] = "/tmp/xt-replay-bench-XXXXXX";
    char dir[64], path[96];
    const int n = 50000;

    if (argc > 1) {
        snprintf(dir, sizeof(dir), "%s", argv[1]);
    } else {
        if (mkdtemp(tmp) == NULL)
            return 2;
        snprintf(dir, sizeof(dir), "%s/store", tmp);
    }
    run(dir, 0, 0, 1, XT_OK); /* creates the store: not measured */
    printf("replay store, long-lived handle, first use: %.2f us\n", run(dir, 0, 1, n, XT_OK));
    printf("replay store, long-lived handle, replay:    %.2f us\n", run(dir, 0, 1, n, XT_REPLAYED));
    printf("replay store, handle per use, first use:    %.2f us\n",
           run(dir, 1, 1000000, n / 5, XT_OK));
    printf("replay store, handle per use, replay:       %.2f us\n",
           run(dir, 1, 1000000, n / 5, XT_REPLAYED));
    if (argc <= 1) {
        snprintf(path, sizeof(path), "%s/%u.store", dir, (unsigned)geteuid());
        unlink(path);
        rmdir(dir);
        rmdir(tmp);
    }
    return 0;
}
