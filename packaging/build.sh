#!/usr/bin/env bash
# `make package`: the .deb and the .rpm, from a clean clone, into target/package/, then lintian
# and rpmlint (packaging/lintian-overrides and packaging/rpmlint.toml justify what is left).
# PACKAGE_VERSION=0.1.1 builds the same tree under another version (the upgrade test uses it),
# PACKAGE_OUT=DIR puts the packages there, PACKAGE_LINT=0 skips the linters.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export PATH="$repo/.tools/bin:$HOME/.cargo/bin:$PATH"

packaging/install-tools.sh
scripts/build-ebpf.sh

# The build fails here, naming the missing file, when the eBPF object is absent.
LIVESTATUS_REQUIRE_EBPF=1 cargo build --release --locked -p openclaw-livestatus

assets="$repo/target/package-assets"
rm -rf "$assets"
mkdir -p "$assets/man"
target/release/openclaw-livestatus generate-assets "$assets/gen" 2>/dev/null
mv "$assets/gen/completions" "$assets/completions"
for page in "$assets"/gen/*.1; do
  gzip -9n <"$page" >"$assets/man/$(basename "$page").gz"
done
rm -rf "$assets/gen"
# cargo-deb strips what it packs; cargo-generate-rpm does not, so the .rpm takes this copy.
mkdir -p "$assets/bin"
strip --strip-unneeded -o "$assets/bin/openclaw-livestatus" target/release/openclaw-livestatus

out="${PACKAGE_OUT:-$repo/target/package}"
rm -rf "$out"
mkdir -p "$out"
deb_version=()
rpm_version=()
if [ -n "${PACKAGE_VERSION:-}" ]; then
  deb_version=(--deb-version "$PACKAGE_VERSION")
  rpm_version=(--set-metadata "version = \"$PACKAGE_VERSION\"")
fi
cargo deb --no-build --locked -p openclaw-livestatus -o "$out" "${deb_version[@]}"
cargo generate-rpm -p agent -o "$out" "${rpm_version[@]}"
ls -l "$out"

if [ "${PACKAGE_LINT:-1}" = 1 ]; then
  echo "== lintian"
  lintian --fail-on error,warning --info --suppress-tags-from-file packaging/lintian-overrides "$out"/*.deb
  echo "== rpmlint"
  rpmlint --config packaging/rpmlint.toml "$out"/*.rpm
fi
