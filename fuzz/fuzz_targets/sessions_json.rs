//! `sessions.json` → session key → entry (agent/src/gateway/sessions_index.rs).
//!
//! Input: one file, or two versions of it separated by a NUL byte (which valid JSON never
//! holds outside a string, and never raw inside one): the second is loaded over the first, as
//! when the gateway rewrites the file, so the rotation and removal bookkeeping runs too.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use livestatus::gateway::sessions_index::{IndexedEntry, SessionsIndex, parse_index};

/// A name the daemon opens inside the sessions dir: one path component, a `.jsonl` file.
fn check_name(name: &str) {
    assert!(name.ends_with(".jsonl"), "transcript name {name:?}");
    assert!(
        !name.contains(['/', '\0']) && name != "." && name != "..",
        "transcript name {name:?} is not a file name"
    );
}

fn check_loaded(index: &SessionsIndex, bytes: &[u8]) {
    let Ok((entries, _skipped)) = parse_index(bytes) else {
        return;
    };
    assert_eq!(index.len(), entries.len());
    for (key, entry) in entries {
        let entry = IndexedEntry::of(&key, entry);
        assert_eq!(index.entry(&key), Some(&entry));
        if let Some(name) = entry.transcript_name() {
            check_name(name);
            // Two keys may share a transcript; the lookup then names one of them.
            let owner = index
                .key_for_transcript(&name)
                .expect("every name maps to a key");
            let owner_entry = index.entry(owner).expect("the key it maps to exists");
            assert_eq!(owner_entry.transcript_name(), Some(name));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (first, second) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    };
    let origin = Path::new("/fuzz/sessions.json");
    let mut index = SessionsIndex::default();
    index.load(first, origin);
    check_loaded(&index, first);
    let Some(second) = second else {
        return;
    };
    let before = index.len();
    let change = index.load(second, origin);
    if parse_index(second).is_err() {
        // A broken rewrite keeps the last good map.
        assert_eq!(index.len(), before);
        assert_eq!(change, Default::default());
        return;
    }
    check_loaded(&index, second);
    for (key, old, new) in &change.rotated {
        assert_ne!(old, new, "{key} rotated to the same transcript");
        check_name(old);
        check_name(new);
    }
    for (key, _) in &change.removed {
        assert!(index.entry(key).is_none(), "{key} removed but still there");
    }
});
