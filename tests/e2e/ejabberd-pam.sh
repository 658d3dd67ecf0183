#!/usr/bin/env bash
# End to end through PAM: XMPP client -> ejabberd (23.01, 24.12) (auth_method: [pam])
# -> epam -> /etc/pam.d/<unique service> -> build/pam_xtoken.so.
# Uses the shipped etc/ejabberd/ snippets and PAM service files, with only
# the service name, the module path and its conf=/users= arguments filled in.
# Needs root (it writes /etc/pam.d/xtoken-e2e-*, removed on exit) and
# tests/install-deps.sh e2e.
set -u
. "$(dirname "$0")/ejabberd-lib.sh"

[ "$(id -u)" = 0 ] || { echo "ejabberd-pam: needs root (writes /etc/pam.d)" >&2; exit 2; }
ejt_setup ejabberd-pam
EJT_BACKEND=pam
ETC=$EJT_ROOT/etc/ejabberd
MODULE=$(e2e_stage "$PAM_XTOKEN_SO") || exit 2

# ejt_pam_service SHIPPED_FILE NAME: install the shipped service file as
# /etc/pam.d/NAME, naming the built module by absolute path.
ejt_pam_service() {
    local text
    text=$(sed -e "s#pam_xtoken\.so#$MODULE conf=$CONF users=$USERS#" \
        -e "s#domain=example\.org#domain=$EJT_DOMAIN#" "$1")
    e2e_pam_service "$2" "$text"
}

# ejt_yaml SHIPPED_SNIPPET NAME: the snippet with pam_service set to NAME.
ejt_yaml() {
    sed -e "s#^pam_service: .*#pam_service: $2#" "$1"
}

e2e_step "PAM, pam_userinfotype: jid (PAM_USER = alice@$EJT_DOMAIN), as user ${EJD_USER:-$(id -un)}"
SERVICE=xtoken-e2e-jid-$$
ejt_pam_service "$ETC/pam.d/ejabberd" "$SERVICE"
ejd_start "$E2E_DIR/ejd-jid" "$(ejt_yaml "$ETC/ejabberd-pam.yml" "$SERVICE")" || exit 1
ejt_token_checks
expect_bounce "message to a user not in users= bounces (acct_mgmt says no)" \
    "alice@$EJT_DOMAIN" "carol@$EJT_DOMAIN"
ejd_stop

e2e_step "PAM, pam_userinfotype: username + domain=$EJT_DOMAIN (PAM_USER = alice)"
SERVICE=xtoken-e2e-user-$$
ejt_pam_service "$ETC/pam.d/ejabberd-username" "$SERVICE"
ejd_start "$E2E_DIR/ejd-user" "$(ejt_yaml "$ETC/ejabberd-pam-username.yml" "$SERVICE")" || exit 1
token=$(mint "alice@$EJT_DOMAIN")
expect_login accept "fresh token accepted" "alice@$EJT_DOMAIN" "$token"
expect_login refuse "replayed token refused" "alice@$EJT_DOMAIN" "$token"
expect_login refuse "token for another JID refused" "alice@$EJT_DOMAIN" "$(mint "bob@$EJT_DOMAIN")"
expect_offline_delivery "message to an offline user delivered" "bob@$EJT_DOMAIN" "alice@$EJT_DOMAIN"
ejd_stop

e2e_done
