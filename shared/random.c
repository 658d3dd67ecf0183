/* Unbiased random digits and base32 characters from the OS CSPRNG. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stddef.h>

#include "xtoken.h"

/* Fill buf with len characters of alphabet (size n <= 256), rejecting the
 * random bytes that would bias the result. */
static int random_chars(char *buf, size_t len, const char *alphabet, unsigned n)
{
    unsigned char pool[64];
    unsigned limit = 256 - 256 % n; /* bytes >= limit would favour low symbols */
    size_t have = 0, used = sizeof(pool);
    int rc = XT_INTERNAL;

    while (have < len) {
        if (used == sizeof(pool)) {
            if (RAND_bytes(pool, sizeof(pool)) != 1)
                goto done;
            used = 0;
        }
        if (pool[used] < limit)
            buf[have++] = alphabet[pool[used] % n];
        used++;
    }
    rc = XT_OK;
done:
    OPENSSL_cleanse(pool, sizeof(pool));
    return rc;
}

int xt_random_digits(char *buf, size_t len)
{
    return random_chars(buf, len, "0123456789", 10);
}

int xt_random_base32(char *buf, size_t len)
{
    return random_chars(buf, len, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 32);
}
