/* Strict base32 (otp_seed) and base64 (token signature) decoders. */
#include <string.h>

#include "internal.h"

static int base32_value(unsigned char c)
{
    if (c >= 'a' && c <= 'z')
        c = (unsigned char)(c - 'a' + 'A');
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= '2' && c <= '7')
        return c - '2' + 26;
    return -1;
}

size_t xt_base32_decode(const char *in, size_t inlen, unsigned char *out, size_t outlen)
{
    unsigned long long acc = 0;
    unsigned bits = 0;
    size_t nchars = 0, n = 0;

    for (size_t i = 0; i < inlen; i++) {
        int v;

        if (in[i] == '=')
            continue;
        v = base32_value((unsigned char)in[i]);
        if (v < 0)
            return 0;
        acc = (acc << 5) | (unsigned)v;
        bits += 5;
        nchars++;
        if (bits >= 8) {
            bits -= 8;
            if (n == outlen)
                return 0;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    /* RFC 4648 groups end after 2, 4, 5, 7 or 8 characters; 1, 3 and 6
     * leave a partial byte no encoder writes (pyotp refuses them too). */
    switch (nchars % 8) {
    case 1:
    case 3:
    case 6:
        return 0;
    default:
        return n;
    }
}

/* The value of each base64 character, -1 for any other byte: a table, not
 * comparisons, because the characters of a MAC are random and a branch per
 * character mispredicts about every other time (on the hot path: a third
 * of a verification's time before this table). */
static const signed char base64_values[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

static int base64_value(unsigned char c)
{
    return base64_values[c];
}

/* Only the canonical encoding is accepted (padding present, unused bits
 * zero), so one MAC has exactly one spelling: the replay store keys on the
 * decoded MAC and a re-spelled token can never count as a new one. */
int xt_base64_decode_exact(const char *in, size_t inlen, unsigned char *out, size_t outlen)
{
    size_t want = (outlen + 2) / 3 * 4, pad = (3 - outlen % 3) % 3;
    unsigned long acc = 0;
    unsigned bits = 0;
    size_t n = 0;

    if (inlen != want)
        return 0;
    for (size_t i = 0; i < inlen - pad; i++) {
        int v = base64_value((unsigned char)in[i]);

        if (v < 0)
            return 0;
        acc = ((acc << 6) | (unsigned)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n < outlen)
                out[n++] = (unsigned char)(acc >> bits);
        }
    }
    for (size_t i = inlen - pad; i < inlen; i++)
        if (in[i] != '=')
            return 0;
    /* leftover bits must be zero */
    return n == outlen && (acc & ((1UL << bits) - 1)) == 0;
}
