#!/usr/bin/env bash
# make check-cluster: the replay store on Redis, against real redis-servers
# from Debian started here (127.0.0.1, free ports, requirepass, their own
# directories, stopped by pid on every exit path).
#   tests/cluster/run.sh BUILD_DIR
# 1. build/tests/cluster/check_redis (Check): config parsing, the key,
#    fake servers (garbage, errors, slow, clock ahead), a real server;
# 2. tests/cluster/test_cluster.py: two "nodes" (two config files, the
#    same keys and Redis) through xtoken verify, the PAM module and two
#    xtoken extauth processes; races, 2,000 tokens, the keys written, and
#    the faults (stopped, killed, restarted, wrong password, replica,
#    garbage, clock ahead). It starts its own servers and records their
#    pids in $REDIS_BASE/pids for the trap below.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=$(realpath "${1:-build}")
. tests/cluster/redis-lib.sh

REDIS_BASE=$(mktemp -d "${TMPDIR:-/tmp}/xt-cluster.XXXXXX")
chmod 0711 "$REDIS_BASE"
export REDIS_BASE
trap 'redis_stop_all; rm -rf "$REDIS_BASE"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v redis-server >/dev/null || { echo "check-cluster: redis-server missing: tests/install-deps.sh check" >&2; exit 1; }
redis_start check
echo "== tests/cluster/check_redis ($(redis-server --version | cut -d' ' -f3))"
XT_REDIS_PORT=$REDIS_PORT XT_REDIS_PASSWORD=$REDIS_PASSWORD "$BUILD/tests/cluster/check_redis"
echo "== tests/cluster/test_cluster.py"
XTOKEN=$BUILD/xtoken PAMCHECK=$BUILD/tests/pamcheck PAM_MODULE=$BUILD/pam_xtoken.so \
    /usr/bin/python3 tests/cluster/test_cluster.py
