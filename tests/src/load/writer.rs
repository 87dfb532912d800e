//! The load itself: every session runs back-to-back turns, each taking its `.jsonl.lock`, appending
//! `LINES_PER_TURN` lines spread over `TURN` and removing the lock, as OpenClaw 2026.4.27 does.
//! A few threads share all sessions through one schedule each (a heap of due times), so a
//! thousand sessions need no thousand threads; how late each write ran is recorded, so a writer
//! that fell behind shows in the figures instead of passing for a slow daemon.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;
use std::time::{Duration, Instant, SystemTime};

use super::gateway::{LoadSession, Turn, lock_body, unix_ms};

/// A turn's length: lock created at its start, removed at its end.
pub const TURN: Duration = Duration::from_secs(4);
/// Lines per turn: ten a second.
pub const LINES_PER_TURN: usize = 40;

/// What one turn's writes were, for matching against what the server received.
#[derive(Clone, Debug)]
pub struct WrittenTurn {
    pub session: usize,
    /// Wall clock of the lock's creation (what the daemon's `started_ms` is compared with).
    pub started_unix_ms: i64,
    pub lock_created: Instant,
    /// When the final line's write returned.
    pub last_line: Instant,
}

#[derive(Debug, Default)]
pub struct WriterReport {
    pub turns: Vec<WrittenTurn>,
    pub lines: u64,
    /// How late each scheduled write started, sorted.
    pub lateness: Vec<Duration>,
    pub errors: Vec<String>,
}

/// Step 0 takes the lock and writes the first line; steps 1..LINES_PER_TURN write a line each;
/// the step after removes the lock.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Due {
    at: Instant,
    session: usize,
    turn: usize,
    step: usize,
}

fn step_offset(step: usize) -> Duration {
    // Lines evenly over the first 97.5 % of the turn; the lock goes just before the next turn.
    let span = TURN.mul_f64(0.975);
    if step >= LINES_PER_TURN {
        return span;
    }
    span.mul_f64(step as f64 / (LINES_PER_TURN - 1) as f64)
}

/// Runs `turns_each` turns in every session of `sessions`, the sessions' first turns spread over
/// one turn's length from `start`; blocks until the last lock is removed.
pub fn run(
    sessions: &[LoadSession],
    indices: Vec<usize>,
    turns_each: usize,
    start: Instant,
) -> WriterReport {
    let mut report = WriterReport::default();
    let total = sessions.len().max(1);
    let mut heap: BinaryHeap<Reverse<Due>> = indices
        .into_iter()
        .map(|session| {
            Reverse(Due {
                at: start + TURN.mul_f64(session as f64 / total as f64),
                session,
                turn: 0,
                step: 0,
            })
        })
        .collect();
    let mut open: std::collections::HashMap<usize, WrittenTurn> = Default::default();
    while let Some(Reverse(due)) = heap.pop() {
        let now = Instant::now();
        if due.at > now {
            std::thread::sleep(due.at - now);
        }
        let ran = Instant::now();
        report.lateness.push(ran.saturating_duration_since(due.at));
        let s = &sessions[due.session];
        let turn_start = due.at - step_offset(due.step);
        if due.step == 0 {
            let ms = unix_ms(SystemTime::now());
            if let Err(e) = std::fs::write(&s.lock, lock_body(ms)) {
                report.errors.push(format!("{}: {e}", s.lock.display()));
            }
            open.insert(
                due.session,
                WrittenTurn {
                    session: due.session,
                    started_unix_ms: ms,
                    lock_created: Instant::now(),
                    last_line: Instant::now(),
                },
            );
        }
        if due.step < LINES_PER_TURN {
            let line = Turn::new(due.session, due.turn).line(
                due.step,
                LINES_PER_TURN,
                unix_ms(SystemTime::now()),
            );
            // OpenClaw appends with `fs.appendFile`: open, write, close for every line.
            let written = std::fs::OpenOptions::new()
                .append(true)
                .open(&s.transcript)
                .and_then(|mut f| f.write_all(line.as_bytes()));
            match written {
                Ok(()) => report.lines += 1,
                Err(e) => report
                    .errors
                    .push(format!("{}: {e}", s.transcript.display())),
            }
            if due.step + 1 == LINES_PER_TURN
                && let Some(t) = open.get_mut(&due.session)
            {
                t.last_line = Instant::now();
            }
            heap.push(Reverse(Due {
                at: turn_start + step_offset(due.step + 1),
                step: due.step + 1,
                ..due
            }));
            continue;
        }
        if let Err(e) = std::fs::remove_file(&s.lock) {
            report.errors.push(format!("{}: {e}", s.lock.display()));
        }
        if let Some(t) = open.remove(&due.session) {
            report.turns.push(t);
        }
        if due.turn + 1 < turns_each {
            heap.push(Reverse(Due {
                at: turn_start + TURN,
                session: due.session,
                turn: due.turn + 1,
                step: 0,
            }));
        }
    }
    report.lateness.sort();
    report
}

/// Runs the load with `threads` writers sharing the sessions round-robin; their reports merged.
pub fn run_threads(
    sessions: &[LoadSession],
    threads: usize,
    turns_each: usize,
    start: Instant,
) -> WriterReport {
    let threads = threads.clamp(1, sessions.len().max(1));
    let reports: Vec<WriterReport> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let indices: Vec<usize> = (t..sessions.len()).step_by(threads).collect();
                scope.spawn(move || run(sessions, indices, turns_each, start))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut all = WriterReport::default();
    for r in reports {
        all.turns.extend(r.turns);
        all.lines += r.lines;
        all.lateness.extend(r.lateness);
        all.errors.extend(r.errors);
    }
    all.lateness.sort();
    all
}
