#!/usr/bin/env bash
# models/train/train.sh --data EXTRACT_OUT --out DIR [train.py options]: trains in the avatar
# generator's venv (torch; models/synthetic/setup.sh, cached by its requirements' hash). Resumable.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$("$here/../synthetic/setup.sh" | tail -1)"
exec "$venv/bin/python" "$here/train.py" "$@"
