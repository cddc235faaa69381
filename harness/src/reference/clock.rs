//! Precise service times for the reference platform.
//!
//! tokio's timer has a 1 ms resolution and rounds every deadline up, so a configured
//! 50 ms service time would take 50–51 ms and a latency measurement checked against it
//! would look 2% wrong when the harness is right. One thread per platform keeps a heap of
//! deadlines and wakes each sleeper within the OS timer slack (~50–100 µs), at the cost of
//! one channel message per sleep.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Sleeps shorter than this use tokio's timer: the thread hop would cost more than the
/// rounding it saves.
const PRECISE_FROM: Duration = Duration::from_micros(200);

/// A handle to the timer thread; the thread ends when the last handle is dropped.
#[derive(Debug, Clone)]
pub(crate) struct PreciseClock {
    requests: mpsc::Sender<(Instant, oneshot::Sender<()>)>,
}

impl PreciseClock {
    /// Starts the timer thread.
    pub(crate) fn start() -> std::io::Result<Self> {
        let (requests, inbox) = mpsc::channel();
        std::thread::Builder::new()
            .name("reference-clock".into())
            .spawn(move || run(inbox))?;
        Ok(Self { requests })
    }

    /// Sleeps for `duration`, waking within the OS timer slack of the deadline.
    pub(crate) async fn sleep(&self, duration: Duration) {
        if duration < PRECISE_FROM {
            if !duration.is_zero() {
                tokio::time::sleep(duration).await;
            }
            return;
        }
        let deadline = Instant::now() + duration;
        let (wake, woken) = oneshot::channel();
        if self.requests.send((deadline, wake)).is_err() {
            // The thread is gone (shutting down): fall back to tokio's timer.
            tokio::time::sleep_until(deadline.into()).await;
            return;
        }
        if woken.await.is_err() {
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

/// A deadline in the heap; ordered by time, then by arrival so equal deadlines keep order.
struct Entry {
    deadline: Instant,
    order: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.order) == (other.deadline, other.order)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.order).cmp(&(other.deadline, other.order))
    }
}

fn run(inbox: mpsc::Receiver<(Instant, oneshot::Sender<()>)>) {
    let mut heap: BinaryHeap<Reverse<Entry>> = BinaryHeap::new();
    let mut order = 0u64;
    loop {
        let now = Instant::now();
        while heap.peek().is_some_and(|Reverse(e)| e.deadline <= now) {
            if let Some(Reverse(entry)) = heap.pop() {
                // The sleeper may have been cancelled; nothing to do then.
                let _ = entry.wake.send(());
            }
        }
        let next = match heap.peek() {
            Some(Reverse(e)) => inbox.recv_timeout(e.deadline.saturating_duration_since(now)),
            None => inbox.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match next {
            Ok((deadline, wake)) => {
                order += 1;
                heap.push(Reverse(Entry {
                    deadline,
                    order,
                    wake,
                }));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sleepers_wake_no_earlier_than_their_deadline_and_in_order() {
        let clock = PreciseClock::start().expect("thread");
        let start = Instant::now();
        let (a, b) = tokio::join!(
            async {
                clock.sleep(Duration::from_millis(30)).await;
                Instant::now()
            },
            async {
                clock.sleep(Duration::from_millis(10)).await;
                Instant::now()
            }
        );
        assert!(a.duration_since(start) >= Duration::from_millis(30));
        assert!(b.duration_since(start) >= Duration::from_millis(10));
        assert!(b < a, "the shorter sleep wakes first");
    }
}
