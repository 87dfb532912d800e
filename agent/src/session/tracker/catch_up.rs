//! Catch-up: a session's existing history fed silently at startup, and what is still running
//! handed on to sinks as restored snapshots.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};

use super::{CatchUp, SessionInput, Tracker};
use crate::session::boxes::Outbox;
use crate::session::delta::{BoxDelta, BoxId, BoxModel, BoxOp, SessionRef};
use crate::transcript::TranscriptRecord;

impl Tracker {
    /// Startup / first sight of a session: feed its existing history silently; if at the end
    /// the session is mid-turn (lock held, or last turn not finished and `now_ms - last
    /// activity < idle timeout`), emit one Open delta showing that turn as it stands; otherwise
    /// nothing. Records are dated by their own timestamps. Lines a sub-agent's history adds to a
    /// box sinks already have are sent as ordinary deltas.
    pub fn catch_up(
        &mut self,
        session: &SessionRef,
        records: Vec<TranscriptRecord>,
        lock_held: bool,
        now_ms: i64,
    ) -> Vec<BoxDelta> {
        self.catch_up_with(vec![one(session, records, lock_held)], now_ms, false)
    }

    /// `catch_up` of a transcript read again from its start (truncated, rewritten; 2026.7.1
    /// writes a session back after each turn). What is older than the newest line already taken
    /// in was shown: it is skipped, or its turns would be told again, into the turn running now
    /// (they were: a channel's whole history inside a sub-agent turn's box). From there on, lines
    /// already taken in are dropped as repeats and the rest are news (a rewrite that shifted
    /// bytes). A turn ended in what is caught up waits for no sub-agent: the child's lines are in
    /// its own transcript, not read again (waiting, an old spawning turn came out as running and
    /// got a new post).
    pub fn read_again(
        &mut self,
        session: &SessionRef,
        records: Vec<TranscriptRecord>,
        lock_held: bool,
        now_ms: i64,
    ) -> Vec<BoxDelta> {
        let newest = self
            .sessions
            .get(&session.id)
            .and_then(|s| s.newest_line_ms);
        let records = match newest {
            Some(newest) => records
                .into_iter()
                .skip_while(|r| r.event.ts_ms().is_none_or(|ts| ts < newest))
                .collect(),
            None => records,
        };
        self.catch_up_with(vec![one(session, records, lock_held)], now_ms, true)
    }

    /// `catch_up` for several sessions at once (an agent's at startup), their records fed in
    /// transcript-time order across sessions, as they were written: a sub-agent's lines land in
    /// its parent's box where a live run put them, not after all of the parent's.
    pub fn catch_up_all(&mut self, sessions: Vec<CatchUp>, now_ms: i64) -> Vec<BoxDelta> {
        self.catch_up_with(sessions, now_ms, false)
    }

    fn catch_up_with(
        &mut self,
        sessions: Vec<CatchUp>,
        now_ms: i64,
        read_before: bool,
    ) -> Vec<BoxDelta> {
        let known: BTreeSet<BoxId> = self.boxes.map.keys().cloned().collect();
        let mut deltas = Vec::new();
        let mut refs = Vec::with_capacity(sessions.len());
        let mut locks = Vec::with_capacity(sessions.len());
        let mut queues = Vec::with_capacity(sessions.len());
        for c in sessions {
            // An undated record keeps the time of the one before it in its own transcript.
            let mut last_at = None;
            let dated: VecDeque<(i64, TranscriptRecord)> = c
                .records
                .into_iter()
                .map(|rec| {
                    let at = rec.event.ts_ms().or(last_at).unwrap_or(now_ms);
                    last_at = Some(at);
                    (at, rec)
                })
                .collect();
            refs.push(c.session);
            locks.push(c.lock_held);
            queues.push(dated);
        }
        // Merged by the time of each transcript's next record; a transcript's own order is
        // kept whatever its timestamps say.
        let mut heads: BinaryHeap<Reverse<(i64, usize)>> = queues
            .iter()
            .enumerate()
            .filter_map(|(i, q)| q.front().map(|(at, _)| Reverse((*at, i))))
            .collect();
        while let Some(Reverse((at, i))) = heads.pop() {
            let Some((_, rec)) = queues[i].pop_front() else {
                continue;
            };
            deltas.extend(self.handle(&refs[i], SessionInput::Record(rec), at));
            if let Some((next, _)) = queues[i].front() {
                heads.push(Reverse((*next, i)));
            }
        }
        let mut out = Outbox::default();
        for (session, lock_held) in refs.iter().zip(&locks) {
            self.register(session, now_ms, &mut out);
            if !*lock_held {
                self.expire_session(&session.id, now_ms, &mut out);
            } else if !self.sessions.get(&session.id).is_some_and(|s| s.lock_held) {
                // The gateway is working on the session now, however old its last entry is. A
                // lock held since before (a transcript read again under its turn's lock) is not
                // news: taken as new, it would start a turn once its tail ends.
                self.on_lock(&session.id, true, now_ms, &mut out);
            }
        }
        if read_before {
            let ended: Vec<BoxId> = self
                .boxes
                .map
                .keys()
                .filter(|id| !known.contains(*id))
                .filter(|id| self.boxes.get(id).is_some_and(|b| b.ending.is_some()))
                .cloned()
                .collect();
            for id in ended {
                self.boxes.finish_if_ready(&mut out, &id, now_ms, 0);
            }
        }
        deltas.extend(self.boxes.flush(out));

        // Boxes born during the catch-up: every finished turn is handed on as a restored,
        // closed snapshot, oldest first (sinks that persist posts finish what a previous run
        // left open: a turn may have ended while the daemon was down, and the one after it
        // begun); the turn still running is handed on as a restored, open one. Each carries its
        // `FirstLine`, which is how a sink tells which post is whose.
        let mut result = Vec::new();
        let mut finished: BTreeMap<BoxId, BoxModel> = BTreeMap::new();
        for d in deltas {
            if known.contains(&d.id) {
                result.push(d);
                continue;
            }
            match finished.get_mut(&d.id) {
                Some(model) => {
                    let _ = model.apply(&d);
                }
                None => {
                    if let Ok(model) = BoxModel::open(&d) {
                        finished.insert(d.id.clone(), model);
                    }
                }
            }
        }
        let ours = |id: &BoxId| refs.iter().any(|r| r.id == id.session);
        let closed = finished
            .into_iter()
            .filter(|(id, m)| ours(id) && m.is_finished() && !m.retracted);
        for (id, mut model) in closed {
            model.restored = true;
            result.push(BoxDelta {
                id,
                seq: 1,
                ops: model.snapshot(),
            });
        }
        let fresh: Vec<BoxId> = self
            .boxes
            .map
            .keys()
            .filter(|id| !known.contains(*id))
            .cloned()
            .collect();
        for id in fresh {
            if let Some(mut delta) = self.restart_box(&id) {
                delta.ops.insert(1, BoxOp::Restored);
                result.push(delta);
            }
        }
        result
    }

    /// Re-bases a box opened during catch-up: sinks never saw its deltas, so its whole state
    /// goes out as one Open delta with seq 1.
    pub(super) fn restart_box(&mut self, id: &BoxId) -> Option<BoxDelta> {
        let (delta, dropped) = self.boxes.restart(id)?;
        if dropped > 0 {
            // Calls keep their line indexes in step with the box; one into a dropped line is
            // forgotten.
            for s in self.sessions.values_mut() {
                if let Some(turn) = s.turn.as_mut() {
                    turn.calls.retain(|_, (bid, index)| {
                        if bid != id {
                            return true;
                        }
                        match index.checked_sub(dropped) {
                            Some(i) => {
                                *index = i;
                                true
                            }
                            None => false,
                        }
                    });
                }
            }
        }
        Some(delta)
    }
}

fn one(session: &SessionRef, records: Vec<TranscriptRecord>, lock_held: bool) -> CatchUp {
    CatchUp {
        session: session.clone(),
        records,
        lock_held,
    }
}
