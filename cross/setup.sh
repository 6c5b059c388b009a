#!/usr/bin/env bash
# Install the aarch64 cross tool chain from Debian packages only (no rustup download):
# Debian's rustc-web/cargo-web with the EXACTLY matching arm64 std, the GNU cross linker and
# qemu-user to run aarch64 binaries (and the test suite) under emulation. Idempotent.
set -euo pipefail
RUST_WEB_VERSION=1.96.0+dfsg1-1~deb12u2   # rustc-web, cargo-web and libstd-rust-web-dev:arm64 must match
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
have() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null | grep -qx "$2"; }
if have rustc-web "$RUST_WEB_VERSION" && have libstd-rust-web-dev:arm64 "$RUST_WEB_VERSION" \
   && command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null && command -v file >/dev/null; then
  exit 0
fi
echo "[cross] installing the aarch64 tool chain (Debian rustc-web $RUST_WEB_VERSION)"
$sudo dpkg --add-architecture arm64
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libclang-dev file \
  "rustc-web=$RUST_WEB_VERSION" "cargo-web=$RUST_WEB_VERSION" "libstd-rust-web-dev:arm64=$RUST_WEB_VERSION" >/dev/null
