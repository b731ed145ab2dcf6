#!/bin/sh
# Regenerates ../ketama_*.txt from libmemcached. Needs gcc and libmemcached-dev (Debian 12:
# apt-get install gcc libmemcached-dev, libmemcached 1.1.4); the vectors name the version used.
set -eu
cd "$(dirname "$0")"
bin=$(mktemp)
trap 'rm -f "$bin"' EXIT
gcc -O2 -Wall -o "$bin" ketamaref.c -lmemcached
for s in equal3 ports weights zeroweight single many100 many97w ipv6 ipv6brackets override; do
	"$bin" "$s" >"../ketama_$s.txt"
done
