#!/bin/sh
# Regenerates ../evcache_*.txt (needs a JDK >= 11: java runs the single source file).
set -eu
cd "$(dirname "$0")"
java EVCacheRef.java 3 160 3000 >../evcache_3.txt
java EVCacheRef.java 2000 160 5000 >../evcache_2000.txt
java EVCacheRef.java 40 100 3000 >../evcache_40_b100.txt
