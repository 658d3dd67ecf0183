/* Module arguments of pam_xtoken.so. */
#ifndef PAM_XTOKEN_ARGS_H
#define PAM_XTOKEN_ARGS_H

#include <security/pam_modules.h>

#include "xtoken.h"

/* Parse argv into args. PAM_SUCCESS; PAM_SERVICE_ERR for an unknown or
 * malformed argument (logged at LOG_ERR). */
int args_parse(pam_handle_t *pamh, int argc, const char **argv, struct xt_pam_args *args);

/* Log at LOG_DEBUG when the debug argument is set; costs nothing otherwise. */
#define DBG(pamh, args, ...)                                                                       \
    do {                                                                                           \
        if ((args)->debug)                                                                         \
            pam_syslog((pamh), LOG_DEBUG, __VA_ARGS__);                                            \
    } while (0)

#endif
