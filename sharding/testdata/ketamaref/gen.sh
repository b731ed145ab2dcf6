#!/bin/sh
# Regenerates ../ketama_*.txt from libmemcached (Debian: apt-get install gcc libmemcached-dev).
set -eu
cd "$(dirname "$0")"
bin=$(mktemp)
trap 'rm -f "$bin"' EXIT
gcc -O2 -Wall -o "$bin" ketamaref.c -lmemcached
for s in equal3 ports weights zeroweight single many100 many97w; do
	"$bin" "$s" >"../ketama_$s.txt"
done
