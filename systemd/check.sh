#!/usr/bin/env bash
# Check the unit offline: `systemd-analyze verify` must print nothing (it exits 0 on many mistakes
# and only prints them), and the security exposure must stay at or below 2.0.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v systemd-analyze >/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq systemd >/dev/null
fi
bin=${1:-${CARGO_TARGET_DIR:-$HOME/.cache/cdposture/target}/release/cdposture}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# verify checks that ExecStart exists: point it at the built binary.
sed "s|/usr/bin/cdposture|$bin|g" "$here/cdposture.service" > "$tmp/cdposture.service"
out=$(systemd-analyze verify "$tmp/cdposture.service" 2>&1 || true)
if [ -n "$out" ]; then
  echo "systemd-analyze verify complained:"; echo "$out"; exit 1
fi
line=$(systemd-analyze security --offline=true "$tmp/cdposture.service" | grep "Overall exposure level")
echo "$line"
score=$(echo "$line" | sed -E 's/.*: ([0-9.]+) .*/\1/')
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || { echo "exposure $score is above 2.0"; exit 1; }
echo "systemd unit: verify clean, exposure within 2.0"
