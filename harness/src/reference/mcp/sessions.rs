//! The MCP endpoint's sessions: random, unguessable ids, at most a fixed number live.
//!
//! A load test opens a session per virtual user and may never end them, so the store is
//! bounded: when it is full, a new session ends the oldest one (whose later requests
//! then get 404, which the specification tells a client to answer with a new
//! `initialize`). Ids are not derived from the platform's seed: they are credentials,
//! and a seeded id could be guessed by anyone who knows the scenario.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use rand::Rng;

/// Sessions live at once by default.
pub(crate) const DEFAULT_CAPACITY: usize = 10_000;

/// The live sessions, oldest first.
#[derive(Debug)]
pub(crate) struct Sessions {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Inner {
    /// Session id → its creation number.
    by_id: HashMap<String, u64>,
    /// Creation number → session id, so the oldest is the first entry.
    by_age: BTreeMap<u64, String>,
    next: u64,
}

impl Sessions {
    /// A store holding at most `capacity` (at least 1) sessions.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
        }
    }

    /// Starts a session and returns its id (32 hex digits, 128 random bits from the
    /// thread's cryptographically secure generator), ending the oldest one when full.
    pub(crate) fn open(&self) -> String {
        let id = format!("{:032x}", rand::rng().random::<u128>());
        let mut inner = self.lock();
        while inner.by_id.len() >= self.capacity {
            let Some((_, oldest)) = inner.by_age.pop_first() else {
                break;
            };
            inner.by_id.remove(&oldest);
        }
        let n = inner.next;
        inner.next += 1;
        inner.by_id.insert(id.clone(), n);
        inner.by_age.insert(n, id.clone());
        id
    }

    /// Whether `id` names a live session.
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.lock().by_id.contains_key(id)
    }

    /// Ends the session `id`; false when there was none.
    pub(crate) fn close(&self, id: &str) -> bool {
        let mut inner = self.lock();
        match inner.by_id.remove(id) {
            Some(n) => {
                inner.by_age.remove(&n);
                true
            }
            None => false,
        }
    }

    /// Live sessions.
    pub(crate) fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// The store, locked briefly; every change keeps both maps in step before it can
    /// panic, so a poisoned lock is still consistent.
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_long_random_and_visible_ascii() {
        let sessions = Sessions::new(4);
        let (a, b) = (sessions.open(), sessions.open());
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert_eq!(id.len(), 32);
            assert!(id.bytes().all(|c| c.is_ascii_hexdigit()), "{id}");
        }
        assert!(sessions.contains(&a) && sessions.contains(&b));
        assert!(!sessions.contains("0123"));
    }

    #[test]
    fn a_full_store_ends_the_oldest_session() {
        let sessions = Sessions::new(2);
        let first = sessions.open();
        let second = sessions.open();
        let third = sessions.open();
        assert_eq!(sessions.len(), 2);
        assert!(!sessions.contains(&first), "the oldest made room");
        assert!(sessions.contains(&second) && sessions.contains(&third));
        assert!(sessions.close(&second));
        assert!(!sessions.close(&second), "closed once");
        let fourth = sessions.open();
        assert_eq!(sessions.len(), 2);
        assert!(sessions.contains(&third) && sessions.contains(&fourth));
    }
}
