//! A refused file is logged once per change of its state, not at every event that touches it:
//! a refused transcript is hit by every lock cycle of its session, and one warning per cycle
//! buries the rest of the log. The same rule as the SQLite store reports (`reported` there).

use std::collections::HashMap;
use std::hash::Hash;

/// The last refusal reported per file (or dir).
#[derive(Debug)]
pub struct Refusals<K> {
    last: HashMap<K, String>,
}

impl<K> Default for Refusals<K> {
    fn default() -> Self {
        Refusals {
            last: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash> Refusals<K> {
    /// Whether this refusal is news worth logging: the first for `key` since it was last fine,
    /// or a different reason than the one last reported.
    pub fn is_news(&mut self, key: K, reason: &str) -> bool {
        match self.last.get(&key) {
            Some(last) if last == reason => false,
            _ => {
                self.last.insert(key, reason.to_owned());
                true
            }
        }
    }

    /// `key` was read fine: a later refusal is news again. True when it had been refused.
    pub fn clear(&mut self, key: &K) -> bool {
        self.last.remove(key).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_then_fine_then_refused_is_news_twice_and_repeats_are_not() {
        let mut r = Refusals::default();
        let news: Vec<bool> = (0..500).map(|_| r.is_news("t.jsonl", "2 links")).collect();
        assert_eq!(
            news.iter().filter(|n| **n).count(),
            1,
            "500 refusals, one report"
        );
        assert!(r.clear(&"t.jsonl"));
        assert!(!r.clear(&"t.jsonl"), "already fine");
        assert!(
            r.is_news("t.jsonl", "2 links"),
            "refused again after being fine"
        );
        assert!(r.is_news("t.jsonl", "a FIFO"), "another reason is news");
        assert!(r.is_news("other.jsonl", "a FIFO"), "per file");
    }
}
