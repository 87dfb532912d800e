//! One `transcript_events.event_zstd` value → its entry JSON → at most one event
//! (agent/src/transcript/sqlite/payload.rs, then the line parser).
//!
//! Input: a mode byte, then the stored frame. Mode bit 0 set: the next 4 bytes (little
//! endian) are `event_utf8_bytes`, the size the row declares, which may lie. The limit is
//! 1 MiB instead of the daemon's 64 MiB so that a decompression bomb costs milliseconds; the
//! code path is the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livestatus::transcript::sqlite::decode_event_zstd;

const LIMIT: i64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (declared, frame) = match rest.split_first_chunk::<4>() {
        Some((size, frame)) if mode & 1 == 1 => (Some(i64::from(u32::from_le_bytes(*size))), frame),
        _ => (None, rest),
    };
    match decode_event_zstd(frame, declared, LIMIT) {
        Ok(Some(event)) => openclaw_livestatus_fuzz::check_event(&event),
        Ok(None) => {}
        // The error is logged by the daemon: it must never carry the stored bytes.
        Err(reason) => assert!(reason.len() < 512, "a {}-byte error text", reason.len()),
    }
});
