#!/usr/bin/env bash
# Is int8 worth shipping? Makes int8 variants of BlazePose lite and FaceMesh (scripts/quantize_check.py:
# static, per-channel, calibrated on real pictures) and times float and int8 side by side, in
# onnxruntime (one thread) and in tract (examples/profile_model.rs, one thread), same machine, one run.
# Not for CI. The decision and its numbers are in the README (Performance). Venv:
# ~/.cache/cdposture/quant-venv-<hash of scripts/quantize-requirements.txt>; files in OUT (default
# ~/.cache/cdposture/int8-check).
#   scripts/quantize_check.sh [OUT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cdposture/target}
cache=${CDPOSTURE_CACHE:-$HOME/.cache/cdposture}
models=${CDPOSTURE_MODELS:-$root/models/build}
out=${1:-$cache/int8-check}
[ -f "$models/face_landmark.onnx" ] || "$root/scripts/setup.sh"
req="$root/scripts/quantize-requirements.txt"
venv="$cache/quant-venv-$(sha256sum "$req" | cut -c1-16)"
if [ ! -x "$venv/bin/python" ]; then
  rm -rf "$venv.tmp"
  python3 -m venv "$venv.tmp"
  "$venv.tmp/bin/pip" install --quiet --no-deps -r "$req"
  mv "$venv.tmp" "$venv"
fi
ort=$("$venv/bin/python" "$root/scripts/quantize_check.py" "$root" "$models" "$out" "${RUNS:-50}")
cd "$root"
cargo build --release --quiet --example profile_model
printf '%-28s %12s %12s\n' model "tract ms" "ort ms"
while read -r _ file ms; do
  case "$(basename "$file")" in pose*) side=256 ;; *) side=192 ;; esac
  tract=$("$CARGO_TARGET_DIR/release/examples/profile_model" "$file" $side $side "${RUNS:-50}" 2>/dev/null \
    | sed -n 's/.*: \([0-9.]*\) ms\/run wall.*/\1/p')
  printf '%-28s %12s %12s\n' "$(basename "$file" .onnx)" "$tract" "$ms"
done <<<"$ort"
