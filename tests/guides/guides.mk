# The guides followed as written (tests/guides/, root only, mmdebstrap:
# tests/install-deps.sh fresh).
#   make check-guides   on a new Debian 12 (bookworm) and 13 (trixie) root
#                       per kind: the README's build (make deb, once per
#                       release), doc/ejabberd.md (extauth, PAM),
#                       doc/prosody.md (native, saslauthd) and the README's
#                       uninstall, doc/clusters.md (tests/cluster/guide.sh);
#                       the guides' marked blocks run, their samples compared
#   make check-guides-bookworm, make check-guides-trixie   one release
# Logs: build/guides/SUITE.log, build/guides/SUITE/ROOT/.
GUIDES_SUITES ?= bookworm trixie

.PHONY: check-guides $(GUIDES_SUITES:%=check-guides-%)
# One root at a time, also under make -j: the roots share the host's
# network (the cluster root's Redis, the downloads) and its cores. (Not
# .NOTPARALLEL: make 4.3, Debian 12's, would then run everything serially.)
check-guides:
	set -e; for s in $(GUIDES_SUITES); do tests/guides/check.sh $$s; done
$(GUIDES_SUITES:%=check-guides-%): check-guides-%:
	tests/guides/check.sh $*

CI_TARGETS += check-guides
