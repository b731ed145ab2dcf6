#!/usr/bin/env bash
# Conformance of zonecached with independent memcached clients:
#  1. libmemcached's memccapable -a (every ASCII protocol check);
#  2. gomemcache's own TestLocalhost, which only talks to localhost:11211.
# Usage: scripts/conformance.sh path/to/zonecached
set -euo pipefail
bin=${1:?usage: conformance.sh path/to/zonecached}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
  || echo $((20000 + RANDOM % 20000)); }
wait_port() { for _ in $(seq 1 150); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

port=$(free_port)
"$bin" -l 127.0.0.1 -p "$port" --admin-addr "" & pids+=($!)
wait_port "$port" || { echo "conformance: zonecached did not start on $port" >&2; exit 1; }
echo "== memccapable -a against zonecached on 127.0.0.1:$port"
memccapable -a -h 127.0.0.1 -p "$port"

echo "== gomemcache TestLocalhost against zonecached on localhost:11211"
# gomemcache's suite only talks to localhost:11211. When something of the
# machine's own listens there (a developer's memcached), the suite runs in
# a network namespace of its own, so that service is left alone.
gomemcache_suite() {
  "$@" "$bin" -l 127.0.0.1 -p 11211 --admin-addr "" & pids+=($!)
  for _ in $(seq 1 150); do "$@" bash -c '(exec 3<>/dev/tcp/127.0.0.1/11211) 2>/dev/null' && break; sleep 0.1; done
  out=$("$@" go test -count=1 -v -run '^TestLocalhost$' github.com/bradfitz/gomemcache/memcache 2>&1) || { echo "$out"; exit 1; }
}
if (exec 3<>/dev/tcp/127.0.0.1/11211) 2>/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null 2>&1; then
    echo "conformance: something listens on localhost:11211 and gomemcache's suite only talks to that port; run as root (the suite then runs in a network namespace) or free the port" >&2
    exit 1
  fi
  ns="zc-conf-$$"
  ip netns add "$ns"
  trap 'cleanup; ip netns del "$ns" 2>/dev/null || true' EXIT
  ip netns exec "$ns" ip link set lo up
  echo "conformance: localhost:11211 is taken; running the suite in network namespace $ns"
  gomemcache_suite ip netns exec "$ns"
else
  gomemcache_suite
fi
echo "$out" | tail -n 5
echo "$out" | grep -q -- '--- PASS: TestLocalhost' || { echo "conformance: TestLocalhost did not pass (skipped?)" >&2; exit 1; }
echo "conformance: memccapable and gomemcache TestLocalhost passed"
