#!/usr/bin/env bash
# A real local Granary cluster on this machine: a private Redis (membership), a private
# PostgreSQL (grain state, one database per shard) and N silo processes.
#
#   scripts/cluster.sh up [N]   start Redis, PostgreSQL and N silos (default 3); waits until
#                               all N silos are active; writes .local/cluster.json so that
#                               `granary ...` run from the repository root finds this cluster
#   scripts/cluster.sh status   what is running
#   scripts/cluster.sh down     stop exactly the processes `up` started, remove .local/cluster.json
#
# Environment: GRANARY_SHARDS (default 3), GRANARY_CONFIGURATION (Release), PG_FSYNC (on),
# GRANARY_NO_BUILD=1 to skip building the silo.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/servers.sh
source "$root/scripts/lib/servers.sh"

state="$root/.local/cluster"
override="$root/.local/cluster.json"
configuration=${GRANARY_CONFIGURATION:-Release}
shards=${GRANARY_SHARDS:-3}
cluster_id=granary-local
service_id=granary
silo_dll="$root/src/Silo/bin/$configuration/net10.0/granary-silo.dll"

usage() {
  echo "usage: scripts/cluster.sh up [N] | status | down" >&2
  exit 2
}

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Counts silos whose membership entry in Redis says Active (status 3).
active_silos() {
  local port
  port=$(cat "$state/redis/port")
  redis-cli -h 127.0.0.1 -p "$port" --raw HVALS "$service_id/members/$cluster_id" 2>/dev/null |
    grep -c '"Status":3\|"Status":"Active"' || true
}

silos_active_at_least() { (($(active_silos) >= $1)); }

cmd_up() {
  local count=${1:-3}
  [[ "$count" =~ ^[0-9]+$ ]] && ((count >= 1 && count <= 16)) || {
    echo "cluster.sh: N must be between 1 and 16 (got '$count')" >&2
    exit 2
  }
  if [[ -d "$state" ]] && compgen -G "$state/silo-*.pid" >/dev/null; then
    for pidfile in "$state"/silo-*.pid; do
      if pid_alive "$pidfile"; then
        echo "cluster.sh: a cluster is already running (scripts/cluster.sh status; scripts/cluster.sh down)" >&2
        exit 1
      fi
    done
  fi
  mkdir -p "$state"
  command -v redis-server >/dev/null || {
    echo "cluster.sh: redis-server is missing: apt-get install -y redis-server (scripts/test.sh does it)" >&2
    exit 1
  }

  if [[ "${GRANARY_NO_BUILD:-0}" != 1 ]]; then
    echo "building the silo ($configuration)..."
    dotnet build "$root/src/Silo" -c "$configuration" -nologo -v quiet >/dev/null
  fi
  [[ -f "$silo_dll" ]] || {
    echo "cluster.sh: $silo_dll is missing (build src/Silo first)" >&2
    exit 1
  }

  local redis_port pg_port
  redis_port=$(free_port)
  pg_port=$(free_port)
  start_redis "$state/redis" "$redis_port"
  start_postgres "$state/pg" "$pg_port"

  # The override file the silos and the console read (after appsettings.json).
  {
    echo '{'
    echo "  \"Orleans\": { \"ClusterId\": \"$cluster_id\", \"ServiceId\": \"$service_id\" },"
    echo '  "Granary": {'
    echo "    \"Cluster\": { \"Mode\": \"Redis\", \"RedisConnectionString\": \"127.0.0.1:$redis_port\", \"MembershipProfile\": \"FastFailover\" },"
    echo '    "Storage": { "Mode": "PostgresShards", "Shards": ['
    for ((i = 0; i < shards; i++)); do
      sep=","
      ((i == shards - 1)) && sep=""
      echo "      \"Host=127.0.0.1;Port=$pg_port;Username=postgres;Database=granary_shard_$i\"$sep"
    done
    echo '    ] }'
    echo '  }'
    echo '}'
  } >"$override.tmp"
  mv "$override.tmp" "$override"

  for ((i = 0; i < count; i++)); do
    local silo_port gateway_port
    silo_port=$(free_port)
    gateway_port=$(free_port)
    (
      cd "$root"
      Granary__Cluster__SiloPort=$silo_port Granary__Cluster__GatewayPort=$gateway_port \
        nohup dotnet "$silo_dll" >"$state/silo-$i.log" 2>&1 &
      echo $! >"$state/silo-$i.pid"
    )
    echo "silo $i: pid $(cat "$state/silo-$i.pid"), silo port $silo_port, gateway $gateway_port, log .local/cluster/silo-$i.log"
  done

  if ! wait_for "$count active silos" 120 silos_active_at_least "$count"; then
    echo "cluster.sh: silos did not become active; last log lines:" >&2
    for log in "$state"/silo-*.log; do tail -n 5 "$log" >&2; done
    exit 1
  fi
  echo "cluster up: $count silo(s), Redis 127.0.0.1:$redis_port, PostgreSQL 127.0.0.1:$pg_port ($shards shard databases)"
  echo "try: dotnet run --project src/Client -c $configuration -- cluster status"
}

cmd_status() {
  if [[ ! -d "$state" ]]; then
    echo "no local cluster (scripts/cluster.sh up)"
    return 0
  fi
  local any=0
  if pid_alive "$state/redis/redis.pid"; then
    echo "redis:      pid $(cat "$state/redis/redis.pid"), 127.0.0.1:$(cat "$state/redis/port"), active silos in membership: $(active_silos)"
    any=1
  fi
  if [[ -f "$state/pg/data/postmaster.pid" ]] && kill -0 "$(head -n 1 "$state/pg/data/postmaster.pid")" 2>/dev/null; then
    echo "postgresql: pid $(head -n 1 "$state/pg/data/postmaster.pid"), 127.0.0.1:$(cat "$state/pg/port" 2>/dev/null || echo '?')"
    any=1
  fi
  for pidfile in "$state"/silo-*.pid; do
    [[ -f "$pidfile" ]] || continue
    if pid_alive "$pidfile"; then
      echo "$(basename "$pidfile" .pid):     pid $(cat "$pidfile") running"
      any=1
    else
      echo "$(basename "$pidfile" .pid):     pid $(cat "$pidfile") not running"
    fi
  done
  ((any)) || echo "nothing running"
}

cmd_down() {
  [[ -d "$state" ]] || {
    echo "no local cluster"
    return 0
  }
  for pidfile in "$state"/silo-*.pid; do
    [[ -f "$pidfile" ]] || continue
    local pid
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      if ! wait_for "silo pid $pid to stop" 30 _servers_process_gone "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        wait_for "silo pid $pid to exit after SIGKILL" 10 _servers_process_gone "$pid" || true
      fi
    fi
    rm -f "$pidfile"
  done
  stop_redis "$state/redis" || true
  stop_postgres "$state/pg" || true
  rm -f "$override"
  rm -rf "$state"
  echo "cluster down"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  status) cmd_status ;;
  down) cmd_down ;;
  *) usage ;;
esac
