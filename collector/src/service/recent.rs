//! A bounded set of recently seen keys without a clear-all cliff: two
//! generations; new keys go into the young one; when it is full the old
//! generation is dropped and the young one becomes old; a key found in the
//! old generation moves back into the young one. What is in use stays, what
//! was not seen for a whole generation goes, and memory holds at most twice
//! the capacity. Cheaper than an LRU (no list), good enough for "is this
//! digest known to be stored": a miss only costs one database lookup.

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::Mutex;

/// Keys seen recently (at most `2 × cap`).
pub struct Recent<K> {
    inner: Mutex<Generations<K>>,
}

struct Generations<K> {
    young: HashSet<K>,
    old: HashSet<K>,
    cap: usize,
}

impl<K: Hash + Eq> Generations<K> {
    fn insert(&mut self, k: K) {
        if self.young.len() >= self.cap {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(k);
    }
}

impl<K: Hash + Eq + Clone> Recent<K> {
    /// An empty set keeping about `cap` keys per generation.
    pub fn new(cap: usize) -> Recent<K> {
        Recent {
            inner: Mutex::new(Generations {
                young: HashSet::new(),
                old: HashSet::new(),
                cap: cap.max(1),
            }),
        }
    }

    /// Whether `k` was seen recently (a hit in the old generation renews it).
    pub fn contains(&self, k: &K) -> bool {
        let Ok(mut g) = self.inner.lock() else {
            return false;
        };
        if g.young.contains(k) {
            return true;
        }
        match g.old.take(k) {
            Some(k) => {
                g.insert(k);
                true
            }
            None => false,
        }
    }

    /// Remember `keys`.
    pub fn extend(&self, keys: impl IntoIterator<Item = K>) {
        if let Ok(mut g) = self.inner.lock() {
            for k in keys {
                if !g.young.contains(&k) {
                    g.old.remove(&k);
                    g.insert(k);
                }
            }
        }
    }

    /// Keys held (both generations).
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .map(|g| g.young.len() + g.old.len())
            .unwrap_or(0)
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_use_survive_and_memory_stays_bounded() {
        let r = Recent::new(100);
        r.extend([0u32]);
        for i in 1..10_000u32 {
            r.extend([i]);
            // Key 0 is used all the time: it is never dropped.
            assert!(r.contains(&0), "key in use lost at {i}");
            assert!(r.len() <= 200);
        }
        // A key not seen for two generations is gone; a recent one is kept.
        assert!(!r.contains(&5));
        assert!(r.contains(&9_999));
    }

    #[test]
    fn no_clear_all_when_full() {
        let r = Recent::new(10);
        r.extend(0..10u32);
        r.extend([10u32]);
        // The previous generation is still answered.
        assert!((0..10u32).all(|k| r.contains(&k)));
    }
}
