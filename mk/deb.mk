# Debian package (issue 7). The package tests install packages on the
# machine they run on: CI runs them in pristine Debian 12 and 13 roots
# (make check-fresh, stage deb), never on the CI machine itself.
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


#   make deb-test-upgrade   install the package of the release before 0.2.0
#                   (built from git history: DEB_OLD_REV, the last commit of
#                   release 0.1.0), then this tree's packages
#                   over it: the provider moves to lua-xtoken, old stores go (root)
DEB_OLD_REV ?= c374ac30a767bf257b19636f204430185ace085c

.PHONY: deb-test-upgrade
deb-test-upgrade: deb
	mk/deb-upgrade-test.sh $(DEB_OUT) $(DEB_OLD_REV)


#   make deb-test-upgrade-replay   install the package of 0.2.0, whose replay
#                   directory was root 1733 (DEB_REPLAY_OLD_REV), use it, let
#                   user nobody plant entries there, then this tree's packages
#                   over it: the layout is migrated, the stores kept (root)
DEB_REPLAY_OLD_REV ?= fc7f40acae276e4f058974f2b48d6a7bbe3a603a

.PHONY: deb-test-upgrade-replay
deb-test-upgrade-replay: deb
	mk/deb-upgrade-replay-test.sh $(DEB_OUT) $(DEB_REPLAY_OLD_REV)

