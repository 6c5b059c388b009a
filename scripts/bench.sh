#!/usr/bin/env bash
# Frame-rate benchmark: onnxruntime (Python, one thread) on our ONNX files as the baseline, then
# every stage of our tracked frame in the same run on the same machine (benches/stages.rs).
# Prints a table and, last, `BENCH frame_ms=… fps_1core=… fps_threads=… ort_ms=… ratio=… rss_mb=… startup_s=…`.
# Not for CI. Sets up what it needs: the models (scripts/setup.sh) and a venv with onnxruntime at
# ~/.cache/cdposture/bench-venv-<hash of scripts/bench-requirements.txt>.
#   scripts/bench.sh                  # 120 frames
#   BENCH_FRAMES=300 scripts/bench.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cdposture/target}
cache=${CDPOSTURE_CACHE:-$HOME/.cache/cdposture}
models=${CDPOSTURE_MODELS:-$root/models/build}
if [ ! -f "$models/face_landmark.onnx" ]; then
  echo "[bench] no models in $models: running scripts/setup.sh"
  "$root/scripts/setup.sh"
fi
export CDPOSTURE_MODELS=$models

req="$root/scripts/bench-requirements.txt"
venv="$cache/bench-venv-$(sha256sum "$req" | cut -c1-16)"
if [ ! -x "$venv/bin/python" ]; then
  echo "[bench] creating $venv (onnxruntime from PyPI)"
  rm -rf "$venv.tmp"
  python3 -m venv "$venv.tmp"
  "$venv.tmp/bin/pip" install --quiet --no-deps -r "$req"
  mv "$venv.tmp" "$venv"
fi

ort=$(mktemp)
trap 'rm -f "$ort"' EXIT
echo "[bench] onnxruntime $("$venv/bin/python" -c 'import onnxruntime; print(onnxruntime.__version__)'), one thread"
"$venv/bin/python" "$root/scripts/bench_ort.py" "$models" "${BENCH_ORT_RUNS:-100}" | tee "$ort"
cd "$root"
cargo bench --bench stages --no-run --quiet
BENCH_ORT=$ort cargo bench --bench stages --quiet
