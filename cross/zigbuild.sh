#!/usr/bin/env bash
# aarch64 binary for glibc 2.31 (JetPack 5 / Ubuntu 20.04): cargo-zigbuild (crates.io) links with the
# zig compiler from PyPI (ziglang) against an old glibc. The Rust side is Debian's rustc-web and its
# arm64 std from cross/setup.sh, so nothing is downloaded outside the package registries.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${CDPOSTURE_CACHE:-$HOME/.cache/cdposture}
"$root/cross/setup.sh"
venv=$cache/venv-zig-0.15.1
[ -x "$venv/bin/python-zig" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install -q ziglang==0.15.1; ln -sf "$venv/bin/python" "$venv/bin/python-zig"; }
tools=$cache/cargo-zigbuild-0.24.1
[ -x "$tools/bin/cargo-zigbuild" ] || RUSTC=/usr/bin/rustc /usr/bin/cargo install --locked --root "$tools" cargo-zigbuild@0.24.1
export PATH="$tools/bin:$venv/bin:$PATH"
export RUSTC=/usr/bin/rustc
export CARGO_TARGET_DIR=${CDPOSTURE_ZIG_TARGET:-$cache/target-zig}
cd "$root"
/usr/bin/cargo zigbuild --release --target aarch64-unknown-linux-gnu.2.31
bin=$CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/release/cdposture
file "$bin"
echo "highest glibc symbol version needed: $(aarch64-linux-gnu-objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sort -V | tail -1)"
