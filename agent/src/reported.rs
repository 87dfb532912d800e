//! A problem is logged once per change of its state, not at every event that meets it: a refused
//! transcript is hit by every lock cycle of its session, an unreadable store by every write, and
//! one warning per cycle buries the rest of the log. The one helper for "say it once" in the
//! daemon (a refused file, a store that cannot be read, a Mattermost problem per box).

use std::collections::HashMap;
use std::hash::Hash;

/// The last problem reported per key (a file, a dir, a store, a box).
#[derive(Debug)]
pub struct Reported<K> {
    last: HashMap<K, String>,
}

impl<K> Default for Reported<K> {
    fn default() -> Self {
        Reported {
            last: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash> Reported<K> {
    /// Whether this problem is news worth logging: the first for `key` since it was last fine,
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

    /// `key` is fine again: a later problem is news again. True when one had been reported.
    pub fn clear(&mut self, key: &K) -> bool {
        self.last.remove(key).is_some()
    }

    /// Nothing reported and not cleared since: a caller can skip building the key to clear.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_then_fine_then_refused_is_news_twice_and_repeats_are_not() {
        let mut r = Reported::default();
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
