#!/usr/bin/env bash
# Runs `granary bench tasks --peer hangfire` against one real silo on private Redis + PostgreSQL
# (two storage shards on one server; Hangfire uses the first shard's database).
#   scripts/bench-tasks.sh [extra bench args, e.g. --warmup 3 --tasks 20000 --json]   (PEER=none: Granary only)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/servers.sh
source "$root/scripts/lib/servers.sh"
run=$(mktemp -d /tmp/granary-bench-tasks.XXXXXX)
chmod a+rx "$run"
silo_pid=""
cleanup() {
  [[ -n "$silo_pid" ]] && kill "$silo_pid" 2>/dev/null && wait "$silo_pid" 2>/dev/null || true
  stop_postgres "$run/pg" || true
  stop_redis "$run/redis" || true
  rm -rf "$run"
}
trap cleanup EXIT

redis_port=$(free_port)
pg_port=$(free_port)
start_redis "$run/redis" "$redis_port"
start_postgres "$run/pg" "$pg_port"

dotnet build "$root/src/Silo" -c Release -nologo -v q >/dev/null
# The bench tool (and with it the console, which forwards `granary bench` to it); built once here.
dotnet build "$root/bench/Granary.Bench" -c Release -nologo -v q >/dev/null
export GRANARY_NO_BUILD=1

export Orleans__ClusterId="bench-tasks-$$"
export Orleans__ServiceId="granary-bench"
export Granary__Cluster__Mode=Redis
export Granary__Cluster__RedisConnectionString="127.0.0.1:$redis_port"
export Granary__Storage__Mode=PostgresShards
# The benchmark's tasks are the demonstration handlers' `add`, run by the silo's own workers.
export Granary__Scheduling__DemoHandlers=true
# The servers' generated passwords, read from their files (never on a command line).
export Granary__Security__Servers__RedisPasswordFile="$run/redis/password"
export Granary__Security__Servers__PostgresPasswordFile="$run/pg/password"
export Granary__Storage__Shards__0="Host=127.0.0.1;Port=$pg_port;Username=postgres;Database=granary_bench_0"
export Granary__Storage__Shards__1="Host=127.0.0.1;Port=$pg_port;Username=postgres;Database=granary_bench_1"
export Granary__Cluster__SiloPort
Granary__Cluster__SiloPort=$(free_port)
export Granary__Cluster__GatewayPort
Granary__Cluster__GatewayPort=$(free_port)
export Granary__Cluster__PrimarySiloPort=$Granary__Cluster__SiloPort
export Granary__Cluster__ClientGatewayPorts__0=$Granary__Cluster__GatewayPort
export Logging__LogLevel__Granary=Warning

make_cluster_secret "$run/cluster-secret"
Granary__Security__ClusterSecretFile="$run/cluster-secret" dotnet "$root/src/Silo/bin/Release/net10.0/granary-silo.dll" >"$run/silo.log" 2>&1 &
silo_pid=$!
# The client retries until the gateway answers; `granary cluster` style readiness via the bench itself.
wait_for "silo gateway" 90 _servers_port_listening "$Granary__Cluster__GatewayPort"
# A listening gateway is not yet an active silo: on a loaded machine the first connect can time out.
wait_for "silo active" 180 "$root/src/Client/bin/Release/net10.0/granary" cluster status
"$root/src/Client/bin/Release/net10.0/granary" bench tasks --peer "${PEER:-hangfire}" "$@"
