#!/usr/bin/env bash
# Capture tests on a real V4L2 driver: boots Debian's stock kernel in QEMU (TCG; this machine has
# no camera and cannot load modules), loads the `vivid` virtual camera from an initramfs, and runs
# the test binary built from tests/vivid.rs inside it (the product's own capture code).
#
#   tests/vivid/run.sh            one command: packages, kernel, build, boot, verdict
#
# Caches (outside the clone): the kernel's vmlinuz + media modules in
# ~/.cache/cdposture/vivid-kernel-<kernel package version>; the cargo target dir as everywhere.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cdposture/target}
cache_root=${CDPOSTURE_CACHE:-$HOME/.cache/cdposture}
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"

need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
[ -x /bin/busybox ] && /bin/busybox --help 2>&1 | head -1 | grep -q BusyBox \
  && file -L /bin/busybox 2>/dev/null | grep -q 'statically linked' || need+=(busybox-static)
command -v cpio >/dev/null 2>&1 || need+=(cpio)
command -v file >/dev/null 2>&1 || need+=(file)
if [ ${#need[@]} -gt 0 ]; then
  echo "[vivid] installing: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- kernel: the version Debian's linux-image-amd64 points at, cached -----------------------------
arch=amd64
kpkg=$(apt-cache depends "linux-image-$arch" 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
kver=$(apt-cache policy "$kpkg" 2>/dev/null | awk '/Candidate:/{print $2}')
kdir="$cache_root/vivid-kernel-${kpkg}_${kver}"
modules=(mc videodev videobuf2-common videobuf2-v4l2 rc-core cec v4l2-dv-timings v4l2-tpg
         videobuf2-memops videobuf2-dma-contig videobuf2-vmalloc vivid)
if [ -z "$kpkg" ] || [ -z "$kver" ]; then
  # No apt metadata (offline): use whatever kernel was cached before.
  kdir=$(ls -d "$cache_root"/vivid-kernel-* 2>/dev/null | tail -1 || true)
  [ -n "$kdir" ] || { echo "[vivid] cannot resolve linux-image-$arch (apt-get update?) and no cached kernel"; exit 1; }
fi
if [ ! -f "$kdir/done" ]; then
  echo "[vivid] fetching $kpkg $kver (apt-get download)"
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && chmod 777 . && apt-get download -q "$kpkg=$kver" >/dev/null)
  dpkg-deb -x "$tmp"/*.deb "$tmp/x"
  mkdir -p "$kdir.part/modules"
  cp "$tmp"/x/boot/vmlinuz-* "$kdir.part/vmlinuz"
  for m in "${modules[@]}"; do
    f=$(find "$tmp/x/lib/modules" -name "$m.ko*" | head -1)
    [ -n "$f" ] || { echo "[vivid] $m.ko not in $kpkg"; exit 1; }
    case "$f" in
      *.xz) xz -dc "$f" >"$kdir.part/modules/$m.ko" ;;
      *.zst) zstd -qdc "$f" >"$kdir.part/modules/$m.ko" ;;
      *) cp "$f" "$kdir.part/modules/$m.ko" ;;
    esac
  done
  touch "$kdir.part/done"
  rm -rf "$kdir"; mv "$kdir.part" "$kdir"
  rm -rf "$tmp"; trap - EXIT
fi

# --- the test binary -------------------------------------------------------------------------------
echo "[vivid] building the capture test binary"
bin=$(cd "$root" && cargo test --release --test vivid --no-run --message-format=json 2>/dev/null \
      | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "vivid":
        print(m["executable"])')
[ -x "$bin" ] || { echo "[vivid] build failed:"; (cd "$root" && cargo test --release --test vivid --no-run); exit 1; }
# The product binary too: `cameras` and the daemon itself on the camera.
(cd "$root" && cargo build --release --quiet)
daemon="$CARGO_TARGET_DIR/release/cdposture"
models="$root/models/build"
[ -f "$models/face_landmark.onnx" ] || "$root/models/fetch.sh"

# --- initramfs -------------------------------------------------------------------------------------
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs="$work/root"
mkdir -p "$rootfs"/{bin,dev,proc,sys,tmp,lib/modules}
cp /bin/busybox "$rootfs/bin/busybox"
cp "$kdir"/modules/*.ko "$rootfs/lib/modules/"
objcopy --strip-debug "$bin" "$rootfs/vivid-test"
objcopy --strip-debug "$daemon" "$rootfs/cdposture"
mkdir -p "$rootfs/models"
for f in face_detection_short_range.onnx face_landmark.onnx pose_detection.onnx pose_landmark_lite.onnx canonical_face.json manifest.toml; do
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
# Both binaries are dynamically linked: bring their libraries along at the same paths.
for lib in $(ldd "$bin" "$daemon" | grep -v ':$' | grep -o '/[^ ]*' | sort -u); do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
cat >"$rootfs/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
for m in ${modules[*]}; do insmod /lib/modules/\$m.ko || echo "VIVID-INSMOD-FAILED \$m"; done
echo "VIVID-BOOTED \$(uname -r)"
cd /tmp
VIVID_KO=/lib/modules/vivid.ko RUST_BACKTRACE=1 /vivid-test --ignored --test-threads=1 --nocapture
echo "VIVID-EXIT \$?"
# The product binary on the camera: the listing, a capture check, and the daemon for 60 s.
/cdposture cameras | head -12
/cdposture cameras --capture /dev/video0 --fps 25 --frames 50
echo "VIVID-CAPTURE-EXIT \$?"
RUST_LOG=info timeout -s TERM 60 /cdposture --models /models run --config /camera.toml >/tmp/run.jsonl 2>/tmp/run.log
echo "VIVID-DAEMON-EXIT \$?"
grep -v '"topic":"state"' /tmp/run.jsonl | sed 's/^/VIVID-DAEMON-OUT /'
echo "VIVID-DAEMON-STATES \$(grep -c '"topic":"state"' /tmp/run.jsonl)"
sed 's/^/VIVID-DAEMON-LOG /' /tmp/run.log | head -20
poweroff -f
INIT
chmod +x "$rootfs/init"
(cd "$rootfs" && find . | cpio -o -H newc --quiet | gzip -1 >"$work/initrd.gz")

# --- boot ------------------------------------------------------------------------------------------
echo "[vivid] booting $(basename "$kdir") in QEMU (TCG) with vivid"
log="$work/console.log"
start=$(date +%s)
# /dev/kvm exists here but hangs a stock kernel: TCG on purpose.
timeout 600 qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 2 -nographic -no-reboot \
  -kernel "$kdir/vmlinuz" -initrd "$work/initrd.gz" \
  -append "console=ttyS0 rdinit=/init panic=-1 quiet loglevel=3" </dev/null | tee "$log" || true
echo "[vivid] VM ran $(( $(date +%s) - start )) s"
fail=0
grep -q '^VIVID-EXIT 0' "$log" && grep -q 'test result: ok. 6 passed' "$log" || { echo "[vivid] FAIL: capture tests"; fail=1; }
grep -q '^VIVID-CAPTURE-EXIT 0' "$log" && grep -q 'negotiated YUYV 640x480' "$log" \
  || { echo "[vivid] FAIL: cdposture cameras --capture"; fail=1; }
grep -q '^VIVID-DAEMON-EXIT 0' "$log" && grep -q '^VIVID-DAEMON-OUT {.*"status":"online".*"topic":"camera"' "$log" \
  && grep '^VIVID-DAEMON-OUT {.*"topic":"stats"' "$log" | grep -q '"camera_online":true' \
  && ! grep -q '^VIVID-DAEMON-STATES 0' "$log" \
  || { echo "[vivid] FAIL: the daemon on the camera (status online, stats, states, clean stop on SIGTERM)"; fail=1; }
[ $fail -eq 0 ] || exit 1
echo "[vivid] PASS: capture, negotiation, formats, errors, corrupt frames, stall and unplug recovery"
echo "[vivid]       on the vivid driver; cdposture cameras --capture and the daemon itself on the camera"
