# The replay store on Redis (issue 13): `make check-cluster`, part of
# `make check`; the two-ejabberd test is part of `make e2e`.
# Needs tests/deps/cluster.apt (redis-server, libhiredis-dev, libfaketime).
CLUSTER_CHECK := $(BUILD)/tests/cluster/check_redis

$(CLUSTER_CHECK): tests/cluster/check_redis.c $(LIB) shared/*.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(call pkg,--cflags,check) $(ALL_CFLAGS) $(ALL_LDFLAGS) \
	  -o $@ $< $(LIB) $(LIBS) $(call pkg,--libs,check)

.PHONY: check-cluster e2e-cluster
check-cluster: $(CLUSTER_CHECK) $(PAM_MOD) $(BUILD)/tests/pamcheck $(BUILD)/xtoken
	tests/cluster/run.sh $(BUILD)

# Two ejabberd instances, one Redis: a token used on one is refused on the other.
e2e-cluster: all $(BUILD)/xtoken
	tests/cluster/ejabberd-cluster.sh

CHECK_TARGETS += check-cluster
E2E_TARGETS += e2e-cluster

# doc/clusters.md followed as written in pristine Debian 12 and 13 roots:
# the cluster root of make check-guides (root only, a few minutes; the
# README's build first, whose packages the guide's root installs).
.PHONY: check-guide-cluster
check-guide-cluster:
	tests/guides/check.sh bookworm build cluster
	tests/guides/check.sh trixie build cluster
