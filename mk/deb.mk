# Debian package (issue 7).
#   make deb        build libpam-xtoken from a clean copy of the tree into build/deb/
#   make deb-test   build, lintian (no errors, no warnings), install, use it as
#                   a sysadmin would (PAM service + pamtester, xtoken, man),
#                   check hardening, purge and check nothing is left (root)
DEB_OUT := $(BUILD)/deb

.PHONY: deb deb-test
deb:
	mk/deb-build.sh $(DEB_OUT)

deb-test: deb
	mk/deb-test.sh $(DEB_OUT)

CI_TARGETS += deb-test
