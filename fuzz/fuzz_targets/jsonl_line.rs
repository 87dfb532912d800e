//! One JSONL transcript line → at most one event (agent/src/transcript/parse.rs, lenient.rs).
//! The input is one line as the tailer hands it over, without its newline; lines are up to
//! 8 MiB in real transcripts, so `-max_len` is raised in scripts/fuzz.sh.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livestatus::transcript::parse_line;

fuzz_target!(|line: &[u8]| {
    if let Ok(Some(event)) = parse_line(line) {
        openclaw_livestatus_fuzz::check_event(&event);
    }
});
