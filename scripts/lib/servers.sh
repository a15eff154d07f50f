# shellcheck shell=bash
# Private Redis and PostgreSQL servers for local clusters and tests.
#
# Source this file; it defines functions and changes no shell options:
#
#   source scripts/lib/servers.sh
#   port=$(free_port)
#   start_redis "$run/redis" "$port"          # loopback only, no persistence
#   start_postgres "$run/pg" "$(free_port)"   # initdb on first use, then pg_ctl start
#   redis_cli_at "$run/redis" PING            # authenticated, from <dir>/password
#   psql_at "$run/pg" -d postgres -c 'SELECT 1'
#   ...
#   stop_postgres "$run/pg"; stop_redis "$run/redis"
#
# Every server listens on 127.0.0.1 only and keeps all of its files (data, socket,
# pid file, log) under the directory it is given. Starting waits for a real readiness
# check (PING/PONG, SELECT 1) with a deadline instead of sleeping.
#
# No server trusts its callers: each one's directory gets a generated password in
# <dir>/password (mode 0600, the directory 0700) on first start. PostgreSQL is initialised with
# scram-sha-256 for TCP and socket connections alike (user postgres); Redis runs with requirepass
# (the default user), bind 127.0.0.1 and protected-mode. The password never appears on a command
# line: Redis reads it from <dir>/redis.conf (0600), the tools here get it through the environment
# (REDISCLI_AUTH, PGPASSWORD).
#
# Environment:
#   SERVERS_PORTS_FILE  if set, free_port records the ports it hands out there and
#                       never returns one of them twice.
#   PG_FSYNC            "off" starts PostgreSQL with fsync=off (fast, not crash-safe);
#                       default "on".
#   SERVERS_START_TIMEOUT  seconds to wait for a server to become ready (default 60).
#   SERVERS_TLS_DIR     if set, a directory holding ca.crt, server.crt and server.key (PEM; see
#                       make_server_certificates): Redis then serves TLS only on its port and
#                       PostgreSQL runs with ssl=on (it still accepts plaintext unless the client
#                       asks for SSL Mode=Require or stronger).
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
# make_cluster_secret FILE: the secret the silos of one cluster share to prove their calls to each
# other (Granary:Security:ClusterSecretFile): 32 random bytes in base64, made once, mode 0600.
# Give it to silos only, never to clients.
make_cluster_secret() {
  local file=$1
  [[ -s "$file" ]] || (umask 077 && head -c 32 /dev/urandom | base64 >"$file")
  chmod 600 "$file"
}

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
  local dir=$1 port=$2 bin timeout tls=${SERVERS_TLS_DIR:-}
  timeout=$(_servers_start_timeout) || return 2
  require_int "redis port" "$port" 1 65535 || return 2
  _servers_check_tls_dir "$tls" || return 2
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
  chmod 700 "$dir"
  _servers_new_password "$dir/password" || return 1
  rm -f "$dir/redis.pid"
  : >"$dir/redis.log"
  echo "$port" >"$dir/port"
  # The password goes in a file only the owner reads, not on redis-server's command line.
  (
    umask 077
    {
      echo "requirepass $(<"$dir/password")"
      echo "protected-mode yes"
      if [[ -n "$tls" ]]; then
        echo "tls-cert-file $tls/server.crt"
        echo "tls-key-file $tls/server.key"
        echo "tls-ca-cert-file $tls/ca.crt"
        echo "tls-auth-clients no"
      fi
    } >"$dir/redis.conf"
  )
  if [[ -n "$tls" ]]; then
    echo "$tls" >"$dir/tls"
    local listen=(--port 0 --tls-port "$port")
  else
    rm -f "$dir/tls"
    local listen=(--port "$port")
  fi
  if ! "$bin" "$dir/redis.conf" "${listen[@]}" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir"; then
    echo "start_redis: redis-server failed to start; log:" >&2
    tail -n 20 "$dir/redis.log" >&2
    return 1
  fi
  # The daemonising parent exits 0 even when the server then fails to bind, so readiness
  # also requires the server's own pid file and process, not just a PONG on the port.
  if ! wait_for "redis on 127.0.0.1:$port" "$timeout" _servers_redis_ready "$dir"; then
    tail -n 20 "$dir/redis.log" >&2
    return 1
  fi
}

# redis_cli_at <dir> [redis-cli args...]: redis-cli to the Redis started from <dir>, authenticated
# with its password (through REDISCLI_AUTH, not the command line), over TLS when it serves TLS.
redis_cli_at() {
  local dir=$1 tls_args=()
  shift
  if [[ -f "$dir/tls" ]]; then
    tls_args=(--tls --cacert "$(<"$dir/tls")/ca.crt")
  fi
  REDISCLI_AUTH="$(<"$dir/password")" redis-cli -h 127.0.0.1 -p "$(<"$dir/port")" "${tls_args[@]}" "$@"
}

# stop_redis <dir>: shuts down the Redis started from <dir> and waits for it to exit.
stop_redis() {
  local dir=$1 pid port
  [[ -f "$dir/redis.pid" ]] || return 0
  pid=$(cat "$dir/redis.pid")
  port=$(cat "$dir/port" 2>/dev/null || true)
  if kill -0 "$pid" 2>/dev/null; then
    if [[ -n "$port" && -f "$dir/password" ]] && command -v redis-cli >/dev/null 2>&1; then
      redis_cli_at "$dir" shutdown nosave >/dev/null 2>&1 || true
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
# Initialises <dir>/data on first use (initdb -A scram-sha-256 -U postgres, the password from
# <dir>/password, generated first), then starts the server on 127.0.0.1:<port> with its socket
# in <dir>/sock. Runs as the postgres user when called as root (initdb and postgres refuse to
# run as root); <dir> then belongs to that user, mode 0700.
start_postgres() {
  local dir=$1 port=$2 initdb pg_ctl fsync=${PG_FSYNC:-on} timeout tls=${SERVERS_TLS_DIR:-}
  timeout=$(_servers_start_timeout) || return 2
  require_one_of PG_FSYNC "$fsync" on off || return 2
  require_int "postgres port" "$port" 1 65535 || return 2
  _servers_check_tls_dir "$tls" || return 2
  if ! initdb=$(_servers_find initdb) || ! pg_ctl=$(_servers_find pg_ctl); then
    echo "start_postgres: initdb/pg_ctl not found (PATH, /usr/local/bin, /usr/lib/postgresql/*/bin); run scripts/test.sh or: apt-get install -y postgresql" >&2
    return 1
  fi
  mkdir -p "$dir/sock"
  dir=$(cd "$dir" && pwd)
  if [[ -d "$dir/data" && ! -f "$dir/password" ]]; then
    echo "start_postgres: $dir/data exists but $dir/password does not (initialised without a password?); delete $dir/data to start afresh" >&2
    return 1
  fi
  chmod 700 "$dir"
  _servers_new_password "$dir/password" || return 1
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
    if ! _servers_as_postgres "$initdb" -D "$dir/data" -A scram-sha-256 -U postgres --pwfile="$dir/password" --no-sync -E UTF8 --locale=C \
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
  # max_wal_size: the default of 1 GB starts a checkpoint every 25-100 s under the benchmarks' write
  # rates ("checkpoints are occurring too frequently" in the log), PostgreSQL's own hint to raise it.
  # wal_init_zero=off: a new server has no old WAL segments to recycle until its first checkpoints,
  # so it creates one for every 16 MB of WAL and, by default, fills it with zeros first; under the
  # transfer benchmark that was a new segment every second and commits waiting behind each fill
  # (the slowest transfer of every second 80-110 ms until the first checkpoint, 40-50 ms after it).
  local options="-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir/sock -c max_connections=300 -c fsync=$fsync -c max_wal_size=4GB -c wal_init_zero=off"
  if [[ -n "$tls" ]]; then
    # PostgreSQL wants its key owned by its own user and readable by nobody else: use copies.
    (umask 077 && cp "$tls/server.crt" "$tls/server.key" "$dir/")
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir/server.crt" "$dir/server.key"
    options+=" -c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key"
  fi
  if ! _servers_as_postgres "$pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t "$timeout" \
    -o "$options" start >/dev/null; then
    echo "start_postgres: pg_ctl start failed; log:" >&2
    tail -n 20 "$dir/postgres.log" >&2
    return 1
  fi
  if ! wait_for "postgres on 127.0.0.1:$port" "$timeout" _servers_postgres_select1 "$dir"; then
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

# psql_at <dir> [psql args...]: psql as postgres over TCP to the server started from <dir>, with
# its password (through PGPASSWORD, not the command line).
psql_at() {
  local dir=$1
  shift
  PGPASSWORD="$(<"$dir/password")" psql -X -h 127.0.0.1 -p "$(<"$dir/port")" -U postgres "$@"
}

# make_server_certificates <dir>: a private CA (ca.crt, ca.key) and a certificate for the servers
# (server.crt, server.key; subject alternative names IP 127.0.0.1 and DNS localhost) signed by it,
# valid 30 days, keys mode 0600. For local TLS runs and tests; bring your own CA in production.
make_server_certificates() {
  local dir=$1
  mkdir -p "$dir"
  chmod 700 "$dir"
  (
    umask 077
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=Granary local server CA" \
      -keyout ca.key -out ca.crt >/dev/null 2>&1 &&
      openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr >/dev/null 2>&1 &&
      printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >server.ext &&
      openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile server.ext \
        -out server.crt >/dev/null 2>&1 &&
      rm -f server.csr server.ext ca.srl
  ) || {
    echo "make_server_certificates: openssl failed in $dir" >&2
    return 1
  }
  chmod 644 "$dir/ca.crt" "$dir/server.crt"
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
  local dir=$1 pid
  pid=$(cat "$dir/redis.pid" 2>/dev/null) || return 1
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && _servers_redis_ping "$dir"
}

_servers_redis_ping() {
  local dir=$1 reply
  if command -v redis-cli >/dev/null 2>&1; then
    reply=$(redis_cli_at "$dir" ping 2>/dev/null) || return 1
  elif [[ -f "$dir/tls" ]]; then
    return 1
  else
    # A subshell keeps the descriptor away from the caller's shell.
    reply=$(
      exec 3<>"/dev/tcp/127.0.0.1/$(<"$dir/port")" || exit 1
      printf 'AUTH %s\r\nPING\r\n' "$(<"$dir/password")" >&3
      IFS= read -r -t 2 line <&3 && IFS= read -r -t 2 line <&3 && echo "$line"
    ) || return 1
  fi
  [[ "$reply" == *PONG* ]]
}

_servers_postgres_select1() {
  [[ "$(psql_at "$1" -d postgres -tAc 'SELECT 1' 2>/dev/null)" == 1 ]]
}

# _servers_new_password <file>: writes a random password (48 hex digits) to <file>, mode 0600,
# unless the file exists already.
_servers_new_password() {
  local file=$1
  [[ -s "$file" ]] && return 0
  (
    umask 077
    od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$file.tmp" && mv "$file.tmp" "$file"
  ) || {
    echo "servers: could not write a password to $file" >&2
    return 1
  }
}

# _servers_check_tls_dir <dir or empty>: an empty value is fine (no TLS); otherwise the directory
# must hold ca.crt, server.crt and server.key, in a path safe to paste into server options.
_servers_check_tls_dir() {
  local tls=$1 file
  [[ -z "$tls" ]] && return 0
  if [[ ! "$tls" =~ ^/[A-Za-z0-9_./-]+$ ]]; then
    echo "SERVERS_TLS_DIR must be an absolute path of letters, digits and _ . / - (got '$tls')" >&2
    return 2
  fi
  for file in ca.crt server.crt server.key; do
    [[ -f "$tls/$file" ]] || {
      echo "SERVERS_TLS_DIR: $tls/$file is missing (make_server_certificates makes them)" >&2
      return 2
    }
  done
}
