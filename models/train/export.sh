#!/usr/bin/env bash
# models/train/export.sh TRAIN_OUT: writes models/trained/ (ONNX, recipe, golden vectors) from a
# finished training run, in the model supply chain's venv (it has `onnx`; run models/fetch.sh once).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache=${CDPOSTURE_CACHE:-$HOME/.cache/cdposture}
venv="$cache/venv-$(sha256sum "$here/../requirements.txt" | cut -c1-16)"
[ -x "$venv/bin/python" ] || { echo "$venv: no model venv; run models/fetch.sh first" >&2; exit 1; }
"$venv/bin/python" "$here/export_onnx.py" "$1" "$here/../trained"
echo "now run models/fetch.sh to install it into models/build"
