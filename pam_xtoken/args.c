/* Module arguments, in the style of Linux-PAM's own argument loops. */
#include <security/pam_ext.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "args.h"
#include "xtoken.h"

/* Value of "name=value" if arg starts with prefix "name=", else NULL. */
static const char *arg_value(const char *arg, const char *prefix)
{
    size_t n = strlen(prefix);

    return strncmp(arg, prefix, n) == 0 ? arg + n : NULL;
}

/* 1 if arg was a well-formed key=value argument, 0 if malformed, -1 if it
 * is not a key=value argument this module knows. */
static int parse_valued(const char *arg, struct pam_args *args)
{
    const char *v;

    if ((v = arg_value(arg, "conf=")) != NULL) {
        args->conf = v;
        return v[0] == '/';
    }
    if ((v = arg_value(arg, "domain=")) != NULL) {
        args->domain = v;
        return v[0] != '\0' && strpbrk(v, "@/: \t") == NULL;
    }
    if ((v = arg_value(arg, "users=")) != NULL) {
        args->users = v;
        return xt_users_policy_check(v) == XT_OK;
    }
    if ((v = arg_value(arg, "window=")) != NULL)
        return xt_parse_uint(v, 0, XT_WINDOW_MAX, &args->window);
    return -1;
}

int args_parse(pam_handle_t *pamh, int argc, const char **argv, struct pam_args *args)
{
    int retval = PAM_SUCCESS;

    args->conf = XT_DEFAULT_CONFIG;
    args->domain = NULL;
    args->users = "any";
    args->window = ARGS_WINDOW_UNSET;
    args->debug = 0;
    args->noreplay = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        int valued = parse_valued(arg, args);

        if (valued == 1)
            continue;
        if (valued == 0) {
            pam_syslog(pamh, LOG_ERR, "malformed argument: %s", arg);
            retval = PAM_SERVICE_ERR;
        } else if (strcmp(arg, "debug") == 0) {
            args->debug = 1;
        } else if (strcmp(arg, "noreplay") == 0) {
            args->noreplay = 1;
        } else if (strcmp(arg, "use_first_pass") == 0 || strcmp(arg, "try_first_pass") == 0) {
            /* pam_get_authtok() reads these itself */
        } else {
            pam_syslog(pamh, LOG_ERR, "unknown argument: %s", arg);
            retval = PAM_SERVICE_ERR;
        }
    }
    return retval;
}
