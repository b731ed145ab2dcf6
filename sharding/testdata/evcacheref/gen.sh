#!/bin/sh
# Regenerates ../evcache_*.txt (needs a JDK >= 11: java runs the single source file).
# EVCacheRef.java is our own reimplementation of EVCache's ketama node locator, not EVCache's
# code, so these vectors are not EVCache's output (see its header comment).
set -eu
cd "$(dirname "$0")"
java EVCacheRef.java 3 160 3000 >../evcache_3.txt
java EVCacheRef.java 2000 160 5000 >../evcache_2000.txt
java EVCacheRef.java 40 100 3000 >../evcache_40_b100.txt
