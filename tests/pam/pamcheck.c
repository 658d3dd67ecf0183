/* Drive a PAM service the way XMPP servers do, and print what PAM said.
 *
 *   pamcheck [-c CONFDIR] [-t TOKEN | -n] SERVICE USER OP...
 *
 * OP is auth or acct, run in order on one handle (epam does auth then acct;
 * ejabberd's "does this user exist" is acct alone). -c loads SERVICE from
 * CONFDIR with pam_start_confdir (no root, no /etc/pam.d); without -c plain
 * pam_start is used (for pam_wrapper). -t is the conversation's answer to a
 * PROMPT_ECHO_OFF; -n installs a conversation that fails and reports being
 * called (use_first_pass tests stack pam_wrapper's pam_set_items.so, which
 * stores $PAM_AUTHTOK as an earlier module would). Prints
 * "OP=PAM_CODE_NAME" per OP and "prompts=N". */
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct answer {
    const char *token; /* NULL: refuse to converse */
    int prompts;
};

static int conversation(int n, const struct pam_message **msg, struct pam_response **resp,
                        void *data)
{
    struct answer *answer = data;
    struct pam_response *r;

    answer->prompts += n;
    if (answer->token == NULL || n != 1 || msg[0]->msg_style != PAM_PROMPT_ECHO_OFF)
        return PAM_CONV_ERR;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return PAM_BUF_ERR;
    r->resp = strdup(answer->token);
    if (r->resp == NULL) {
        free(r);
        return PAM_BUF_ERR;
    }
    *resp = r;
    return PAM_SUCCESS;
}

static const char *code_name(int code)
{
    switch (code) {
    case PAM_SUCCESS:
        return "PAM_SUCCESS";
    case PAM_AUTH_ERR:
        return "PAM_AUTH_ERR";
    case PAM_USER_UNKNOWN:
        return "PAM_USER_UNKNOWN";
    case PAM_AUTHINFO_UNAVAIL:
        return "PAM_AUTHINFO_UNAVAIL";
    case PAM_SERVICE_ERR:
        return "PAM_SERVICE_ERR";
    case PAM_BUF_ERR:
        return "PAM_BUF_ERR";
    case PAM_SYSTEM_ERR:
        return "PAM_SYSTEM_ERR";
    case PAM_CONV_ERR:
        return "PAM_CONV_ERR";
    case PAM_IGNORE:
        return "PAM_IGNORE";
    case PAM_PERM_DENIED:
        return "PAM_PERM_DENIED";
    default:
        return "PAM_OTHER";
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: pamcheck [-c CONFDIR] [-t TOKEN | -n] SERVICE USER auth|acct...\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct answer answer = {NULL, 0};
    struct pam_conv conv = {conversation, &answer};
    const char *confdir = NULL;
    pam_handle_t *pamh = NULL;
    int opt, rc;

    while ((opt = getopt(argc, argv, "c:t:n")) != -1) {
        switch (opt) {
        case 'c':
            confdir = optarg;
            break;
        case 't':
            answer.token = optarg;
            break;
        case 'n':
            answer.token = NULL;
            break;
        default:
            return usage();
        }
    }
    if (argc - optind < 3)
        return usage();
    if (confdir)
        rc = pam_start_confdir(argv[optind], argv[optind + 1], &conv, confdir, &pamh);
    else
        rc = pam_start(argv[optind], argv[optind + 1], &conv, &pamh);
    if (rc != PAM_SUCCESS) {
        fprintf(stderr, "pam_start: %d\n", rc);
        return 1;
    }
    for (int i = optind + 2; i < argc; i++) {
        if (strcmp(argv[i], "auth") == 0)
            rc = pam_authenticate(pamh, 0);
        else if (strcmp(argv[i], "acct") == 0)
            rc = pam_acct_mgmt(pamh, 0);
        else
            return usage();
        printf("%s=%s\n", argv[i], code_name(rc));
    }
    printf("prompts=%d\n", answer.prompts);
    pam_end(pamh, rc);
    return 0;
}
