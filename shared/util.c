/* Status names, error messages and secret-safe freeing. */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "xtoken.h"

const char *xt_strerror(int status)
{
    switch (status) {
    case XT_OK:
        return "ok";
    case XT_MALFORMED:
        return "malformed token";
    case XT_EXPIRED:
        return "expired";
    case XT_NOT_YET_VALID:
        return "not yet valid";
    case XT_BAD_OTP:
        return "OTP matches no step near now (clock skew or wrong otp_seed)";
    case XT_BAD_SIGNATURE:
        return "bad signature (a wrong token_secret, or a token minted for another JID or "
               "domain)";
    case XT_REPLAYED:
        return "replayed";
    case XT_BAD_USER:
        return "malformed user name";
    case XT_UNKNOWN_DOMAIN:
        return "unknown domain";
    case XT_UNKNOWN_USER:
        return "unknown user";
    case XT_CONFIG:
        return "bad config";
    case XT_STORE:
        return "replay store unusable";
    case XT_STORE_FULL:
        return "replay store full";
    case XT_NOMEM:
        return "out of memory";
    case XT_INTERNAL:
        return "internal error";
    default:
        return "unknown status";
    }
}

const char *xt_reason(int status, const struct xt_detail *detail, char *buf, size_t len)
{
    long long age = detail != NULL ? detail->age : 0;
    unsigned life = detail != NULL ? detail->lifetime : 0;

    if (status == XT_EXPIRED && life > 0)
        xt_seterr(buf, len, "expired: minted about %lld s ago, valid for %u s (a clock behind "
                            "by that much, or a token kept too long)", age, life);
    else if (status == XT_NOT_YET_VALID && life > 0)
        xt_seterr(buf, len, "not yet valid: minted about %lld s ahead of this server's clock "
                            "(compare the clocks of the issuer and this server)", -age);
    else
        xt_seterr(buf, len, "%s", xt_strerror(status));
    return buf;
}

enum xt_class xt_status_class(int status)
{
    switch (status) {
    case XT_OK:
        return XT_CLASS_OK;
    case XT_MALFORMED:
    case XT_EXPIRED:
    case XT_NOT_YET_VALID:
    case XT_BAD_OTP:
    case XT_BAD_SIGNATURE:
    case XT_REPLAYED:
        return XT_CLASS_REFUSED;
    case XT_BAD_USER:
    case XT_UNKNOWN_DOMAIN:
    case XT_UNKNOWN_USER:
        return XT_CLASS_NO_USER;
    case XT_CONFIG:
    case XT_STORE:
    case XT_STORE_FULL:
        return XT_CLASS_UNAVAILABLE;
    case XT_NOMEM:
        return XT_CLASS_NOMEM;
    default:
        return XT_CLASS_INTERNAL;
    }
}

int xt_parse_uint(const char *text, unsigned min, unsigned max, unsigned *out)
{
    char *end;
    unsigned long v;

    if (*text < '0' || *text > '9') /* strtoul would take "-1", " 1", "+1" */
        return 0;
    errno = 0;
    v = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return 0;
    *out = (unsigned)v;
    return 1;
}

void xt_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void xt_printable(const char *in, size_t inlen, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    if (outlen == 0)
        return;
    for (size_t i = 0; i < inlen; i++) {
        unsigned char c = (unsigned char)in[i];
        size_t need = (c >= 0x20 && c < 0x7f && c != '\\') ? 1 : 4;
        if (o + need + 4 > outlen) { /* room for "..." and the NUL */
            if (o + 4 <= outlen) {
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (need == 1) {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

void xt_free_wipe(void *p, size_t len)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, len);
    free(p);
}
