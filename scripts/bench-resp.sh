#!/usr/bin/env bash
# Granary's RESP endpoint vs redis-server, side by side with the same tool in one run:
# redis-benchmark -t get,set -c 50 at -P 1 and -P 16 against one silo's RESP port and against a
# redis-server, ROUNDS times alternating, with the CPU microseconds per request of each server
# process (utime+stime from /proc, sampled around each run) and the load average before and after.
# Then the same against a three-silo cluster in RESP cluster mode with redis-benchmark --cluster
# (each request sent to the silo that serves its hash slot; CPU: the three silos together), again
# alternating with the redis-server; the one-silo cluster is stopped first.
#
#   scripts/bench-resp.sh                        # 3 rounds, 200000 requests per test at -P 1, 16 times as
#                                                # many at -P 16 (so a window lasts seconds, not a fraction)
#   ROUNDS=1 REQUESTS=50000 scripts/bench-resp.sh
#   KEYSPACE=100000 ...                        # redis-benchmark -r: random keys over the cache's shards
#                                              # (default: redis-benchmark's one key, one shard)
#   WARMUP=2000000 ...                         # requests of each test at -P 16 before the first round
#   GRANARY_NO_BUILD=1 ...                     # use the silo already built
#   CLUSTER_SILOS=0 ...                        # skip the three-silo phase
#   TESTS="ping_mbulk get" ...                 # other redis-benchmark tests (ping_mbulk: the endpoint
#                                              # alone, parsing and answering with no grain call)
#
# Both servers run without a password on 127.0.0.1 and are stopped at the end. The silo is a
# one-silo embedded-style cluster (localhost clustering, memory storage, 8 cache shards).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/scripts/lib/servers.sh"
RUN_DIR=${RUN_DIR:-/tmp/granary-bench-resp}
ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-200000}
CLIENTS=${CLIENTS:-50}
CLUSTER_SILOS=${CLUSTER_SILOS:-3}
TESTS=${TESTS:-set get}
KEYSPACE=${KEYSPACE:-0}
WARMUP=${WARMUP:-2000000}
require_int ROUNDS "$ROUNDS" 1 20 || exit 2
require_int REQUESTS "$REQUESTS" 1000 100000000 || exit 2
require_int CLIENTS "$CLIENTS" 1 10000 || exit 2
require_int CLUSTER_SILOS "$CLUSTER_SILOS" 0 5 || exit 2
require_int KEYSPACE "$KEYSPACE" 0 100000000 || exit 2
require_int WARMUP "$WARMUP" 20000 100000000 || exit 2
keys=()
[[ "$KEYSPACE" == 0 ]] || keys=(-r "$KEYSPACE")
for test in $TESTS; do
  require_one_of TESTS "$test" set get ping_mbulk ping_inline incr || exit 2
done
for tool in redis-server redis-benchmark redis-cli; do
  command -v "$tool" >/dev/null || { echo "bench-resp.sh: $tool is missing (apt-get install -y redis-server redis-tools)" >&2; exit 1; }
done
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR"
[[ "${GRANARY_NO_BUILD:-0}" == 1 ]] || dotnet build "$repo/src/Silo" -c Release -v q -nologo >/dev/null
silo="$repo/src/Silo/bin/Release/net10.0/granary-silo"
granary="$repo/src/Client/bin/Release/net10.0/granary"
# Silos read .local/cluster.json from their working directory: run them from the run directory, so that
# a cluster started by scripts/cluster.sh in the repository is not joined.
cd "$RUN_DIR"

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$RUN_DIR/redis.log" 2>&1 &
redis_pid=$!
resp_port=$(free_port)
silo_port=$(free_port)
gateway_port=$(free_port)
make_cluster_secret "$RUN_DIR/cluster-secret"
Granary__Security__ClusterSecretFile="$RUN_DIR/cluster-secret" \
  Granary__Cluster__SiloPort="$silo_port" Granary__Cluster__PrimarySiloPort="$silo_port" Granary__Cluster__GatewayPort="$gateway_port" \
  Granary__Resp__Port="$resp_port" Logging__LogLevel__Default=Warning \
  "$silo" >"$RUN_DIR/silo.log" 2>&1 &
silo_pid=$!
cluster_pids=()
cleanup() {
  kill "$silo_pid" "$redis_pid" "${cluster_pids[@]}" 2>/dev/null || true
  wait "$silo_pid" "$redis_pid" "${cluster_pids[@]}" 2>/dev/null || true
}
trap cleanup EXIT
_pong() { [[ "$(redis-cli -p "$1" PING 2>/dev/null)" == PONG ]]; }
wait_for "redis-server on $redis_port" 30 _pong "$redis_port"
wait_for "the silo's RESP endpoint on $resp_port" 120 _pong "$resp_port" || { tail -n 20 "$RUN_DIR/silo.log" >&2; exit 1; }
# The cache's definition and shards are made by the first commands: not measured.
# Then both servers run every test before the first round (the silo's code reaches its final JIT tier
# only after seconds of load: a window of a fraction of a second would measure the compiler).
for port in "$redis_port" "$resp_port"; do
  redis-benchmark -p "$port" "${keys[@]}" -t set,get -n "$WARMUP" -c "$CLIENTS" -P 16 -q >/dev/null
done
# The runs count only if both servers do the work asked: the benchmark's key then holds the 3-byte value
# its SETs write (a server that answered them with errors would look fast).
for port in "$redis_port" "$resp_port"; do
  redis-benchmark -p "$port" -t set -n 1000 -c 1 -q >/dev/null
done
for port in "$redis_port" "$resp_port"; do
  value=$(redis-cli -p "$port" GET key:__rand_int__ | tr -d '\r')
  [[ ${#value} == 3 ]] || { echo "bench-resp.sh: the server on $port did not store redis-benchmark's SET (GET answered '$value')" >&2; exit 1; }
done

cpu_ticks() { local pid total=0; for pid in "$@"; do total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat"))); done; echo "$total"; }
ticks_per_second=$(getconf CLK_TCK)
results="$RUN_DIR/results.csv"
: >"$results"

# measure <round> <name> <pids> <redis-benchmark endpoint options...>: one line per test and pipeline.
measure() {
  local round=$1 server=$2 pids=$3 pipeline test before after line rps p50 cpu requests
  shift 3
  for pipeline in 1 16; do
    for test in $TESTS; do
      # shellcheck disable=SC2086
      before=$(cpu_ticks $pids)
      requests=$((REQUESTS * pipeline))
      line=$(redis-benchmark "$@" "${keys[@]}" -t "$test" -n "$requests" -c "$CLIENTS" -P "$pipeline" --csv | tail -n 1)
      # shellcheck disable=SC2086
      after=$(cpu_ticks $pids)
      rps=$(echo "$line" | cut -d, -f2 | tr -d '"')
      p50=$(echo "$line" | cut -d, -f5 | tr -d '"')
      cpu=$(awk -v t=$((after - before)) -v hz="$ticks_per_second" -v n="$requests" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
      printf '%-8s %-5s %-4s %-4s %12s %10s %14s\n' "$server" "$round" "$pipeline" "$test" "$rps" "$p50" "$cpu"
      echo "$round,$server,$pipeline,$test,$rps,$cpu" >>"$results"
    done
  done
}

# summary <name>: medians of <name> against redis-server's over the rounds.
summary() {
  local name=$1 pipeline test r g rc gc
  echo "medians over $ROUNDS round(s) ($name/redis ratio of requests/s):"
  for pipeline in 1 16; do
    for test in $TESTS; do
      median() { grep ",$1,$pipeline,$test," "$results" | cut -d, -f"$2" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
      r=$(median redis 5)
      g=$(median "$name" 5)
      rc=$(median redis 6)
      gc=$(median "$name" 6)
      awk -v p="$pipeline" -v t="$test" -v n="$name" -v r="$r" -v g="$g" -v rc="$rc" -v gc="$gc" \
        'BEGIN { printf "  -P %-2s %-3s redis %10.0f/s (%s us/req)  %s %10.0f/s (%s us/req)  ratio %.2fx\n", p, t, r, rc, n, g, gc, g / r }'
    done
  done
}

echo "requests per test: $REQUESTS at -P 1, $((REQUESTS * 16)) at -P 16; $CLIENTS connections; keys: $([[ "$KEYSPACE" == 0 ]] && echo "redis-benchmark's one key" || echo "$KEYSPACE random (-r)"); warm-up $WARMUP requests of set and get at -P 16"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
printf '%-8s %-5s %-4s %-4s %12s %10s %14s\n' server round P test requests/s p50-ms cpu-us/request
for round in $(seq 1 "$ROUNDS"); do
  measure "$round" redis "$redis_pid" -p "$redis_port"
  measure "$round" granary "$silo_pid" -p "$resp_port"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
summary granary
[[ "$CLUSTER_SILOS" -gt 0 ]] || exit 0

# The three-silo phase: the one-silo cluster goes first, so that it does not run beside it.
kill "$silo_pid" && wait "$silo_pid" 2>/dev/null || true
echo
primary=$(free_port)
cluster_resp=()
for i in $(seq 1 "$CLUSTER_SILOS"); do
  if [[ $i == 1 ]]; then port=$primary; else port=$(free_port); fi
  cluster_resp+=("$(free_port)")
  gateway=$(free_port)
  [[ $i == 1 ]] && first_gateway=$gateway
  Granary__Security__ClusterSecretFile="$RUN_DIR/cluster-secret" Orleans__ClusterId=bench-resp-cluster \
    Granary__Cluster__SiloPort="$port" Granary__Cluster__PrimarySiloPort="$primary" Granary__Cluster__GatewayPort="$gateway" \
    Granary__Resp__Port="${cluster_resp[-1]}" Granary__Resp__ClusterMode=true Logging__LogLevel__Default=Warning \
    "$silo" >"$RUN_DIR/cluster-silo-$i.log" 2>&1 &
  cluster_pids+=($!)
done
_slots_covered() { [[ "$(redis-cli -p "$1" CLUSTER INFO 2>/dev/null | tr -d '\r' | grep '^cluster_known_nodes:')" == "cluster_known_nodes:$CLUSTER_SILOS" ]]; }
for port in "${cluster_resp[@]}"; do
  wait_for "the cluster silo's RESP endpoint on $port" 120 _pong "$port" || { tail -n 20 "$RUN_DIR"/cluster-silo-*.log >&2; exit 1; }
done
wait_for "$CLUSTER_SILOS silos known to the RESP cluster" 120 _slots_covered "${cluster_resp[0]}" || { redis-cli -p "${cluster_resp[0]}" CLUSTER INFO >&2; exit 1; }
# The shards are activated by a client outside the silos (the console); the cache's placement spreads
# them over the silos whoever calls first, and each silo then serves the hash slots of the shards it hosts.
Orleans__ClusterId=bench-resp-cluster Granary__Cluster__GatewayPort="$first_gateway" "$granary" cache stats >"$RUN_DIR/cache-stats.txt"
_slot_owners() { [[ "$(redis-cli -p "${cluster_resp[0]}" CLUSTER SLOTS 2>/dev/null | grep -E '^[0-9a-f]{40}$' | sort -u | wc -l)" -ge 2 ]]; }
wait_for "the cache's slots served by more than one silo" 30 _slot_owners || { redis-cli -p "${cluster_resp[0]}" CLUSTER NODES >&2; exit 1; }
redis-cli -p "${cluster_resp[0]}" CLUSTER NODES | awk '{ n = 0; for (i = 9; i <= NF; i++) { split($i, r, "-"); n += (r[2] == "" ? 1 : r[2] - r[1] + 1) } print "  node " $2 ": " n " slots" }'
redis-benchmark --cluster -p "${cluster_resp[0]}" "${keys[@]}" -t set,get -n "$WARMUP" -c "$CLIENTS" -P 16 -q >/dev/null
results="$RUN_DIR/results-cluster.csv"
: >"$results"
echo "three-silo phase ($CLUSTER_SILOS silos, RESP cluster mode, redis-benchmark --cluster); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-5s %-4s %-4s %12s %10s %14s\n' server round P test requests/s p50-ms cpu-us/request
for round in $(seq 1 "$ROUNDS"); do
  measure "$round" redis "$redis_pid" -p "$redis_port"
  measure "$round" granary3 "${cluster_pids[*]}" --cluster -p "${cluster_resp[0]}"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
summary granary3
