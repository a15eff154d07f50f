# shellcheck shell=bash
# Private Redis and PostgreSQL servers for local clusters and tests.
#
# Source this file; it defines functions and changes no shell options:
#
#   source scripts/lib/servers.sh
#   port=$(free_port)
#   start_redis "$run/redis" "$port"          # loopback only, no persistence
#   start_postgres "$run/pg" "$(free_port)"   # initdb on first use, then pg_ctl start
#   ...
#   stop_postgres "$run/pg"; stop_redis "$run/redis"
#
# Every server listens on 127.0.0.1 only and keeps all of its files (data, socket,
# pid file, log) under the directory it is given. Starting waits for a real readiness
# check (PING/PONG, SELECT 1) with a deadline instead of sleeping.
#
# Environment:
#   SERVERS_PORTS_FILE  if set, free_port records the ports it hands out there and
#                       never returns one of them twice.
#   PG_FSYNC            "off" starts PostgreSQL with fsync=off (fast, not crash-safe);
#                       default "on".
#   SERVERS_START_TIMEOUT  seconds to wait for a server to become ready (default 60).
# Every value from the environment is checked as text before it is used: bash evaluates array
# subscripts inside $((...)), so an unchecked 'a[$(cmd)]' in arithmetic would run cmd, and a value
# pasted into `pg_ctl -o` would become PostgreSQL options.

# require_int <name> <value> <min> <max>: fails (status 2, one line on stderr) unless <value> is a
# decimal whole number in [min, max]; safe to use in arithmetic afterwards.
require_int() {
  local name=$1 value=$2 min=$3 max=$4
  if [[ ! "$value" =~ ^[0-9]{1,9}$ ]] || ((10#$value < min || 10#$value > max)); then
    echo "$name must be a whole number between $min and $max (got '$value')" >&2
    return 2
  fi
}

# require_one_of <name> <value> <allowed...>: fails (status 2) unless <value> is one of <allowed>.
require_one_of() {
  local name=$1 value=$2 allowed
  shift 2
  for allowed in "$@"; do
    [[ "$value" == "$allowed" ]] && return 0
  done
  echo "$name must be one of: $* (got '$value')" >&2
  return 2
}

# The start timeout, checked.
_servers_start_timeout() {
  require_int SERVERS_START_TIMEOUT "${SERVERS_START_TIMEOUT:-60}" 1 3600 && echo "$((10#${SERVERS_START_TIMEOUT:-60}))"
}

# Prints a TCP port that nothing listens on at 127.0.0.1.
free_port() {
  local port attempt
  for attempt in $(seq 1 50); do
    if command -v python3 >/dev/null 2>&1; then
      # Let the kernel choose: bind port 0 and read the port back.
      port=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()' 2>/dev/null) || port=""
    fi
    if [[ -z "${port:-}" ]]; then
      port=$((20000 + RANDOM % 40000))
    fi
    if _servers_port_listening "$port"; then
      port=""
      continue
    fi
    if [[ -n "${SERVERS_PORTS_FILE:-}" ]]; then
      if [[ -f "$SERVERS_PORTS_FILE" ]] && grep -qx "$port" "$SERVERS_PORTS_FILE"; then
        port=""
        continue
      fi
      echo "$port" >>"$SERVERS_PORTS_FILE"
    fi
    echo "$port"
    return 0
  done
  echo "free_port: no free port found after $attempt attempts" >&2
  return 1
}

# wait_for <description> <timeout-seconds> <command...>
# Runs the command until it succeeds or the deadline passes (polling every 0.1 s).
wait_for() {
  local description=$1 timeout=$2
  shift 2
  require_int "wait_for timeout" "$timeout" 0 86400 || return 2
  timeout=$((10#$timeout))
  local start now deadline
  start=$(date +%s%N)
  deadline=$((start + timeout * 1000000000))
  while true; do
    if "$@" >/dev/null 2>&1; then
      now=$(date +%s%N)
      echo "ready: $description ($(((now - start) / 1000000)) ms)" >&2
      return 0
    fi
    now=$(date +%s%N)
    if ((now >= deadline)); then
      echo "timed out after ${timeout}s waiting for: $description" >&2
      return 1
    fi
    sleep 0.1
  done
}

# start_redis <dir> <port>
start_redis() {
  local dir=$1 port=$2 bin timeout
  timeout=$(_servers_start_timeout) || return 2
  require_int "redis port" "$port" 1 65535 || return 2
  bin=$(_servers_find redis-server) || {
    echo "start_redis: redis-server not found (PATH, /usr/bin, /usr/local/bin); run scripts/test.sh or: apt-get install -y redis-server" >&2
    return 1
  }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [[ -f "$dir/redis.pid" ]] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then
    echo "start_redis: already running from $dir (pid $(cat "$dir/redis.pid"))" >&2
    return 1
  fi
  if _servers_port_listening "$port"; then
    echo "start_redis: something already listens on 127.0.0.1:$port" >&2
    return 1
  fi
  rm -f "$dir/redis.pid"
  : >"$dir/redis.log"
  echo "$port" >"$dir/port"
  if ! "$bin" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir"; then
    echo "start_redis: redis-server failed to start; log:" >&2
    tail -n 20 "$dir/redis.log" >&2
    return 1
  fi
  # The daemonising parent exits 0 even when the server then fails to bind, so readiness
  # also requires the server's own pid file and process, not just a PONG on the port.
  if ! wait_for "redis on 127.0.0.1:$port" "$timeout" _servers_redis_ready "$dir" "$port"; then
    tail -n 20 "$dir/redis.log" >&2
    return 1
  fi
}

# stop_redis <dir>: shuts down the Redis started from <dir> and waits for it to exit.
stop_redis() {
  local dir=$1 pid port
  [[ -f "$dir/redis.pid" ]] || return 0
  pid=$(cat "$dir/redis.pid")
  port=$(cat "$dir/port" 2>/dev/null || true)
  if kill -0 "$pid" 2>/dev/null; then
    if [[ -n "$port" ]] && command -v redis-cli >/dev/null 2>&1; then
      redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    else
      kill -TERM "$pid" 2>/dev/null || true
    fi
    if ! wait_for "redis pid $pid to exit" 20 _servers_process_gone "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      wait_for "redis pid $pid to exit after SIGKILL" 10 _servers_process_gone "$pid" || return 1
    fi
  fi
  rm -f "$dir/redis.pid"
}

# start_postgres <dir> <port>
# Initialises <dir>/data on first use (initdb -A trust -U postgres), then starts the
# server on 127.0.0.1:<port> with its socket in <dir>/sock. Runs as the postgres user
# when called as root (initdb and postgres refuse to run as root).
start_postgres() {
  local dir=$1 port=$2 initdb pg_ctl fsync=${PG_FSYNC:-on} timeout
  timeout=$(_servers_start_timeout) || return 2
  require_one_of PG_FSYNC "$fsync" on off || return 2
  require_int "postgres port" "$port" 1 65535 || return 2
  if ! initdb=$(_servers_find initdb) || ! pg_ctl=$(_servers_find pg_ctl); then
    echo "start_postgres: initdb/pg_ctl not found (PATH, /usr/local/bin, /usr/lib/postgresql/*/bin); run scripts/test.sh or: apt-get install -y postgresql" >&2
    return 1
  fi
  mkdir -p "$dir/sock"
  dir=$(cd "$dir" && pwd)
  if [[ $(id -u) -eq 0 ]]; then
    chown -R postgres: "$dir"
    if ! runuser -u postgres -- test -w "$dir"; then
      local parent=$dir
      while [[ "$parent" != / ]] && runuser -u postgres -- test -x "$(dirname "$parent")"; do
        parent=$(dirname "$parent")
      done
      echo "start_postgres: user postgres cannot reach $dir: $(dirname "$parent") is not searchable by it (chmod a+x it, or use a directory such as /tmp/NAME)" >&2
      return 1
    fi
  fi
  if [[ ! -f "$dir/data/PG_VERSION" ]]; then
    local t0 t1
    t0=$(date +%s%N)
    if ! _servers_as_postgres "$initdb" -D "$dir/data" -A trust -U postgres --no-sync -E UTF8 --locale=C \
      >"$dir/initdb.log" 2>&1; then
      echo "start_postgres: initdb failed; log:" >&2
      tail -n 20 "$dir/initdb.log" >&2
      return 1
    fi
    t1=$(date +%s%N)
    echo "initdb: $dir/data ($(((t1 - t0) / 1000000)) ms)" >&2
  fi
  echo "$port" >"$dir/port"
  # The options reach PostgreSQL as one string that pg_ctl splits at spaces: allow no characters
  # that could end an option or start another one.
  if [[ ! "$dir" =~ ^[A-Za-z0-9_./-]+$ ]]; then
    echo "start_postgres: the directory '$dir' may hold only letters, digits and _ . / -" >&2
    return 2
  fi
  local options="-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir/sock -c max_connections=300 -c fsync=$fsync"
  if ! _servers_as_postgres "$pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t "$timeout" \
    -o "$options" start >/dev/null; then
    echo "start_postgres: pg_ctl start failed; log:" >&2
    tail -n 20 "$dir/postgres.log" >&2
    return 1
  fi
  if ! wait_for "postgres on 127.0.0.1:$port" "$timeout" _servers_postgres_select1 "$port"; then
    tail -n 20 "$dir/postgres.log" >&2
    return 1
  fi
}

# stop_postgres <dir>: fast shutdown (disconnects clients, checkpoints) and waits.
stop_postgres() {
  local dir=$1 pg_ctl
  [[ -f "$dir/data/postmaster.pid" ]] || return 0
  pg_ctl=$(_servers_find pg_ctl) || return 1
  # A stale pid file (server already gone) is not an error.
  _servers_as_postgres "$pg_ctl" -D "$dir/data" status >/dev/null 2>&1 || return 0
  if ! _servers_as_postgres "$pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null; then
    echo "stop_postgres: pg_ctl stop failed for $dir; log:" >&2
    tail -n 20 "$dir/postgres.log" >&2
    return 1
  fi
}

# psql_at <port> [psql args...]: psql as postgres over TCP to the given port.
psql_at() {
  local port=$1
  shift
  psql -X -h 127.0.0.1 -p "$port" -U postgres "$@"
}

_servers_find() {
  local name=$1 candidate
  if candidate=$(command -v "$name" 2>/dev/null); then
    echo "$candidate"
    return 0
  fi
  for candidate in "/usr/bin/$name" "/usr/local/bin/$name" /usr/lib/postgresql/*/bin/"$name"; do
    if [[ -x "$candidate" ]]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

_servers_as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

_servers_port_listening() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

_servers_process_gone() {
  # A daemon's exit leaves a zombie until init reaps it; that counts as gone.
  local state
  kill -0 "$1" 2>/dev/null || return 0
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
  [[ "$state" == Z ]]
}

_servers_redis_ready() {
  local dir=$1 port=$2 pid
  pid=$(cat "$dir/redis.pid" 2>/dev/null) || return 1
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && _servers_redis_ping "$port"
}

_servers_redis_ping() {
  local port=$1 reply
  if command -v redis-cli >/dev/null 2>&1; then
    reply=$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) || return 1
  else
    # A subshell keeps the descriptor away from the caller's shell.
    reply=$(
      exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
      printf 'PING\r\n' >&3
      IFS= read -r -t 2 line <&3 && echo "$line"
    ) || return 1
  fi
  [[ "$reply" == *PONG* ]]
}

_servers_postgres_select1() {
  [[ "$(psql -X -h 127.0.0.1 -p "$1" -U postgres -d postgres -tAc 'SELECT 1' 2>/dev/null)" == 1 ]]
}
