//! CPU time of the serving thread: the clock behind the per-path handler CPU counter, and
//! the busy loop that `[reference] legacy_cpu_per_call` / `dagger_cpu_per_call` add.
//!
//! The clock is the calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not the wall
//! clock and not the process's CPU time: the embedded platform shares its process with the
//! load generator, and a thread that is descheduled, or that waits, does no work. A thread
//! CPU reading is meaningful only between two readings on one thread, so an async handler
//! is measured one poll at a time ([`on_thread_cpu`]): each poll runs on one thread from
//! start to end, whichever thread the next poll lands on.
//!
//! The busy loop runs on the serving thread inside [`tokio::task::block_in_place`] on a
//! multi-threaded runtime: the worker hands its other tasks (the load generator's, other
//! connections', the I/O driver) to another thread for the spin's duration, so a spin of
//! up to [`MAX_SPIN`] starves nothing, and the CPU is still spent by the thread that
//! serves the request, where the poll's measurement sees it. `spawn_blocking` would move
//! the CPU to a pool thread that the poll does not measure; spinning in place without
//! `block_in_place` would stall every task queued on that worker. On a current-thread
//! runtime (`#[tokio::test]`) there is no other worker to hand anything to and
//! `block_in_place` would panic, so the loop spins in place: the whole runtime waits,
//! which is what a CPU-bound handler does there.

use std::future::Future;
use std::time::Duration;

use tokio::runtime::{Handle, RuntimeFlavor};

/// The longest one busy loop may spin; `[reference]` refuses a longer CPU cost per call.
pub(crate) const MAX_SPIN: Duration = Duration::from_secs(1);

/// CPU time the calling thread has used so far (user and system).
///
/// On Unix this is `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`. Elsewhere there is no such
/// clock within reach without `unsafe`, and the wall clock since the first call stands in:
/// a descheduled thread then counts as working.
pub(crate) fn thread_cpu_time() -> Duration {
    #[cfg(unix)]
    {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        // The clock starts at zero with the thread; it is never negative.
        Duration::new(
            u64::try_from(t.tv_sec).unwrap_or(0),
            u32::try_from(t.tv_nsec).unwrap_or(0),
        )
    }
    #[cfg(not(unix))]
    {
        use std::sync::OnceLock;
        use std::time::Instant;
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed()
    }
}

/// Spins until the calling thread has used `cpu` more CPU time (at most [`MAX_SPIN`]), in
/// place; returns the CPU time it used, at least `cpu.min(MAX_SPIN)`.
pub(crate) fn burn(cpu: Duration) -> Duration {
    let target = cpu.min(MAX_SPIN);
    let start = thread_cpu_time();
    let mut spent = Duration::ZERO;
    let mut spins: u64 = 0;
    while spent < target {
        // A little arithmetic between readings, kept by `black_box` so it is not removed.
        for _ in 0..64 {
            spins = std::hint::black_box(spins.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        spent = thread_cpu_time().saturating_sub(start);
    }
    spent
}

/// Spins for `cpu` of the calling thread's CPU time without starving the runtime: in
/// [`tokio::task::block_in_place`] on a multi-threaded runtime, in place otherwise (see
/// the module comment). Returns at once for zero.
pub(crate) fn burn_on_runtime(cpu: Duration) {
    if cpu.is_zero() {
        return;
    }
    let multi_thread =
        Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if multi_thread {
        tokio::task::block_in_place(|| burn(cpu));
    } else {
        burn(cpu);
    }
}

/// Runs `future` to its end and adds up the thread CPU time of its polls: the synchronous
/// work it did, wherever it ran, and none of the time it waited.
pub(crate) async fn on_thread_cpu<F: Future>(future: F) -> (F::Output, Duration) {
    let mut future = std::pin::pin!(future);
    let mut spent = Duration::ZERO;
    let output = std::future::poll_fn(|cx| {
        let start = thread_cpu_time();
        let poll = future.as_mut().poll(cx);
        spent += thread_cpu_time().saturating_sub(start);
        poll
    })
    .await;
    (output, spent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_clock_advances_with_work_and_not_with_sleep() {
        let before = thread_cpu_time();
        std::thread::sleep(Duration::from_millis(30));
        let slept = thread_cpu_time().saturating_sub(before);
        let spent = burn(Duration::from_millis(5));
        assert!(spent >= Duration::from_millis(5), "{spent:?}");
        if cfg!(unix) {
            // Sleeping costs a few microseconds of system time, never the 30 ms slept.
            assert!(slept < Duration::from_millis(10), "{slept:?}");
        }
    }

    #[test]
    fn burn_uses_at_least_the_asked_cpu_of_its_thread_and_stops_at_the_cap() {
        for asked in [
            Duration::ZERO,
            Duration::from_micros(300),
            Duration::from_millis(3),
        ] {
            let before = thread_cpu_time();
            let spent = burn(asked);
            let measured = thread_cpu_time().saturating_sub(before);
            assert!(spent >= asked, "{asked:?}: {spent:?}");
            assert!(measured >= spent, "{asked:?}: {measured:?} < {spent:?}");
        }
        // Asked beyond the cap: one spin stops at MAX_SPIN, well before the 3 s asked (a
        // loaded machine may stretch it, never to three times the cap's CPU).
        let spent = burn(Duration::from_secs(3));
        assert!(spent >= MAX_SPIN, "{spent:?}");
        assert!(spent < Duration::from_secs(2), "{spent:?}");
    }

    /// Thread CPU time that `burn_on_runtime(asked)` used on the calling thread.
    fn burnt_here(asked: Duration) -> Duration {
        let before = thread_cpu_time();
        burn_on_runtime(asked);
        thread_cpu_time().saturating_sub(before)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_multi_thread_runtime_burns_on_the_serving_thread() {
        let asked = Duration::from_millis(4);
        // `block_in_place` runs the loop on this very thread (its worker's other tasks
        // move to another thread meanwhile), so this thread's clock sees it all.
        assert!(burnt_here(asked) >= asked);
        let other = tokio::spawn(async move { burnt_here(asked) });
        assert!(other.await.expect("task") >= asked);
    }

    #[tokio::test]
    async fn a_current_thread_runtime_burns_in_place() {
        let asked = Duration::from_millis(2);
        assert!(burnt_here(asked) >= asked);
        assert!(burnt_here(Duration::ZERO) < Duration::from_millis(1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_polls_of_a_future_add_up_its_work_and_not_its_waits() {
        let asked = Duration::from_millis(4);
        let ((), spent) = on_thread_cpu(async {
            tokio::task::yield_now().await;
            burn_on_runtime(asked);
            tokio::time::sleep(Duration::from_millis(20)).await;
            burn_on_runtime(asked);
        })
        .await;
        assert!(spent >= 2 * asked, "{spent:?}");
        if cfg!(unix) {
            // The 20 ms asleep are not work.
            assert!(spent < 2 * asked + Duration::from_millis(15), "{spent:?}");
        }
    }
}
