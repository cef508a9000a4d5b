#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what is missing (HAProxy and friends, npm packages,
# the build and a Consul built from its Go module: setup.sh; Debian's chromium for the status page;
# podman, crun, debootstrap and the local base image for the container tests), then `npm test`.
# Each setup step is idempotent and cached by version: a second run skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/setup-chromium.sh
scripts/setup-containers.sh >/dev/null
npm test
