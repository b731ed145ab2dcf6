#!/usr/bin/env bash
# Installs the Debian packages the tests need when they are missing:
# memcached (the reference server), libmemcached-tools (memccapable,
# memcaslap) and prometheus (promtool and the server the dashboard's
# queries are checked against). Needs root, or sudo.
set -euo pipefail
missing=()
command -v memcached >/dev/null 2>&1 || missing+=(memcached)
command -v memccapable >/dev/null 2>&1 || missing+=(libmemcached-tools)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "deps: need root to install ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Debian starts a package's service on install (memcached on 127.0.0.1:11211,
# prometheus on :9090).
# The tests start their own servers, so while installing, a policy-rc.d
# (Debian's documented switch) tells the packages not to start anything:
# nothing is started, and no service the machine already runs is stopped.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  trap '$sudo rm -f "$policy"' EXIT
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null
