#!/usr/bin/env bash
# Builds the eBPF object the agent embeds (target/ebpf/livestatus.bpf.o), installing what that
# needs on a Debian machine first: Debian's rustc (it ships `core` for bpfel-unknown-none, which
# rustup cannot download here) and bpf-linker 0.13.0 in .tools/ (gitignored). Idempotent: a
# second run only rebuilds what changed. Run as root the first time (apt-get).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
tools="$repo/.tools"
out="$repo/target/ebpf/livestatus.bpf.o"
export PATH="$HOME/.cargo/bin:$PATH"

debian_pkgs=(rustc-web libstd-rust-web-dev-bpf llvm-22-dev libpolly-22-dev zlib1g-dev libzstd-dev)
missing=()
for p in "${debian_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "build-ebpf: missing Debian packages ${missing[*]}; run this script as root once, or apt-get install them" >&2
    exit 1
  fi
  echo "build-ebpf: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! [ -x "$tools/bin/bpf-linker" ] || ! "$tools/bin/bpf-linker" --version 2>/dev/null | grep -q "0.13.0"; then
  echo "build-ebpf: installing bpf-linker 0.13.0 into $tools"
  LLVM_SYS_221_PREFIX=/usr/lib/llvm-22 PATH="/usr/lib/llvm-22/bin:$PATH" \
    cargo install bpf-linker --version 0.13.0 --no-default-features --features llvm-22 \
    --locked --root "$tools" -j "${EBPF_JOBS:-2}"
fi

# Debian's rustc only for this crate; RUSTC_BOOTSTRAP because aya-ebpf uses
# `asm_experimental_arch`, which a stable compiler refuses otherwise.
cd "$repo/agent-ebpf/programs"
PATH="$tools/bin:$PATH" RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc CARGO_TARGET_DIR="$repo/target/ebpf-build" \
  cargo build --release --locked -j "${EBPF_JOBS:-2}"
mkdir -p "$(dirname "$out")"
built="$repo/target/ebpf-build/bpfel-unknown-none/release/livestatus-bpf"
# Copy only on change so the agent (which embeds it) is not rebuilt for nothing.
if ! cmp -s "$built" "$out"; then
  cp "$built" "$out.tmp" && mv "$out.tmp" "$out"
fi
echo "build-ebpf: $out"
