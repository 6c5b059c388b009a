#!/usr/bin/env bash
# aarch64 binary for glibc 2.31 (JetPack 5 / Ubuntu 20.04): cargo-zigbuild (crates.io) with the zig
# compiler from PyPI (ziglang) as the linker. Uses rustup's toolchain with the aarch64 std, which
# needs `rustup target add aarch64-unknown-linux-gnu` (a toolchain download: may be unavailable).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${CDPOSTURE_CACHE:-$HOME/.cache/cdposture}
venv=$cache/venv-zig
[ -x "$venv/bin/python-zig" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install -q ziglang==0.15.1; ln -sf "$venv/bin/python" "$venv/bin/python-zig"; }
export PATH="$venv/bin:$PATH"
command -v cargo-zigbuild >/dev/null || cargo install --locked cargo-zigbuild@0.24.1
rustup target add aarch64-unknown-linux-gnu
export CARGO_TARGET_DIR=${CDPOSTURE_ZIG_TARGET:-$cache/target-zig}
cd "$root"
cargo zigbuild --release --target aarch64-unknown-linux-gnu.2.31
file "$CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/release/cdposture"
