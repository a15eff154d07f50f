#!/usr/bin/env bash
# What the decision sweep costs per deleted transaction record. Starts a one-silo cluster
# (scripts/cluster.sh up 1) whose decision retention is the shortest allowed (10 minutes) and whose
# sweep runs every INTERVAL, makes transfers with `granary bench tx` for DURATION seconds, then samples
# the CPU time of the silo and of PostgreSQL (its live processes plus the children it has reaped:
# the sweep's connections are not pooled) every 5 s until the sweep has deleted every decision record
# the run left, or until the deadline. It prints the deleting passes and the CPU above the idle rate
# measured before the first of them, divided by the records deleted.
#
#   scripts/bench-decision-sweep.sh                          # 90 s of transfers, sweep every 30 s
#   DURATION=30 INTERVAL=00:00:20 scripts/bench-decision-sweep.sh
#
# Takes up to 25 minutes (the records must age 10 minutes, and the passes of half a retention,
# 5 minutes here, read the whole table). GRANARY_NO_BUILD=1 skips the builds.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/scripts/lib/servers.sh"
DURATION=${DURATION:-90}
INTERVAL=${INTERVAL:-00:00:30}
require_int DURATION "$DURATION" 10 3600 || exit 2
out=$(mktemp -d /tmp/granary-decision-sweep.XXXXXX)
cd "$repo"
if [[ -z "${GRANARY_NO_BUILD:-}" ]]; then
  dotnet build src/Silo -c Release -v q -nologo >/dev/null
  dotnet build bench/Granary.Bench -c Release -v q -nologo >/dev/null
fi
export GRANARY_NO_BUILD=1
export Granary__Transactions__DecisionRetention=00:10:00 Granary__Transactions__DecisionSweepInterval="$INTERVAL"
granary=src/Client/bin/Release/net10.0/granary
scripts/cluster.sh up 1 >"$out/up.log"
trap 'scripts/cluster.sh down >/dev/null 2>&1 || true' EXIT
log=.local/cluster/silo-0.log

"$granary" bench tx --warmup 5 --duration "$DURATION" --rounds 1 | tee "$out/bench.txt"
records=$("$granary" shards status | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^tx-coordinator=/) { split($i, kv, "="); n += kv[2] } } END { print n + 0 }')
echo "decision records left by the run: $records (they are swept once 10 minutes old)"
(( records > 0 )) || { echo "bench-decision-sweep: the run left no decision record" >&2; exit 1; }

silo=$(cat .local/cluster/silo-0.pid)
postmaster=$(head -n 1 .local/cluster/pg/data/postmaster.pid)
# jiffies <pid>...: user + system time of the processes.
jiffies() {
  local total=0 pid
  for pid in "$@"; do
    if [[ -r /proc/$pid/stat ]]; then total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat"))); fi
  done
  echo "$total"
}
# postgres_jiffies: the postmaster, its live children and the children it has reaped.
postgres_jiffies() {
  echo $(( $(jiffies "$postmaster" $(pgrep -P "$postmaster")) + $(awk '{ print $16 + $17 }' "/proc/$postmaster/stat") ))
}
# deleted: the records the sweep's log lines report deleted so far (none yet: no line).
deleted() { { grep -h "Decision sweep of" "$log" || true; } | sed -n 's/.*, \([0-9]*\) deleted,.*/\1/p' | awk '{ n += $1 } END { print n + 0 }'; }

deadline=$(( $(date +%s) + 1260 ))
: >"$out/cpu.txt"
while :; do
  now=$(date +%s)
  echo "$now $(jiffies "$silo") $(postgres_jiffies) $(deleted)" >>"$out/cpu.txt"
  done_count=$(deleted)
  if (( done_count >= records )); then
    # Two more samples after the last deleting pass, for the vacuum that follows it.
    sleep 30
    echo "$(date +%s) $(jiffies "$silo") $(postgres_jiffies) $(deleted)" >>"$out/cpu.txt"
    break
  fi
  (( now < deadline )) || { echo "bench-decision-sweep: only $done_count of $records records deleted by the deadline" >&2; exit 1; }
  sleep 5
done

echo "deleting passes:"
grep -h "Decision sweep of" "$log" | sed -n 's/.*Decision sweep of \(shard-[0-9]*\): \([0-9]*\) record(s).*, \([0-9]*\) deleted, \([0-9]*\) kept.* in \([0-9]*\) ms/  \1: \2 found, \3 deleted, \4 kept, \5 ms/p'
hz=$(getconf CLK_TCK)
# Idle rate: the samples before the first one that saw a deletion; then the CPU above that rate from the
# last idle sample to the end, per record deleted.
awk -v hz="$hz" -v records="$records" '
  { t[NR] = $1; s[NR] = $2; p[NR] = $3; d[NR] = $4 }
  END {
    for (i = 1; i <= NR && d[i] == 0; i++) last_idle = i
    if (last_idle < 2 || last_idle == NR) { print "bench-decision-sweep: not enough idle samples before the sweep" > "/dev/stderr"; exit 1 }
    idle_s = (s[last_idle] - s[1]) / (t[last_idle] - t[1]); idle_p = (p[last_idle] - p[1]) / (t[last_idle] - t[1])
    span = t[NR] - t[last_idle]
    silo = (s[NR] - s[last_idle] - idle_s * span) / hz; pg = (p[NR] - p[last_idle] - idle_p * span) / hz
    printf "idle rate before the sweep: silo %.1f ms/s, PostgreSQL %.1f ms/s (%d s)\n", idle_s * 1000 / hz, idle_p * 1000 / hz, t[last_idle] - t[1]
    printf "CPU above it over %d s: silo %.2f s, PostgreSQL %.2f s for %d records: %.1f + %.1f = %.1f us per record\n", span, silo, pg, records, silo * 1e6 / records, pg * 1e6 / records, (silo + pg) * 1e6 / records
  }' "$out/cpu.txt"
echo "samples: $out/cpu.txt"
