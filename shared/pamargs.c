/* Arguments of pam_xtoken.so, parsed without PAM: the module logs what this
 * says about each argument, and `xtoken doctor` checks /etc/pam.d lines with
 * the very same rules. */
#include <string.h>

#include "xtoken.h"

/* Value of "name=value" if arg starts with prefix "name=", else NULL. */
static const char *arg_value(const char *arg, const char *prefix)
{
    size_t n = strlen(prefix);

    return strncmp(arg, prefix, n) == 0 ? arg + n : NULL;
}

/* XT_ARG_OK if arg was a well-formed key=value argument (stored), its
 * XT_ARG_MALFORMED otherwise; XT_ARG_UNKNOWN if it is not a key=value
 * argument this module knows. */
static int apply_valued(const char *arg, struct xt_pam_args *args)
{
    const char *v;

    v = arg_value(arg, "conf=");
    if (v != NULL) {
        args->conf = v;
        return v[0] == '/' ? XT_ARG_OK : XT_ARG_MALFORMED;
    }
    v = arg_value(arg, "domain=");
    if (v != NULL) {
        args->domain = v;
        return v[0] != '\0' && strpbrk(v, "@/: \t") == NULL ? XT_ARG_OK : XT_ARG_MALFORMED;
    }
    v = arg_value(arg, "users=");
    if (v != NULL) {
        args->users = v;
        return xt_users_policy_check(v) == XT_OK ? XT_ARG_OK : XT_ARG_MALFORMED;
    }
    v = arg_value(arg, "window=");
    if (v != NULL)
        return xt_parse_uint(v, 0, XT_WINDOW_MAX, &args->window) ? XT_ARG_OK : XT_ARG_MALFORMED;
    return XT_ARG_UNKNOWN;
}

void xt_pam_args_init(struct xt_pam_args *args)
{
    args->conf = XT_DEFAULT_CONFIG;
    args->domain = NULL;
    args->users = "any";
    args->window = XT_PAM_WINDOW_UNSET;
    args->debug = 0;
    args->noreplay = 0;
}

int xt_pam_arg_apply(const char *arg, struct xt_pam_args *args)
{
    int valued = apply_valued(arg, args);

    if (valued != XT_ARG_UNKNOWN)
        return valued;
    if (strcmp(arg, "debug") == 0)
        args->debug = 1;
    else if (strcmp(arg, "noreplay") == 0)
        args->noreplay = 1;
    else if (strcmp(arg, "use_first_pass") != 0 && strcmp(arg, "try_first_pass") != 0)
        return XT_ARG_UNKNOWN; /* pam_get_authtok() reads those two itself */
    return XT_ARG_OK;
}
