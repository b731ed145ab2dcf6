#!/usr/bin/env bash
# Installs the Debian packages the tests need when they are missing:
# memcached (the reference server) and libmemcached-tools (memccapable,
# memcaslap). Needs root, or sudo.
set -euo pipefail
missing=()
command -v memcached >/dev/null 2>&1 || missing+=(memcached)
command -v memccapable >/dev/null 2>&1 || missing+=(libmemcached-tools)
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "deps: need root to install ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null
# The package may start a memcached service on 127.0.0.1:11211; the tests
# start their own servers and gomemcache's conformance suite needs that port.
if [[ " ${missing[*]} " == *" memcached "* ]]; then
  $sudo systemctl stop memcached >/dev/null 2>&1 || $sudo service memcached stop >/dev/null 2>&1 || true
fi
