#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine, and checks the rest.
# Safe to run again: it only installs what is missing.
set -euo pipefail

need_apt=()
command -v cc >/dev/null || need_apt+=(gcc libc6-dev)
command -v make >/dev/null || need_apt+=(make)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
if ((${#need_apt[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing ${need_apt[*]}; run as root or install them with apt-get" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

if ! command -v cargo >/dev/null; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "setup: no Rust toolchain; install one with rustup (https://rustup.rs), stable >= 1.95" >&2
    exit 1
  fi
fi
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    rustup component add "$component" >/dev/null 2>&1 || echo "setup: could not add $component" >&2
  fi
done
echo "setup: $(cargo --version), $(rustc --version)"

# The eBPF tier's kernel object (Debian's rustc + bpf-linker in .tools/, first run only).
# Without it the agent builds but its ebpf tier says it is missing and its tests fail, unless
# LIVESTATUS_ALLOW_NO_EBPF=1.
if ! "$(dirname "$0")/build-ebpf.sh"; then
  if [ "${LIVESTATUS_ALLOW_NO_EBPF:-}" = 1 ]; then
    echo "setup: eBPF object not built; the ebpf tier will be unavailable" >&2
  else
    echo "setup: building the eBPF object failed (see above); set LIVESTATUS_ALLOW_NO_EBPF=1 to go on without the ebpf tier" >&2
    exit 1
  fi
fi

# `make bench`'s load table has two references beside the daemon: inotifywait and a stand-in of
# the old Node daemon (tests/src/load/node_reference.js), which needs node.
if [ "${1:-}" = --bench ]; then
  need_bench=()
  command -v inotifywait >/dev/null || need_bench+=(inotify-tools)
  command -v node >/dev/null || need_bench+=(nodejs)
  if ((${#need_bench[@]})); then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_bench[@]}"
    else
      echo "setup: missing ${need_bench[*]} (apt-get install them); the benches skip their reference rows" >&2
    fi
  fi
fi
