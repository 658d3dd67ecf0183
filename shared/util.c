/* Status names, error messages and secret-safe freeing. */
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

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
        return "bad signature";
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

void xt_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void xt_free_wipe(void *p, size_t len)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, len);
    free(p);
}
