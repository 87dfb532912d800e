//! Plays a recorded OpenClaw gateway into a state dir, in the gateway's own order of writes:
//! lock created, transcript lines appended, `sessions.json` replaced by rename, lock removed.
//! The order comes from the inotify log recorded beside real gateways (`fs-events.log`); which
//! lines each append carried comes from the entries' own timestamps. `demo` shows it to
//! newcomers, and the end-to-end tests drive every tier with it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

/// A transcript line and its timestamp (ms of the day, UTC), when it has one.
type StampedLine = (Option<i64>, Vec<u8>);

/// A recording: the transcripts as they ended, the index, and the writes in order.
#[derive(Clone, Debug)]
pub struct Recording {
    /// Transcript file name → its lines (each with its timestamp, ms of the day, UTC).
    transcripts: BTreeMap<String, Vec<StampedLine>>,
    index: Vec<u8>,
    events: Vec<Event>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    LockCreated { t: i64, name: String },
    LockRemoved { t: i64, name: String },
    Written { t: i64, name: String },
    IndexReplaced { t: i64 },
    MovedFrom { t: i64, name: String },
    MovedTo { t: i64, name: String },
}

impl Event {
    fn t(&self) -> i64 {
        match self {
            Event::LockCreated { t, .. }
            | Event::LockRemoved { t, .. }
            | Event::Written { t, .. }
            | Event::IndexReplaced { t }
            | Event::MovedFrom { t, .. }
            | Event::MovedTo { t, .. } => *t,
        }
    }
}

/// How fast to play: real gaps divided by `speed`, never longer than `max_gap`.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    pub speed: f64,
    pub max_gap: Duration,
}

impl Pace {
    pub const FAST: Pace = Pace {
        speed: 50.0,
        max_gap: Duration::from_millis(40),
    };
    pub const DEMO: Pace = Pace {
        speed: 1.0,
        max_gap: Duration::from_millis(1500),
    };
    /// As the gateway wrote it: every gap as long as it was.
    pub const RECORDED: Pace = Pace {
        speed: 1.0,
        max_gap: Duration::MAX,
    };

    /// How long to wait between two writes `gap_ms` apart in the recording.
    pub fn wait(&self, gap_ms: i64) -> Duration {
        let ms = gap_ms.max(0) as f64 / self.speed;
        Duration::from_micros((ms * 1000.0) as u64).min(self.max_gap)
    }
}

/// Milliseconds since midnight of an RFC 3339 UTC timestamp (`2026-11-22T03:50:29.391Z`).
fn ms_of_day(ts: &str) -> Option<i64> {
    let time = ts.split_once('T')?.1;
    parse_clock(time.trim_end_matches('Z'))
}

/// `03:50:29.391` or `03:50:29.391234` → ms since midnight.
fn parse_clock(clock: &str) -> Option<i64> {
    let mut parts = clock.splitn(3, ':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let sec = parts.next()?;
    let (s, frac) = sec.split_once('.').unwrap_or((sec, "0"));
    let s: i64 = s.parse().ok()?;
    let frac = format!("{:0<3}", &frac[..frac.len().min(3)]);
    let ms: i64 = frac.parse().ok()?;
    Some(((h * 60 + m) * 60 + s) * 1000 + ms)
}

fn parse_events(log: &str) -> Vec<Event> {
    let mut events = Vec::new();
    for line in log.lines() {
        let mut cols = line.split_whitespace();
        let (Some(clock), Some(kinds), Some(path)) = (cols.next(), cols.next(), cols.next()) else {
            continue;
        };
        let Some(t) = parse_clock(clock) else {
            continue;
        };
        let Some(name) = path.rsplit('/').next().filter(|n| !n.is_empty()) else {
            continue;
        };
        let name = name.to_owned();
        let kinds: Vec<&str> = kinds.split(',').collect();
        let has = |k: &str| kinds.contains(&k);
        let is_lock = name.ends_with(".jsonl.lock");
        let is_transcript = crate::layout::transcript_session_id(&name).is_some();
        let event = if is_lock && has("CREATE") {
            Event::LockCreated { t, name }
        } else if is_lock && has("DELETE") {
            Event::LockRemoved { t, name }
        } else if is_transcript && (has("CREATE") || has("MODIFY")) {
            Event::Written { t, name }
        } else if name == crate::layout::SESSIONS_INDEX && has("MOVED_TO") {
            Event::IndexReplaced { t }
        } else if is_transcript && has("MOVED_FROM") {
            Event::MovedFrom { t, name }
        } else if has("MOVED_TO") && name.contains(".jsonl.") && !is_lock {
            Event::MovedTo { t, name }
        } else {
            continue;
        };
        events.push(event);
    }
    events
}

fn split_lines(bytes: &[u8]) -> Vec<StampedLine> {
    bytes
        .split_inclusive(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .map(|line| {
            let ts = serde_json::from_slice::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("timestamp")?.as_str().and_then(ms_of_day));
            (ts, line.to_vec())
        })
        .collect()
}

impl Recording {
    /// A recording from files: every transcript and `sessions.json` in `sessions_dir`, and the
    /// write order in `events_log`.
    pub fn from_dir(sessions_dir: &Path, events_log: &Path) -> anyhow::Result<Recording> {
        let mut transcripts = Vec::new();
        for entry in std::fs::read_dir(sessions_dir)
            .with_context(|| format!("reading {}", sessions_dir.display()))?
        {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if crate::layout::transcript_session_id(&name).is_some() {
                transcripts.push((name, std::fs::read(entry.path())?));
            }
        }
        let index = std::fs::read(sessions_dir.join(crate::layout::SESSIONS_INDEX))
            .with_context(|| format!("reading the index in {}", sessions_dir.display()))?;
        let log = std::fs::read_to_string(events_log)
            .with_context(|| format!("reading {}", events_log.display()))?;
        Recording::from_parts(transcripts, index, &log)
    }

    pub fn from_parts(
        transcripts: Vec<(String, Vec<u8>)>,
        index: Vec<u8>,
        events_log: &str,
    ) -> anyhow::Result<Recording> {
        let events = parse_events(events_log);
        if events.is_empty() {
            bail!("the events log holds no session-file events");
        }
        Ok(Recording {
            transcripts: transcripts
                .into_iter()
                .map(|(name, bytes)| (name, split_lines(&bytes)))
                .collect(),
            index,
            events,
        })
    }

    /// Moves every entry's timestamp so the recording begins at `now_ms`, as a gateway running
    /// now would have stamped it (its earlier turns land as far in the past as they were before
    /// the recording began). Playback timing keeps using the original stamps.
    pub fn shifted_to(mut self, now_ms: i64) -> Recording {
        let Some(day_start) = self
            .transcripts
            .values()
            .flatten()
            .find_map(|(ts, line)| Some(absolute_ms(line)? - (*ts)?))
        else {
            return self;
        };
        let shift = now_ms - (day_start + self.start());
        for lines in self.transcripts.values_mut() {
            for (_, line) in lines.iter_mut() {
                *line = shift_timestamps(line, shift);
            }
        }
        self
    }

    fn start(&self) -> i64 {
        self.events.first().map(Event::t).unwrap_or(0)
    }

    /// From the first write to the last, as recorded.
    pub fn duration(&self) -> Duration {
        Duration::from_millis((self.end() - self.start()).max(0) as u64)
    }

    fn end(&self) -> i64 {
        self.events.last().map(Event::t).unwrap_or(0)
    }

    /// Writes what existed before the recording began: the lines of earlier turns, and the index
    /// if any transcript existed. Returns the sessions dir.
    pub fn prepare(&self, state_dir: &Path, agent_id: &str) -> anyhow::Result<Player> {
        let sessions = crate::layout::sessions_dir(state_dir, agent_id);
        std::fs::create_dir_all(state_dir)?;
        let start = self.start();
        let mut written: BTreeMap<String, usize> = BTreeMap::new();
        for (name, lines) in &self.transcripts {
            let n = lines
                .iter()
                .take_while(|(ts, _)| ts.is_some_and(|t| t < start))
                .count();
            // A fork's copied history carries old stamps: the header decides whether it existed.
            let header_before = lines
                .first()
                .and_then(|(ts, _)| *ts)
                .is_some_and(|t| t < start);
            if n > 0 && header_before {
                written.insert(name.clone(), n);
                if sessions.join(name).exists() {
                    // Chained recordings: an earlier one already wrote these lines.
                    continue;
                }
                std::fs::create_dir_all(&sessions)?;
                let mut f = std::fs::File::create(sessions.join(name))?;
                for (_, line) in &lines[..n] {
                    f.write_all(line)?;
                }
            }
        }
        if !written.is_empty() && !sessions.join(crate::layout::SESSIONS_INDEX).exists() {
            write_index(&sessions, &self.index)?;
        }
        Ok(Player {
            recording: self.clone(),
            sessions,
            written,
            next: 0,
            stamp_now: false,
        })
    }
}

/// A recording being played into one sessions dir.
pub struct Player {
    recording: Recording,
    sessions: PathBuf,
    written: BTreeMap<String, usize>,
    /// Index of the next event to play: `play_until` stops after a step and the next call
    /// goes on from there (crash tests play on while the daemon is down).
    next: usize,
    /// Stamp each line with the moment it is written (see `stamp_when_written`).
    stamp_now: bool,
}

impl Player {
    pub fn sessions_dir(&self) -> &Path {
        &self.sessions
    }

    /// From now on every line that is not copied history is stamped with the wall-clock time
    /// it is written at, as a gateway running now would stamp it. Played faster than recorded,
    /// the recorded stamps would otherwise run ahead of the writes, and recordings played one
    /// after the other into one transcript would overlap in time.
    pub fn stamp_when_written(&mut self) {
        self.stamp_now = true;
    }

    /// Plays every write in order, sleeping between them as `pace` says. `on_step` sees each
    /// write once it is on disk (tests timestamp appends with it).
    pub fn play(&mut self, pace: Pace, mut on_step: impl FnMut(&str)) -> anyhow::Result<()> {
        self.play_until(pace, |step| {
            on_step(step);
            false
        })
    }

    /// Like `play`, but stops (leaving the rest unwritten) once `stop` returns true for a step.
    pub fn play_until(
        &mut self,
        pace: Pace,
        mut stop: impl FnMut(&str) -> bool,
    ) -> anyhow::Result<()> {
        let mut on_step = |step: &str| stop(step);
        let events = self.recording.events.clone();
        let mut last_t = match self.next.checked_sub(1) {
            Some(prev) => events.get(prev).map(Event::t).unwrap_or(0),
            None => self.recording.start(),
        };
        let mut moved_from: Option<String> = None;
        while let Some(event) = events.get(self.next) {
            self.next += 1;
            let gap = pace.wait(event.t() - last_t);
            if !gap.is_zero() {
                std::thread::sleep(gap);
            }
            last_t = event.t();
            std::fs::create_dir_all(&self.sessions)?;
            match event {
                Event::LockCreated { name, .. } => {
                    let body = format!(
                        "{{\n  \"pid\": {},\n  \"createdAt\": \"replay\",\n  \"maxHoldMs\": 300000\n}}\n",
                        std::process::id()
                    );
                    std::fs::write(self.sessions.join(name), body)?;
                    if on_step(&format!("lock+ {name}")) {
                        return Ok(());
                    }
                }
                Event::LockRemoved { name, .. } => {
                    match std::fs::remove_file(self.sessions.join(name)) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                        _ => {}
                    }
                    if on_step(&format!("lock- {name}")) {
                        return Ok(());
                    }
                }
                Event::Written { t, name } => {
                    let n = self.append_due(name, *t, true)?;
                    if on_step(&format!("append {name} {n}")) {
                        return Ok(());
                    }
                }
                Event::IndexReplaced { .. } => {
                    write_index(&self.sessions, &self.recording.index)?;
                    if on_step("index") {
                        return Ok(());
                    }
                }
                Event::MovedFrom { name, .. } => moved_from = Some(name.clone()),
                Event::MovedTo { name, .. } => {
                    if let Some(from) = moved_from.take() {
                        let src = self.sessions.join(&from);
                        if src.exists() {
                            std::fs::rename(&src, self.sessions.join(name))?;
                            self.written.remove(&from);
                            if on_step(&format!("rename {from} {name}")) {
                                return Ok(());
                            }
                        }
                    }
                }
            }
        }
        // Lines whose append fell outside the log (none in the real recordings) still land;
        // a transcript none of whose lines is due yet (a later recording's session) is not
        // created: a gateway names a session in its index before it writes its file.
        let names: Vec<String> = self.recording.transcripts.keys().cloned().collect();
        for name in names {
            self.append_due(&name, self.recording.end() + 1000, false)?;
        }
        Ok(())
    }

    /// Appends, in one write, the lines of `name` stamped at or before `t` that follow what is
    /// already written (file order is kept: a late line holds back the ones after it).
    /// `create_empty`: the gateway wrote the file now (its log says so), so it is created even
    /// when none of its lines is due yet.
    fn append_due(&mut self, name: &str, t: i64, create_empty: bool) -> anyhow::Result<usize> {
        let Some(lines) = self.recording.transcripts.get(name) else {
            return Ok(0);
        };
        let done = self.written.get(name).copied().unwrap_or(0);
        let header_due = lines.first().and_then(|(ts, _)| *ts).is_none_or(|h| h <= t);
        let history_end = first_progress(lines);
        let n = if header_due {
            lines[done..]
                .iter()
                .enumerate()
                .take_while(|(i, (ts, _))| done + i < history_end || ts.is_none_or(|x| x <= t))
                .count()
        } else {
            0
        };
        let path = self.sessions.join(name);
        if n == 0 && !create_empty {
            return Ok(0);
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("appending to {}", path.display()))?;
        let now = crate::clock::now_ms();
        let chunk: Vec<u8> = lines[done..done + n]
            .iter()
            .enumerate()
            .flat_map(|(i, (_, l))| {
                // The header too: it is written now (a fork's copied lines keep their stamps).
                let at = done + i;
                let restamp = self.stamp_now && (at == 0 || at >= history_end);
                match absolute_ms(l).filter(|_| restamp) {
                    Some(was) => shift_timestamps(l, now - was),
                    None => l.clone(),
                }
            })
            .collect();
        f.write_all(&chunk)?;
        self.written.insert(name.to_owned(), done + n);
        Ok(n)
    }
}

const TS_KEY: &[u8] = b"\"timestamp\":\"";

/// The entry's own `timestamp`, in ms since the epoch.
pub fn absolute_ms(line: &[u8]) -> Option<i64> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    crate::clock::parse_rfc3339_ms(v.get("timestamp")?.as_str()?)
}

/// Every `"timestamp":"<RFC 3339>"` in a line moved by `shift` ms, in the same format
/// (`2026-11-22T03:50:29.391Z`), so the line stays byte-for-byte what the gateway wrote
/// but for the times.
pub fn shift_timestamps(line: &[u8], shift: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    let mut rest = line;
    while let Some(pos) = rest.windows(TS_KEY.len()).position(|w| w == TS_KEY) {
        let value_start = pos + TS_KEY.len();
        out.extend_from_slice(&rest[..value_start]);
        rest = &rest[value_start..];
        let Some(end) = rest.iter().position(|b| *b == b'"') else {
            break;
        };
        let shifted = std::str::from_utf8(&rest[..end])
            .ok()
            .and_then(crate::clock::parse_rfc3339_ms)
            .map(|ms| crate::clock::format_rfc3339_ms(ms + shift));
        match shifted {
            Some(text) => out.extend_from_slice(text.as_bytes()),
            None => out.extend_from_slice(&rest[..end]),
        }
        rest = &rest[end..];
    }
    out.extend_from_slice(rest);
    out
}

/// Index of the first line that is not copied history: in a fork, lines stamped before the
/// header are written together with it.
fn first_progress(lines: &[StampedLine]) -> usize {
    let Some(header) = lines.first().and_then(|(ts, _)| *ts) else {
        return 1;
    };
    1 + lines[1..]
        .iter()
        .take_while(|(ts, _)| ts.is_some_and(|t| t < header))
        .count()
}

fn write_index(sessions: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = sessions.join(format!("sessions.json.{}.replay.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, sessions.join(crate::layout::SESSIONS_INDEX))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(scenario: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/openclaw")
            .join(scenario)
    }

    fn play(scenario: &str) -> (tempfile::TempDir, Vec<String>) {
        let dir = fixture(scenario);
        let rec = Recording::from_dir(&dir.join("sessions"), &dir.join("fs-events.log"))
            .expect("recording");
        let tmp = tempfile::tempdir().expect("tmp");
        let mut player = rec.prepare(tmp.path(), "main").expect("prepare");
        let mut steps = Vec::new();
        player
            .play(
                Pace {
                    speed: 1e9,
                    max_gap: Duration::ZERO,
                },
                |s| steps.push(s.to_owned()),
            )
            .expect("play");
        (tmp, steps)
    }

    #[test]
    fn playing_a_recording_rebuilds_the_final_transcripts_byte_for_byte() {
        for scenario in [
            "2026.7.1/a_channel_tools",
            "2026.7.1/b_thread_reply",
            "2026.7.1/e_subagent",
            "2026.4.27/c_dm",
        ] {
            let (tmp, steps) = play(scenario);
            let src = fixture(scenario).join("sessions");
            for entry in std::fs::read_dir(&src).expect("dir") {
                let entry = entry.expect("entry");
                let name = entry.file_name();
                let want = std::fs::read(entry.path()).expect("read");
                let got = std::fs::read(tmp.path().join("agents/main/sessions").join(&name))
                    .unwrap_or_default();
                assert!(want == got, "{scenario}: {name:?} differs after playback");
            }
            assert!(steps.iter().any(|s| s.starts_with("lock+")), "{scenario}");
        }
    }

    #[test]
    fn a_shifted_recording_keeps_its_lines_but_for_the_times() {
        let line = br#"{"type":"message","id":"x","timestamp":"2026-11-22T03:50:29.391Z","message":{"timestamp":1795319427804}}"#;
        let shifted = shift_timestamps(line, 86_400_000 + 1_609);
        assert_eq!(
            String::from_utf8_lossy(&shifted),
            r#"{"type":"message","id":"x","timestamp":"2026-11-23T03:50:31.000Z","message":{"timestamp":1795319427804}}"#
        );
        let dir = fixture("2026.7.1/a_channel_tools");
        let rec = Recording::from_dir(&dir.join("sessions"), &dir.join("fs-events.log"))
            .expect("recording");
        let now = 1_900_000_000_000;
        let rec = rec.shifted_to(now);
        let first = rec
            .transcripts
            .values()
            .flatten()
            .filter_map(|(_, l)| absolute_ms(l))
            .min()
            .expect("a stamped line");
        // The first line was written ~2.8 s after the recording's first event (the index rewrite).
        assert!((now..now + 5_000).contains(&first), "{first} vs {now}");
    }

    #[test]
    fn a_new_session_file_appears_in_one_burst_after_its_lock_as_in_2026_7() {
        let (_tmp, steps) = play("2026.7.1/a_channel_tools");
        let first_lock = steps
            .iter()
            .position(|s| s.starts_with("lock+"))
            .expect("lock");
        let first_append = steps
            .iter()
            .position(|s| s.starts_with("append"))
            .expect("append");
        assert!(first_lock < first_append);
        // header, model_change, thinking, snapshot, user, assistant(toolCalls)
        assert!(
            steps[first_append].ends_with(" 6"),
            "{}",
            steps[first_append]
        );
    }

    #[test]
    fn a_chat_of_the_demo_leaves_no_file_for_the_sessions_of_later_chats() {
        // Every demo chat carries the run's final transcripts; the first one's sessions are
        // only the channel's. An empty file of a later session, which no index names yet,
        // would be followed under a key of its own before its chat begins.
        let (_, first) = crate::cli::demo::recordings()
            .expect("demo recordings")
            .into_iter()
            .next()
            .expect("a chat");
        let tmp = tempfile::tempdir().expect("tmp");
        let mut player = first.prepare(tmp.path(), "main").expect("prepare");
        player
            .play(
                Pace {
                    speed: 1e9,
                    max_gap: Duration::ZERO,
                },
                |_| {},
            )
            .expect("play");
        let mut files: Vec<String> = std::fs::read_dir(player.sessions_dir())
            .expect("sessions dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(
            files,
            [
                "378cc088-7929-479b-991c-8aad99f30827.jsonl",
                "sessions.json"
            ]
        );
    }
}
