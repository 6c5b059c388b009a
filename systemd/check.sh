#!/usr/bin/env bash
# Check the units (the daemon's and the gateway's) offline: `systemd-analyze verify` must print nothing (it exits 0 on many mistakes
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
for unit in cdposture.service cdposture-gateway.service; do
  sed "s|/usr/bin/cdposture|$bin|g" "$here/$unit" > "$tmp/$unit"
  out=$(systemd-analyze verify "$tmp/$unit" 2>&1 || true)
  if [ -n "$out" ]; then
    echo "systemd-analyze verify complained about $unit:"; echo "$out"; exit 1
  fi
  line=$(systemd-analyze security --offline=true "$tmp/$unit" | grep "Overall exposure level")
  echo "$unit: $line"
  score=$(echo "$line" | sed -E 's/.*: ([0-9.]+) .*/\1/')
  awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || { echo "$unit: exposure $score is above 2.0"; exit 1; }
done
echo "systemd units: verify clean, exposure within 2.0"
