/* libFuzzer target: loading the replay store file. The input becomes the
 * store file DIR/<euid>.store (mode 0600) in a private temp dir, then
 * xt_replay_use() opens, checks, maps and searches it.
 *
 * Input: FLAGS BYTES...
 *   FLAGS bit 0: recompute the header checksum, so mutations get past it
 *                and reach the geometry checks, the mapping and the lookup;
 *   FLAGS bit 1: extend the file with zeros to the size its header declares
 *                (at most 1 MiB), so small inputs describe whole stores;
 *   FLAGS bits 2-3: which of four fixed keys to look up.
 * Invariant checked: a key that was just recorded (XT_OK) is refused as
 * XT_REPLAYED by a second use, through a second, independent handle too. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xtoken.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW 1700000000
#define HEADER_CHECKSUM_AT 40 /* the checksum covers the header's first 40 bytes */
#define HEADER_FILE_SIZE_AT 32
#define EXTEND_MAX (1u << 20)

static char store_dir[] = "/tmp/xt-fuzz-replay.XXXXXX";
static char store_path[sizeof(store_dir) + 32];

static uint64_t fnv1a(const uint8_t *p, size_t len)
{
    uint64_t sum = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        sum ^= p[i];
        sum *= 0x100000001b3ull;
    }
    return sum;
}

static void remove_store(void)
{
    unlink(store_path);
    rmdir(store_dir);
}

static void write_store(const uint8_t *body, size_t len, unsigned flags)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, body, len);
    if ((flags & 1) && len >= HEADER_CHECKSUM_AT + 8) {
        uint64_t sum = fnv1a(copy, HEADER_CHECKSUM_AT);
        memcpy(copy + HEADER_CHECKSUM_AT, &sum, sizeof(sum));
    }
    int fd = open(store_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (len > 0 && write(fd, copy, len) != (ssize_t)len))
        abort();
    if ((flags & 2) && len >= HEADER_FILE_SIZE_AT + 8) {
        uint64_t declared;
        memcpy(&declared, copy + HEADER_FILE_SIZE_AT, sizeof(declared));
        if (declared > len && declared <= EXTEND_MAX && ftruncate(fd, (off_t)declared) != 0)
            abort();
    }
    close(fd);
    free(copy);
}

static time_t fuzz_clock(void *arg)
{
    (void)arg;
    return FUZZ_NOW;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    unsigned char key[XT_REPLAY_KEY_LEN];
    xt_replay *first = NULL, *second = NULL;
    if (!ready) {
        if (mkdtemp(store_dir) == NULL)
            abort();
        snprintf(store_path, sizeof(store_path), "%s/%u.store", store_dir, (unsigned)geteuid());
        atexit(remove_store);
        ready = 1;
    }
    if (size == 0)
        return 0;
    write_store(data + 1, size - 1, data[0]);
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (unsigned char)(i * 37 + ((data[0] >> 2) & 3) * 101);
    if (xt_replay_new(store_dir, &first) != XT_OK || xt_replay_new(store_dir, &second) != XT_OK)
        abort();
    xt_replay_set_clock(first, fuzz_clock, NULL);
    xt_replay_set_clock(second, fuzz_clock, NULL);
    int rc = xt_replay_use(first, key, FUZZ_NOW + 60);
    if (rc == XT_OK && (xt_replay_use(first, key, FUZZ_NOW + 60) != XT_REPLAYED ||
                        xt_replay_use(second, key, FUZZ_NOW + 60) != XT_REPLAYED))
        abort(); /* recorded, yet accepted a second time */
    if (rc != XT_OK && xt_replay_error(first) == NULL)
        abort();
    xt_replay_free(first);
    xt_replay_free(second);
    return 0;
}
