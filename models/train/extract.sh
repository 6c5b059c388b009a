#!/usr/bin/env bash
# models/train/extract.sh RENDERS OUT [SHARD_ROWS]
#
# Runs the product's own models on rendered avatars (RENDERS/labels.csv from
# models/synthetic/render.sh) and writes, per shard of SHARD_ROWS rows (default 1000):
#   OUT/shard_NNN/labels.csv    the shard's rows, image paths made absolute
#   OUT/shard_NNN/features.csv  labels + our measurements + raw BlazePose points (eval-postures --features)
#   OUT/shard_NNN/crops/RRRRRR.png  the posture crop of row RRRRRR of the shard (landmarks/posture_crop.rs)
# so a model is trained on what the product really sees, cut by the product's own code.
# Resumable: a shard whose features.csv covers its labels is skipped (features.csv is written
# last, under a temporary name). The camera mount stays the default (straight in front): the model must not need it.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 RENDERS OUT [SHARD_ROWS]" >&2; exit 2; }
renders=$(realpath "$1")
out=$2
rows=${3:-1000}
root=$(cd "$(dirname "$0")/../.." && pwd)
[ -f "$renders/labels.csv" ] || { echo "$renders/labels.csv: no labels (render first)" >&2; exit 1; }
# EXTRACT_BIN: a cdposture binary to use as it is (a copy, so rebuilding the tree while a long
# extraction runs cannot swap the binary between shards); otherwise the tree is built.
if [ -n "${EXTRACT_BIN:-}" ]; then
  bin=$EXTRACT_BIN
else
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cdposture/target}
  (cd "$root" && cargo build --release --quiet)
  bin=$CARGO_TARGET_DIR/release/cdposture
fi
mkdir -p "$out"
python3 - "$renders" "$out" "$rows" <<'PY'
import csv, os, sys
renders, out, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(os.path.join(renders, "labels.csv"), newline="") as f:
    r = csv.reader(f)
    header = next(r)
    data = list(r)
img = header.index("image")
for k in range(0, len(data), rows):
    d = os.path.join(out, f"shard_{k // rows:03d}")
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, "labels.csv")
    with open(p + ".tmp", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for row in data[k:k + rows]:
            row = list(row)
            row[img] = os.path.join(renders, row[img])
            w.writerow(row)
    os.replace(p + ".tmp", p)
PY
for d in "$out"/shard_*; do
  # Done when its features cover its labels (a last shard that grew with more renders is redone).
  if [ -f "$d/features.csv" ] && [ "$(wc -l < "$d/features.csv")" -eq "$(wc -l < "$d/labels.csv")" ]; then
    continue
  fi
  echo "[extract] $d"
  rm -rf "$d/crops"
  "$bin" eval-postures "$d/labels.csv" --features "$d/features.csv.tmp" --crops "$d/crops" > "$d/report.txt"
  mv "$d/features.csv.tmp" "$d/features.csv"
done
echo "[extract] done: $(ls -d "$out"/shard_* | wc -l) shards in $out"
