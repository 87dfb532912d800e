//! One `transcript_events` row → the bytes of its entry JSON: `event_json` as stored, or the
//! zstd frame in `event_zstd` (a plain zstd frame of the UTF-8 JSON, as OpenClaw writes it for
//! large events since 2026.9.6) decoded under a hard limit.

use std::borrow::Cow;
use std::io::Read;

use rusqlite::Row;
use rusqlite::types::ValueRef;

/// Why a row gave no JSON. Never carries stored content.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum PayloadError {
    #[error("{what} is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        what: &'static str,
        size: i64,
        limit: i64,
    },
    #[error("neither event_json nor event_zstd holds anything")]
    Empty,
    #[error("event_zstd does not decode: {0}")]
    Corrupt(String),
    #[error("event_json is stored as {0}, not text")]
    WrongType(&'static str),
}

/// Where a row's JSON came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    Json,
    Zstd,
}

/// A row's entry JSON, borrowed from SQLite when stored plain.
pub(super) struct EntryJson<'r> {
    pub bytes: Cow<'r, [u8]>,
    pub source: Source,
}

impl<'r> EntryJson<'r> {
    fn plain(bytes: &'r [u8]) -> EntryJson<'r> {
        EntryJson {
            bytes: Cow::Borrowed(bytes),
            source: Source::Json,
        }
    }
}

/// The row's entry JSON. Columns as `Schema::events_sql` selects them: 1 json (NULL when over
/// the limit), 2 its size, 3 zstd (likewise), 4 its size, 5 `event_utf8_bytes`.
pub(super) fn entry_json<'r>(
    row: &'r Row<'_>,
    limit: i64,
) -> rusqlite::Result<Result<EntryJson<'r>, PayloadError>> {
    let json_len: Option<i64> = row.get(2)?;
    match row.get_ref(1)? {
        ValueRef::Text(text) if !text.is_empty() => {
            return Ok(Ok(EntryJson::plain(text)));
        }
        // A BLOB in event_json is not what OpenClaw writes but is the same bytes.
        ValueRef::Blob(blob) if !blob.is_empty() => {
            return Ok(Ok(EntryJson::plain(blob)));
        }
        ValueRef::Integer(_) => return Ok(Err(PayloadError::WrongType("an integer"))),
        ValueRef::Real(_) => return Ok(Err(PayloadError::WrongType("a real"))),
        _ => {}
    }
    if let Some(size) = json_len.filter(|&n| n > limit) {
        return Ok(Err(PayloadError::TooLarge {
            what: "event_json",
            size,
            limit,
        }));
    }
    let zstd_len: Option<i64> = row.get(4)?;
    if let Some(size) = zstd_len.filter(|&n| n > limit) {
        return Ok(Err(PayloadError::TooLarge {
            what: "event_zstd",
            size,
            limit,
        }));
    }
    let declared = match row.get_ref(5)? {
        ValueRef::Integer(n) => Some(n),
        _ => None,
    };
    Ok(match row.get_ref(3)? {
        ValueRef::Blob(frame) if !frame.is_empty() => {
            decode_zstd(frame, declared, limit).map(|bytes| EntryJson {
                bytes: Cow::Owned(bytes),
                source: Source::Zstd,
            })
        }
        _ => Err(PayloadError::Empty),
    })
}

/// Decodes one zstd frame into at most `limit` bytes. `declared` (`event_utf8_bytes`) refuses
/// an oversized event before any work and sizes the buffer; the limit itself is enforced on
/// what the decoder really produces, so a lying size or a decompression bomb costs at most
/// `limit` bytes (and a window of at most that size).
pub(super) fn decode_zstd(
    frame: &[u8],
    declared: Option<i64>,
    limit: i64,
) -> Result<Vec<u8>, PayloadError> {
    let too_large = |size| PayloadError::TooLarge {
        what: "decoded event_zstd",
        size,
        limit,
    };
    if let Some(size) = declared.filter(|&n| n > limit) {
        return Err(too_large(size));
    }
    let limit_u64 = u64::try_from(limit).unwrap_or(0);
    let mut decoder = zstd::stream::read::Decoder::with_buffer(frame)
        .map_err(|e| PayloadError::Corrupt(e.to_string()))?;
    // Window log 2^26 = 64 MiB: a frame asking for more cannot be an event under the limit.
    decoder
        .window_log_max(26)
        .map_err(|e| PayloadError::Corrupt(e.to_string()))?;
    let capacity = declared
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(frame.len().saturating_mul(4))
        .min(usize::try_from(limit).unwrap_or(0));
    let mut out = Vec::with_capacity(capacity);
    decoder
        .take(limit_u64.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| PayloadError::Corrupt(e.to_string()))?;
    if out.len() as u64 > limit_u64 {
        return Err(too_large(i64::try_from(out.len()).unwrap_or(i64::MAX)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_decodes_to_its_json() {
        let json = br#"{"type":"message","message":{"role":"toolResult"}}"#;
        let frame = zstd::encode_all(&json[..], 3).expect("compress");
        assert_eq!(
            decode_zstd(&frame, Some(json.len() as i64), 1 << 20).expect("decode"),
            json
        );
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let big = vec![b'x'; 1 << 20];
        let frame = zstd::encode_all(&big[..], 3).expect("compress");
        assert!(frame.len() < 1024, "compresses well");
        // The stored size lies (says small): the decoder still stops at the limit.
        let err = decode_zstd(&frame, Some(10), 4096).expect_err("over the limit");
        assert!(
            matches!(err, PayloadError::TooLarge { limit: 4096, .. }),
            "{err}"
        );
        // A declared size over the limit is refused before decoding.
        let err = decode_zstd(&frame, Some(1 << 20), 4096).expect_err("declared too large");
        assert_eq!(
            err,
            PayloadError::TooLarge {
                what: "decoded event_zstd",
                size: 1 << 20,
                limit: 4096
            }
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let err = decode_zstd(b"not zstd at all", None, 4096).expect_err("garbage");
        assert!(matches!(err, PayloadError::Corrupt(_)), "{err}");
    }
}
