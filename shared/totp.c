/* TOTP (RFC 6238, HMAC-SHA1, T0 = 0) through liboath. */
#include <oath.h>
#include <time.h>

#include "internal.h"
#include "xtoken.h"

int xt_totp(const struct xt_seed *seed, unsigned digits, unsigned interval, long long step,
            char *out)
{
    /* liboath computes the step as now / interval: hand it the step's start */
    time_t start = (time_t)(step * (long long)interval);

    if (step < 0)
        return XT_INTERNAL;
    if (oath_totp_generate2((const char *)seed->key, seed->len, start, interval, 0, digits, 0,
                            out) != OATH_OK)
        return XT_INTERNAL;
    return XT_OK;
}
