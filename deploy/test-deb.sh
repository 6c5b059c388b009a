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
cleanup() { DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq cdposture cdposture-models >/dev/null 2>&1 || true; rm -rf /etc/cdposture; }
trap cleanup EXIT
cleanup

# Step 2: install (apt resolves ffmpeg).
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$debs"/cdposture_*_amd64.deb "$debs"/cdposture-models_*_all.deb >/dev/null
[ -x /usr/bin/cdposture ] || fail "no /usr/bin/cdposture"
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
