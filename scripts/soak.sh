#!/usr/bin/env bash
# Soak: the daemon for MINUTES (default 60) at 30 fps with an exam running, the broker killed with
# SIGKILL and restarted every 5 minutes and the camera interrupted twice (times scale with MINUTES).
# Prints a sample table and, last, one `SOAK ... PASS|FAIL` line (benches/soak.rs). Not for CI.
#   scripts/soak.sh 3                                  # a quick, compressed run
#   nice -n 5 scripts/soak.sh 60 > /tmp/soak-60.log 2>&1
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
minutes=${1:-60}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cdposture/target-helpers}

models=${CDPOSTURE_MODELS:-$root/models/build}
if ! { command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; } || [ ! -f "$models/face_landmark.onnx" ]; then
  echo "[soak] mosquitto or the models are missing: running scripts/setup.sh"
  "$root/scripts/setup.sh"
  models=${CDPOSTURE_MODELS:-$root/models/build}
fi
export CDPOSTURE_MODELS=$models

cd "$root"
echo "[soak] building (target dir $CARGO_TARGET_DIR)"
cargo bench --bench soak --no-run --quiet
echo "[soak] running for $minutes minutes"
# As systemd/cdposture.service runs the daemon.
export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}
SOAK_MINUTES=$minutes exec cargo bench --bench soak --quiet
