#!/usr/bin/env bash
# Installs what a fresh Debian machine with Node 20 lacks for hapilot: HAProxy, iptables, iproute2
# (ip, nstat), curl, procps, util-linux (unshare) from Debian's packages as root, the npm packages,
# the build, and Consul (scripts/consul.sh, from its Go module; needs Go). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v pgrep >/dev/null 2>&1 || need+=(procps)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${need[*]} from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "setup: missing ${need[*]}: run this as root, or install them (apt-get install ${need[*]})" >&2
    exit 1
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build --silent

# HashiCorp Consul, built from its Go module and cached by version (scripts/consul.sh): the demo and
# the real-Consul tests run against it. Without Go this says what is missing and carries on: the
# real-Consul tests then fail with the same message (they are never skipped).
if ! scripts/consul.sh >/dev/null; then
  echo "setup: Consul is not built (see the line above): the demo and test/consul-real/ need it" >&2
fi
