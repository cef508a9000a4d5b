#!/usr/bin/env bash
# The main job on its embedded default: `hapilot run` on the example catalog (examples/catalog.json)
# with a local HAProxy on loopback and small example backends. Edit the catalog file and the config
# follows. Ctrl-C stops hapilot, HAProxy and the backends.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export HAPROXY_DOM="${HAPROXY_DOM:-example.test}"
run_dir="${HAPILOT_RUN_DIR:-$PWD/.tmp/demo}"
mkdir -p "$run_dir"
node examples/backends.mjs &
backends=$!
trap 'kill $backends 2>/dev/null || true' EXIT
echo "demo: HAProxy on 127.0.0.1:${HAPROXY_HTTP_PORT:-8080}, status on http://127.0.0.1:9105/status"
echo "demo: try curl -H 'Host: web.example.test' http://127.0.0.1:${HAPROXY_HTTP_PORT:-8080}/"
node dist/src/cli/main.js run --catalog examples/catalog.json --run-dir "$run_dir" --stop-haproxy-on-exit
