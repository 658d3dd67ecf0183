/* Module arguments: the rules live in shared/pamargs.c (xtoken doctor uses
 * them too); this file logs what they say, as Linux-PAM's modules do. */
#include <security/pam_ext.h>
#include <syslog.h>

#include "args.h"
#include "xtoken.h"

int args_parse(pam_handle_t *pamh, int argc, const char **argv, struct xt_pam_args *args)
{
    int retval = PAM_SUCCESS;

    xt_pam_args_init(args);
    for (int i = 0; i < argc; i++) {
        switch (xt_pam_arg_apply(argv[i], args)) {
        case XT_ARG_OK:
            break;
        case XT_ARG_MALFORMED:
            pam_syslog(pamh, LOG_ERR, "malformed argument: %s", argv[i]);
            retval = PAM_SERVICE_ERR;
            break;
        default:
            pam_syslog(pamh, LOG_ERR, "unknown argument: %s", argv[i]);
            retval = PAM_SERVICE_ERR;
            break;
        }
    }
    return retval;
}
