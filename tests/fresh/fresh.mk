# Pristine Debian roots (tests/fresh/, root only, mmdebstrap: tests/install-deps.sh fresh).
#   make check-fresh   on a new Debian 12 (bookworm) and 13 (trixie) root each:
#                      the README's commands as written (git and make, then
#                      make demo, make check; and on 12, make check alone in
#                      a root of its own), the package (make deb-test,
#                      deb-test-upgrade), the end-to-end suites (make e2e) and,
#                      on 13, the analyzers of that release
#   make check-fresh-bookworm, make check-fresh-trixie   one release
# FRESH_STAGES_<suite> says what runs where (tests/fresh/check.sh lists them).
# The base tarball and downloaded packages are cached in /var/cache/xtoken-fresh.
FRESH_SUITES          ?= bookworm trixie
FRESH_STAGES_bookworm ?= readme deb e2e
FRESH_STAGES_trixie   ?= readme deb e2e analyze

.PHONY: check-fresh $(FRESH_SUITES:%=check-fresh-%) check-fresh-alone
# One root at a time, also under make -j: the roots share the host's
# network (ejabberd's epmd port is fixed) and its cores. (Not .NOTPARALLEL:
# make 4.3, Debian 12's, would then run everything serially.) make check
# runs once more on its own, in a root of its own: it installs what it needs
# without a make demo first (on one release; both run it after the demo).
check-fresh:
	tests/fresh/check.sh bookworm check \
	  $(foreach s,$(FRESH_SUITES),&& tests/fresh/check.sh $(s) $(FRESH_STAGES_$(s)))
$(FRESH_SUITES:%=check-fresh-%): check-fresh-%:
	tests/fresh/check.sh $* $(FRESH_STAGES_$*)
check-fresh-alone:
	tests/fresh/check.sh bookworm check

CI_TARGETS += check-fresh
