#!/usr/bin/env bash
# Rebuilds fuzz/corpus/<target>/ from the recorded OpenClaw fixtures, the config examples in
# docs/ and the hand-written seeds in fuzz/seeds/. Run by hand when fixtures change; the result
# is committed (scripts/fuzz.sh only reads it). Needs gzip, sqlite3 and zstd.
#   fuzz/seed-corpus.sh [FIXTURE_DIR...]   (default: tests/fixtures/openclaw, and
#                                           ../shared/fixtures when it is there)
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in gzip sqlite3 zstd sha1sum; do
  command -v "$tool" >/dev/null || { echo "seed-corpus: $tool is needed" >&2; exit 1; }
done

dirs=("$@")
if ((${#dirs[@]} == 0)); then
  dirs=(tests/fixtures/openclaw)
  for shared in ../shared/fixtures /work/shared/fixtures; do
    [ -d "$shared" ] && { dirs+=("$shared"); break; }
  done
fi
# At most this many files per target (a few seconds of a smoke run each).
max_files=200
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# put TARGET FILE: stores FILE under its SHA-1 (libFuzzer's own naming), so duplicates collapse.
put() {
  local dir=fuzz/corpus/$1
  mkdir -p "$dir"
  cp "$2" "$dir/$(sha1sum <"$2" | cut -c1-40)"
}

rm -rf fuzz/corpus
mkdir -p fuzz/corpus

# ---- transcript lines: every JSONL transcript line, and every stored SQLite event ----
lines=$scratch/lines
mkdir -p "$lines"
n=0
while IFS= read -r -d '' f; do
  while IFS= read -r line || [ -n "$line" ]; do
    [ -n "$line" ] || continue
    n=$((n + 1))
    printf '%s' "$line" >"$lines/$n"
  done <"$f"
done < <(find "${dirs[@]}" -path '*/sessions/*.jsonl' -type f -print0 | sort -z)
while IFS= read -r -d '' gz; do
  db=$scratch/db.sqlite
  rm -f "$db" "$db-wal" "$db-shm"
  gzip -dc "$gz" >"$db"
  for side in wal shm; do
    if [ -f "${gz%.gz}-$side.gz" ]; then gzip -dc "${gz%.gz}-$side.gz" >"$db-$side"
    elif [ -f "${gz%.gz}-$side" ]; then cp "${gz%.gz}-$side" "$db-$side"; fi
  done
  # One event per output line: JSON text holds no raw newline.
  sqlite3 "$db" "SELECT event_json FROM transcript_events WHERE event_json IS NOT NULL" 2>/dev/null |
    while IFS= read -r line; do
      n=$((n + 1))
      printf '%s' "$line" >"$lines/sql-$n"
    done || true
done < <(find "${dirs[@]}" -name 'openclaw-agent.sqlite.gz' -type f -print0 | sort -z)
for f in "$lines"/* fuzz/seeds/jsonl_line/*; do put jsonl_line "$f"; done

# ---- SQLite event_zstd: the same lines as zstd frames; every other one with its declared size
i=0
for f in fuzz/corpus/jsonl_line/*; do
  i=$((i + 1))
  out=$scratch/zstd-$i
  if ((i % 2)); then
    printf '\x00' >"$out"
  else
    size=$(stat -c %s "$f")
    printf '\x01' >"$out"
    printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((size & 255)) $((size >> 8 & 255)) \
      $((size >> 16 & 255)) $((size >> 24 & 255)))" >>"$out"
  fi
  zstd -q -3 -c "$f" >>"$out"
  put sqlite_event "$out"
done
for f in fuzz/seeds/sqlite_event/*; do [ -f "$f" ] && put sqlite_event "$f"; done

# ---- sessions.json: each file, and each live → final pair (NUL-separated, a rewrite) ----
while IFS= read -r -d '' f; do
  put sessions_json "$f"
  case $f in
    */state-live/*)
      final=${f/state-live/state-final}
      if [ -f "$final" ]; then
        { cat "$f"; printf '\0'; cat "$final"; } >"$scratch/pair"
        put sessions_json "$scratch/pair"
      fi
      ;;
  esac
done < <(find "${dirs[@]}" -name sessions.json -type f -print0 | sort -z)
for f in fuzz/seeds/sessions_json/*; do put sessions_json "$f"; done

# ---- the daemon's TOML config: the examples in docs/config.md, and hand-written ones ----
awk '/^```toml/{n++; f=1; next} /^```/{f=0} f{print > ("'"$scratch"'/config-" n ".toml")}' docs/config.md
for f in "$scratch"/config-*.toml fuzz/seeds/config_toml/*; do put config_toml "$f"; done

# ---- openclaw.json: every recorded one, and hand-written JSON5 with references ----
while IFS= read -r -d '' f; do put openclaw_json "$f"; done \
  < <(find "${dirs[@]}" \( -name openclaw.json -o -name openclaw.json.last-good \) -type f -print0 | sort -z)
for f in fuzz/seeds/openclaw_json/*; do put openclaw_json "$f"; done

for dir in fuzz/corpus/*; do
  # libFuzzer reads only the first -max_len bytes of a file (scripts/fuzz.sh sets it per
  # target): a longer seed would be a truncated, broken one.
  case ${dir##*/} in
    jsonl_line | sqlite_event) max_bytes=131072 ;;
    *) max_bytes=65536 ;;
  esac
  find "$dir" -type f -size +"$max_bytes"c -delete
  count=$(find "$dir" -type f | wc -l)
  if ((count > max_files)); then
    # Keep the smallest: each is a distinct shape, and small inputs fuzz fastest.
    find "$dir" -type f -printf '%s %p\n' | sort -n | tail -n +$((max_files + 1)) | cut -d' ' -f2- | xargs rm -f
    count=$max_files
  fi
  echo "seed-corpus: $dir: $count files, $(du -sh "$dir" | cut -f1)"
done
