#!/usr/bin/env bash
# Runs the whole test suite: unit tests, TestCluster tests, and integration tests against real
# Redis and PostgreSQL. The tests start their own private servers on free loopback ports and
# stop them afterwards; this script only makes sure the programs are installed (redis-server
# from Debian packages when missing) and builds the solution once in Release.
#
#   scripts/test.sh                 everything
#   scripts/test.sh --filter EXPR   passed through to dotnet test (e.g. --filter "FullyQualifiedName~Locks")
#
# A whole run (no arguments) also checks that the code is formatted as .editorconfig says
# (dotnet format --verify-no-changes; run "dotnet format Orleans.sln" to fix), counted as one
# failed check when it is not.
#
# Ends with one line: "N passed, N failed, N skipped".
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "test.sh: need root to run: $*" >&2
    return 1
  fi
}

apt_updated=0
apt_install() {
  if ((apt_updated == 0)); then
    as_root apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

if ! command -v redis-server >/dev/null 2>&1 && [[ ! -x /usr/bin/redis-server ]]; then
  echo "test.sh: installing redis-server (Debian package)..."
  apt_install redis-server
fi
# The bench's etcd lock peer is tested against a private etcd (Debian's etcd-server gives /usr/bin/etcd).
if ! command -v etcd >/dev/null 2>&1 && [[ ! -x /usr/bin/etcd ]]; then
  echo "test.sh: installing etcd-server (Debian package)..."
  apt_install etcd-server
fi
# The Memcached endpoint's tests compare with a real memcached and run pymemcache (Debian's python3).
if ! command -v memcached >/dev/null 2>&1 && [[ ! -x /usr/bin/memcached ]]; then
  echo "test.sh: installing memcached (Debian package)..."
  apt_install memcached
fi
if ! command -v memccapable >/dev/null 2>&1 && ! command -v memcapable >/dev/null 2>&1; then
  echo "test.sh: installing libmemcached-tools (Debian package)..."
  apt_install libmemcached-tools
fi
if ! /usr/bin/python3 -c 'import pymemcache' >/dev/null 2>&1; then
  echo "test.sh: installing python3-pymemcache (Debian package)..."
  apt_install python3 python3-pymemcache
fi
if ! command -v initdb >/dev/null 2>&1 && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  echo "test.sh: installing PostgreSQL (Debian package)..."
  apt_install postgresql
fi
if ! command -v initdb >/dev/null 2>&1; then
  pgbin=$(compgen -G "/usr/lib/postgresql/*/bin" | sort -V | tail -n 1 || true)
  [[ -n "$pgbin" ]] && export PATH="$PATH:$pgbin"
fi

results="$root/artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"

if ! dotnet build Orleans.sln -c Release -nologo -v quiet; then
  echo "test.sh: the build failed" >&2
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi
status=0
format_failed=0
if (($# == 0)); then
  if ! dotnet format Orleans.sln --verify-no-changes --no-restore -v quiet; then
    echo "test.sh: the code is not formatted as .editorconfig says: run 'dotnet format Orleans.sln'" >&2
    format_failed=1
    status=1
  fi
fi
dotnet test Orleans.sln -c Release --no-build --nologo \
  --logger "console;verbosity=detailed" --logger "trx" --results-directory "$results" "$@" || status=$?

# Prints each failed test of a TRX file with the first lines of its message.
dotnet_trx_failures() {
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$1" <<'PY' || true
import sys
import xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
for result in ET.parse(sys.argv[1]).getroot().iterfind(".//t:UnitTestResult", ns):
    if result.get("outcome") in ("Passed", "NotExecuted"):
        continue
    print(f"FAILED {result.get('testName')} ({result.get('outcome')}, {result.get('duration')})")
    message = result.find("t:Output/t:ErrorInfo/t:Message", ns)
    for line in (message.text or "").splitlines()[:12] if message is not None else []:
        print(f"    {line}")
PY
  else
    grep -o 'testName="[^"]*"[^>]*outcome="Failed"' "$1" | sed 's/testName="\([^"]*\)".*/FAILED \1/' || true
  fi
}

# Totals over every test project's TRX file.
passed=0 failed=0 skipped=0
for trx in "$results"/*.trx; do
  [[ -f "$trx" ]] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  get() { sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" <<<"$counters"; }
  passed=$((passed + $(get passed)))
  failed=$((failed + $(get failed) + $(get error) + $(get timeout) + $(get aborted)))
  skipped=$((skipped + $(get notExecuted)))
done
failed=$((failed + format_failed))
if ((failed > 0)); then
  # The failed tests again, last, so that a log cut to its end still names them.
  for trx in "$results"/*.trx; do
    [[ -f "$trx" ]] || continue
    dotnet_trx_failures "$trx"
  done
fi
if ((status != 0 && failed == 0)); then
  # dotnet test failed without a failed test (a crash, a build error): count it.
  failed=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
