#!/usr/bin/env bash
# TLS on vs off, side by side on this machine: one Redis, one PostgreSQL, and two one-silo clusters
# running at once, "bench-plain" without TLS and "bench-tls" with mutual TLS (certificates made as
# `scripts/cluster.sh up --tls` makes them, into $RUN_DIR/tls). `granary bench cache --op get` and
# `granary bench lock` run against each in turn (plain, then TLS), ROUNDS times, with the same
# options; the script prints each run, then the medians and the median of the rounds' TLS/plain ratios,
# with the CPU microseconds per operation of the silo and of the client (the bench process), as
# `granary bench` reports them: read from /proc inside its measured window (no start-up, handshake
# or warm-up).
#
#   scripts/bench-tls.sh                              # 3 rounds of 3 s warm-up + 15 s
#   ROUNDS=1 WARMUP=1 DURATION=5 scripts/bench-tls.sh # short development run
#   WORKLOADS=lock scripts/bench-tls.sh               # one workload only
#
# Extra arguments go to every 'granary bench' call (e.g. --concurrency 128).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/scripts/lib/servers.sh"
source "$repo/scripts/lib/tls.sh"
RUN_DIR=${RUN_DIR:-/tmp/granary-bench-tls}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-3}
DURATION=${DURATION:-15}
# Which benches run, separated by commas (each is the words after 'granary bench').
IFS=, read -r -a WORKLOADS <<<"${WORKLOADS:-cache --op get,lock}"
require_int ROUNDS "$ROUNDS" 1 20 || exit 2
require_int WARMUP "$WARMUP" 0 600 || exit 2
require_int DURATION "$DURATION" 3 3600 || exit 2
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR"

dotnet build "$repo/src/Silo" -c Release -v q -nologo >/dev/null
# The bench tool (and with it the console, which forwards `granary bench` to it); built once here.
dotnet build "$repo/bench/Granary.Bench" -c Release -v q -nologo >/dev/null
export GRANARY_NO_BUILD=1
silo="$repo/src/Silo/bin/Release/net10.0/granary-silo"
granary="$repo/src/Client/bin/Release/net10.0/granary"
tls="$RUN_DIR/tls"
make_tls "$tls"

redis_port=$(free_port)
pg_port=$(free_port)
start_redis "$RUN_DIR/redis" "$redis_port"
start_postgres "$RUN_DIR/pg" "$pg_port"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  stop_postgres "$RUN_DIR/pg" || true
  stop_redis "$RUN_DIR/redis" || true
}
trap cleanup EXIT

# cluster_env <name>: the environment of cluster <name> (plain or tls), for its silo and its console.
cluster_env() {
  local name=$1 i
  echo "Orleans__ClusterId=bench-$name"
  echo "Granary__Cluster__Mode=Redis"
  echo "Granary__Cluster__RedisConnectionString=127.0.0.1:$redis_port"
  # The servers' generated passwords, read from their files (never on a command line).
  echo "Granary__Security__Servers__RedisPasswordFile=$RUN_DIR/redis/password"
  echo "Granary__Security__Servers__PostgresPasswordFile=$RUN_DIR/pg/password"
  echo "Granary__Storage__Mode=PostgresShards"
  # Both clusters share one PostgreSQL server (max_connections 300): 2 clusters x 3 shards x 40 fit in it
  # with room for the console. With more, the cluster measured second found the server full of the
  # first one's idle pooled connections ("too many clients") and waited for them.
  for i in 0 1 2; do
    echo "Granary__Storage__Shards__$i=Host=127.0.0.1;Port=$pg_port;Username=postgres;Database=granary_${name}_shard_$i;Maximum Pool Size=40"
  done
  if [[ "$name" == tls ]]; then
    echo "Granary__Security__Tls__Enabled=true"
    echo "Granary__Security__Tls__CertificateFile=$tls/client.pem"
    echo "Granary__Security__Tls__KeyFile=$tls/client.key"
    echo "Granary__Security__Tls__Silos__CaFile=$tls/ca.pem"
    echo "Granary__Security__Tls__Silos__Thumbprints__0=$(tls_thumbprint "$tls/silo.pem")"
    echo "Granary__Security__Tls__Clients__CaFile=$tls/ca.pem"
  fi
}

# in_cluster <name> <command...>: runs a command in cluster <name>'s environment.
in_cluster() {
  local name=$1 line
  shift
  local vars=()
  while IFS= read -r line; do vars+=("$line"); done < <(cluster_env "$name")
  env "${vars[@]}" "$@"
}

for name in plain tls; do
  vars=()
  while IFS= read -r line; do vars+=("$line"); done < <(cluster_env "$name")
  # The silo shows the silo certificate (later assignments win in env).
  [[ "$name" == tls ]] && vars+=(Granary__Security__Tls__CertificateFile="$tls/silo.pem" Granary__Security__Tls__KeyFile="$tls/silo.key")
  # The cluster secret goes to the silo only (the console is a client).
  make_cluster_secret "$RUN_DIR/cluster-secret-$name"
  vars+=(Granary__Security__ClusterSecretFile="$RUN_DIR/cluster-secret-$name")
  # Started from this shell so that $! is the silo itself (env execs it) and cleanup stops it.
  env "${vars[@]}" Granary__Cluster__SiloPort="$(free_port)" Granary__Cluster__GatewayPort="$(free_port)" \
    "$silo" >"$RUN_DIR/silo-$name.log" 2>&1 &
  pids+=($!)
  wait_for "silo of cluster bench-$name active" 120 in_cluster "$name" "$granary" cluster status
done

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
results="$RUN_DIR/results.jsonl"
for ((round = 1; round <= ROUNDS; round++)); do
  for workload in "${WORKLOADS[@]}"; do
    for name in plain tls; do
      # shellcheck disable=SC2086 # $workload is two words on purpose
      echo "+ round $round, $name: granary bench $workload --warmup $WARMUP --duration $DURATION $* (load average $(cut -d' ' -f1 /proc/loadavg))" >&2
      out="$RUN_DIR/run-$round-${workload// /_}-$name"
      vars=()
      while IFS= read -r line; do vars+=("$line"); done < <(cluster_env "$name")
      # The bench reports the CPU per operation of the client and the silo itself, from /proc over
      # its measured window (it finds the silo by the silo port it listens on).
      # shellcheck disable=SC2086
      env "${vars[@]}" "$granary" bench $workload --warmup "$WARMUP" --duration "$DURATION" --json "$@" >"$out.json"
      printf '{"round": %d, "workload": "%s", "tls": "%s", "result": %s}\n' "$round" "$workload" "$name" "$(tr -d '\n' <"$out.json")" >>"$results"
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
def run(workload, rnd, tls):
    row = next(x for x in rows if x["workload"] == workload and x["round"] == rnd and x["tls"] == tls)
    result = row["result"]["results"][0]
    # bench lock reports acquire+release pairs per second.
    result.setdefault("throughput", result.get("pairsPerSecond"))
    # CPU microseconds per operation in the measured window, as the bench measured them: the silos and the client.
    processes = (result.get("cpu") or {}).get("processes") or []
    result["siloUs"] = sum(p["microsPerOperation"] for p in processes if p["process"].startswith("silo:"))
    result["clientUs"] = sum(p["microsPerOperation"] for p in processes if p["process"] == "client")
    return result
def line(workload, rnd, p, t, ratio):
    return (f"{workload:<16} {rnd:>5} {p[0]:>12,.0f} {p[1]:>7.2f} {p[2]:>7.2f} {p[3]:>7.1f} {p[4]:>7.1f} "
            f"{t[0]:>12,.0f} {t[1]:>7.2f} {t[2]:>7.2f} {t[3]:>7.1f} {t[4]:>7.1f} {ratio:>9.3f}")
print(f"{'workload':<16} {'round':>5} {'plain ops/s':>12} {'p50 ms':>7} {'p99 ms':>7} {'silo us':>7} {'cli us':>7} {'tls ops/s':>12} {'p50 ms':>7} {'p99 ms':>7} {'silo us':>7} {'cli us':>7} {'tls/plain':>9}")
keys = ("throughput", "p50Ms", "p99Ms", "siloUs", "clientUs")
for workload in dict.fromkeys(x["workload"] for x in rows):
    plain, tls, ratios = [], [], []
    for rnd in sorted({x["round"] for x in rows}):
        p, t = run(workload, rnd, "plain"), run(workload, rnd, "tls")
        plain.append([p[k] for k in keys]); tls.append([t[k] for k in keys])
        ratios.append(t["throughput"] / p["throughput"])
        print(line(workload, str(rnd), plain[-1], tls[-1], ratios[-1]))
    median = lambda runs: [statistics.median(r[i] for r in runs) for i in range(len(keys))]
    print(line(workload, "med", median(plain), median(tls), statistics.median(ratios)))
PY