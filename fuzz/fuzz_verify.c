/* libFuzzer target: token parsing and verification. The input is the
 * token (any bytes); if it starts with 0x01, the bytes up to the first
 * '\n' are the JID instead of the fixed one. The config is fixed, the
 * clock is fixed (the seed corpus holds tokens minted at that time, so the
 * fuzzer starts from genuine tokens and mutates them). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xtoken.h"

#define FUZZ_NOW 1700000000
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char config_text[] =
    "otp_seed = K5UOYGC3OJ2WG4LXK5UOYGC3OJ2WG4LX\n"
    "token_secret = T8qV3mZ7pL2nR9wX4kD6sF1hJ5cB0yGe\n"
    "token_secret = an-old-secret-being-rotated-out\n"
    "window = 1\n"
    "[example.org]\n"
    "otp_seed = GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n"
    "token_secret = example-org-secret-0123456789\n"
    "digits = 6\n";

static xt_config *fuzz_config(void)
{
    static xt_config *cfg;
    if (cfg == NULL) {
        char err[XT_ERR_MAX];
        if (xt_config_parse(config_text, sizeof(config_text) - 1, "fuzz", &cfg, err,
                            sizeof(err)) != XT_OK)
            abort();
    }
    return cfg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char jid[XT_JID_MAX + 1] = "alice@localhost";
    const char *token = (const char *)data;
    size_t token_len = size;
    if (size > 0 && data[0] == 0x01) {
        const uint8_t *nl = memchr(data, '\n', size);
        size_t jid_len = nl != NULL ? (size_t)(nl - data) - 1 : size - 1;
        if (jid_len > XT_JID_MAX)
            jid_len = XT_JID_MAX;
        memcpy(jid, data + 1, jid_len);
        jid[jid_len] = '\0';
        token = nl != NULL ? (const char *)nl + 1 : token + size;
        token_len = nl != NULL ? size - (size_t)(nl + 1 - data) : 0;
    }
    /* An exact copy, so ASan sees any read past the token's end. */
    char *copy = malloc(token_len ? token_len : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, token, token_len);
    int rc = xt_verify(fuzz_config(), NULL, jid, copy, token_len, FUZZ_NOW);
    if (xt_strerror(rc) == NULL)
        abort();
    free(copy);
    return 0;
}
