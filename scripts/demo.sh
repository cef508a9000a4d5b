#!/usr/bin/env bash
# The main job on its embedded default: a local HashiCorp Consul (`consul agent -dev` on loopback,
# built by scripts/consul.sh) with the example services registered from examples/consul/ (their
# HAPROXY.* tags, HTTP/TCP health checks against the example backends), the example backends
# (examples/backends.mjs), and `hapilot run` following Consul with HAProxy on 127.0.0.1:8080.
# Ctrl-C stops everything it started (hapilot, HAProxy, Consul, the backends).
#   scripts/demo.sh             the demo on Consul (HTTP API on 127.0.0.1:$DEMO_CONSUL_PORT, 8500)
#   scripts/demo.sh --catalog   the same daemon on the file catalog examples/catalog.json (no Consul)
set -euo pipefail
cd "$(dirname "$0")/.."

mode=consul
case "${1:-}" in
  "") ;;
  --catalog) mode=catalog ;;
  *) echo "demo.sh: unknown argument '$1': expected --catalog or nothing" >&2; exit 2 ;;
esac

scripts/setup.sh
export HAPROXY_DOM="${HAPROXY_DOM:-example.test}"
run_dir="${HAPILOT_RUN_DIR:-$PWD/.tmp/demo}"
mkdir -p "$run_dir"
http_port="${HAPROXY_HTTP_PORT:-8080}"
consul_port="${DEMO_CONSUL_PORT:-8500}"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

node examples/backends.mjs &
pids+=("$!")

if [ "$mode" = catalog ]; then
  echo "demo: hapilot follows examples/catalog.json: edit it and the config follows"
  echo "demo: HAProxy on 127.0.0.1:$http_port, status on http://127.0.0.1:9105/status"
  echo "demo: try curl -H 'Host: web.example.test' http://127.0.0.1:$http_port/"
  node dist/src/cli/main.js run --catalog examples/catalog.json --run-dir "$run_dir" --stop-haproxy-on-exit
  exit 0
fi

consul_bin="$(scripts/consul.sh)" || { echo "demo.sh: Consul is not built (see above); scripts/demo.sh --catalog runs without it" >&2; exit 1; }
if curl -s -o /dev/null "http://127.0.0.1:$consul_port/"; then
  echo "demo.sh: 127.0.0.1:$consul_port is already in use (another Consul?): stop it, or set DEMO_CONSUL_PORT" >&2
  exit 1
fi
# -dev: a single in-memory server; loopback only; DNS and gRPC off.
"$consul_bin" agent -dev -bind 127.0.0.1 -client 127.0.0.1 -http-port "$consul_port" -dns-port -1 -grpc-port -1 -grpc-tls-port -1 \
  -node hapilot-demo -config-dir examples/consul -log-level warn >"$run_dir/consul.log" 2>&1 &
pids+=("$!")
export CONSUL_HTTP_ADDR="127.0.0.1:$consul_port"
for _ in $(seq 1 150); do
  if curl -sf "http://$CONSUL_HTTP_ADDR/v1/health/service/web?passing=1" 2>/dev/null | grep -q '"web-2"'; then break; fi
  if ! kill -0 "${pids[1]}" 2>/dev/null; then echo "demo.sh: consul agent exited; its log: $run_dir/consul.log" >&2; tail -5 "$run_dir/consul.log" >&2; exit 1; fi
  sleep 0.2
done

cat <<EOF
demo: Consul $("$consul_bin" version | head -1 | cut -d' ' -f2) on http://$CONSUL_HTTP_ADDR (UI off; log in $run_dir/consul.log), hapilot following it,
demo: HAProxy on 127.0.0.1:$http_port, hapilot status on http://127.0.0.1:9105/status. Try, in another shell:
  curl -H 'Host: web.example.test' http://127.0.0.1:$http_port/
  export CONSUL_HTTP_ADDR=$CONSUL_HTTP_ADDR PATH="$(dirname "$consul_bin"):\$PATH"
  consul services register -id web-3 -name web -address 127.0.0.1 -port 18003 -tag HAPROXY.ENABLE=true -tag HAPROXY.PROTOCOL=http \
    -tag HAPROXY.BACKEND.BALANCE=roundrobin -tag HAPROXY.BACKEND.HTTPCHK=/healthz -tag production   # web-3 joins web (Runtime API, no reload)
  consul maint -enable -service web-1 -reason demo                                                    # web-1 leaves
  consul maint -disable -service web-1
  for i in \$(seq 3000); do curl -s -o /dev/null -w '%{http_code}\\n' -H 'Host: web.example.test' http://127.0.0.1:$http_port/; done | sort | uniq -c
                                        # (run the register/maint lines while it loops: every answer is a 200)
Ctrl-C here stops hapilot, HAProxy, Consul and the backends.
EOF
node dist/src/cli/main.js run --consul "http://$CONSUL_HTTP_ADDR" --run-dir "$run_dir" --stop-haproxy-on-exit
