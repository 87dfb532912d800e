#!/usr/bin/env bash
# Installs what `make package` needs: cargo-deb and cargo-generate-rpm into the repo's .tools/
# (gitignored, pinned, `--locked`), and lintian + rpmlint + rpm from Debian when missing.
# Safe to run again: it only installs what is missing.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
tools="$repo/.tools"
export PATH="$HOME/.cargo/bin:$PATH"

CARGO_DEB_VERSION=3.8.0
CARGO_GENERATE_RPM_VERSION=0.21.1

install_crate() { # name version binary
  if ! [ -x "$tools/bin/$3" ] || ! grep -qx "$2" "$tools/.$1.version" 2>/dev/null; then
    echo "install-tools: installing $1 $2 into $tools"
    cargo install "$1" --version "$2" --locked --root "$tools" -j "${TOOLS_JOBS:-2}"
    echo "$2" >"$tools/.$1.version"
  fi
}
install_crate cargo-deb "$CARGO_DEB_VERSION" cargo-deb
install_crate cargo-generate-rpm "$CARGO_GENERATE_RPM_VERSION" cargo-generate-rpm

missing=()
command -v lintian >/dev/null || missing+=(lintian)
command -v rpmlint >/dev/null || missing+=(rpmlint)
command -v rpm >/dev/null || missing+=(rpm)
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "install-tools: missing ${missing[*]}; run as root once, or apt-get install them" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
