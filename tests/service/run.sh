#!/usr/bin/env bash
# `make test-service`: the .deb under a real systemd. A Debian 12 container (rootfs cached by
# tests/service/rootfs.sh, outside the repo) is booted with systemd-nspawn on an overlay, so the
# cache stays clean; the package is installed with dpkg -i and driven with systemctl, while a
# fake Mattermost runs on the host's loopback (the container shares the host's network) and
# recorded sessions are played into the container's homes from the host.
# Needs root, debootstrap and systemd-container (installed when missing). Prints one line per
# check and "N passed, M failed" last; exits 1 if any check failed.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
export PATH="$repo/.tools/bin:$HOME/.cargo/bin:$PATH"
started=$(date +%s)

if [ "$(id -u)" != 0 ]; then
  echo "test-service: needs root (debootstrap, systemd-nspawn)" >&2
  exit 1
fi

passed=0
failed=0
check() { # description, then a command; the command's failure is a failed check
  local what="$1"
  shift
  if "$@"; then
    echo "ok - $what"
    passed=$((passed + 1))
  else
    echo "FAIL - $what"
    failed=$((failed + 1))
  fi
}

rootfs="$(tests/service/rootfs.sh)"
work="$(mktemp -d /var/tmp/olst-service.XXXXXX)"
name="olst-svc-$$"
merged="$work/root"
nspawn_pid=""
mm_pid=""

cleanup() {
  set +e
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    kill -TERM "$nspawn_pid"
    for _ in $(seq 1 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nspawn_pid" 2>/dev/null
    wait "$nspawn_pid" 2>/dev/null
  fi
  [ -n "$mm_pid" ] && kill "$mm_pid" 2>/dev/null && wait "$mm_pid" 2>/dev/null
  # The container's mount namespace may take a moment to go after nspawn has exited.
  for _ in $(seq 1 50); do
    mountpoint -q "$merged" || break
    umount "$merged" 2>/dev/null || sleep 0.2
  done
  # Lazily at last: a process on the host may still hold a file of it open (a host-wide
  # `openclaw-livestatus` finds the container's sessions too).
  mountpoint -q "$merged" && umount -l "$merged"
  for h in systemd unified; do
    [ -d "/sys/fs/cgroup/$h/$name" ] && find "/sys/fs/cgroup/$h/$name" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT

# The packages (the first one, and the same tree as a higher version for the upgrade), and the
# two host-side helpers.
pkgs="$work/pkgs"
mkdir -p "$pkgs/v1" "$pkgs/v2"
if ! ls target/package/openclaw-livestatus_*.deb >/dev/null 2>&1; then
  packaging/build.sh
fi
cp target/package/openclaw-livestatus_*.deb "$pkgs/v1/"
PACKAGE_LINT=0 PACKAGE_VERSION=0.1.1 PACKAGE_OUT="$pkgs/v2" packaging/build.sh >"$work/build-v2.log" 2>&1 ||
  { cat "$work/build-v2.log"; exit 1; }
cargo build -q --locked -p livestatus-e2e --bin fake-mattermost --bin play-recording
bin="$repo/target/debug"

# The container: an overlay over the cached rootfs, in its own cgroups (so that two runs can
# coexist), booted in the background.
mkdir -p "$work/upper" "$work/overlay-work" "$merged"
mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$work/upper,workdir=$work/overlay-work" "$merged"
mkdir -p "$merged/var/tmp/pkgs"
cp "$pkgs/v1/"*.deb "$merged/var/tmp/pkgs/v1.deb"
cp "$pkgs/v2/"*.deb "$merged/var/tmp/pkgs/v2.deb"
(
  # Hybrid hierarchies (as on these machines): a cgroup of its own in both, or nspawn finds the
  # host's root cgroup taken. A pure cgroup v2 host needs nothing here.
  for h in systemd unified; do
    [ -d "/sys/fs/cgroup/$h" ] || continue
    mkdir -p "/sys/fs/cgroup/$h/$name"
    echo $BASHPID >"/sys/fs/cgroup/$h/$name/cgroup.procs"
  done
  # nspawn keeps CAP_BPF/CAP_PERFMON and the eBPF/fanotify calls from a container unless told:
  # granted here, so the unit's own sandbox is what decides whether the eBPF tier arms.
  exec systemd-nspawn -D "$merged" -M "$name" -b --register=no --keep-unit --console=passive \
    --capability=CAP_BPF,CAP_PERFMON \
    "--system-call-filter=bpf perf_event_open fanotify_init fanotify_mark open_by_handle_at" \
    >"$work/nspawn.log" 2>&1
) &
nspawn_pid=$!

boot_start=$(date +%s)
leader=""
for _ in $(seq 1 600); do
  leader="$(pgrep -P "$nspawn_pid" | head -1 || true)"
  [ -n "$leader" ] && [ "$(cat "/proc/$leader/comm" 2>/dev/null)" = systemd ] && break
  sleep 0.1
done
in_ct() { nsenter -t "$leader" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
# "degraded" is fine: some host-only units fail in a container.
booted() {
  local st=""
  for _ in $(seq 1 60); do
    st="$(in_ct systemctl is-system-running --wait 2>/dev/null || true)"
    [ "$st" = running ] || [ "$st" = degraded ] && return 0
    sleep 1
  done
  echo "   system state: '$st' (leader pid $leader: $(cat "/proc/$leader/comm" 2>/dev/null))" >&2
  return 1
}
check "the container boots (systemd $(in_ct systemctl --version | head -1 | cut -d' ' -f2))" booted
boot_done=$(date +%s)

# The fake Mattermost on loopback.
dump="$work/mm.json"
"$bin/fake-mattermost" "$dump" >"$work/mm.url" 2>"$work/mm.log" &
mm_pid=$!
for _ in $(seq 1 50); do [ -s "$work/mm.url" ] && break; sleep 0.1; done
mm_url="$(head -1 "$work/mm.url")"
token="fake-mm-bot-token-not-secret"

state() { in_ct systemctl show -p "$1" --value openclaw-livestatus; }
wait_state() { # property value seconds
  for _ in $(seq 1 $(($3 * 10))); do [ "$(state "$1")" = "$2" ] && return 0; sleep 0.1; done
  return 1
}
posts() { jq -r "$1" "$dump" 2>/dev/null; }
wait_posts() { # jq expression that must print "true", seconds
  for _ in $(seq 1 $(($2 * 10))); do [ "$(posts "$1")" = true ] && return 0; sleep 0.1; done
  echo "   mattermost: $(cat "$dump" 2>/dev/null | head -c 2000)" >&2
  return 1
}
journal() { in_ct journalctl -q --no-pager -u openclaw-livestatus "$@"; }
# A gateway in /home/<user>/.openclaw whose openclaw.json enables Mattermost (the bot and the
# server come from the daemon's config and credential).
gateway() {
  mkdir -p "$merged/home/$1/.openclaw"
  printf '{"channels": {"mattermost": {"enabled": true, "baseUrl": "%s"}}}\n' "$mm_url" \
    >"$merged/home/$1/.openclaw/openclaw.json"
}

# --- install
in_ct dpkg -i /var/tmp/pkgs/v1.deb >"$work/dpkg-install.log" 2>&1
check "dpkg -i installs the package" grep -q "openclaw-livestatus is installed but not started" "$work/dpkg-install.log"
check "the service is not started before it is configured" test "$(state ActiveState)" = inactive
verify_quiet() {
  local out
  out="$(in_ct systemd-analyze verify /lib/systemd/system/openclaw-livestatus.service 2>&1)"
  [ -z "$out" ] || { echo "   $out" >&2; return 1; }
}
check "systemd-analyze verify prints nothing" verify_quiet
security="$(in_ct systemd-analyze security openclaw-livestatus 2>/dev/null | tail -1)"
echo "   systemd-analyze security: $security"
check "the man page is installed" test -f "$merged/usr/share/man/man1/openclaw-livestatus.1.gz"

# --- configure and enable
gateway alice
cat >"$merged/etc/openclaw-livestatus/config.toml" <<EOF
# edited by the admin
[mattermost]
url = "$mm_url"
EOF
mkdir -p -m 700 "$merged/etc/credstore"
printf '%s\n' "$token" >"$merged/etc/credstore/mattermost-token"
chmod 600 "$merged/etc/credstore/mattermost-token"
in_ct systemctl enable --now openclaw-livestatus >/dev/null 2>&1 || true
check "enable --now: active (running)" test "$(state ActiveState)/$(state SubState)" = active/running
# The daemon logs the CLOCK_MONOTONIC time just before it sends READY=1; systemd stamps the
# unit's start and its going active with the same clock: start < READY ≤ active.
ready_us="$(journal -o json MESSAGE=ready | jq -r '.READY_MONOTONIC_USEC' | tail -1)"
start_us="$(state ExecMainStartTimestampMonotonic)"
active_us="$(state ActiveEnterTimestampMonotonic)"
after_ready() { [ "$start_us" -lt "$ready_us" ] && [ "$ready_us" -le "$active_us" ]; }
check "active only after READY (started $start_us, READY sent $ready_us, active $active_us µs)" after_ready
tier="$(journal -o json MESSAGE=ready | jq -r '.TIER' | tail -1)"
echo "   armed tier in the container: $tier"
if [ "${LIVESTATUS_ALLOW_NO_EBPF:-}" = 1 ]; then
  echo "   (LIVESTATUS_ALLOW_NO_EBPF=1: the eBPF tier is not required)"
else
  # With watch.tier = auto the daemon arms eBPF, measures what it costs the rest of the host and
  # may stop it again for a cheaper tier (watch.max_host_cost): armed either way, the proof sought.
  ebpf_armed() {
    [ "$tier" = ebpf ] && return 0
    local dear
    dear="$(journal -o json | jq -r 'select(.TIER == "ebpf" and (.MESSAGE | test("costs the rest of the host"))) | .COST' | tail -1)"
    [ -n "$dear" ] && echo "   eBPF armed, then turned down by auto: it cost the host $dear"
  }
  check "the eBPF tier arms under the unit's sandbox" ebpf_armed
fi
journal -o json | jq -r 'select(.MESSAGE | test("tier unavailable")) | "   \(.TIER // "") \(.MESSAGE) \(.REASON // .reason // "")"' 2>/dev/null | head -3 || true
status_line() { in_ct systemctl status openclaw-livestatus --no-pager | grep -q "Status: \"tier $tier, 1 gateway(s)"; }
check "systemctl status shows the STATUS line" status_line
second_instance() {
  local out rc
  out="$(in_ct timeout 20 openclaw-livestatus run 2>&1)"
  rc=$?
  [ "$rc" = 1 ] && grep -q 'already runs on the data dir /var/lib/openclaw-livestatus' <<<"$out"
}
check "a second run on the same data dir is refused" second_instance

# --- a replayed session reaches Mattermost, one post per turn
"$bin/play-recording" 2026.7.1/a_channel_tools "$merged/home/alice/.openclaw" >/dev/null
check "the replayed turn reaches the fake Mattermost: one post, [DONE]" \
  wait_posts '(.posts | length == 1) and (.posts[0].message | contains("[DONE]")) and .creates == 1' 20
key="$(in_ct journalctl -F SESSION_KEY | head -1)"
session_lines() { journal SESSION_KEY="$key" -o json | jq -r .POST_ID | grep -q '^[a-z0-9]\{26\}$'; }
check "journalctl -u … SESSION_KEY=$key returns that session's lines, with POST_ID" session_lines
identifier() { in_ct journalctl -q --no-pager SYSLOG_IDENTIFIER=openclaw-livestatus | grep -q ready; }
check "journal lines carry SYSLOG_IDENTIFIER=openclaw-livestatus" identifier

# --- reload while a box is open keeps its post
gateway bob
"$bin/play-recording" 2026.7.1/a_channel_tools "$merged/home/bob/.openclaw" 2 "$work/resume-bob" >"$work/play-bob.log" &
play_pid=$!
wait_posts '.posts | length == 2' 20 || true
bob_post="$(posts '.posts[1].id')"
sed -i 's/^# edited by the admin$/# edited by the admin\n[session]\nidle_timeout_s = 600/' "$merged/etc/openclaw-livestatus/config.toml"
in_ct systemctl reload openclaw-livestatus
wait_state ActiveState active 10 || true
touch "$work/resume-bob"
wait "$play_pid" || true
check "reload mid-turn: same post, no second post, [DONE]" \
  wait_posts "(.posts | length == 2) and (.posts[1].id == \"$bob_post\") and (.posts[1].message | contains(\"[DONE]\")) and .creates == 2" 20
reloaded() { journal | grep -q 'config reloaded'; }
check "the reload was applied (config reloaded)" reloaded

# --- a broken config on reload is refused, the service keeps running
cp "$merged/etc/openclaw-livestatus/config.toml" "$work/config.good"
printf '[session]\nidle_timeout_s = "soon"\n' >"$merged/etc/openclaw-livestatus/config.toml"
in_ct systemctl reload openclaw-livestatus
sleep 1
refused() { journal | grep 'reload refused' | grep -q '/etc/openclaw-livestatus/config.toml:2:.*session.idle_timeout_s'; }
check "a broken config on reload is refused naming file, line and key" refused
check "… and the service keeps running" test "$(state ActiveState)" = active
cp "$work/config.good" "$merged/etc/openclaw-livestatus/config.toml"
in_ct systemctl reload openclaw-livestatus
wait_state ActiveState active 10 || true

# --- the watchdog restarts a wedged daemon
mkdir -p "$merged/etc/systemd/system/openclaw-livestatus.service.d"
cat >"$merged/etc/systemd/system/openclaw-livestatus.service.d/test-stall.conf" <<'EOF'
[Service]
Environment=LIVESTATUS_TEST_STALL_FILE=/run/openclaw-livestatus-test-stall
WatchdogSec=4s
RestartSec=1s
EOF
in_ct systemctl daemon-reload
in_ct systemctl restart openclaw-livestatus
restarts_before="$(state NRestarts)"
# The container's /run is its own tmpfs: made from inside.
in_ct touch /run/openclaw-livestatus-test-stall
watchdogged() {
  for _ in $(seq 1 200); do
    journal | grep -q "Failed with result 'watchdog'" && return 0
    sleep 0.1
  done
  return 1
}
check "the stall hook gets the service killed with result 'watchdog'" watchdogged
in_ct rm -f /run/openclaw-livestatus-test-stall
restarted() {
  for _ in $(seq 1 100); do
    [ "$(state NRestarts)" -gt "$restarts_before" ] && [ "$(state ActiveState)" = active ] && return 0
    sleep 0.1
  done
  return 1
}
check "… and restarted by systemd" restarted
rm -f "$merged/etc/systemd/system/openclaw-livestatus.service.d/test-stall.conf"
in_ct systemctl daemon-reload
in_ct systemctl restart openclaw-livestatus

# --- stop leaves the open box [INTERRUPTED]
gateway carol
"$bin/play-recording" 2026.7.1/a_channel_tools "$merged/home/carol/.openclaw" 2 "$work/resume-carol" >/dev/null &
play_pid=$!
wait_posts '.posts | length == 3' 20 || true
in_ct systemctl stop openclaw-livestatus
touch "$work/resume-carol"
wait "$play_pid" || true
check "systemctl stop leaves the open box [INTERRUPTED]" \
  wait_posts '(.posts | length == 3) and (.posts[2].message | contains("[INTERRUPTED]"))' 10
check "… and the stop was clean (inactive, not failed)" test "$(state ActiveState)" = inactive

# --- upgrade keeps the edited config and restarts a running service
in_ct systemctl start openclaw-livestatus
pid_before="$(state MainPID)"
in_ct dpkg -i /var/tmp/pkgs/v2.deb >"$work/dpkg-upgrade.log" 2>&1
check "upgrade to 0.1.1 keeps the edited config" grep -q "^# edited by the admin" "$merged/etc/openclaw-livestatus/config.toml"
upgraded() { [ "$(state MainPID)" != "$pid_before" ] && [ "$(state ActiveState)" = active ]; }
check "… and restarts the running service" upgraded
new_version() { in_ct dpkg-query -W -f='${Version}' openclaw-livestatus | grep -q '^0.1.1'; }
check "… to the new version" new_version

# --- purge
in_ct dpkg --purge openclaw-livestatus >"$work/dpkg-purge.log" 2>&1
stopped() { [ "$(state ActiveState)" = inactive ]; }
check "purge stops the service" stopped
check "purge removes state and config" bash -c "[ ! -e '$merged/var/lib/openclaw-livestatus' ] && [ ! -e '$merged/etc/openclaw-livestatus' ]"

# --- the .rpm: contents, scripts, config flags, installed into a scratch root
rpm_file="$(ls target/package/openclaw-livestatus-*.rpm 2>/dev/null | head -1)"
if [ -n "$rpm_file" ]; then
  check "rpm -qlp lists the binary, the unit, the config, the man page" \
    bash -c "rpm -qlp '$rpm_file' | grep -qx /usr/bin/openclaw-livestatus && rpm -qlp '$rpm_file' | grep -qx /usr/lib/systemd/system/openclaw-livestatus.service && rpm -qlp '$rpm_file' | grep -q man1/openclaw-livestatus.1.gz"
  check "rpm --scripts: daemon-reload, stop on erase, try-restart on upgrade" \
    bash -c "s=\$(rpm -qp --scripts '$rpm_file'); grep -q daemon-reload <<<\"\$s\" && grep -q 'disable --now' <<<\"\$s\" && grep -q try-restart <<<\"\$s\""
  check "rpm: config.toml is %config(noreplace)" \
    bash -c "rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' '$rpm_file' | grep -q '^/etc/openclaw-livestatus/config.toml cn$'"
  scratch="$work/rpmroot"
  mkdir -p "$scratch"
  rpm --root "$scratch" --initdb
  check "rpm -i --nodeps into a scratch root" \
    bash -c "rpm --root '$scratch' -i --nodeps --noscripts '$rpm_file' && [ -x '$scratch/usr/bin/openclaw-livestatus' ] && rpm --root '$scratch' -q openclaw-livestatus >/dev/null"
else
  check "an .rpm was built" false
fi

end=$(date +%s)
echo "   time: $((end - started)) s in all: $((boot_start - started)) s packages and helpers, $((boot_done - boot_start)) s to a booted container, $((end - boot_done)) s of checks"
echo "service: $passed passed, $failed failed"
[ "$failed" = 0 ]
