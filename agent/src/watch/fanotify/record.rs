//! Parsing of what read(2) returns on a fanotify group initialised with `FAN_REPORT_DFID_NAME`:
//! `fanotify_event_metadata` followed by info records. `nix` does not parse these records, and
//! the layout is fixed by the kernel ABI, so it is decoded from the bytes here.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// `struct fanotify_event_metadata` is 24 bytes in every ABI version we accept.
const METADATA_LEN: usize = 24;
/// `FANOTIFY_METADATA_VERSION`: the layout below.
const METADATA_VERSION: u8 = 3;
/// `struct fanotify_event_info_header`.
const INFO_HEADER_LEN: usize = 4;
/// `__kernel_fsid_t` then `struct file_handle`'s two ints, before the handle bytes.
const FID_FIXED_LEN: usize = 8 + 4 + 4;

/// A file handle as fanotify reports it, with the filesystem it belongs to: what identifies a
/// directory across renames (the cache key), and what `open_by_handle_at` takes back.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Fid {
    pub fsid: [u8; 8],
    pub handle_type: i32,
    pub handle: Box<[u8]>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    /// The group's queue overflowed: events were lost.
    Overflow,
    Event(Event),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Event {
    /// `FAN_*` bits; several when the kernel merged events on the same name.
    pub mask: u64,
    /// The directory the name is in (DFID_NAME), or the directory the event is about (DFID).
    pub dir: Option<Fid>,
    /// The entry in `dir` the event is about; `None` for events on `dir` itself.
    pub name: Option<OsString>,
    /// The object itself (FID records: only with `FAN_REPORT_FID`, which we do not ask for,
    /// but a kernel may add them; parsed so their length is checked and they are skipped).
    pub object: Option<Fid>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ParseError {
    #[error("truncated fanotify event at byte {0}")]
    Truncated(usize),
    #[error("fanotify event metadata version {0}, this build understands version 3")]
    Version(u8),
    #[error("malformed fanotify info record at byte {0}")]
    BadRecord(usize),
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Appends the records of one read(2) to `out`. The kernel only ever returns whole events, so
/// anything that does not add up is an error; records parsed before it are kept.
pub(crate) fn parse(buf: &[u8], out: &mut Vec<Record>) -> Result<(), ParseError> {
    let mut at = 0;
    while at < buf.len() {
        let event_len = u32_at(buf, at).ok_or(ParseError::Truncated(at))? as usize;
        if event_len < METADATA_LEN || at + event_len > buf.len() {
            return Err(ParseError::Truncated(at));
        }
        let event = &buf[at..at + event_len];
        let vers = event[4];
        if vers != METADATA_VERSION {
            return Err(ParseError::Version(vers));
        }
        let metadata_len = u16_at(event, 6).ok_or(ParseError::Truncated(at))? as usize;
        let mask = u64_at(event, 8).ok_or(ParseError::Truncated(at))?;
        if metadata_len < METADATA_LEN || metadata_len > event_len {
            return Err(ParseError::Truncated(at));
        }
        if mask & libc::FAN_Q_OVERFLOW != 0 {
            out.push(Record::Overflow);
        } else {
            let mut ev = Event {
                mask,
                ..Event::default()
            };
            parse_infos(&event[metadata_len..], at + metadata_len, &mut ev)?;
            out.push(Record::Event(ev));
        }
        at += event_len;
    }
    Ok(())
}

fn parse_infos(mut b: &[u8], mut offset: usize, ev: &mut Event) -> Result<(), ParseError> {
    while !b.is_empty() {
        let bad = ParseError::BadRecord(offset);
        if b.len() < INFO_HEADER_LEN {
            return Err(bad);
        }
        let info_type = b[0];
        let len = u16_at(b, 2).ok_or(ParseError::BadRecord(offset))? as usize;
        if len < INFO_HEADER_LEN || len > b.len() {
            return Err(bad);
        }
        let body = &b[INFO_HEADER_LEN..len];
        match info_type {
            libc::FAN_EVENT_INFO_TYPE_DFID_NAME => {
                let (fid, rest) = parse_fid(body).ok_or(bad)?;
                // The name is NUL-terminated, then padded to a multiple of 4.
                let end = rest
                    .iter()
                    .position(|&c| c == 0)
                    .ok_or(ParseError::BadRecord(offset))?;
                ev.dir = Some(fid);
                // "." names the directory itself (events on a dir reported with its parent).
                let name = &rest[..end];
                ev.name =
                    (!name.is_empty() && name != b".").then(|| OsString::from_vec(name.to_vec()));
            }
            libc::FAN_EVENT_INFO_TYPE_DFID => {
                ev.dir = Some(parse_fid(body).ok_or(bad)?.0);
            }
            libc::FAN_EVENT_INFO_TYPE_FID => {
                ev.object = Some(parse_fid(body).ok_or(bad)?.0);
            }
            // PIDFD, ERROR, the OLD/NEW_DFID_NAME pair of FAN_RENAME (not asked for) and
            // whatever later kernels add: the length lets us step over them.
            _ => {}
        }
        b = &b[len..];
        offset += len;
    }
    Ok(())
}

/// `fsid, struct file_handle { handle_bytes, handle_type, f_handle[] }`; returns what follows.
fn parse_fid(b: &[u8]) -> Option<(Fid, &[u8])> {
    if b.len() < FID_FIXED_LEN {
        return None;
    }
    let fsid: [u8; 8] = b[..8].try_into().ok()?;
    let handle_bytes = u32_at(b, 8)? as usize;
    let handle_type = i32::from_ne_bytes(b.get(12..16)?.try_into().ok()?);
    let handle = b.get(FID_FIXED_LEN..FID_FIXED_LEN + handle_bytes)?;
    Some((
        Fid {
            fsid,
            handle_type,
            handle: handle.into(),
        },
        &b[FID_FIXED_LEN + handle_bytes..],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds what the kernel writes, so every record type is covered without a kernel.
    #[derive(Default)]
    struct Crafted(Vec<u8>);

    fn fid_body(fsid: [u8; 8], handle: &[u8]) -> Vec<u8> {
        let mut b = fsid.to_vec();
        b.extend((handle.len() as u32).to_ne_bytes());
        b.extend(1i32.to_ne_bytes());
        b.extend(handle);
        b
    }

    fn info(info_type: u8, body: &[u8]) -> Vec<u8> {
        let mut len = INFO_HEADER_LEN + body.len();
        let pad = (4 - len % 4) % 4;
        len += pad;
        let mut b = vec![info_type, 0];
        b.extend((len as u16).to_ne_bytes());
        b.extend(body);
        b.extend(std::iter::repeat_n(0, pad));
        b
    }

    impl Crafted {
        fn event(mut self, mask: u64, infos: &[Vec<u8>]) -> Self {
            let body: Vec<u8> = infos.concat();
            let len = METADATA_LEN + body.len();
            self.0.extend((len as u32).to_ne_bytes());
            self.0.push(METADATA_VERSION);
            self.0.push(0);
            self.0.extend((METADATA_LEN as u16).to_ne_bytes());
            self.0.extend(mask.to_ne_bytes());
            self.0.extend((-1i32).to_ne_bytes());
            self.0.extend(42i32.to_ne_bytes());
            self.0.extend(body);
            self
        }
    }

    fn fid(fsid: [u8; 8], handle: &[u8]) -> Fid {
        Fid {
            fsid,
            handle_type: 1,
            handle: handle.into(),
        }
    }

    fn dfid_name(fsid: [u8; 8], handle: &[u8], name: &str) -> Vec<u8> {
        let mut body = fid_body(fsid, handle);
        body.extend(name.as_bytes());
        body.push(0);
        info(libc::FAN_EVENT_INFO_TYPE_DFID_NAME, &body)
    }

    #[test]
    fn every_record_type_is_parsed_or_stepped_over() {
        let fs = [7, 0, 0, 0, 9, 0, 0, 0];
        let merged =
            libc::FAN_CREATE | libc::FAN_MODIFY | libc::FAN_CLOSE_WRITE | libc::FAN_MOVED_FROM;
        let buf = Crafted::default()
            .event(
                merged,
                &[dfid_name(fs, &[1, 2, 3, 4, 5, 6, 7, 8], "a.jsonl")],
            )
            .event(
                libc::FAN_CREATE | libc::FAN_ONDIR,
                &[
                    dfid_name(fs, &[1; 12], "sessions"),
                    info(libc::FAN_EVENT_INFO_TYPE_FID, &fid_body(fs, &[2; 12])),
                ],
            )
            .event(
                libc::FAN_DELETE_SELF | libc::FAN_ONDIR,
                &[info(libc::FAN_EVENT_INFO_TYPE_DFID, &fid_body(fs, &[3; 8]))],
            )
            .event(libc::FAN_Q_OVERFLOW, &[])
            .event(
                libc::FAN_RENAME,
                &[
                    dfid_name(fs, &[4; 8], "x"),
                    info(libc::FAN_EVENT_INFO_TYPE_PIDFD, &5i32.to_ne_bytes()),
                    info(99, &[1, 2, 3]),
                ],
            )
            .event(libc::FAN_MODIFY, &[dfid_name(fs, &[5; 8], ".")]);
        let mut out = Vec::new();
        parse(&buf.0, &mut out).expect("parses");
        assert_eq!(
            out,
            vec![
                Record::Event(Event {
                    mask: merged,
                    dir: Some(fid(fs, &[1, 2, 3, 4, 5, 6, 7, 8])),
                    name: Some("a.jsonl".into()),
                    object: None,
                }),
                Record::Event(Event {
                    mask: libc::FAN_CREATE | libc::FAN_ONDIR,
                    dir: Some(fid(fs, &[1; 12])),
                    name: Some("sessions".into()),
                    object: Some(fid(fs, &[2; 12])),
                }),
                Record::Event(Event {
                    mask: libc::FAN_DELETE_SELF | libc::FAN_ONDIR,
                    dir: Some(fid(fs, &[3; 8])),
                    name: None,
                    object: None,
                }),
                Record::Overflow,
                Record::Event(Event {
                    mask: libc::FAN_RENAME,
                    dir: Some(fid(fs, &[4; 8])),
                    name: Some("x".into()),
                    object: None,
                }),
                Record::Event(Event {
                    mask: libc::FAN_MODIFY,
                    dir: Some(fid(fs, &[5; 8])),
                    name: None,
                    object: None,
                }),
            ]
        );
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let fs = [1; 8];
        let good = Crafted::default().event(libc::FAN_CREATE, &[dfid_name(fs, &[1; 8], "a")]);
        let mut out = Vec::new();
        // Cut anywhere inside the event.
        for cut in 1..good.0.len() {
            out.clear();
            assert!(parse(&good.0[..cut], &mut out).is_err(), "cut at {cut}");
        }
        // A handle longer than its record.
        let mut body = fid_body(fs, &[1; 8]);
        body[8..12].copy_from_slice(&200u32.to_ne_bytes());
        let bad = Crafted::default().event(
            libc::FAN_CREATE,
            &[info(libc::FAN_EVENT_INFO_TYPE_DFID, &body)],
        );
        assert_eq!(
            parse(&bad.0, &mut out),
            Err(ParseError::BadRecord(METADATA_LEN))
        );
        // A name without its NUL.
        let mut body = fid_body(fs, &[1; 8]);
        body.extend(b"abcd");
        let bad = Crafted::default().event(
            libc::FAN_CREATE,
            &[info(libc::FAN_EVENT_INFO_TYPE_DFID_NAME, &body)],
        );
        assert!(parse(&bad.0, &mut out).is_err());
        // Another ABI version.
        let mut other = good.0.clone();
        other[4] = 2;
        assert_eq!(parse(&other, &mut out), Err(ParseError::Version(2)));
    }
}
