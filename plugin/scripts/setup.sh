#!/usr/bin/env bash
# Installs what `make -C plugin test` needs on a fresh Debian machine (run as root), and checks
# the rest: Go >= 1.21 (go.mod asks for 1.24.6; a newer toolchain is fetched through the Go
# module proxy when the installed one is older), Node >= 20 with npm, Debian's chromium, curl.
# Safe to run again: it only installs what is missing.
set -euo pipefail

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "setup-plugin: missing $*; run this script as root or apt-get install $*" >&2
    exit 1
  fi
  if [ -z "${APT_UPDATED:-}" ]; then
    apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# Go: the machine image keeps it in /usr/local/go; Debian's golang-go otherwise.
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null; then
  apt_install golang-go ca-certificates
fi
go_minor=$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
if [ -z "$go_minor" ] || [ "$go_minor" -lt 21 ]; then
  echo "setup-plugin: $(go version) is too old to fetch the go 1.24 toolchain go.mod asks for; install Go >= 1.21 (e.g. golang-1.23 from bookworm-backports) and put it first in PATH" >&2
  exit 1
fi

# Node and npm (the webapp's build and tests; playwright-core needs Node >= 20).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt_install nodejs npm
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup-plugin: node $(node --version) is too old; the webapp tests need Node >= 20 (Debian 13's nodejs, or NodeSource's)" >&2
  exit 1
fi

# Debian's chromium for the headless browser test (no browser is downloaded), with a font the
# screenshots are drawn in.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf ] || missing+=(fonts-dejavu-core)
command -v curl >/dev/null || missing+=(curl)
command -v make >/dev/null || missing+=(make)
if ((${#missing[@]})); then
  apt_install "${missing[@]}"
fi

echo "setup-plugin: $(go version | cut -d' ' -f3), node $(node --version), npm $(npm --version), $(/usr/bin/chromium --version 2>/dev/null | head -n1)"
