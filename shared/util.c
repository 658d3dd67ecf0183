/* Status names, error messages and secret-safe freeing. */
#include <errno.h>
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

void xt_free_wipe(void *p, size_t len)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, len);
    free(p);
}
