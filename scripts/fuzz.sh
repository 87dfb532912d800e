#!/usr/bin/env bash
# Runs the libFuzzer targets of fuzz/ with cargo fuzz (see docs/fuzzing.md).
#   scripts/fuzz.sh smoke [TARGET...]  each target FUZZ_SMOKE_SECONDS (default 20): `make test`
#   scripts/fuzz.sh run [TARGET...]    each target FUZZ_SECONDS (default 600): `make fuzz`
#   scripts/fuzz.sh install            only installs what fuzzing needs
# A crash, an out-of-memory or a timeout fails the run; libFuzzer writes the input that caused
# it to fuzz/artifacts/<target>/ and this script prints how to replay it.
#
# The committed corpus (fuzz/corpus/<target>/) is only read: new inputs go to fuzz/scratch/.
# FUZZ_SANITIZER=none builds without AddressSanitizer (default: address).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$root/.tools/bin:$HOME/.cargo/bin:$PATH"
# cargo fuzz passes nightly-only flags (-Zsanitizer, -Cpasses=sancov-module); the stable
# toolchain accepts them with this, so no nightly toolchain is needed.
export RUSTC_BOOTSTRAP=1
sanitizer=${FUZZ_SANITIZER:-address}
cargo_fuzz_version=0.13.2

install() {
  # libfuzzer-sys compiles libFuzzer itself, which is C++.
  if ! command -v c++ >/dev/null; then
    if [ "$(id -u)" != 0 ]; then
      echo "fuzz: no C++ compiler; install g++ (apt-get install g++)" >&2
      exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends g++
  fi
  if ! cargo fuzz --version 2>/dev/null | grep -q " $cargo_fuzz_version\$"; then
    echo "fuzz: installing cargo-fuzz $cargo_fuzz_version into .tools/ (first run only)"
    cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked --root "$root/.tools" --quiet
  fi
}

# Per-target libFuzzer options: transcript lines and events may be long (tool output), and a
# long line is where the parser's bounds matter; the other files are small.
max_len() {
  case $1 in
    jsonl_line | sqlite_event) echo 131072 ;;
    *) echo 65536 ;;
  esac
}

# One target for $2 seconds; its corpus of new finds in $3. Output goes to $4.
fuzz_one() {
  local target=$1 seconds=$2 scratch=$3 log=$4
  mkdir -p "$scratch" "fuzz/artifacts/$target"
  cargo fuzz run --sanitizer "$sanitizer" "$target" "$scratch" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$target")" \
    -print_final_stats=1 >"$log" 2>&1
}

# The figures docs/fuzzing.md reports, from a libFuzzer log.
summary() {
  local target=$1 log=$2 status=$3
  local runs rate corpus cov
  # A run that failed early may lack any of these.
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -1 | cut -d' ' -f2) || true
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2) || true
  printf 'fuzz: %-14s %-7s executions %-10s exec/s %-7s corpus %-14s edges %s\n' \
    "$target" "$status" "${runs:-?}" "${rate:-?}" "${corpus:-?}" "${cov:-?}"
}

mode=${1:-smoke}
shift || true
case $mode in
  install) install; exit 0 ;;
  smoke) seconds=${FUZZ_SMOKE_SECONDS:-20} ;;
  run) seconds=${FUZZ_SECONDS:-600} ;;
  *) echo "usage: scripts/fuzz.sh smoke|run|install [TARGET...]" >&2; exit 2 ;;
esac

install
# The fuzz crate's lock file is committed; refuse to build if it is out of date, like --locked.
cargo metadata --manifest-path fuzz/Cargo.toml --locked --format-version 1 >/dev/null
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(cargo fuzz list)
fi
echo "fuzz: building ${targets[*]} (sanitizer: $sanitizer)"
cargo fuzz build --sanitizer "$sanitizer" >fuzz/build.log 2>&1 || {
  cat fuzz/build.log >&2
  echo "fuzz: building the targets failed (above)" >&2
  exit 1
}

failed=()
for target in "${targets[@]}"; do
  if [ "$mode" = smoke ]; then
    rm -rf "fuzz/scratch/smoke/$target"
    scratch=fuzz/scratch/smoke/$target
  else
    scratch=fuzz/scratch/$target
  fi
  log=fuzz/scratch/$target.$mode.log
  mkdir -p fuzz/scratch
  if fuzz_one "$target" "$seconds" "$scratch" "$log"; then
    summary "$target" "$log" ok
  else
    summary "$target" "$log" FAILED
    failed+=("$target")
    # The panic or sanitizer report, and libFuzzer's line naming the saved input.
    report='^(thread .* panicked|==[0-9]+==ERROR)'
    if grep -qE "$report" "$log"; then
      grep -E -A25 "$report" "$log" | head -40 >&2 || true
    else
      tail -40 "$log" >&2
    fi
    grep -E 'Test unit written to|artifact_prefix' "$log" >&2 || true
    echo "fuzz: replay with: RUSTC_BOOTSTRAP=1 .tools/bin/cargo-fuzz run $target fuzz/artifacts/$target/<file>" >&2
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]} (full logs: fuzz/scratch/<target>.$mode.log)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no crash"
