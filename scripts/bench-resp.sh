#!/usr/bin/env bash
# Granary's RESP endpoint vs redis-server, side by side with the same tool in one run:
# redis-benchmark -t get,set -c 50 at -P 1 and -P 16 against one silo's RESP port and against a
# redis-server, ROUNDS times alternating, with the CPU microseconds per request of each server
# process (utime+stime from /proc, sampled around each run) and the load average before and after.
#
#   scripts/bench-resp.sh                        # 3 rounds, 200000 requests per test
#   ROUNDS=1 REQUESTS=50000 scripts/bench-resp.sh
#   GRANARY_NO_BUILD=1 ...                     # use the silo already built
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
require_int ROUNDS "$ROUNDS" 1 20 || exit 2
require_int REQUESTS "$REQUESTS" 1000 100000000 || exit 2
require_int CLIENTS "$CLIENTS" 1 10000 || exit 2
for tool in redis-server redis-benchmark redis-cli; do
  command -v "$tool" >/dev/null || { echo "bench-resp.sh: $tool is missing (apt-get install -y redis-server redis-tools)" >&2; exit 1; }
done
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR"
[[ "${GRANARY_NO_BUILD:-0}" == 1 ]] || dotnet build "$repo/src/Silo" -c Release -v q -nologo >/dev/null
silo="$repo/src/Silo/bin/Release/net10.0/granary-silo"

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
cleanup() {
  kill "$silo_pid" "$redis_pid" 2>/dev/null || true
  wait "$silo_pid" "$redis_pid" 2>/dev/null || true
}
trap cleanup EXIT
_pong() { [[ "$(redis-cli -p "$1" PING 2>/dev/null)" == PONG ]]; }
wait_for "redis-server on $redis_port" 30 _pong "$redis_port"
wait_for "the silo's RESP endpoint on $resp_port" 120 _pong "$resp_port" || { tail -n 20 "$RUN_DIR/silo.log" >&2; exit 1; }
# The cache's definition and shards are made by the first commands: not measured.
redis-benchmark -p "$resp_port" -t set,get -n 20000 -c "$CLIENTS" -P 16 -q >/dev/null

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
ticks_per_second=$(getconf CLK_TCK)
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
printf '%-8s %-4s %-4s %12s %10s %14s\n' server P test requests/s p50-ms cpu-us/request
results="$RUN_DIR/results.csv"
: >"$results"
for round in $(seq 1 "$ROUNDS"); do
  for pipeline in 1 16; do
    for server in redis granary; do
      if [[ $server == redis ]]; then port=$redis_port pid=$redis_pid; else port=$resp_port pid=$silo_pid; fi
      for test in set get; do
        before=$(cpu_ticks "$pid")
        line=$(redis-benchmark -p "$port" -t "$test" -n "$REQUESTS" -c "$CLIENTS" -P "$pipeline" --csv | tail -n 1)
        after=$(cpu_ticks "$pid")
        rps=$(echo "$line" | cut -d, -f2 | tr -d '"')
        p50=$(echo "$line" | cut -d, -f5 | tr -d '"')
        cpu=$(awk -v t=$((after - before)) -v hz="$ticks_per_second" -v n="$REQUESTS" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
        printf '%-8s %-4s %-4s %12s %10s %14s\n' "$server" "$pipeline" "$test" "$rps" "$p50" "$cpu"
        echo "$round,$server,$pipeline,$test,$rps,$cpu" >>"$results"
      done
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "medians over $ROUNDS round(s) (granary/redis ratio of requests/s):"
for pipeline in 1 16; do
  for test in set get; do
    median() { grep ",$1,$pipeline,$test," "$results" | cut -d, -f"$2" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
    r=$(median redis 5)
    g=$(median granary 5)
    rc=$(median redis 6)
    gc=$(median granary 6)
    awk -v p="$pipeline" -v t="$test" -v r="$r" -v g="$g" -v rc="$rc" -v gc="$gc" \
      'BEGIN { printf "  -P %-2s %-3s redis %10.0f/s (%s us/req)  granary %10.0f/s (%s us/req)  ratio %.2fx\n", p, t, r, rc, g, gc, g / r }'
  done
done
