#!/usr/bin/env bash
# One command: render.sh --out DIR --seed S --count N [--sequences K] [--split NAME]
#              [--jpeg-quality Q] [--seconds 5 --fps 10] [--control]
# Sets up the venv (setup.sh, cached by the hash of requirements.txt) and renders on the CPU
# through EGL. Deterministic per seed; resumable (finished items are skipped).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$("$here/setup.sh" | tail -1)"
# anny keeps its cache in ~/.cache/anny (built once, minutes), warp its kernels in ~/.cache/warp.
export PYOPENGL_PLATFORM=egl
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
exec "$venv/bin/python" "$here/render.py" "$@"
