#!/usr/bin/env bash
# Prints the path of a Debian 12 rootfs with systemd, made with debootstrap the first time and
# cached outside the repo (~250 MB, about a minute): $LIVESTATUS_ROOTFS_CACHE, by default
# /var/cache/openclaw-livestatus-test/bookworm. A half-made one (no .complete) is made again.
set -euo pipefail
cache="${LIVESTATUS_ROOTFS_CACHE:-/var/cache/openclaw-livestatus-test}"
root="$cache/bookworm"
# Bump when the package list changes, so an old cache is rebuilt.
recipe="v1 systemd,systemd-sysv,dbus,procps,man-db,curl,ca-certificates"

# What the service test runs on the host (jq reads the journal's JSON and the fake's posts).
missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
command -v jq >/dev/null || missing+=(jq)
if ((${#missing[@]})); then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
if [ -f "$root/.complete" ] && [ "$(cat "$root/.complete")" = "$recipe" ]; then
  echo "$root"
  exit 0
fi
# The mirror this host's apt uses (the only one reachable here).
mirror="$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)"
mirror="${mirror:-$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null)}"
mirror="${mirror:-http://deb.debian.org/debian}"
rm -rf "$root"
mkdir -p "$cache"
echo "rootfs: debootstrap bookworm into $root from $mirror" >&2
debootstrap --variant=minbase --include="${recipe#* }" bookworm "$root" "$mirror" >&2
# A machine id and no getty: the container boots headless, and fast.
systemd-machine-id-setup --root="$root" >/dev/null 2>&1 || true
ln -sf /dev/null "$root/etc/systemd/system/console-getty.service"
ln -sf /dev/null "$root/etc/systemd/system/getty@.service"
rm -f "$root/var/cache/apt/archives/"*.deb
echo "$recipe" >"$root/.complete"
echo "$root"
