# End-to-end tests with a real Prosody and Converse.js (tests/e2e/prosody*, converse*).
#   make e2e-prosody          both Prosody paths:
#   make e2e-prosody-native     Prosody -> mod_auth_xtoken.lua -> build/lua/xtoken.so, the
#                               Lua binding, in Prosody's process (PLAIN, X-TOKEN, strace)
#   make e2e-prosody-cyrus      Prosody -> mod_auth_cyrus -> saslauthd -> PAM -> build/pam_xtoken.so
#   make e2e-converse         Converse.js in headless Chromium against ejabberd (websocket,
#                             BOSH) and Prosody (websocket), through a stand-in web app
# They need root (saslauthd, /etc/pam.d, Prosody as user prosody) and
# tests/install-deps.sh prosody e2e. Each test stops what it started.

.PHONY: e2e-prosody e2e-prosody-native e2e-prosody-cyrus e2e-converse

e2e-prosody: e2e-prosody-native e2e-prosody-cyrus

e2e-prosody-native: all
	tests/e2e/prosody-native.sh

e2e-prosody-cyrus: all
	tests/e2e/prosody-cyrus.sh

E2E_TARGETS += e2e-prosody

# Converse.js: npm ci from tests/e2e/converse/package-lock.json (node_modules
# is not committed), screenshots in build/e2e/converse/.
e2e-converse: all
	tests/e2e/converse.sh

E2E_TARGETS += e2e-converse
