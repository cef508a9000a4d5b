#!/usr/bin/env bash
# Installs Debian's `chromium` for the status-page test (driven by npm playwright-core with
# executablePath /usr/bin/chromium; playwright's own browser download is not used). Idempotent: does
# nothing when /usr/bin/chromium exists. Needs root (apt-get); as another user it says what to run.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "setup-chromium: /usr/bin/chromium is missing: run this as root, or apt-get install chromium" >&2
  exit 1
fi
echo "setup-chromium: installing chromium from Debian's packages"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
/usr/bin/chromium --version
