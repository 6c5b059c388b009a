#!/usr/bin/env bash
# Per-frame instruction counts of the TRACKED path (what a camera pays per frame), x86_64 vs aarch64:
# callgrind natively on x86_64; on aarch64, qemu-user emulating a Cortex-A72 (the Raspberry Pi 4
# core) with our TCG plugin `cross/insn/insn.c`, which counts the guest instructions each thread
# executes (callgrind:arm64 under qemu-user did not finish loading the models in 67 minutes).
# The bench binary runs N1 and N2 frames; the difference divided by N2 - N1 cancels model loading
# and the first (detection) frame.
# Then the same with pipeline.threads = 2, per thread (callgrind --separate-threads; the plugin
# counts per emulated CPU, which in qemu-user is one per thread, the main thread first): the busiest
# thread's count is what one core must sustain. Last, a held posture (BENCH_HELD: the photo still,
# with sensor noise) with pose_every = 3 as deployed, one thread and two (the body models run on a
# third of these frames: README, Body rate), counted over frames 4-9 (3 and 9 frames: two body runs
# in the six); last, that held posture with pipeline.body_worker, per thread.
# Then the moving head with pipeline.threads = 3 on aarch64, every thread on its own: the body
# models' matrix products go to two workers while the frame's thread waits for them.
# Usage: cross/instructions.sh [N1 N2]   (default 2 6)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n1=${1:-2}; n2=${2:-6}
cache=${CDPOSTURE_CACHE:-$HOME/.cache/cdposture}
export CDPOSTURE_MODELS=${CDPOSTURE_MODELS:-$root/models/build}
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
command -v qemu-aarch64 >/dev/null || { apt-get update -qq && apt-get install -y -qq qemu-user >/dev/null; }
plugin=$cache/qemu-insn-$(sha256sum "$root/cross/insn/insn.c" | cut -c1-16).so
[ -f "$plugin" ] || gcc -O2 -Wall -shared -fPIC -o "$plugin" "$root/cross/insn/insn.c"
bench_bin() { # cargo args... -> path of the bench executable
  "$@" --bench pipeline --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import sys,json
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("target",{}).get("name")=="pipeline" and m.get("executable"): print(m["executable"])' | tail -1
}
x86=$(cd "$root" && CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$cache/target} bench_bin cargo bench)
"$root/cross/setup.sh" >/dev/null
# Linked statically, as cross/test.sh does (and in its build dir): a dynamically linked aarch64
# program hangs in pthread_create under qemu-user, so the threaded rows would never finish.
arm=$(cd "$root" && CARGO_TARGET_DIR=${CDPOSTURE_CROSS_TEST_TARGET:-$cache/target-aarch64-static} \
  RUSTFLAGS="-C target-feature=+crt-static" RUSTC=/usr/bin/rustc \
  bench_bin /usr/bin/cargo bench --no-default-features --target aarch64-unknown-linux-gnu)

count() { # arch frames [threads] -> "total" (one thread) or "main other" (per-thread files summed)
  local dir; dir=$(mktemp -d)
  local env=(BENCH_TRACKED_ONLY=1 BENCH_FRAMES=$2 BENCH_FRAME_POOL=$n2 BENCH_THREADS=${3:-1} ${HELD_ENV:-})
  if [ "$1" = x86_64 ]; then
    env "${env[@]}" valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$dir/cg" "$x86" >/dev/null 2>&1
  else
    env QEMU_LD_PREFIX=/usr/aarch64-linux-gnu "${env[@]}" \
      qemu-aarch64 -cpu cortex-a72 -plugin "$plugin,out=$dir/insn" "$arm" >/dev/null 2>&1
  fi
  local main=0 other=0 f n
  if [ "$1" = x86_64 ]; then
    for f in "$dir"/cg*; do
      n=$(grep -E '^(summary|totals):' "$f" | head -1 | awk '{print $2}')
      case "$f" in *-01) main=$n ;; *) other=$((other + ${n:-0})) ;; esac
    done
  else
    main=$(sed -n 's/^insn vcpu=0 count=//p' "$dir/insn")
    other=$(awk -F'count=' '!/vcpu=0 /{s+=$2} END{print s+0}' "$dir/insn")
  fi
  rm -rf "$dir"
  if [ "${3:-1}" = 1 ]; then echo $((main + other)); else echo "$main $other"; fi
}
printf '%-8s %16s %16s %16s\n' arch "I($n1 frames)" "I($n2 frames)" "per tracked frame"
for a in x86_64 aarch64; do
  i1=$(count $a $n1); i2=$(count $a $n2)
  printf '%-8s %16s %16s %16s\n' $a "$i1" "$i2" $(( (i2 - i1) / (n2 - n1) ))
done
# pipeline.threads = 2: the main thread (body models, geometry) and the face mesh thread, per frame.
printf '\n%-8s %20s %20s %20s\n' arch "main thread/frame" "face thread/frame" "busiest core/frame"
for a in x86_64 aarch64; do
  read -r m1 o1 <<<"$(count $a $n1 2)"; read -r m2 o2 <<<"$(count $a $n2 2)"
  m=$(( (m2 - m1) / (n2 - n1) )); o=$(( (o2 - o1) / (n2 - n1) ))
  printf '%-8s %20s %20s %20s\n' $a $m $o $(( m > o ? m : o ))
done
# A held posture, pose_every = 3 (the deployed default).
printf '\nheld posture, pose_every 3\n%-8s %16s %20s %20s %20s\n' arch "one thread/frame" "threads=2: main" "face thread" "busiest core/frame"
export HELD_ENV="BENCH_HELD=1 BENCH_POSE_EVERY=3 BENCH_FRAME_POOL=9"
for a in x86_64 aarch64; do
  i1=$(count $a 3); i2=$(count $a 9)
  read -r m1 o1 <<<"$(count $a 3 2)"; read -r m2 o2 <<<"$(count $a 9 2)"
  m=$(( (m2 - m1) / 6 )); o=$(( (o2 - o1) / 6 ))
  printf '%-8s %16s %20s %20s %20s\n' $a $(( (i2 - i1) / 6 )) $m $o $(( m > o ? m : o ))
done
# The same with pipeline.body_worker (as deployed): the body models on their own thread, their
# result taken on the next frame the body is due. "other" is then the body thread (the face mesh
# runs on the main thread on every frame but the first, which cancels in the difference).
printf '\nheld posture, pose_every 3, body_worker\n%-8s %20s %20s %20s\n' arch "threads=2: main" "body thread" "busiest core/frame"
export HELD_ENV="BENCH_HELD=1 BENCH_POSE_EVERY=3 BENCH_FRAME_POOL=9 BENCH_BODY_WORKER=1"
for a in x86_64 aarch64; do
  read -r m1 o1 <<<"$(count $a 3 2)"; read -r m2 o2 <<<"$(count $a 9 2)"
  m=$(( (m2 - m1) / 6 )); o=$(( (o2 - o1) / 6 ))
  printf '%-8s %20s %20s %20s\n' $a $m $o $(( m > o ? m : o ))
done
# pipeline.threads = 3 (deploy/cdposture.toml), the moving head on aarch64: each thread per frame.
# qemu-user numbers its CPUs by thread creation, reusing an exited thread's: 0 the frame's thread,
# 1 and 2 the body workers (started with the pipeline), 3 the face mesh thread (one per frame).
per_thread() { # frames -> "vcpu=count" lines
  local dir; dir=$(mktemp -d)
  env QEMU_LD_PREFIX=/usr/aarch64-linux-gnu BENCH_TRACKED_ONLY=1 BENCH_FRAMES=$1 BENCH_FRAME_POOL=$n2 BENCH_THREADS=3 \
    qemu-aarch64 -cpu cortex-a72 -plugin "$plugin,out=$dir/insn" "$arm" >/dev/null 2>&1
  sed -n 's/^insn vcpu=\([0-9]*\) count=\([0-9]*\)/\1 \2/p' "$dir/insn"
  rm -rf "$dir"
}
printf '\nmoving head, threads = 3, aarch64\n%-10s %20s\n' thread "per tracked frame"
join -a2 -e0 -o 0,1.2,2.2 <(per_thread $n1 | sort) <(per_thread $n2 | sort) | sort -n \
  | while read -r cpu c1 c2; do
      case $cpu in 0) name=frame ;; 1 | 2) name=worker$cpu ;; *) name=face ;; esac
      printf '%-10s %20s\n' "$name" $(( (c2 - c1) / (n2 - n1) ))
    done
