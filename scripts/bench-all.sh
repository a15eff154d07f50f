#!/usr/bin/env bash
# Runs the benchmarks of docs/benchmarks.md back to back on this machine, each beside its peer in
# the same run, and tees everything to $OUT (default .local/bench-<UTC time>.txt):
#   1. scripts/cluster.sh up 1 (private Redis + PostgreSQL with fsync on, one silo, durable locks):
#      document get/put, locks (durable; vs DistributedLock.Postgres, DistributedLock.Redis and
#      etcd), cache GET/SET at 256 callers, queue vs SKIP LOCKED, vs
#      Redis and vs a second Redis with AOF appendfsync always (acknowledged after fsync, like
#      Granary);
#   1b. the same with the bench tool's silo (GRANARY_SILO=bench, which hosts the peer's grains):
#      transfers vs Orleans.Transactions;
#   2. the same with Granary__Locks__Durability=Fast: locks (fast; vs DistributedLock.Redis, and
#      contended vs DistributedLock.Postgres), after one unmeasured pass;
#   3. scripts/bench-tasks.sh: 20,000 tasks vs Hangfire.PostgreSql.
#
# Lock and transaction comparisons run ROUNDS times in turn (default 3) and quote the median of the
# rounds' ratios: on this shared 2-core machine one system's window can land on a slow spell.
# Every run prints the CPU microseconds per operation of each process (client, silo, PostgreSQL,
# Redis, etcd) over its measured window.
#
#   scripts/bench-all.sh                     # 3 s warm-up, 15 s measured per system
#   WARMUP=1 DURATION=5 scripts/bench-all.sh # quick look
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=lib/servers.sh
source "$root/scripts/lib/servers.sh"
WARMUP=${WARMUP:-3}
DURATION=${DURATION:-15}
ROUNDS=${ROUNDS:-3}
mkdir -p .local
OUT=${OUT:-.local/bench-$(date -u +%Y%m%dT%H%M%SZ).txt}
granary="$root/src/Client/bin/Release/net10.0/granary"

dotnet build src/Silo -c Release -nologo -v q >/dev/null
# The bench tool (and with it the console, which forwards `granary bench` to it); built once here.
dotnet build bench/Granary.Bench -c Release -nologo -v q >/dev/null
export GRANARY_NO_BUILD=1

exec > >(tee -a "$OUT") 2>&1
echo "bench-all at $(date -u +%FT%TZ), load average: $(cut -d' ' -f1-3 /proc/loadavg), warm-up ${WARMUP} s, measured ${DURATION} s"
run() {
  echo
  echo "+ granary $* --warmup $WARMUP --duration $DURATION   (load $(cut -d' ' -f1 /proc/loadavg))"
  "$granary" "$@" --warmup "$WARMUP" --duration "$DURATION" || echo "(exit $?)"
}
aof_dir="$root/.local/bench-redis-aof"
trap 'scripts/cluster.sh down >/dev/null 2>&1 || true; stop_redis "$aof_dir" >/dev/null 2>&1 || true' EXIT

scripts/cluster.sh down >/dev/null 2>&1 || true
scripts/cluster.sh up 1
run bench document --op get --peer redis
run bench document --op put --peer postgres
run bench lock --mode uncontended --peer postgres --rounds "$ROUNDS"
run bench lock --mode contended --peer redis --rounds "$ROUNDS"
# Durable grants against a peer whose grants are durable too: etcd (a private one the bench starts).
run bench lock --mode uncontended --peer etcd --rounds "$ROUNDS"
run bench lock --mode contended --peer etcd --rounds "$ROUNDS"
run bench cache --op get --concurrency 256 --keys 100000 --value-size 100 --peer redis
run bench cache --op set --concurrency 256 --keys 100000 --value-size 100 --peer redis
run bench queue --peer postgres
run bench queue --peer redis
aof_port=$(free_port)
# The peer Redis takes the cluster Redis's password, which `granary` fills into --redis.
rm -rf "$aof_dir"
mkdir -p -m 700 "$aof_dir"
cp -p .local/cluster/redis/password "$aof_dir/password"
start_redis "$aof_dir" "$aof_port"
redis_cli_at "$aof_dir" CONFIG SET appendonly yes >/dev/null
redis_cli_at "$aof_dir" CONFIG SET appendfsync always >/dev/null
run bench queue --peer redis --redis "127.0.0.1:$aof_port"
stop_redis "$aof_dir"
scripts/cluster.sh down

# Transactions beside Orleans.Transactions: its grains run in the silo, so the bench tool's silo.
GRANARY_SILO=bench scripts/cluster.sh up 1
# Transactions: 10 s of warm-up (the first seconds after a silo starts are JIT and activation time).
echo
echo "+ granary bench tx --peer orleans-transactions --warmup 10 --duration $DURATION --rounds $ROUNDS   (load $(cut -d' ' -f1 /proc/loadavg))"
"$granary" bench tx --peer orleans-transactions --warmup 10 --duration "$DURATION" --rounds "$ROUNDS" || echo "(exit $?)"
scripts/cluster.sh down

Granary__Locks__Durability=Fast scripts/cluster.sh up 1
# A fresh silo runs this path well below its steady rate for its first ~20 s (JIT tiers, thread-pool
# ramp-up): one unmeasured pass first, so that the measured run compares a warm service with Redis.
echo
echo "+ granary bench lock --mode uncontended --peer none --warmup 5 --duration 15   (unmeasured silo warm-up)"
"$granary" bench lock --mode uncontended --peer none --warmup 5 --duration 15 >/dev/null 2>&1 || echo "(exit $?)"
run bench lock --mode uncontended --peer redis --rounds "$ROUNDS"
run bench lock --mode contended --peer redis --rounds "$ROUNDS"
# Fast mode against DistributedLock.Postgres at its best (multiplexing on and off, the better each round).
run bench lock --mode contended --peer postgres --rounds "$ROUNDS"
scripts/cluster.sh down

echo
echo "+ scripts/bench-tasks.sh --warmup $WARMUP --tasks 20000   (load $(cut -d' ' -f1 /proc/loadavg))"
scripts/bench-tasks.sh --warmup "$WARMUP" --tasks 20000 || echo "(exit $?)"
echo
echo "results in $OUT"
