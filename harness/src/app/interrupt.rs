//! The process's interrupt: SIGINT (Ctrl-C) and SIGTERM (what CI runners, `docker stop`
//! and Kubernetes send) are handled alike, by one handler for the whole process,
//! installed the first time a command asks for [`stop_signal`]. A gate makes many live
//! compares, so they all share it: the signal stops the compare running and every one
//! after it.
//!
//! The first signal says so on stderr, remembers which signal it was ([`received`]: the
//! exit code says it, 130 or 143) and fires the process's [`StopSignal`] and goose's
//! killswitch: the drive running stops cleanly, what was measured is kept and marked
//! incomplete, and the command writes its reports with what exists. A second signal
//! exits at once with 128 + its number.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::exit::Interrupt;
use crate::load::StopSignal;

/// The exit code of the first signal received (130 or 143); 0 before any.
static RECEIVED: AtomicU8 = AtomicU8::new(0);

/// The process's stop signal, fired by the first SIGINT or SIGTERM; the handler is
/// installed on the first call. Before it, either signal ends the process at once.
pub(crate) fn stop_signal() -> StopSignal {
    static STOP: OnceLock<StopSignal> = OnceLock::new();
    STOP.get_or_init(|| {
        let stop = StopSignal::new();
        install(stop.clone());
        stop
    })
    .clone()
}

/// The signal that interrupted the process, if one did.
pub(crate) fn interrupted() -> Option<Interrupt> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        code if code == Interrupt::Sigterm.code() => Some(Interrupt::Sigterm),
        _ => Some(Interrupt::Sigint),
    }
}

/// The signal that interrupted the process; SIGINT when none did (asked only once the
/// stop signal fired, which only a signal does).
pub(crate) fn received() -> Interrupt {
    interrupted().unwrap_or(Interrupt::Sigint)
}

/// What one signal does: the first stops cleanly, a second exits at once.
fn on_signal(stop: &StopSignal, signal: Interrupt) {
    let first = RECEIVED
        .compare_exchange(0, signal.code(), Ordering::SeqCst, Ordering::SeqCst)
        .is_ok();
    if !first {
        eprintln!("interrupted again ({signal}): exiting at once");
        std::process::exit(i32::from(signal.code()));
    }
    let again = match signal {
        Interrupt::Sigint => "Ctrl-C again",
        Interrupt::Sigterm => "send it again",
    };
    eprintln!(
        "interrupted ({signal}): stopping, keeping what was measured; {again} to exit at once"
    );
    stop.trigger();
    // The closed model runs inside goose, which stops on its own killswitch.
    goose::trigger_killswitch(&format!("interrupted by {signal}"));
}

/// SIGINT and SIGTERM, received on a thread of their own (no work in a signal handler).
#[cfg(unix)]
fn install(stop: StopSignal) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;

    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("warning: SIGINT and SIGTERM will not stop cleanly: {e}");
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("harness-signals".into())
        .spawn(move || {
            for number in signals.forever() {
                let signal = if number == SIGTERM {
                    Interrupt::Sigterm
                } else {
                    Interrupt::Sigint
                };
                on_signal(&stop, signal);
            }
        });
    if let Err(e) = spawned {
        eprintln!("warning: SIGINT and SIGTERM will not stop cleanly: {e}");
    }
}

/// Elsewhere, Ctrl-C only.
#[cfg(not(unix))]
fn install(stop: StopSignal) {
    if let Err(e) = ctrlc::set_handler(move || on_signal(&stop, Interrupt::Sigint)) {
        eprintln!("warning: Ctrl-C will not stop cleanly: {e}");
    }
}
