#!/usr/bin/env bash
# Builds the pinned HashiCorp Consul from its Go module (through the Go module proxy) and caches the
# binary by version: ~/.cache/hapilot/consul-<version>/consul (HAPILOT_CACHE_DIR moves the cache).
# A second run finds the binary and takes no time. Prints the binary's path on stdout.
#
# Pinned: Consul 1.16.6, the last release of the last MPL-2.0 line (1.16.x; 1.17 and later are
# BUSL-1.1). It builds with the machine's Go (go1.21 or later; tested with go1.26).
#
# Consul's own go.mod has local `replace` directives (./api, ./sdk, ...), so `go install
# github.com/hashicorp/consul@v1.16.6` is refused. scripts/consul-build/ is a throwaway wrapper
# module that requires github.com/hashicorp/consul v1.16.6 and carries what its go.mod would have
# said (see the comments in scripts/consul-build/go.mod), with a go.sum that pins every module's hash.
set -euo pipefail
cd "$(dirname "$0")/.."

CONSUL_VERSION=1.16.6
cache_root="${HAPILOT_CACHE_DIR:-${HOME:-/root}/.cache/hapilot}"
dir="$cache_root/consul-$CONSUL_VERSION"
bin="$dir/consul"

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "consul.sh: Go is missing (no \`go\` on PATH): it builds Consul $CONSUL_VERSION for the demo and the real-Consul tests; install Go 1.21 or later (https://go.dev/dl/, or apt-get install golang-go from bookworm-backports) and run scripts/setup.sh again" >&2
  exit 1
fi

say() { echo "consul.sh: $*" >&2; }
start=$(date +%s)
mkdir -p "$dir"
work="$(mktemp -d "$dir/build.XXXXXX")"
ticker=""
cleanup() {
  if [ -n "$ticker" ]; then kill "$ticker" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
cp scripts/consul-build/go.mod scripts/consul-build/go.sum scripts/consul-build/tools.go "$work/"

say "building HashiCorp Consul $CONSUL_VERSION from its Go module with $(go version | awk '{print $3}'): first time only, 5 to 10 minutes on 2 cores; cached in $dir"
# Never fetch another toolchain; verify every module against the committed go.sum (the checksum
# database is not needed: every hash is pinned there); no cgo (as HashiCorp's release builds).
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly GOSUMDB=off CGO_ENABLED=0

say "step 1/2: downloading Consul and its dependencies from $(go env GOPROXY | cut -d, -f1)"
(cd "$work" && go mod download) || { say "go mod download failed in the wrapper module (scripts/consul-build)"; exit 1; }

say "step 2/2: compiling github.com/hashicorp/consul (quiet for a few minutes)"
( while sleep 30; do say "  still compiling ($(( $(date +%s) - start ))s so far)"; done ) &
ticker=$!
(cd "$work" && go build -trimpath -ldflags "-s -w" -o "$work/consul" github.com/hashicorp/consul) \
  || { say "go build github.com/hashicorp/consul@v$CONSUL_VERSION failed (see above)"; exit 1; }
kill "$ticker" 2>/dev/null || true
ticker=""

"$work/consul" version >/dev/null || { say "the built binary does not run: $work/consul version"; exit 1; }
mv "$work/consul" "$bin"
say "built $("$bin" version | head -1) in $(( $(date +%s) - start ))s: $bin"
echo "$bin"
