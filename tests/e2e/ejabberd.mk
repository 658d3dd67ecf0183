# End-to-end tests with a real ejabberd, and make demo (tests/e2e/).
#   make e2e-ejabberd           both paths: PAM (epam) and extauth
#   make e2e-ejabberd-pam       ejabberd -> PAM -> build/pam_xtoken.so
#   make e2e-ejabberd-extauth   ejabberd -> build/xtoken extauth (+ faults)
#   make e2e-ejabberd-extauth-stderr  no /dev/log: xtoken's reasons reach
#                               ejabberd's own stderr (private mount namespace)
#   make demo                   install, build, one real login, replay/tamper refused
# They need root (PAM service files in /etc/pam.d, ejabberd run as its own
# user) and tests/install-deps.sh e2e. Each test stops what it started.

.PHONY: e2e-ejabberd e2e-ejabberd-pam e2e-ejabberd-extauth e2e-ejabberd-extauth-stderr demo

e2e-ejabberd: e2e-ejabberd-pam e2e-ejabberd-extauth e2e-ejabberd-extauth-stderr

e2e-ejabberd-pam: all
	tests/e2e/ejabberd-pam.sh

e2e-ejabberd-extauth: all
	tests/e2e/ejabberd-extauth.sh

e2e-ejabberd-extauth-stderr: all
	tests/e2e/ejabberd-extauth-stderr.sh

# Not depending on `all`: the demo installs the build dependencies first.
demo:
	@tests/e2e/demo.sh

E2E_TARGETS += e2e-ejabberd
# CI runs make e2e in pristine Debian 12 and 13 roots (make check-fresh).
