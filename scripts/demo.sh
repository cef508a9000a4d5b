#!/usr/bin/env bash
# The main job on its embedded default: the example catalog (examples/catalog.json) and a local
# HAProxy on loopback, with small example backends. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export HAPROXY_DOM="${HAPROXY_DOM:-example.test}"
run_dir="${HAPILOT_RUN_DIR:-$PWD/.tmp/demo}"
mkdir -p "$run_dir"
node examples/backends.mjs &
backends=$!
trap 'kill $backends 2>/dev/null || true' EXIT
node dist/src/cli/main.js check --catalog examples/catalog.json --run-dir "$run_dir" --out "$run_dir/haproxy.cfg"
echo "demo: HAProxy on 127.0.0.1:${HAPROXY_HTTP_PORT:-8080}; try: curl -H 'Host: web.example.test' http://127.0.0.1:${HAPROXY_HTTP_PORT:-8080}/"
exec haproxy -db -f "$run_dir/haproxy.cfg"
