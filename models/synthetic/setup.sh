#!/usr/bin/env bash
# Sets up the avatar generator: Debian packages for headless EGL rendering (Mesa llvmpipe, CPU),
# ffmpeg for the sequences, and a venv at ~/.cache/cdposture/synth-venv-<hash of requirements.txt>
# with pyrender patched for numpy 2. Idempotent; prints the venv path on its last line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${CDPOSTURE_CACHE:-$HOME/.cache/cdposture}"
hash="$(sha256sum "$here/requirements.txt" | cut -c1-16)"
venv="$cache/synth-venv-$hash"

need=()
for p in libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 libglx-mesa0 ffmpeg python3-venv; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if ((${#need[@]})); then
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_="sudo"
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq "${need[@]}" >&2
fi

if [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
  "$venv/bin/python" -m pip install -q -r "$here/requirements.txt" >&2
  "$venv/bin/python" -m pip install -q --no-deps pyrender==0.1.45 >&2
  # numpy 2 removed np.infty (pyrender 0.1.45 still uses it).
  site="$("$venv/bin/python" -c 'import pyrender, os; print(os.path.dirname(pyrender.__file__))' 2>/dev/null || true)"
  if [ -z "$site" ]; then
    site="$(find "$venv/lib" -maxdepth 4 -type d -name pyrender | head -1)"
  fi
  sed -i 's/np\.infty/np.inf/g' "$site"/*.py
  PYOPENGL_PLATFORM=egl "$venv/bin/python" -c 'import pyrender, anny, torch' >&2
  touch "$venv/.complete"
fi
echo "$venv"
