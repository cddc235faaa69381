//! The bounded store of task ids the service handed out.
//!
//! Ids are numbered in the order they are issued, so "the last `capacity` ids" is a
//! sliding window over one atomic counter: the same answers as a ring buffer of ids, with
//! no memory per task and no lock. Memory therefore stays flat however long a run lasts.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Prefix of every task id; the rest is the sequence number in hex.
const PREFIX: &str = "task-";

/// How many recent task ids the service remembers by default.
pub const DEFAULT_CAPACITY: u64 = 100_000;

/// Remembers the last `capacity` task ids issued.
#[derive(Debug)]
pub struct TaskStore {
    next: AtomicU64,
    capacity: u64,
}

impl TaskStore {
    /// A store remembering the last `capacity` ids (at least one).
    pub fn new(capacity: u64) -> Self {
        Self {
            next: AtomicU64::new(0),
            capacity: capacity.max(1),
        }
    }

    /// Issues a new id and writes it into `out` (cleared first).
    pub fn issue(&self, out: &mut String) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        out.clear();
        // Writing into a String cannot fail.
        let _ = write!(out, "{PREFIX}{n:012x}");
    }

    /// Whether `id` was issued and is among the last `capacity` ids.
    pub fn contains(&self, id: &str) -> bool {
        // Only the canonical form counts: `from_str_radix` alone would also take "+1".
        let digits = id
            .strip_prefix(PREFIX)
            .filter(|hex| !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()));
        let Some(n) = digits.and_then(|hex| u64::from_str_radix(hex, 16).ok()) else {
            return false;
        };
        let next = self.next.load(Ordering::Relaxed);
        n < next && next - n <= self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_ids_are_known_and_others_are_not() {
        let store = TaskStore::new(10);
        let mut id = String::new();
        store.issue(&mut id);
        assert!(store.contains(&id));
        assert!(!store.contains("task-000000000001"), "not issued yet");
        assert!(!store.contains("nonsense"));
        assert!(!store.contains("task-zz"));
        assert!(!store.contains("task-+0"));
        assert!(!store.contains("task-"));
        assert!(!store.contains(""));
    }

    #[test]
    fn only_the_last_capacity_ids_are_remembered() {
        let store = TaskStore::new(3);
        let mut ids = Vec::new();
        for _ in 0..5 {
            let mut id = String::new();
            store.issue(&mut id);
            ids.push(id);
        }
        let known: Vec<bool> = ids.iter().map(|id| store.contains(id)).collect();
        assert_eq!(known, [false, false, true, true, true]);
    }

    #[test]
    fn ids_are_unique() {
        let store = TaskStore::new(DEFAULT_CAPACITY);
        let mut a = String::new();
        let mut b = String::new();
        store.issue(&mut a);
        store.issue(&mut b);
        assert_ne!(a, b);
    }
}
