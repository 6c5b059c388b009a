#!/usr/bin/env bash
# Set up a fresh Debian machine with Rust for cdposture: system packages, models, release build.
# Idempotent; safe to run again. Caches live outside the clone (see models/fetch.sh and below).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cdposture/target}

missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)          # video decoding (analyze, tests)
command -v npm >/dev/null 2>&1 || missing+=(npm)                # npm pack for the pinned MediaPipe packages
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)   # real broker for the MQTT tests
command -v mosquitto_passwd >/dev/null 2>&1 || missing+=(mosquitto-clients)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)        # test certificates for the TLS tests
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)  # the gateway's replica test
command -v chromium >/dev/null 2>&1 || missing+=(chromium)      # the dashboard and report.html in a real browser
dpkg -s libclang-dev >/dev/null 2>&1 || missing+=(libclang-dev)  # bindgen in the v4l crate (V4L2 headers)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing: ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

"$root/models/fetch.sh"
echo "[setup] cargo build --release --all-targets (target dir $CARGO_TARGET_DIR)"
# All targets: the tests' dev-dependencies change features of crates tract uses, and one feature
# set for the binary and the tests means tract is compiled once, not twice.
(cd "$root" && cargo build --release --all-targets --quiet)
