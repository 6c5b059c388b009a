#!/usr/bin/env bash
# Set everything up and run the whole test suite (release build: the models are too slow unoptimised).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cdposture/target}
"$root/scripts/setup.sh"
cd "$root"
cargo test --release
# Capture on a real V4L2 driver (vivid) in a QEMU VM: its own step, ~1 min with caches.
"$root/tests/vivid/run.sh"
