/* libFuzzer target: `xtoken extauth`'s framing and request parser, fed a
 * byte stream exactly as ejabberd would write it (2-byte length frames),
 * served from a memfd through extauth_serve(). Invariant checked: nothing
 * but whole replies ever reaches the output, and never more replies than
 * the input holds frames. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "extauth.h"
#include "xtoken.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char config_text[] =
    "otp_seed = K5UOYGC3OJ2WG4LXK5UOYGC3OJ2WG4LX\n"
    "token_secret = T8qV3mZ7pL2nR9wX4kD6sF1hJ5cB0yGe\n"
    "window = 1\n"
    "replay = off\n";

static int write_all(int fd, const uint8_t *data, size_t size)
{
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n <= 0)
            return -1;
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

/* Every reply is 00 02 00 0N, N in {0, 1}, one per whole frame of the
 * input at most: a request is never answered twice. */
static void check_replies(int fd, const uint8_t *data, size_t size)
{
    off_t len = lseek(fd, 0, SEEK_END);
    size_t frames = 0;
    uint8_t reply[4];
    for (size_t at = 0; at + 2 <= size; at += 2 + ((size_t)data[at] << 8 | data[at + 1]))
        frames++;
    if (len < 0 || len % 4 != 0 || (size_t)len / 4 > frames)
        abort();
    for (off_t at = 0; at < len; at += 4) {
        if (pread(fd, reply, 4, at) != 4)
            abort();
        if (reply[0] != 0 || reply[1] != 2 || reply[2] != 0 || reply[3] > 1)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static xt_verifier *verifier;
    struct extauth_ctx ctx;
    char err[XT_ERR_MAX];
    if (size == 0)
        return 0;
    if (verifier == NULL) {
        xt_config *cfg = NULL;
        if (xt_config_parse(config_text, sizeof(config_text) - 1, "fuzz", &cfg, err,
                            sizeof(err)) != XT_OK ||
            xt_verifier_new_from(cfg, XT_VERIFIER_NO_REPLAY, &verifier) != XT_OK ||
            xt_verifier_status(verifier) != XT_OK)
            abort();
    }
    int in_fd = memfd_create("fuzz-extauth-in", MFD_CLOEXEC);
    int out_fd = memfd_create("fuzz-extauth-out", MFD_CLOEXEC);
    if (in_fd < 0 || out_fd < 0 || write_all(in_fd, data, size) != 0 ||
        lseek(in_fd, 0, SEEK_SET) != 0)
        abort();
    extauth_ctx_init(&ctx);
    ctx.verifier = verifier; /* config_path stays NULL: no reloads */
    ctx.no_replay = 1;
    (void)extauth_serve(in_fd, out_fd, &ctx);
    check_replies(out_fd, data, size);
    ctx.verifier = NULL; /* kept for the next input */
    extauth_ctx_free(&ctx);
    close(in_fd);
    close(out_fd);
    return 0;
}
