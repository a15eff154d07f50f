#!/usr/bin/env bash
# A real local Granary cluster on this machine: a private Redis (membership), a private
# PostgreSQL (grain state, one database per shard, plus the caches' backing tables) and N silo
# processes.
#
#   scripts/cluster.sh up [N] [--tls]
#                                 start Redis, PostgreSQL and N silos (default 3); waits until all
#                                 N silos are active; writes .local/cluster.json so that
#                                 `granary ...` run from the repository root finds this cluster;
#                                 --tls: mutual TLS between silos and between the console and the
#                                 gateways, with a CA and certificates made into .local/tls/, and
#                                 client identities on (as GRANARY_SECURE=1)
#   scripts/cluster.sh add        start one more silo and wait until it is active
#   scripts/cluster.sh restart I  stop silo I (SIGTERM, SIGKILL after 30 s), start it again on the
#                                 same ports, and wait until its new incarnation is active
#   scripts/cluster.sh status     what is running
#   scripts/cluster.sh down       stop exactly the processes `up` and `add` started and remove
#                                 .local/cluster.json; the logs stay until the next `up`
#
# What is where (all under .local/cluster/, kept after `down` until the next `up`):
#   silos.json        every silo started: index, pid, silo and gateway ports, log file (JSON array)
#   silo-I.json       the same for silo I alone; silo-I.pid its pid while it runs; silo-I.log its output
#   servers.json      Redis and PostgreSQL: pid, port, log file
#   redis/redis.log, pg/postgres.log   the servers' logs
#   tls               present when the cluster runs with --tls (add and restart start silos with TLS)
# With --tls, .local/tls/ (mode 0700; keys 0600) holds ca.pem/ca.key (the CA), silo.pem/silo.key
# (every silo's certificate: server and client use, SAN 127.0.0.1 and localhost) and
# client.pem/client.key (the console's certificate); a new set is made at each `up --tls`.
#   redis/password, pg/password        the servers' generated passwords (mode 0600, directories 0700):
#                     Redis runs with requirepass, PostgreSQL with scram-sha-256 (user postgres);
#                     .local/cluster.json names these files (Granary:Security:Servers), so the silos
#                     and `granary` read them; no password is on a command line or in cluster.json
# `add` and `restart` start silos with the current environment (Granary__Section__Key=value
# variables given to `up` are not remembered).
#
# Environment (each checked before use; a bad value stops the script with exit code 2):
# GRANARY_SHARDS (1-64, default 3), GRANARY_CONFIGURATION (Release or Debug), PG_FSYNC (on or off),
# GRANARY_NO_BUILD=1 to skip building the silo, GRANARY_SILO=bench to run the bench tool's silo mode
# (bench/Granary.Bench: a Granary silo that also hosts the in-silo benchmark peers; `add` and
# `restart` take it from the environment too; GRANARY_SILO_SPIN=N gives its thread pool another spin
# limit than the runtime's 70), GRANARY_SECURE=1 for client identities (an operator
# identity holding every permission, its token in .local/operator.token, mode 0600),
# GRANARY_SERVERS_TLS=1 to run Redis (TLS only) and PostgreSQL (ssl=on) with a CA and certificate
# made in .local/cluster/server-tls/, which the silos and the console verify (ssl=true with the CA;
# SSL Mode=VerifyFull).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/servers.sh
source "$root/scripts/lib/servers.sh"
# shellcheck source=lib/tls.sh
source "$root/scripts/lib/tls.sh"

state="$root/.local/cluster"
override="$root/.local/cluster.json"
# The silos' shared secret (Granary:Security:ClusterSecretFile): made once, owner-only, never committed.
cluster_secret="$root/.local/cluster-secret"
configuration=${GRANARY_CONFIGURATION:-Release}
shards=${GRANARY_SHARDS:-3}
# Checked as text before any use: $shards goes through bash arithmetic (which would run a command
# in an array subscript such as 'a[$(cmd)]') and $configuration into paths and dotnet's arguments.
require_one_of GRANARY_CONFIGURATION "$configuration" Release Debug || exit 2
require_int GRANARY_SHARDS "$shards" 1 64 || exit 2
shards=$((10#$shards))
require_one_of GRANARY_NO_BUILD "${GRANARY_NO_BUILD:-0}" 0 1 || exit 2
require_one_of GRANARY_SILO "${GRANARY_SILO:-product}" product bench || exit 2
require_one_of PG_FSYNC "${PG_FSYNC:-on}" on off || exit 2
require_one_of GRANARY_SECURE "${GRANARY_SECURE:-0}" 0 1 || exit 2
require_one_of GRANARY_SERVERS_TLS "${GRANARY_SERVERS_TLS:-0}" 0 1 || exit 2
cluster_id=granary-local
service_id=granary
backing_database=granary_backing
if [[ "${GRANARY_SILO:-product}" == bench ]]; then
  silo_project="$root/bench/Granary.Bench"
  silo_dll="$root/bench/Granary.Bench/bin/$configuration/net10.0/granary-bench.dll"
  # Server GC and thread-pool workers that spin before they block (the runtime's default), as the
  # silo project has them (the bench tool itself runs with spinning off).
  # Socket completions inline: the bench silo sets that itself, as the product silo does.
  spin=${GRANARY_SILO_SPIN:-70}
  require_int GRANARY_SILO_SPIN "$spin" 0 10000 || exit 2
  silo_command=(env DOTNET_gcServer=1 DOTNET_ThreadPool_UnfairSemaphoreSpinLimit="$spin" dotnet "$silo_dll" silo)
else
  silo_project="$root/src/Silo"
  silo_dll="$root/src/Silo/bin/$configuration/net10.0/granary-silo.dll"
  silo_command=(dotnet "$silo_dll")
fi
tls_dir="$root/.local/tls"

usage() {
  echo "usage: scripts/cluster.sh up [N] [--tls] | add | restart I | status | down" >&2
  exit 2
}

# With GRANARY_SECURE=1: a new operator token in .local/operator.token (mode 0600) and, on stdout,
# the members of .local/cluster.json's "Granary" object that configure the silos with an operator
# identity holding every permission (by the token's SHA-256 only, and the console's certificate when
# .local/tls/client.pem exists) and point the console at the token file.
operator_identity_json() {
  [[ "${GRANARY_SECURE:-0}" == 1 ]] || return 0
  local token_file="$root/.local/operator.token" token
  token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  (umask 077 && printf '%s\n' "$token" >"$token_file")
  chmod 600 "$token_file"
  local pinned=""
  # The console's TLS certificate (made by `up --tls`) identifies the operator too, by thumbprint.
  if [[ -f "$root/.local/tls/client.pem" ]]; then
    pinned=$(openssl x509 -in "$root/.local/tls/client.pem" -noout -fingerprint -sha256 | cut -d = -f 2 | tr -d ':')
    pinned=", \"CertificateThumbprints\": [ \"$pinned\" ]"
  fi
  printf '    "Security:Identities": [ { "Name": "operator", "Permissions": [ "*" ], "TokenSha256": "%s"%s } ],\n' \
    "$(printf '%s' "$token" | sha256sum | cut -d ' ' -f 1)" "$pinned"
  printf '    "Client:TokenFile": "%s",\n' "$token_file"
}

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

redis_port() { cat "$state/redis/port"; }

# Prints the membership entries in Redis, one JSON object per line.
membership() {
  redis_cli_at "$state/redis" --raw HVALS "$service_id/members/$cluster_id" 2>/dev/null
}

is_active() { grep -q '"Status":3\|"Status":"Active"'; }

# Counts silos whose membership entry in Redis says Active (status 3).
active_silos() { membership | grep -c '"Status":3\|"Status":"Active"' || true; }

silos_active_at_least() { (($(active_silos) >= $1)); }

# True when an Active membership entry has silo port <port> and a generation other than <old>
# (empty: any generation), i.e. a new incarnation of the silo on that port is active.
silo_port_active() {
  local port=$1 old=${2:-} line generation
  while IFS= read -r line; do
    [[ "$line" == *"127.0.0.1:$port@"* || "$line" == *"127.0.0.1:$port:"* ]] || continue
    printf '%s' "$line" | is_active || continue
    generation=$(generation_in "$line" "$port")
    [[ -z "$old" || "$generation" != "$old" ]] && return 0
  done < <(membership)
  return 1
}

# The generation of the silo on <port> in membership entry <line> (SiloAddress "S127.0.0.1:PORT:GEN"
# or "127.0.0.1:PORT@GEN", depending on the serializer).
generation_in() {
  local line=$1 port=$2
  if [[ "$line" =~ 127\.0\.0\.1:$port[:@]([0-9]+) ]]; then
    echo "${BASH_REMATCH[1]}"
  fi
}

# The generation of the active silo on <port>, or nothing.
active_generation() {
  local port=$1 line
  while IFS= read -r line; do
    if printf '%s' "$line" | is_active && [[ -n "$(generation_in "$line" "$port")" ]]; then
      generation_in "$line" "$port"
      return 0
    fi
  done < <(membership)
}

# JSON of one silo from its files.
silo_json() {
  local i=$1
  local pid silo_port gateway_port
  pid=$(cat "$state/silo-$i.pid")
  read -r silo_port gateway_port <"$state/silo-$i.ports"
  printf '{ "index": %d, "pid": %d, "siloPort": %d, "gatewayPort": %d, "log": ".local/cluster/silo-%d.log" }' \
    "$i" "$pid" "$silo_port" "$gateway_port" "$i"
}

# Rewrites silo-I.json for every silo and silos.json with all of them.
write_silo_files() {
  local i first=1
  {
    echo '['
    for ports in "$state"/silo-*.ports; do
      [[ -f "$ports" ]] || continue
      i=${ports##*/silo-}
      i=${i%.ports}
      silo_json "$i" >"$state/silo-$i.json.tmp"
      echo >>"$state/silo-$i.json.tmp"
      mv "$state/silo-$i.json.tmp" "$state/silo-$i.json"
      ((first)) || echo ','
      first=0
      printf '  %s' "$(silo_json "$i")"
    done
    echo
    echo ']'
  } >"$state/silos.json.tmp"
  mv "$state/silos.json.tmp" "$state/silos.json"
}

# start_silo <index> <silo-port> <gateway-port>: starts the silo process in the background.
start_silo() {
  local i=$1 silo_port=$2 gateway_port=$3 resp_port mc_port
  local tls_env=()
  # Each silo hosts the RESP and Memcached endpoints on ports of its own, kept across restarts.
  resp_port=$(cat "$state/silo-$i.resp" 2>/dev/null || free_port)
  mc_port=$(cat "$state/silo-$i.memcached" 2>/dev/null || free_port)
  # Environment beats .local/cluster.json: the silos show the silo certificate, the console its own.
  [[ -f "$state/tls" ]] && tls_env=(Granary__Security__Tls__CertificateFile="$tls_dir/silo.pem" Granary__Security__Tls__KeyFile="$tls_dir/silo.key")
  (
    cd "$root"
    env "${tls_env[@]}" Granary__Security__ClusterSecretFile="$cluster_secret" \
      Granary__Cluster__SiloPort="$silo_port" Granary__Cluster__GatewayPort="$gateway_port" \
      Granary__Resp__Port="$resp_port" Granary__Memcached__Port="$mc_port" \
      nohup "${silo_command[@]}" >>"$state/silo-$i.log" 2>&1 &
    echo $! >"$state/silo-$i.pid"
  )
  echo "$silo_port $gateway_port" >"$state/silo-$i.ports"
  echo "$resp_port" >"$state/silo-$i.resp"
  echo "$mc_port" >"$state/silo-$i.memcached"
  write_silo_files
  echo "silo $i: pid $(cat "$state/silo-$i.pid"), silo port $silo_port, gateway $gateway_port, RESP port $resp_port (redis-cli -p $resp_port), memcached port $mc_port, log .local/cluster/silo-$i.log"
}

# stop_silo <index>: SIGTERM (graceful: the silo leaves the membership table), SIGKILL after 30 s.
stop_silo() {
  local i=$1 pid
  [[ -f "$state/silo-$i.pid" ]] || return 0
  pid=$(cat "$state/silo-$i.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_for "silo $i (pid $pid) to stop" 30 _servers_process_gone "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      wait_for "silo $i (pid $pid) to exit after SIGKILL" 10 _servers_process_gone "$pid" || true
    fi
  fi
}

silo_failed() {
  local i=$1
  echo "cluster.sh: silo $i did not become active; last lines of .local/cluster/silo-$i.log:" >&2
  tail -n 20 "$state/silo-$i.log" >&2
  exit 1
}

require_cluster() {
  if ! pid_alive "$state/redis/redis.pid" || [[ ! -f "$override" ]]; then
    echo "cluster.sh: no local cluster is running (scripts/cluster.sh up)" >&2
    exit 1
  fi
  [[ -f "$silo_dll" ]] || {
    echo "cluster.sh: $silo_dll is missing (build ${silo_project#"$root/"} first)" >&2
    exit 1
  }
}

cmd_up() {
  local count=3 tls=0 arg
  for arg in "$@"; do
    case "$arg" in
      --tls) tls=1 ;;
      *) count=$arg ;;
    esac
  done
  require_int N "$count" 1 16 || exit 2
  count=$((10#$count))
  if [[ -d "$state" ]] && compgen -G "$state/silo-*.pid" >/dev/null; then
    for pidfile in "$state"/silo-*.pid; do
      if pid_alive "$pidfile"; then
        echo "cluster.sh: a cluster is already running (scripts/cluster.sh status; scripts/cluster.sh down)" >&2
        exit 1
      fi
    done
  fi
  command -v redis-server >/dev/null || {
    echo "cluster.sh: redis-server is missing: apt-get install -y redis-server (scripts/test.sh does it)" >&2
    exit 1
  }

  if [[ "${GRANARY_NO_BUILD:-0}" != 1 ]]; then
    echo "building the silo ($configuration)..."
    dotnet build "$silo_project" -c "$configuration" -nologo -v quiet >/dev/null
  fi
  [[ -f "$silo_dll" ]] || {
    echo "cluster.sh: $silo_dll is missing (build ${silo_project#"$root/"} first)" >&2
    exit 1
  }

  # The previous cluster's logs and data go now, not at `down`.
  rm -rf "$state"
  mkdir -p "$state"
  local redis_port pg_port server_tls="" redis_tls="" pg_tls="" redis_ca=""
  redis_port=$(free_port)
  pg_port=$(free_port)
  if [[ "${GRANARY_SERVERS_TLS:-0}" == 1 ]]; then
    server_tls="$state/server-tls"
    make_server_certificates "$server_tls"
    redis_tls=",ssl=true"
    pg_tls=";SSL Mode=VerifyFull;Root Certificate=$server_tls/ca.crt"
    redis_ca=", \"RedisCaCertificate\": \"$server_tls/ca.crt\""
  fi
  SERVERS_TLS_DIR=$server_tls start_redis "$state/redis" "$redis_port"
  SERVERS_TLS_DIR=$server_tls start_postgres "$state/pg" "$pg_port"
  # The caches' backing tables (cache-aside, write-through) live in their own database; the silos
  # create the tables, not the database.
  psql_at "$state/pg" -d postgres -qc "CREATE DATABASE $backing_database" >/dev/null
  cat >"$state/servers.json" <<EOF
{
  "redis": { "pid": $(cat "$state/redis/redis.pid"), "port": $redis_port, "log": ".local/cluster/redis/redis.log" },
  "postgres": { "pid": $(head -n 1 "$state/pg/data/postmaster.pid"), "port": $pg_port, "log": ".local/cluster/pg/postgres.log" }
}
EOF

  if ((tls)); then
    make_tls "$tls_dir"
    touch "$state/tls"
    # Security on means deny by default: the silos get the operator identity (pinned to the
    # console's certificate) and refuse clients without a configured identity.
    GRANARY_SECURE=1
  fi

  case "${GRANARY_DEMO_HANDLERS:-true}" in
    true | false) ;;
    *) echo "cluster.sh: GRANARY_DEMO_HANDLERS must be true or false, not '$GRANARY_DEMO_HANDLERS'" >&2; exit 2 ;;
  esac

  # The override file the silos and the console read (after appsettings.json).
  {
    echo '{'
    echo "  \"Orleans\": { \"ClusterId\": \"$cluster_id\", \"ServiceId\": \"$service_id\" },"
    echo '  "Granary": {'
    operator_identity_json
    echo "    \"Cluster\": { \"Mode\": \"Redis\", \"RedisConnectionString\": \"127.0.0.1:$redis_port$redis_tls\", \"MembershipProfile\": \"FastFailover\" },"
    # A development cluster runs the demonstration task handlers (GRANARY_DEMO_HANDLERS=false: none).
    echo "    \"Scheduling\": { \"DemoHandlers\": ${GRANARY_DEMO_HANDLERS:-true} },"
    echo "    \"Caching\": { \"BackingConnectionString\": \"Host=127.0.0.1;Port=$pg_port;Username=postgres;Database=$backing_database$pg_tls\" },"
    echo '    "Storage": { "Mode": "PostgresShards", "Shards": ['
    for ((i = 0; i < shards; i++)); do
      sep=","
      ((i == shards - 1)) && sep=""
      echo "      \"Host=127.0.0.1;Port=$pg_port;Username=postgres;Database=granary_shard_$i$pg_tls\"$sep"
    done
    echo '    ] },'
    # The servers' credentials stay in their own files (mode 0600); this names them.
    echo "    \"Security\": { \"Servers\": { \"PostgresPasswordFile\": \"$state/pg/password\", \"RedisPasswordFile\": \"$state/redis/password\"$redis_ca }"
    if ((tls)); then
      # The console's certificate; the silos get theirs through the environment (start_silo).
      echo "      , \"Tls\": { \"Enabled\": true, \"CertificateFile\": \"$tls_dir/client.pem\", \"KeyFile\": \"$tls_dir/client.key\","
      echo "      \"Silos\": { \"CaFile\": \"$tls_dir/ca.pem\", \"Thumbprints\": [ \"$(tls_thumbprint "$tls_dir/silo.pem")\" ] },"
      echo "      \"Clients\": { \"CaFile\": \"$tls_dir/ca.pem\" } }"
    fi
    echo '    }'
    echo '  }'
    echo '}'
  } >"$override.tmp"
  mv "$override.tmp" "$override"

  make_cluster_secret "$cluster_secret"
  for ((i = 0; i < count; i++)); do
    start_silo "$i" "$(free_port)" "$(free_port)"
  done

  if ! wait_for "$count active silos" 120 silos_active_at_least "$count"; then
    echo "cluster.sh: silos did not become active; last log lines:" >&2
    for log in "$state"/silo-*.log; do tail -n 5 "$log" >&2; done
    exit 1
  fi
  echo "cluster up: $count silo(s)$( ((tls)) && echo ", mutual TLS (certificates in .local/tls/)"), Redis 127.0.0.1:$redis_port, PostgreSQL 127.0.0.1:$pg_port ($shards shard databases, backing tables in $backing_database)"
  echo "silos, pids and ports: .local/cluster/silos.json"
  echo "try: dotnet run --project src/Client -c $configuration -- cluster status"
}

cmd_add() {
  require_cluster
  local i=0
  while [[ -f "$state/silo-$i.ports" ]]; do i=$((i + 1)); done
  local silo_port
  silo_port=$(free_port)
  start_silo "$i" "$silo_port" "$(free_port)"
  wait_for "silo $i (port $silo_port) active" 120 silo_port_active "$silo_port" || silo_failed "$i"
  echo "silo $i added: $(active_silos) active silos"
}

cmd_restart() {
  local i=${1:-}
  require_int "silo index" "$i" 0 1000 || {
    echo "cluster.sh: restart needs a silo index (see scripts/cluster.sh status)" >&2
    exit 2
  }
  i=$((10#$i))
  require_cluster
  [[ -f "$state/silo-$i.ports" ]] || {
    echo "cluster.sh: there is no silo $i (see scripts/cluster.sh status)" >&2
    exit 2
  }
  local silo_port gateway_port old
  read -r silo_port gateway_port <"$state/silo-$i.ports"
  old=$(active_generation "$silo_port")
  stop_silo "$i"
  for port in "$silo_port" "$gateway_port"; do
    wait_for "port $port to be free" 30 _cluster_port_free "$port" || {
      echo "cluster.sh: port $port is still in use; silo $i stays stopped" >&2
      exit 1
    }
  done
  echo "--- restarted $(date -u +%Y-%m-%dT%H:%M:%SZ) ---" >>"$state/silo-$i.log"
  start_silo "$i" "$silo_port" "$gateway_port"
  wait_for "silo $i (port $silo_port) active again" 120 silo_port_active "$silo_port" "$old" || silo_failed "$i"
  echo "silo $i restarted: $(active_silos) active silos"
}

_cluster_port_free() { ! _servers_port_listening "$1"; }

cmd_status() {
  if [[ ! -d "$state" ]]; then
    echo "no local cluster (scripts/cluster.sh up)"
    return 0
  fi
  local any=0
  if pid_alive "$state/redis/redis.pid"; then
    echo "redis:      pid $(cat "$state/redis/redis.pid"), 127.0.0.1:$(redis_port), active silos in membership: $(active_silos)"
    any=1
  fi
  if [[ -f "$state/pg/data/postmaster.pid" ]] && kill -0 "$(head -n 1 "$state/pg/data/postmaster.pid")" 2>/dev/null; then
    echo "postgresql: pid $(head -n 1 "$state/pg/data/postmaster.pid"), 127.0.0.1:$(cat "$state/pg/port" 2>/dev/null || echo '?')"
    any=1
  fi
  for ports in "$state"/silo-*.ports; do
    [[ -f "$ports" ]] || continue
    local i silo_port gateway_port pid
    i=${ports##*/silo-}
    i=${i%.ports}
    read -r silo_port gateway_port <"$ports"
    if pid_alive "$state/silo-$i.pid"; then
      pid=$(cat "$state/silo-$i.pid")
      echo "silo $i:     pid $pid running, silo port $silo_port, gateway $gateway_port, RESP port $(cat "$state/silo-$i.resp" 2>/dev/null || echo '?'), memcached port $(cat "$state/silo-$i.memcached" 2>/dev/null || echo '?'), log .local/cluster/silo-$i.log"
      any=1
    else
      echo "silo $i:     stopped (silo port $silo_port, gateway $gateway_port), log .local/cluster/silo-$i.log"
    fi
  done
  ((any)) || echo "nothing running (logs of the last cluster: .local/cluster/)"
}

cmd_down() {
  [[ -d "$state" ]] || {
    echo "no local cluster"
    return 0
  }
  for pidfile in "$state"/silo-*.pid; do
    [[ -f "$pidfile" ]] || continue
    local i=${pidfile##*/silo-}
    stop_silo "${i%.pid}"
    rm -f "$pidfile"
  done
  stop_redis "$state/redis" || true
  stop_postgres "$state/pg" || true
  rm -f "$override"
  # The data goes; the logs (silo-*.log, redis/redis.log, pg/postgres.log) and silos.json stay until the next `up`.
  rm -rf "$state/pg/data" "$state/pg/sock"
  echo "cluster down (logs kept in .local/cluster/ until the next up)"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  add) cmd_add ;;
  restart) shift; cmd_restart "$@" ;;
  status) cmd_status ;;
  down) cmd_down ;;
  *) usage ;;
esac
