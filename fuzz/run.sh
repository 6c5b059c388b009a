#!/usr/bin/env bash
# Coverage-guided fuzzing with AFL++ (`cargo afl`, stable Rust).
#
#   fuzz/run.sh TARGET [SECONDS]    one target (config, commands, pixels), default 60 s
#   fuzz/run.sh all SECONDS         each target in turn, SECONDS each
#
# Installs what is missing, outside the clone and keyed by version: cargo-afl in
# ~/.cache/cdposture/cargo-afl-<version>, AFL++ (built once by `cargo afl config --build`) in
# ~/.cache/cdposture/afl-data, the instrumented build in ~/.cache/cdposture/fuzz-target (never the
# main build's target dir). Each run starts afresh from fuzz/seeds/TARGET into
# ~/.cache/cdposture/fuzz-out/TARGET (crashes/ and hangs/ stay there for inspection).
# Prints per target the figures of `fuzzer_stats` and a closing line
#   fuzz TARGET: N execs, N crashes, N hangs
# and exits non-zero if any target saved a crash or a hang (or AFL++ could not run).
# Environment: FUZZ_TIMEOUT_MS (per input, default 1000), FUZZ_MEM_MB (default 1024).
set -euo pipefail
cd "$(dirname "$0")"
fuzz_dir=$PWD

AFL_RS_VERSION=0.18.2 # cargo-afl and the `afl` crate in Cargo.toml must match
TARGETS=(config commands pixels)
cache=$HOME/.cache/cdposture
afl_root=$cache/cargo-afl-$AFL_RS_VERSION
export XDG_DATA_HOME=$cache/afl-data # where cargo-afl builds and finds AFL++
export CARGO_TARGET_DIR=$cache/fuzz-target
export PATH=$afl_root/bin:$PATH

usage() {
  echo "usage: $0 {config|commands|pixels|all} [SECONDS]" >&2
  exit 2
}
[[ $# -ge 1 && $# -le 2 ]] || usage
what=$1
secs=${2:-60}
[[ $secs =~ ^[1-9][0-9]*$ ]] || usage
if [[ $what == all ]]; then
  run=("${TARGETS[@]}")
elif [[ " ${TARGETS[*]} " == *" $what "* ]]; then
  run=("$what")
else
  usage
fi

# 1. cargo-afl, then AFL++ itself (afl-fuzz and the LLVM runtime the targets link).
if [[ ! -x $afl_root/bin/cargo-afl ]]; then
  echo "fuzz: installing cargo-afl $AFL_RS_VERSION into $afl_root"
  cargo install cargo-afl --version "$AFL_RS_VERSION" --locked --root "$afl_root" --quiet
fi
rustc_id=$(rustc -vV | awk '/^release:/ {r=$2} /^commit-hash:/ {h=substr($2,1,7)} END {print "rustc-" r "-" h}')
afl_data=$XDG_DATA_HOME/afl.rs/$rustc_id/afl.rs-$AFL_RS_VERSION
if [[ ! -f $afl_data/afl-llvm/afl-compiler-rt.o || ! -x $afl_data/afl/bin/afl-fuzz ]]; then
  echo "fuzz: building AFL++ into $afl_data"
  cargo afl config --build --force
fi

# 2. The instrumented targets.
echo "fuzz: building the targets (cargo afl build --release)"
cargo afl build --release --locked --quiet --bins

# 3. Fuzz each target for the time limit, one after the other (afl-fuzz uses one core).
# Containers and CI: no CPU governor to read, a core_pattern that pipes to a helper, no terminal.
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
export AFL_FAST_CAL=1
unset AFL_AUTORESUME AFL_NO_CFG_FUZZING
field() { awk -F' *: *' -v k="$2" '$1 == k {print $2; found=1} END {if (!found) print 0}' "$1"; }
status=0
summary=()
for t in "${run[@]}"; do
  out=$cache/fuzz-out/$t
  rm -rf "$out"
  mkdir -p "$out"
  dict=()
  [[ -f $fuzz_dir/dicts/$t.dict ]] && dict=(-x "$fuzz_dir/dicts/$t.dict")
  echo "fuzz $t: $secs s, output in $out"
  start=$(date +%s)
  if ! cargo afl fuzz -i "$fuzz_dir/seeds/$t" -o "$out" -V "$secs" \
    -t "${FUZZ_TIMEOUT_MS:-1000}" -m "${FUZZ_MEM_MB:-1024}" "${dict[@]}" \
    -- "$CARGO_TARGET_DIR/release/$t" </dev/null >"$out/afl.log" 2>&1; then
    tail -n 40 "$out/afl.log" >&2
    echo "fuzz $t: afl-fuzz failed (log: $out/afl.log)" >&2
    status=1
    summary+=("fuzz $t: afl-fuzz failed")
    continue
  fi
  wall=$(($(date +%s) - start))
  stats=$out/default/fuzzer_stats
  if [[ ! -f $stats ]]; then
    echo "fuzz $t: no fuzzer_stats (log: $out/afl.log)" >&2
    status=1
    summary+=("fuzz $t: no fuzzer_stats")
    continue
  fi
  execs=$(field "$stats" execs_done)
  crashes=$(field "$stats" saved_crashes)
  hangs=$(field "$stats" saved_hangs)
  echo "fuzz $t: execs_done=$execs execs_per_sec=$(field "$stats" execs_per_sec)" \
    "corpus=$(field "$stats" corpus_count) edges=$(field "$stats" edges_found)/$(field "$stats" total_edges)" \
    "bitmap_cvg=$(field "$stats" bitmap_cvg) crashes=$crashes hangs=$hangs wall=${wall}s"
  if ((crashes > 0 || hangs > 0)); then
    status=1
    ls "$out"/default/crashes/id:* "$out"/default/hangs/id:* 2>/dev/null | sed 's/^/  saved: /' >&2 || true
  fi
  summary+=("fuzz $t: $execs execs, $crashes crashes, $hangs hangs")
done
printf '%s\n' "${summary[@]}"
exit $status
