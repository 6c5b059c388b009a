#!/usr/bin/env bash
# Set everything up, then run the live job on the built-in demo input (a real photo tilting its
# head); with no broker configured, assessments are printed as JSON lines.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cdposture/target}
"$root/scripts/setup.sh"
exec "$CARGO_TARGET_DIR/release/cdposture" --models "$root/models/build" run "$@"
