#!/usr/bin/env bash
# Build Debian packages with dpkg-deb (no extra tools):
#   cdposture_<version>_<arch>.deb   the device: binary without the gateway, the systemd unit,
#                                    /etc/cdposture/cdposture.toml
#   cdposture-gateway_<version>_<arch>.deb  the clinic server: the full binary (`cdposture gateway`),
#                                    its unit, /etc/cdposture-gateway/gateway.toml, a generated token
#   cdposture-models_<version>_all.deb  the converted models from models/fetch.sh (architecture-free;
#                                       built on the build host, because the conversion tool chain
#                                       (TensorFlow, tf2onnx) is not something to run on a Pi)
# Usage: deploy/build-deb.sh [amd64|arm64] [OUTDIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
arch=${1:-amd64}
out=${2:-$root/target/deb}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# Both builds write the same output path: each binary is copied as soon as it is built.
device_bin=$stage/cdposture-device
gateway_bin=$stage/cdposture-gateway
case "$arch" in
  amd64) built=${CARGO_TARGET_DIR:-$HOME/.cache/cdposture/target}/release/cdposture
         (cd "$root" && cargo build --release --no-default-features --quiet) && cp "$built" "$device_bin"
         (cd "$root" && cargo build --release --quiet) && cp "$built" "$gateway_bin" ;;
  arm64) built=${CDPOSTURE_CROSS_TARGET:-$HOME/.cache/cdposture/target-aarch64}/aarch64-unknown-linux-gnu/release/cdposture
         "$root/cross/build.sh" >/dev/null && cp "$built" "$device_bin"
         "$root/cross/build.sh" --features gateway >/dev/null && cp "$built" "$gateway_bin" ;;
  *) echo "architecture must be amd64 or arm64" >&2; exit 2 ;;
esac
"$root/models/fetch.sh" >/dev/null
mkdir -p "$out"
strip_tool=strip; [ "$arch" = arm64 ] && strip_tool=aarch64-linux-gnu-strip

# --- cdposture ---
p=$stage/cdposture
install -D -m 0755 "$device_bin" "$p/usr/bin/cdposture"
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

# --- cdposture-gateway ---
g=$stage/gateway
install -D -m 0755 "$gateway_bin" "$g/usr/bin/cdposture"
"$strip_tool" --strip-debug "$g/usr/bin/cdposture"
install -D -m 0644 "$root/systemd/cdposture-gateway.service" "$g/lib/systemd/system/cdposture-gateway.service"
install -D -m 0644 "$root/docs/gateway.toml" "$g/etc/cdposture-gateway/gateway.toml"
for doc in README.md docs/schema.json docs/gateway-openapi.yaml; do
  install -D -m 0644 "$root/$doc" "$g/usr/share/doc/cdposture-gateway/$(basename "$doc")"
done
mkdir -p "$g/DEBIAN"
cat > "$g/DEBIAN/control" <<CTL
Package: cdposture-gateway
Version: $version
Architecture: $arch
Maintainer: cdposture developers <cdposture@localhost>
Depends: libc6 (>= 2.34)
Recommends: mosquitto
Suggests: postgresql
Conflicts: cdposture
Section: science
Priority: optional
Description: cdposture clinic gateway: every exam room in one place
 Stores the exams and time series the exam-room daemons publish over MQTT (SQLite or PostgreSQL),
 repairs gaps, and serves an HTTP JSON API (bearer token), CSV and FHIR exports and a dashboard.
CTL
echo /etc/cdposture-gateway/gateway.toml > "$g/DEBIAN/conffiles"
cat > "$g/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  # A token of its own on every install, root-only: the API is never open by default.
  if [ ! -f /etc/cdposture-gateway/env ]; then
    install -m 0600 /dev/null /etc/cdposture-gateway/env
    echo "CDPOSTURE_GATEWAY_TOKEN=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" > /etc/cdposture-gateway/env
  fi
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
    systemctl enable cdposture-gateway.service >/dev/null 2>&1 || true
    systemctl try-restart cdposture-gateway.service || true
  fi
fi
SH
cat > "$g/DEBIAN/prerm" <<'SH'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  systemctl stop cdposture-gateway.service || true
  systemctl disable cdposture-gateway.service >/dev/null 2>&1 || true
fi
SH
chmod 0755 "$g/DEBIAN/postinst" "$g/DEBIAN/prerm"
dpkg-deb --root-owner-group -Zxz --build "$g" "$out/cdposture-gateway_${version}_${arch}.deb" >/dev/null

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
