//! How the JSONL follower touches the disk: each agent's sessions dir opened once, a transcript
//! opened, read and parked again between turns, and every refusal logged once per change of its
//! state (a refused transcript is touched at every turn of its session). It knows tailers, not
//! sessions.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::gateway::AgentRef;
use crate::reported::Reported;
use crate::transcript::{FileIdentity, JsonlTailer, SessionsDir, TailError, TranscriptRecord};

/// What one read of a followed transcript gave.
pub(super) struct Read {
    pub records: Vec<TranscriptRecord>,
    /// Reading restarted at 0: the whole transcript was rewritten (`JsonlTailer::take_truncated`).
    pub truncated: bool,
    /// How many of `records`, from the first, were read again (`JsonlTailer::take_reread`).
    pub reread: usize,
}

/// The sessions dirs opened so far, and the dirs and transcripts whose refusal was reported.
#[derive(Default)]
pub(super) struct Reader {
    dirs: HashMap<AgentRef, SessionsDir>,
    refusals: Reported<PathBuf>,
}

impl Reader {
    /// An agent's sessions dir, opened at first use; None while it cannot be followed.
    pub fn dir(&mut self, agent: &AgentRef) -> Option<&SessionsDir> {
        if !self.dirs.contains_key(agent) {
            let path = agent.sessions_dir();
            // The state dir's owner: a sessions dir of anyone else is a link into their state.
            let opened = std::fs::metadata(&agent.gateway)
                .map_err(|e| TailError::io(agent.gateway.clone(), "stat", e))
                .and_then(|m| {
                    SessionsDir::open_owned_by(&path, std::os::unix::fs::MetadataExt::uid(&m))
                });
            match opened {
                Ok(dir) => {
                    self.refusals.clear(&path);
                    self.dirs.insert(agent.clone(), dir);
                }
                Err(err) if err.is_not_found() || is_writable_by_others(&err) => {
                    // Gone, or reported by the registry when it read the dir's index.
                    tracing::debug!(path = %path.display(), "sessions dir not followed: {err}");
                    return None;
                }
                Err(err) => {
                    if self.refusals.is_news(path.clone(), &err.to_string()) {
                        tracing::warn!(path = %path.display(), "sessions dir not followed: {err}");
                    }
                    return None;
                }
            }
        }
        self.dirs.get(agent)
    }

    /// Opens a transcript found at its agent's first sight: `recent`, it is read from its start;
    /// else it is followed from its end, parked, as history costs a stat, not an fd. Its tailer
    /// stays open while `lock_held`. None: refused, or the dir cannot be followed.
    pub fn open_found(
        &mut self,
        agent: &AgentRef,
        name: &str,
        recent: bool,
        lock_held: bool,
        tailer: &mut Option<JsonlTailer>,
    ) -> Option<Vec<TranscriptRecord>> {
        self.dir(agent)?;
        let (Some(dir), refusals) = (self.dirs.get(agent), &mut self.refusals) else {
            return None;
        };
        let mut records = Vec::new();
        if let Some(mut opened) = open_tailer(dir, name, !recent, refusals).ok()? {
            if recent {
                records = read_logged(&mut opened, None, dir, name, refusals);
            }
            if !lock_held {
                opened.park();
            }
            *tailer = Some(opened);
        }
        Some(records)
    }

    /// Reads what is new in a followed transcript: opens it when it has appeared, switches
    /// when another file took its name, and parks it again unless `lock_held`. None: nothing
    /// was read (not there yet, gone, refused).
    pub fn read(
        &mut self,
        agent: &AgentRef,
        name: &str,
        tailer: &mut Option<JsonlTailer>,
        lock_held: bool,
    ) -> Option<Read> {
        self.dir(agent)?;
        let (Some(dir), refusals) = (self.dirs.get(agent), &mut self.refusals) else {
            return None;
        };
        let Some(open) = tailer.as_mut() else {
            let mut opened = open_tailer(dir, name, false, refusals).ok()??;
            let records = read_logged(&mut opened, None, dir, name, refusals);
            *tailer = Some(opened);
            return Some(Read {
                records,
                truncated: false,
                reread: 0,
            });
        };
        let mut records = Vec::new();
        // The size of the open file, when the stat of its name just gave it.
        let mut size = None;
        if open.is_parked() {
            match open.unpark(dir) {
                Ok(()) => fine_again(refusals, dir, name),
                // Gone: what it got after the last read went with it (see `unpark`).
                Err(err) if err.is_not_found() => return None,
                Err(err) => {
                    report(refusals, dir.path().join(name), &err, "transcript refused");
                    return None;
                }
            }
        } else {
            match named(dir, name, refusals) {
                Some((identity, _)) if identity != open.identity() => {
                    match open.reopen(dir, name) {
                        Ok(r) => records = r,
                        Err(err) => report(
                            refusals,
                            dir.path().join(name),
                            &err,
                            "cannot switch to the new transcript",
                        ),
                    }
                }
                Some((_, now)) => size = Some(now),
                None => {}
            }
        }
        records.extend(read_logged(open, size, dir, name, refusals));
        let read = Read {
            records,
            truncated: open.take_truncated(),
            reread: open.take_reread(),
        };
        // Between turns a transcript holds no fd: the next append reopens it.
        if !lock_held {
            open.park();
        }
        Some(read)
    }
}

/// The identity and size of the file now at `name`; None when nothing is there, or it was
/// refused (and reported: the file opened before is still read, the name is what was refused).
fn named(
    dir: &SessionsDir,
    name: &str,
    refusals: &mut Reported<PathBuf>,
) -> Option<(FileIdentity, u64)> {
    match dir.stat(name) {
        Ok(Some(found)) => {
            fine_again(refusals, dir, name);
            Some(found)
        }
        Ok(None) => None,
        Err(err) => {
            report(refusals, dir.path().join(name), &err, "transcript refused");
            None
        }
    }
}

/// A transcript read or stat()ed without a problem: one reported before is news again. The
/// path is built only when something was reported (this runs at every append).
fn fine_again(refusals: &mut Reported<PathBuf>, dir: &SessionsDir, name: &str) {
    if !refusals.is_empty() {
        refusals.clear(&dir.path().join(name));
    }
}

/// Ok(None): not there (yet). Err: refused, and reported.
fn open_tailer(
    dir: &SessionsDir,
    name: &str,
    at_end: bool,
    refusals: &mut Reported<PathBuf>,
) -> Result<Option<JsonlTailer>, ()> {
    let path = dir.path().join(name);
    let opened = if at_end {
        JsonlTailer::deferred(dir, name)
    } else {
        JsonlTailer::open(dir, name, None)
    };
    match opened {
        Ok(t) => {
            if refusals.clear(&path) {
                tracing::info!(path = %path.display(), "transcript followed again");
            }
            Ok(Some(t))
        }
        Err(TailError::NotFound { .. }) => Ok(None),
        Err(err) => {
            report(refusals, path, &err, "transcript not followed");
            Err(())
        }
    }
}

fn read_logged(
    tailer: &mut JsonlTailer,
    size: Option<u64>,
    dir: &SessionsDir,
    name: &str,
    refusals: &mut Reported<PathBuf>,
) -> Vec<TranscriptRecord> {
    let read = match size {
        Some(size) => tailer.read_new_sized(size),
        None => tailer.read_new(),
    };
    match read {
        Ok(records) => records,
        Err(err) => {
            report(
                refusals,
                dir.path().join(name),
                &err,
                "cannot read the transcript",
            );
            Vec::new()
        }
    }
}

fn report(refusals: &mut Reported<PathBuf>, path: PathBuf, err: &TailError, what: &str) {
    let text = err.to_string();
    if is_writable_by_others(err) {
        // The registry reports the dir once, not each file in it.
        tracing::debug!(path = %path.display(), "{what}: {text}");
    } else if refusals.is_news(path.clone(), &text) {
        tracing::warn!(path = %path.display(), "{what}: {text}");
    }
}

fn is_writable_by_others(err: &TailError) -> bool {
    matches!(
        err,
        TailError::Refused(crate::guarded::GuardError::WritableByOthers { .. })
    )
}

/// Whether `name` in `dir` was modified within `horizon_ms` of `now_ms` (an unreadable mtime
/// counts as recent; a missing file does not).
pub(super) fn modified_within(dir: &SessionsDir, name: &str, horizon_ms: i64, now_ms: i64) -> bool {
    let path = dir.path().join(name);
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return false;
    };
    let Ok(modified) = meta.modified() else {
        return true;
    };
    let mtime_ms = crate::clock::epoch_ms(modified);
    now_ms - mtime_ms <= horizon_ms
}
