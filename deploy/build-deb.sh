#!/usr/bin/env bash
# Build Debian packages with dpkg-deb (no extra tools):
#   cdposture_<version>_<arch>.deb   the binary, the systemd unit, /etc/cdposture/cdposture.toml
#   cdposture-models_<version>_all.deb  the converted models from models/fetch.sh (architecture-free;
#                                       built on the build host, because the conversion tool chain
#                                       (TensorFlow, tf2onnx) is not something to run on a Pi)
# Usage: deploy/build-deb.sh [amd64|arm64] [OUTDIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
arch=${1:-amd64}
out=${2:-$root/target/deb}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
case "$arch" in
  # Device packages leave the clinic gateway out (--no-default-features).
  amd64) bin=${CARGO_TARGET_DIR:-$HOME/.cache/cdposture/target}/release/cdposture
         (cd "$root" && cargo build --release --no-default-features --quiet) ;;
  arm64) "$root/cross/build.sh" >/dev/null
         bin=${CDPOSTURE_CROSS_TARGET:-$HOME/.cache/cdposture/target-aarch64}/aarch64-unknown-linux-gnu/release/cdposture ;;
  *) echo "architecture must be amd64 or arm64" >&2; exit 2 ;;
esac
"$root/models/fetch.sh" >/dev/null
mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# --- cdposture ---
p=$stage/cdposture
install -D -m 0755 "$bin" "$p/usr/bin/cdposture"
strip_tool=strip; [ "$arch" = arm64 ] && strip_tool=aarch64-linux-gnu-strip
"$strip_tool" --strip-debug "$p/usr/bin/cdposture"
install -D -m 0644 "$root/systemd/cdposture.service" "$p/lib/systemd/system/cdposture.service"
install -D -m 0644 "$root/deploy/cdposture.toml" "$p/etc/cdposture/cdposture.toml"
install -D -m 0644 "$root/README.md" "$p/usr/share/doc/cdposture/README.md"
install -D -m 0644 "$root/docs/schema.json" "$p/usr/share/doc/cdposture/schema.json"
mkdir -p "$p/DEBIAN"
cat > "$p/DEBIAN/control" <<CTL
Package: cdposture
Version: $version
Architecture: $arch
Maintainer: cdposture developers <cdposture@localhost>
Depends: libc6 (>= 2.34), ffmpeg
Recommends: cdposture-models (= $version)
Section: science
Priority: optional
Description: objective cervical dystonia posture measurement from one camera
 Measures head rotation, tilt, flexion/extension and shifts relative to the trunk on every frame,
 maps them to TWSTRS item-1 scores and publishes the numbers over MQTT. No image leaves the device.
CTL
echo /etc/cdposture/cdposture.toml > "$p/DEBIAN/conffiles"
cat > "$p/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  [ -f /etc/cdposture/env ] || { install -m 0600 /dev/null /etc/cdposture/env; echo "# CDPOSTURE_MQTT_PASSWORD=..." > /etc/cdposture/env; }
  if [ ! -f /usr/share/cdposture/models/manifest.toml ]; then
    echo "cdposture: no models in /usr/share/cdposture/models: install the cdposture-models package" >&2
  fi
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
    systemctl enable cdposture.service >/dev/null 2>&1 || true
    systemctl try-restart cdposture.service || true
  fi
fi
SH
cat > "$p/DEBIAN/prerm" <<'SH'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  systemctl stop cdposture.service || true
  systemctl disable cdposture.service >/dev/null 2>&1 || true
fi
SH
chmod 0755 "$p/DEBIAN/postinst" "$p/DEBIAN/prerm"
dpkg-deb --root-owner-group -Zxz --build "$p" "$out/cdposture_${version}_${arch}.deb" >/dev/null

# --- cdposture-models ---
m=$stage/models
mkdir -p "$m/usr/share/cdposture/models" "$m/DEBIAN"
cp -rL "$root/models/build/." "$m/usr/share/cdposture/models/"
cat > "$m/DEBIAN/control" <<CTL
Package: cdposture-models
Version: $version
Architecture: all
Maintainer: cdposture developers <cdposture@localhost>
Section: science
Priority: optional
Description: models for cdposture (MediaPipe face and pose models converted to ONNX, Apache-2.0; cdposture's own posture model, Apache-2.0)
 Built by models/fetch.sh from pinned, sha256-checked packages; see manifest.toml for sources and hashes.
CTL
dpkg-deb --root-owner-group -Zxz --build "$m" "$out/cdposture-models_${version}_all.deb" >/dev/null
ls -la "$out"/*.deb
