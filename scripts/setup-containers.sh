#!/usr/bin/env bash
# What building and running hapilot's image needs on a Debian machine without a Docker engine or a
# reachable image registry (../shared/CONTAINERS.md): podman, crun and debootstrap from Debian's
# packages (as root), hapilot's own podman configuration and storage under $HAPILOT_CONTAINERS_DIR, and
# the local base image localhost/node:20-bookworm-slim (debootstrap minbase + this machine's Node 20,
# npm and CA bundle) that docker/Dockerfile starts FROM. Safe to run again: the base image is made
# only when its key (Debian release, Node and npm versions, CA bundle) changed.
#
# Prints the state directory on its last line. The image test (test/image/) calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=${HAPILOT_CONTAINERS_DIR:-/var/cache/hapilot-containers}
BASE=localhost/node:20-bookworm-slim
RELEASE=bookworm

if [ "$(id -u)" != 0 ]; then
  echo "setup-containers: must run as root (installs podman, crun, debootstrap; builds and runs containers): run it with sudo" >&2
  exit 1
fi

need=()
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v crun >/dev/null 2>&1 || need+=(crun)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup-containers: installing ${need[*]} from Debian's packages" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# hapilot's own podman configuration: nothing under /etc/containers or /var/lib/containers is used.
mkdir -p "$STATE/storage" "$STATE/run" "$STATE/tmp" "$STATE/net"
hard_nofile=$(ulimit -Hn)
[ "$hard_nofile" = unlimited ] && hard_nofile=1048576
cat >"$STATE/containers.conf.new" <<EOF
# Written by scripts/setup-containers.sh.
[containers]
netns = "host"
cgroups = "disabled"
default_ulimits = ["nofile=$hard_nofile:$hard_nofile", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "crun"
tmp_dir = "$STATE/tmp"
[network]
network_config_dir = "$STATE/net"
EOF
mv "$STATE/containers.conf.new" "$STATE/containers.conf"
cat >"$STATE/storage.conf.new" <<EOF
# Written by scripts/setup-containers.sh.
[storage]
driver = "overlay"
graphroot = "$STATE/storage"
runroot = "$STATE/run"
EOF
mv "$STATE/storage.conf.new" "$STATE/storage.conf"
export CONTAINERS_CONF="$STATE/containers.conf" CONTAINERS_STORAGE_CONF="$STATE/storage.conf" TMPDIR="$STATE/tmp" XDG_RUNTIME_DIR="$STATE/tmp"

node_bin=$(command -v node)
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
ca=/etc/ssl/certs/ca-certificates.crt
key="$RELEASE node=$("$node_bin" -v) npm=$(npm -v 2>/dev/null) ca=$(sha256sum "$ca" | cut -c1-16)"

have=$(podman image inspect --format '{{index .Labels "hapilot.base"}}' "$BASE" 2>/dev/null || true)
if [ "$have" = "$key" ]; then
  echo "setup-containers: $BASE is current ($key)" >&2
else
  echo "setup-containers: making $BASE ($key)" >&2
  mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
  rootfs=$(mktemp -d "$STATE/tmp/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase "$RELEASE" "$rootfs" "$mirror" >"$STATE/tmp/debootstrap.log" 2>&1 || {
    echo "setup-containers: debootstrap $RELEASE from $mirror failed: $(tail -n 3 "$STATE/tmp/debootstrap.log" | tr '\n' ' ')" >&2
    exit 1
  }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  # This machine's Node and npm, as the official image has them under /usr/local.
  install -m 755 "$node_bin" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  # The machine's CA bundle (its network may intercept TLS): in this local base image only, never in
  # the Dockerfile.
  install -D -m 644 "$ca" "$rootfs/etc/ssl/certs/ca-certificates.crt"
  tar -C "$rootfs" -c . | podman import --quiet \
    --change 'CMD ["node"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    --change "LABEL hapilot.base=\"$key\"" \
    - "$BASE" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
  echo "setup-containers: made $BASE" >&2
fi
echo "$STATE"
