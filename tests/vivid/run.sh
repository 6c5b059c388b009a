#!/usr/bin/env bash
# Real kernel drivers for the tests that need them, in a QEMU VM (TCG; this machine has no camera,
# no GPIO and cannot load modules). Boots Debian's stock kernel with the `vivid` virtual camera
# loaded from an initramfs and runs, inside it, test binaries built from the product's code:
#
#   tests/vivid/run.sh          x86_64: tests/vivid.rs (V4L2 capture, errors, corrupt frames, stall,
#                               unplug) + `cdposture cameras --capture` + the daemon on the camera
#   tests/vivid/run.sh arm64    aarch64 (-M virt, Cortex-A72): tests/vivid.rs on the arm64 kernel and
#                               tests/gpio_vm.rs on QEMU's PL061 GPIO chip (exam button pressed from
#                               the QEMU monitor, status LED read back from the kernel)
#
# Caches (outside the clone): kernel + media modules (+ busybox for arm64) in
# ~/.cache/cdposture/vivid-kernel-<package>_<version>; cargo target dirs as everywhere else.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
arch=${1:-amd64}
cache_root=${CDPOSTURE_CACHE:-$HOME/.cache/cdposture}
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
case "$arch" in
  amd64) qemu=qemu-system-x86_64; qemu_pkg=qemu-system-x86; console=ttyS0
         machine=(-cpu max) ;;
  arm64) qemu=qemu-system-aarch64; qemu_pkg=qemu-system-arm; console=ttyAMA0
         machine=(-M virt -cpu cortex-a72) ;;
  *) echo "usage: $0 [amd64|arm64]"; exit 2 ;;
esac
tag="[vivid $arch]"

need=()
command -v "$qemu" >/dev/null 2>&1 || need+=("$qemu_pkg")
if [ "$arch" = amd64 ]; then
  file -L /bin/busybox 2>/dev/null | grep -q 'statically linked' || need+=(busybox-static)
fi
command -v cpio >/dev/null 2>&1 || need+=(cpio)
command -v file >/dev/null 2>&1 || need+=(file)
if [ ${#need[@]} -gt 0 ]; then
  echo "$tag installing: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ "$arch" = arm64 ]; then
  "$root/cross/setup.sh" >/dev/null   # Debian's rustc + arm64 std, the arm64 dpkg architecture
fi

# --- kernel: the version Debian's linux-image-<arch> points at, cached ---------------------------
qual=""; [ "$arch" = amd64 ] || qual=":$arch"
kpkg=$(apt-cache depends "linux-image-$arch$qual" 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
kpkg=${kpkg%%:*}
kver=$( [ -n "$kpkg" ] && apt-cache policy "$kpkg$qual" 2>/dev/null | awk '/Candidate:/{print $2}' || true)
modules=(mc videodev videobuf2-common videobuf2-v4l2 rc-core cec v4l2-dv-timings v4l2-tpg
         videobuf2-memops videobuf2-dma-contig videobuf2-vmalloc vivid)
if [ -n "$kpkg" ] && [ -n "$kver" ]; then
  kdir="$cache_root/vivid-kernel-${kpkg}_${kver}"
else
  # No apt metadata (offline): use whatever kernel was cached before.
  kdir=$(ls -d "$cache_root"/vivid-kernel-*-"$arch"_* 2>/dev/null | tail -1 || true)
  [ -n "$kdir" ] || { echo "$tag cannot resolve linux-image-$arch (apt-get update?) and no cached kernel"; exit 1; }
fi
if [ ! -f "$kdir/done" ]; then
  echo "$tag fetching $kpkg $kver (apt-get download)"
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  chmod 777 "$tmp"   # apt's sandbox user writes the download
  (cd "$tmp" && apt-get download -q "$kpkg$qual=$kver" >/dev/null)
  dpkg-deb -x "$tmp"/linux-image-*.deb "$tmp/x"
  rm -rf "$kdir.part"; mkdir -p "$kdir.part/modules"
  cp "$tmp"/x/boot/vmlinuz-* "$kdir.part/vmlinuz"
  for m in "${modules[@]}"; do
    f=$(find "$tmp/x/lib/modules" -name "$m.ko*" | head -1)
    [ -n "$f" ] || { echo "$tag $m.ko not in $kpkg"; exit 1; }
    case "$f" in
      *.xz) xz -dc "$f" >"$kdir.part/modules/$m.ko" ;;
      *.zst) zstd -qdc "$f" >"$kdir.part/modules/$m.ko" ;;
      *) cp "$f" "$kdir.part/modules/$m.ko" ;;
    esac
  done
  if [ "$arch" = arm64 ]; then
    (cd "$tmp" && apt-get download -q busybox-static:arm64 >/dev/null)
    dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/bb"
    cp "$tmp/bb/bin/busybox" "$kdir.part/busybox"
  fi
  touch "$kdir.part/done"
  rm -rf "$kdir"; mv "$kdir.part" "$kdir"
  rm -rf "$tmp"; trap - EXIT
fi

# --- the test binaries -----------------------------------------------------------------------------
# Prints the path of each test executable named in "$@" from cargo's JSON messages.
executables() {
  python3 -c 'import json, sys
want = set(sys.argv[1:])
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] in want:
        print(m["target"]["name"], m["executable"])' "$@"
}
echo "$tag building the test binaries"
cd "$root"
if [ "$arch" = amd64 ]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$cache_root/target}
  built=$(cargo test --release --test vivid --no-run --message-format=json 2>/dev/null | executables vivid)
  # The product binary too: `cameras` and the daemon itself on the camera.
  cargo build --release --quiet
  daemon="$CARGO_TARGET_DIR/release/cdposture"
  models="$root/models/build"
  [ -f "$models/face_landmark.onnx" ] || "$root/models/fetch.sh"
  busybox=/bin/busybox
else
  # Static, like cross/test.sh's build (and sharing its target dir): no libraries to carry along.
  built=$(CARGO_TARGET_DIR=${CDPOSTURE_CROSS_TEST_TARGET:-$cache_root/target-aarch64-static} \
          RUSTFLAGS="-C target-feature=+crt-static" RUSTC=/usr/bin/rustc \
          /usr/bin/cargo test --release --no-default-features --target aarch64-unknown-linux-gnu --test vivid --test gpio_vm \
          --no-run --message-format=json 2>/dev/null | executables vivid gpio_vm)
  daemon=""
  busybox="$kdir/busybox"
fi
vivid_bin=$(awk '$1=="vivid"{print $2}' <<<"$built")
gpio_bin=$(awk '$1=="gpio_vm"{print $2}' <<<"$built")
[ -x "$vivid_bin" ] || { echo "$tag build failed"; exit 1; }

# --- initramfs -------------------------------------------------------------------------------------
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
rootfs="$work/root"
mkdir -p "$rootfs"/{bin,dev,proc,sys,tmp,lib/modules}
cp "$busybox" "$rootfs/bin/busybox"
cp "$kdir"/modules/*.ko "$rootfs/lib/modules/"
# The initramfs unpacks into half the VM's RAM: debug info (hundreds of MB per aarch64 test binary)
# must go, with the objcopy that reads the target's ELF.
if [ "$arch" = arm64 ]; then objcopy=aarch64-linux-gnu-objcopy; else objcopy=objcopy; fi
strip_into() {
  "$objcopy" --strip-debug "$1" "$2" || { echo "$tag $objcopy could not strip $1 (install binutils for $arch)"; exit 1; }
}
strip_into "$vivid_bin" "$rootfs/vivid-test"
bins=("$vivid_bin")
if [ -n "$gpio_bin" ]; then
  strip_into "$gpio_bin" "$rootfs/gpio-test"
fi
if [ -n "$daemon" ]; then
  strip_into "$daemon" "$rootfs/cdposture"
  bins+=("$daemon")
  mkdir -p "$rootfs/models"
  for f in face_detection_short_range.onnx face_landmark.onnx pose_detection.onnx pose_landmark_lite.onnx posture_net.onnx canonical_face.json manifest.toml; do
    cp -L "$models/$f" "$rootfs/models/"
  done
  cat >"$rootfs/camera.toml" <<'TOML'
[room]
id = "vm"
[source]
kind = "camera"
[camera]
device = "/dev/video0"
fps = 25.0
TOML
fi
if [ "$arch" = amd64 ]; then
  # Dynamically linked (host build): bring the libraries along at the same paths.
  for lib in $(ldd "${bins[@]}" | grep -v ':$' | grep -o '/[^ ]*' | sort -u); do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
fi
cat >"$rootfs/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t debugfs debugfs /sys/kernel/debug
for m in ${modules[*]}; do insmod /lib/modules/\$m.ko || echo "VIVID-INSMOD-FAILED \$m"; done
echo "VIVID-BOOTED \$(uname -m) \$(uname -r)"
cd /tmp
VIVID_KO=/lib/modules/vivid.ko RUST_BACKTRACE=1 /vivid-test --ignored --test-threads=1 --nocapture
echo "VIVID-EXIT \$?"
if [ -x /gpio-test ]; then
  RUST_BACKTRACE=1 /gpio-test --ignored --nocapture
  echo "GPIO-EXIT \$?"
fi
if [ -x /cdposture ]; then
  # The product binary on the camera: the listing, a capture check, and the daemon for 60 s.
  /cdposture cameras | head -12
  /cdposture cameras --capture /dev/video0 --fps 25 --frames 50
  echo "VIVID-CAPTURE-EXIT \$?"
  RUST_LOG=info timeout -s TERM 60 /cdposture --models /models run --config /camera.toml >/tmp/run.jsonl 2>/tmp/run.log
  echo "VIVID-DAEMON-EXIT \$?"
  grep -v '"topic":"state"' /tmp/run.jsonl | sed 's/^/VIVID-DAEMON-OUT /'
  echo "VIVID-DAEMON-STATES \$(grep -c '"topic":"state"' /tmp/run.jsonl)"
  sed 's/^/VIVID-DAEMON-LOG /' /tmp/run.log | head -20
fi
echo "VIVID-DONE"
poweroff -f
INIT
chmod +x "$rootfs/init"
unpacked=$(du -sm "$rootfs" | cut -f1)
echo "$tag initramfs: $unpacked MB unpacked"
# The kernel unpacks it into a tmpfs of half the VM's 1024 MB; past that the boot dies late and vaguely.
[ "$unpacked" -lt 400 ] || { echo "$tag initramfs too large ($unpacked MB, limit 400): strip the binaries"; exit 1; }
(cd "$rootfs" && find . | cpio -o -H newc --quiet | gzip -1 >"$work/initrd.gz")

# --- boot ------------------------------------------------------------------------------------------
echo "$tag booting $(basename "$kdir") in QEMU (TCG) with vivid"
log="$work/console.log"
monitor="$work/monitor.sock"
start=$(date +%s)
# /dev/kvm exists here but hangs a stock kernel: TCG on purpose. The monitor socket lets this
# script press QEMU's power button (the PL061's line 3 on arm64 virt) when the GPIO test asks.
timeout 900 "$qemu" -accel tcg "${machine[@]}" -m 1024 -smp 2 -display none -no-reboot \
  -serial "file:$log" -monitor "unix:$monitor,server,nowait" \
  -kernel "$kdir/vmlinuz" -initrd "$work/initrd.gz" \
  -append "console=$console rdinit=/init panic=-1 quiet loglevel=3" </dev/null &
qemu_pid=$!
pressed=0
shown=0
while kill -0 "$qemu_pid" 2>/dev/null; do
  sleep 0.2
  [ -f "$log" ] || continue
  # Echo the console as it comes.
  lines=$(wc -l <"$log")
  if [ "$lines" -gt "$shown" ]; then sed -n "$((shown + 1)),${lines}p" "$log"; shown=$lines; fi
  asked=$(grep -c '^GPIO-PRESS ' "$log" || true)
  if [ "$asked" -gt "$pressed" ]; then
    python3 - "$monitor" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(0.2)
s.sendall(b"system_powerdown\n"); time.sleep(0.3); s.close()
PY
    pressed=$((pressed + 1))
    echo "$tag pressed the button ($pressed)"
  fi
done
wait "$qemu_pid" || true
lines=$(wc -l <"$log"); [ "$lines" -gt "$shown" ] && sed -n "$((shown + 1)),${lines}p" "$log"
echo "$tag VM ran $(( $(date +%s) - start )) s"

# --- verdict ---------------------------------------------------------------------------------------
fail=0
# A test binary that exits 0 having run fewer tests than it holds (a test lost its #[ignore], a
# filter, a crash before the summary) must not pass: each binary's own libtest summary (the last
# "test result:" line before its exit marker, none if it printed none) must count every #[test]
# of its source file as passed.
summary_before() {
  awk -v m="$1" 'index($0, m) == 1 { print last; exit } /^[A-Z]+-EXIT / { last = "" }
                 /test result:/ { last = $0 }' "$log" | tr -d '\r'
}
passed() { # exit-marker source-file what
  local want got
  want=$(grep -c '^ *#\[test\]' "$root/$2")
  got=$(summary_before "$1")
  grep -q "^$1 0" "$log" && [[ "$got" == *"test result: ok. $want passed; 0 failed"* ]] \
    || { echo "$tag FAIL: $3: want \"ok. $want passed; 0 failed\" and $1 0, got: ${got:-no test summary}"; fail=1; }
}
passed VIVID-EXIT tests/vivid.rs "capture tests"
if [ -n "$gpio_bin" ]; then
  passed GPIO-EXIT tests/gpio_vm.rs "GPIO test"
fi
if [ -n "$daemon" ]; then
  grep -q '^VIVID-CAPTURE-EXIT 0' "$log" && grep -q 'negotiated YUYV 640x480' "$log" \
    || { echo "$tag FAIL: cdposture cameras --capture"; fail=1; }
  grep -q '^VIVID-DAEMON-EXIT 0' "$log" && grep -q '^VIVID-DAEMON-OUT {.*"status":"online".*"topic":"camera"' "$log" \
    && grep '^VIVID-DAEMON-OUT {.*"topic":"stats"' "$log" | grep -q '"camera_online":true' \
    && ! grep -q '^VIVID-DAEMON-STATES 0' "$log" \
    || { echo "$tag FAIL: the daemon on the camera (status online, stats, states, clean stop on SIGTERM)"; fail=1; }
fi
[ $fail -eq 0 ] || exit 1
echo "$tag PASS: V4L2 capture, negotiation, formats, errors, corrupt frames, stall and unplug recovery on vivid"
[ -z "$gpio_bin" ] || echo "$tag PASS: exam button and status LED on the PL061 GPIO chip"
[ -z "$daemon" ] || echo "$tag PASS: cdposture cameras --capture and the daemon itself on the camera"
