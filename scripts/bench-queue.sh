#!/usr/bin/env bash
# Runs the queue benchmarks against a private cluster on this machine: Redis (membership and the
# Redis peer), one PostgreSQL server with 3 shard databases (grain state, queue tables and the
# PostgreSQL peer) and one silo process. Everything lives under $RUN_DIR and is stopped at exit.
#
#   scripts/bench-queue.sh                      # --peer postgres, --peer redis, --depth 100000
#   WARMUP=1 DURATION=5 scripts/bench-queue.sh  # short development run
#
# Extra arguments are passed to every 'granary bench queue' call.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/scripts/lib/servers.sh"
RUN_DIR=${RUN_DIR:-/tmp/granary-bench-queue}
WARMUP=${WARMUP:-3}
DURATION=${DURATION:-15}
DEPTH=${DEPTH:-100000}
mkdir -p "$RUN_DIR"

dotnet build "$repo/src/Silo" -c Release -v q -nologo >/dev/null
# The bench tool (and with it the console, which forwards `granary bench` to it); built once here.
dotnet build "$repo/bench/Granary.Bench" -c Release -v q -nologo >/dev/null
export GRANARY_NO_BUILD=1
silo="$repo/src/Silo/bin/Release/net10.0/granary-silo"
granary="$repo/src/Client/bin/Release/net10.0/granary"

redis_port=$(free_port)
pg_port=$(free_port)
start_redis "$RUN_DIR/redis" "$redis_port"
start_postgres "$RUN_DIR/pg" "$pg_port"
silo_pid=""
cleanup() {
  if [[ -n "$silo_pid" ]]; then kill "$silo_pid" 2>/dev/null || true; wait "$silo_pid" 2>/dev/null || true; fi
  stop_postgres "$RUN_DIR/pg" || true
  stop_redis "$RUN_DIR/redis" || true
}
trap cleanup EXIT

export Orleans__ClusterId="bench-queue"
export Granary__Cluster__Mode=Redis
export Granary__Cluster__RedisConnectionString="127.0.0.1:$redis_port"
export Granary__Cluster__SiloPort=$(free_port)
export Granary__Cluster__GatewayPort=$(free_port)
export Granary__Cluster__ClientGatewayPorts__0=$Granary__Cluster__GatewayPort
export Granary__Storage__Mode=PostgresShards
# The servers' generated passwords, read from their files (never on a command line).
export Granary__Security__Servers__RedisPasswordFile="$RUN_DIR/redis/password"
export Granary__Security__Servers__PostgresPasswordFile="$RUN_DIR/pg/password"
for i in 0 1 2; do
  export "Granary__Storage__Shards__$i=Host=127.0.0.1;Port=$pg_port;Username=postgres;Database=granary_bench_shard_$i;Maximum Pool Size=200"
done

make_cluster_secret "$RUN_DIR/cluster-secret"
Granary__Security__ClusterSecretFile="$RUN_DIR/cluster-secret" "$silo" >"$RUN_DIR/silo.log" 2>&1 &
silo_pid=$!
wait_for "silo active" 120 "$granary" cluster status

run() { echo "+ granary $*" >&2; "$granary" "$@"; }
run bench queue --peer postgres --warmup "$WARMUP" --duration "$DURATION" "$@"
run bench queue --peer redis --warmup "$WARMUP" --duration "$DURATION" "$@"
run bench queue --depth "$DEPTH" --warmup "$WARMUP" --duration "$DURATION" "$@"
