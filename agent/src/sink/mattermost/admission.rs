//! Admission: which boxes may run a job now. A slot is for a box's updates, and slots are few
//! (`max_active_boxes`) so that a burst of turns cannot flood a server with edits; boxes wait
//! for one in arrival order, so the oldest turn is never starved by newer ones.
//!
//! A box waiting for a slot still gets its post (and its DM channel, and its delete), at most
//! `max_active_boxes` of those at a time: a turn shows up as it starts however many others run
//! (one create per turn is a rate the gateways set); only its edits wait, and catch up in one
//! when it is admitted.

use std::collections::{HashMap, VecDeque};

use crate::session::BoxId;

use super::tracked::Tracked;

/// The slots, and the boxes waiting for one.
pub(super) struct Admission {
    /// Boxes waiting for a slot, oldest first.
    pub queue: VecDeque<BoxId>,
    /// Slots held by tracked boxes.
    active: usize,
}

impl Admission {
    pub fn new() -> Admission {
        Admission {
            queue: VecDeque::new(),
            active: 0,
        }
    }

    /// Admits waiting boxes into free slots, then lists, oldest first, the idle boxes that may
    /// start a job in this pass.
    pub fn round(&mut self, boxes: &mut HashMap<BoxId, Tracked>, max_active_boxes: usize) -> Round {
        let max = max_active_boxes.max(1);
        while self.active < max {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            if let Some(b) = boxes.get_mut(&id) {
                b.admitted = true;
                self.active += 1;
            }
        }
        let early = boxes.values().filter(|b| b.busy && !b.admitted).count();
        let mut ids: Vec<(u64, BoxId)> = boxes
            .iter()
            .filter(|(_, b)| !b.busy && (b.admitted || b.may_run_unadmitted()))
            .map(|(id, b)| (b.order, id.clone()))
            .collect();
        // Oldest first: with a half-open breaker the probe goes to the box waiting longest.
        ids.sort_unstable_by_key(|(order, _)| *order);
        Round {
            max,
            early,
            ids: ids.into_iter(),
        }
    }

    /// A box is no longer tracked: the slot it held, if any, is free.
    pub fn release(&mut self, b: &Tracked) {
        if b.admitted {
            self.active -= 1;
        }
    }
}

/// One pass over the boxes that may start a job. Admitted boxes always may; the others only
/// while fewer than `max` of them have a job in flight, counting the jobs this pass starts.
pub(super) struct Round {
    max: usize,
    /// Unadmitted boxes with a job in flight.
    early: usize,
    /// (arrival order, box), oldest first.
    ids: std::vec::IntoIter<(u64, BoxId)>,
}

impl Round {
    /// The next box that may start a job, and whether it holds a slot (read now, not when the
    /// pass began: an earlier step of the pass may have settled it).
    pub fn next(&mut self, boxes: &HashMap<BoxId, Tracked>) -> Option<(BoxId, bool)> {
        for (_, id) in self.ids.by_ref() {
            let admitted = boxes.get(&id).is_some_and(|b| b.admitted);
            if !admitted && self.early >= self.max {
                continue;
            }
            return Some((id, admitted));
        }
        None
    }

    /// After a box's turn in the pass: an unadmitted box now busy takes one of the early places.
    pub fn stepped(&mut self, admitted: bool, busy: bool) {
        if !admitted && busy {
            self.early += 1;
        }
    }
}
