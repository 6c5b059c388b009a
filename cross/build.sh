#!/usr/bin/env bash
# Build the release binary for aarch64-unknown-linux-gnu with Debian's tool chain (cross/setup.sh).
# Output: $CDPOSTURE_CROSS_TARGET/aarch64-unknown-linux-gnu/release/cdposture, linked as
# target/aarch64-unknown-linux-gnu/release/cdposture in the checkout.
# A device build: --no-default-features leaves the clinic gateway out of the package.
# The build dir is separate from the host one: a different rustc would otherwise rebuild both each time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/cross/setup.sh"
export CARGO_TARGET_DIR=${CDPOSTURE_CROSS_TARGET:-$HOME/.cache/cdposture/target-aarch64}
export RUSTC=/usr/bin/rustc
cd "$root"
/usr/bin/cargo build --release --no-default-features --target aarch64-unknown-linux-gnu "$@"
mkdir -p target/aarch64-unknown-linux-gnu/release
ln -sfn "$CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/release/cdposture" target/aarch64-unknown-linux-gnu/release/cdposture
file -L target/aarch64-unknown-linux-gnu/release/cdposture
