#!/usr/bin/env bash
# Granary's Memcached endpoint vs memcached -t 2, side by side with the same tool in one run:
# memcaslap (libmemcached-tools' memaslap: closed loop, 90% get / 10% set, 100-byte values) against
# one silo's Memcached port and against a memcached with two worker threads, ROUNDS times
# alternating, with the CPU microseconds per operation of each server process (utime+stime from
# /proc, sampled around each run; the kernel column is the share of it spent in the kernel) and the load
# average before and after.
#
#   scripts/bench-memcached.sh                     # 3 rounds, 200000 operations per run, 50 connections
#   ROUNDS=1 OPS=50000 scripts/bench-memcached.sh
#   WARMUP=200000 ...                             # operations against each server before the first round
#   GRANARY_NO_BUILD=1 ...                        # use the silo already built
#
# Both servers run on 127.0.0.1 and are stopped at the end. The silo is a one-silo embedded-style
# cluster (localhost clustering, memory storage, the default cache).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/scripts/lib/servers.sh"
RUN_DIR=${RUN_DIR:-/tmp/granary-bench-memcached}
ROUNDS=${ROUNDS:-3}
OPS=${OPS:-200000}
CLIENTS=${CLIENTS:-50}
WARMUP=${WARMUP:-200000}
require_int ROUNDS "$ROUNDS" 1 20 || exit 2
require_int OPS "$OPS" 1000 100000000 || exit 2
require_int CLIENTS "$CLIENTS" 2 10000 || exit 2
require_int WARMUP "$WARMUP" 1000 100000000 || exit 2
for tool in memcached memcaslap; do
  command -v "$tool" >/dev/null || { echo "bench-memcached.sh: $tool is missing (apt-get install -y memcached libmemcached-tools)" >&2; exit 1; }
done
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR"
[[ "${GRANARY_NO_BUILD:-0}" == 1 ]] || dotnet build "$repo/src/Silo" -c Release -v q -nologo >/dev/null
silo="$repo/src/Silo/bin/Release/net10.0/granary-silo"

mc_port=$(free_port)
user_args=()
[[ $(id -u) -eq 0 ]] && user_args=(-u root)
memcached -p "$mc_port" -U 0 -l 127.0.0.1 -t 2 -m 1024 "${user_args[@]}" >"$RUN_DIR/memcached.log" 2>&1 &
mc_pid=$!
granary_port=$(free_port)
silo_port=$(free_port)
gateway_port=$(free_port)
make_cluster_secret "$RUN_DIR/cluster-secret"
# Silos read .local/cluster.json from their working directory: run them from the run directory, so that
# a cluster started by scripts/cluster.sh in the repository is not joined.
cd "$RUN_DIR"
Granary__Security__ClusterSecretFile="$RUN_DIR/cluster-secret" \
  Granary__Cluster__SiloPort="$silo_port" Granary__Cluster__PrimarySiloPort="$silo_port" Granary__Cluster__GatewayPort="$gateway_port" \
  Granary__Memcached__Port="$granary_port" Logging__LogLevel__Default=Warning \
  "$silo" >"$RUN_DIR/silo.log" 2>&1 &
silo_pid=$!
cleanup() {
  kill "$silo_pid" "$mc_pid" 2>/dev/null || true
  wait "$silo_pid" "$mc_pid" 2>/dev/null || true
}
trap cleanup EXIT
_version() { [[ "$(exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'version\r\n' >&3 && timeout 2 head -c 8 <&3)" == "VERSION " ]]; }
wait_for "memcached on $mc_port" 30 _version "$mc_port"
wait_for "the silo's Memcached endpoint on $granary_port" 120 _version "$granary_port" || { tail -n 20 "$RUN_DIR/silo.log" >&2; exit 1; }
# The cache's definition and shards are made by the first commands, and the silo's code reaches its final
# JIT tier only after seconds of load: both servers run the workload before the first round, not measured.
for port in "$mc_port" "$granary_port"; do
  memcaslap -s "127.0.0.1:$port" -T 2 -c "$CLIENTS" -x "$WARMUP" -X 100 >/dev/null
done

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
sys_ticks() { awk '{ print $15 }' "/proc/$1/stat"; }
# A server's `stats` reply, read once; stat_of <reply> <name>: one counter of it (0 when it has no such counter).
stats_of() { exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'stats\r\nquit\r\n' >&3 && timeout 5 cat <&3; }
stat_of() { awk -v name="$2" '$1 == "STAT" && $2 == name { gsub("\r", "", $3); v = $3 } END { print v + 0 }' <<<"$1"; }
# delta <name>: how much a counter grew from $stats_before to $stats_after.
delta() { echo $(($(stat_of "$stats_after" "$1") - $(stat_of "$stats_before" "$1"))); }
ticks_per_second=$(getconf CLK_TCK)
echo "operations per run: $OPS; $CLIENTS connections; warm-up $WARMUP operations against each server"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
printf '%-10s %12s %14s %8s %16s %10s\n' server ops/s cpu-us/op kernel commands/call direct
results="$RUN_DIR/results.csv"
: >"$results"
for round in $(seq 1 "$ROUNDS"); do
  for server in memcached granary; do
    if [[ $server == memcached ]]; then port=$mc_port pid=$mc_pid; else port=$granary_port pid=$silo_pid; fi
    stats_before=$(stats_of "$port")
    before=$(cpu_ticks "$pid") sys_before=$(sys_ticks "$pid")
    memcaslap -s "127.0.0.1:$port" -T 2 -c "$CLIENTS" -x "$OPS" -X 100 >"$RUN_DIR/$server-$round.log" 2>&1
    after=$(cpu_ticks "$pid") sys_after=$(sys_ticks "$pid")
    ops=$(awk '/^Run time:/ { for (i = 1; i <= NF; i++) if ($i == "Ops:") print $(i + 1); }' "$RUN_DIR/$server-$round.log" | tail -n 1)
    tps=$(awk '/^Run time:/ { for (i = 1; i <= NF; i++) if ($i == "TPS:") print $(i + 1); }' "$RUN_DIR/$server-$round.log" | tail -n 1)
    [[ -n "$tps" && -n "$ops" ]] || { echo "bench-memcached.sh: memcaslap printed no result:" >&2; cat "$RUN_DIR/$server-$round.log" >&2; exit 1; }
    # The run counts only if the server did the work asked: every operation a get or a stored set, every get a hit
    # (memcaslap reads only keys it has set). A server that answered errors instead would look fast.
    stats_after=$(stats_of "$port")
    gets=$(delta cmd_get) sets=$(delta cmd_set) misses=$(delta get_misses)
    calls=$(delta granary_shard_calls) carried=$(delta granary_shard_commands) local=$(delta granary_local_commands)
    if ((gets + sets != ops || misses != 0 || gets < ops * 8 / 10)); then
      echo "bench-memcached.sh: $server did not serve the workload: $ops operations, $gets gets ($misses misses), $sets sets" >&2
      exit 1
    fi
    if [[ $server == granary ]] && ((carried + local < ops)); then
      echo "bench-memcached.sh: granary's shards ran $((carried + local)) commands for $ops operations: some were answered without the cache" >&2
      exit 1
    fi
    cpu=$(awk -v t=$((after - before)) -v hz="$ticks_per_second" -v n="$ops" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
    per_call="" direct=""
    ((calls > 0)) && per_call=$(awk -v c="$calls" -v n="$carried" 'BEGIN { printf "%.1f", n / c }')
    [[ $server == granary ]] && direct=$(awk -v l="$local" -v n="$((carried + local))" 'BEGIN { printf "%.0f%%", 100 * l / n }')
    kernel=$(awk -v s=$((sys_after - sys_before)) -v t=$((after - before)) 'BEGIN { if (t > 0) printf "%.0f%%", 100 * s / t }')
    printf '%-10s %12s %14s %8s %16s %10s\n' "$server" "$tps" "$cpu" "$kernel" "$per_call" "$direct"
    echo "$round,$server,$tps,$cpu" >>"$results"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
median() { grep ",$1," "$results" | cut -d, -f"$2" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
awk -v m="$(median memcached 3)" -v g="$(median granary 3)" -v mc="$(median memcached 4)" -v gc="$(median granary 4)" -v r="$ROUNDS" \
  'BEGIN { printf "medians over %d round(s): memcached %.0f ops/s (%s us/op)  granary %.0f ops/s (%s us/op)  ratio %.2fx\n", r, m, mc, g, gc, g / m }'
