#!/usr/bin/env bash
# The install path as a clinic technician follows it (README "Install on a Raspberry Pi", steps 2-4),
# on this machine with the amd64 packages: install with apt, check the shipped config is a camera
# config, put a broker password in /etc/cdposture/env, run `sudo cdposture check-config` exactly as
# the README says (sudo drops the environment: --env-file reads the file), check the password is
# never printed, start the daemon on the installed config (no camera here: it must wait, not exit),
# then purge. Needs root (CI runs as root).
# Usage: deploy/test-deb.sh DEBDIR
set -euo pipefail
debs=${1:?usage: deploy/test-deb.sh DEBDIR}
[ "$(id -u)" -eq 0 ] || { echo "test-deb: run as root (it installs the packages)" >&2; exit 2; }
command -v sudo >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sudo >/dev/null; }
fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }
cleanup() {
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq cdposture cdposture-models cdposture-gateway >/dev/null 2>&1 || true
  rm -rf /etc/cdposture /etc/cdposture-gateway
}
trap cleanup EXIT
cleanup

# Step 2: install (apt resolves ffmpeg).
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$debs"/cdposture_*_amd64.deb "$debs"/cdposture-models_*_all.deb >/dev/null
[ -x /usr/bin/cdposture ] || fail "no /usr/bin/cdposture"
/usr/bin/cdposture --help | grep -qw gateway && fail "the device package carries the gateway"
[ "$(stat -c %a /etc/cdposture/env)" = 600 ] || fail "/etc/cdposture/env must be root-only"

# The shipped config is a camera config, valid as installed.
out=$(sudo cdposture check-config /etc/cdposture/cdposture.toml) || fail "shipped config: $out"
grep -q 'Camera(' <<<"$out" || fail "the shipped config does not measure a camera: $out"

# Step 3: room id, broker, password in /etc/cdposture/env; then check-config as the README says.
secret="Tr0ub4dor-$RANDOM"
sed -i 's/^id = "room1"/id = "exam-room-1"/; s/^# \[mqtt\]$/[mqtt]/; s/^# host = .*/host = "127.0.0.1"/; s/^# username = .*/username = "exam-room-1"/; s/^# password_env = \(.*\)/password_env = \1/' /etc/cdposture/cdposture.toml
echo "CDPOSTURE_MQTT_PASSWORD=$secret" > /etc/cdposture/env
readme_step=$(grep -o 'sudo cdposture check-config [^`]*' "$(dirname "$0")/../README.md" | head -1)
[ -n "$readme_step" ] || fail "README has no check-config step"
echo "test-deb: README step: $readme_step"
out=$(env -u CDPOSTURE_MQTT_PASSWORD bash -c "$readme_step" 2>&1) || fail "README's check-config step failed: $out"
grep -q 'exam-room-1' <<<"$out" || fail "check-config did not read the edited config: $out"
grep -q 'Secret(<redacted>)' <<<"$out" || fail "the password was not read from /etc/cdposture/env: $out"
grep -q "$secret" <<<"$out" && fail "check-config printed the password"
# Without the env file, the error says where the password comes from.
out=$(env -u CDPOSTURE_MQTT_PASSWORD sudo cdposture check-config /etc/cdposture/cdposture.toml 2>&1) && fail "a missing password passed"
grep -q -- '--env-file /etc/cdposture/env' <<<"$out" || fail "the error does not say how to check by hand: $out"

# The service's command line on the installed files: no camera here, so it must wait for one.
state=$(mktemp -d)
sed -i "s#^dir = \"/var/lib/cdposture/outbox\"#dir = \"$state/outbox\"#" /etc/cdposture/cdposture.toml
log=$state/log
set -a; . /etc/cdposture/env; set +a
RUST_LOG=info /usr/bin/cdposture --models /usr/share/cdposture/models run --config /etc/cdposture/cdposture.toml >"$state/out" 2>"$log" &
pid=$!
sleep 5
kill -0 $pid 2>/dev/null || fail "the daemon exited without a camera: $(cat "$log")"
grep -q 'offline' "$log" || fail "no camera offline line: $(cat "$log")"
kill -TERM $pid; wait $pid || fail "unclean stop: $(cat "$log")"
grep -q "$secret" "$log" "$state/out" && fail "the daemon printed the password"
rm -rf "$state"
echo "test-deb: install, shipped camera config, README check-config step, waiting for a camera: OK"

# The gateway package on a clinic server (it replaces the device package on the same machine).
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq cdposture >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$debs"/cdposture-gateway_*_amd64.deb >/dev/null
[ "$(stat -c %a /etc/cdposture-gateway/env)" = 600 ] || fail "/etc/cdposture-gateway/env must be root-only"
grep -Eq '^CDPOSTURE_GATEWAY_TOKEN=[0-9a-f]{64}$' /etc/cdposture-gateway/env || fail "no generated token"
state=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "s#^url = .*#url = \"sqlite:$state/gateway.db\"#" -e "s#^listen = .*#listen = \"127.0.0.1:$port\"#" \
  /etc/cdposture-gateway/gateway.toml > "$state/gateway.toml"
set -a; . /etc/cdposture-gateway/env; set +a
/usr/bin/cdposture gateway --config "$state/gateway.toml" >"$state/out" 2>"$state/log" &
pid=$!
ok=""
for _ in $(seq 50); do
  if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
    printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
    grep -q '"database":true' <&3 && ok=1
    exec 3<&-
    [ -n "$ok" ] && break
  fi
  sleep 0.2
done
kill -TERM $pid; wait $pid || fail "gateway: unclean stop: $(cat "$state/log")"
[ -n "$ok" ] || fail "the packaged gateway did not answer /healthz: $(cat "$state/log")"
grep -q "$CDPOSTURE_GATEWAY_TOKEN" "$state/log" "$state/out" && fail "the gateway printed its token"
rm -rf "$state"
echo "test-deb: gateway package: generated root-only token, /healthz on the shipped config: OK"
