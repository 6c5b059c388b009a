#!/usr/bin/env bash
# Install or upgrade cdposture on a device reached over ssh (Raspberry Pi OS bookworm, Ubuntu 22.04+).
# Usage: deploy/install.sh user@host [arm64|amd64]
# Builds the packages, copies them over, installs them with apt (dependencies included), keeps the
# device's /etc/cdposture/cdposture.toml if it was changed, restarts the service and shows its status.
set -euo pipefail
host=${1:?usage: deploy/install.sh user@host [arm64|amd64]}
arch=${2:-arm64}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$root/deploy/build-deb.sh" "$arch" "$out"
ssh "$host" 'mkdir -p /tmp/cdposture-install'
scp "$out"/*.deb "$host:/tmp/cdposture-install/"
ssh -t "$host" 'sudo apt-get install -y -o Dpkg::Options::=--force-confold /tmp/cdposture-install/*.deb \
  && rm -rf /tmp/cdposture-install \
  && sudo /usr/bin/cdposture check-config /etc/cdposture/cdposture.toml >/dev/null \
  && sudo systemctl restart cdposture && systemctl --no-pager status cdposture | head -n 12'
