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

static int base64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
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
