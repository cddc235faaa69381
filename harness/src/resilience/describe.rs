//! Observations as sentences for people: one line per fact, in a fixed order, so a
//! terminal report or a sign-off note can list them as they come.

use std::time::Duration;

use super::observe::{Observation, PhaseStats};

/// Below this many attributed attempts per request before the fault, most requests skip
/// the dependency anyway, so "never reached the proxy" may not be a breaker's doing.
const LOW_REACH: f64 = 0.5;

/// One line per fact about `o`, for people ("breaker opened 0.42 s after the fault started").
pub fn describe(o: &Observation) -> Vec<String> {
    let w = &o.window;
    let mut lines = vec![format!(
        "fault `{}` from {} to {} ({})",
        w.name,
        offset(w.start),
        offset(w.end),
        offset(w.length())
    )];
    lines.push(phase("before", &o.before));
    lines.push(phase("during", &o.during));
    lines.push(phase("after", &o.after));
    if !o.attributed() {
        lines.extend(unattributed(o));
        return lines;
    }

    lines.push(match (o.amplification, o.amplification_before) {
        (Some(during), Some(before)) => {
            format!("amplification {during:.2}× during the fault ({before:.2}× before)")
        }
        (Some(during), None) => format!(
            "amplification {during:.2}× during the fault (no requests before to compare with)"
        ),
        (None, _) => "amplification unknown: no client requests during the fault".to_string(),
    });

    if o.during.requests == 0 {
        lines.push("breaker not observed: no client requests during the fault".to_string());
    } else if let Some(open) = o.time_to_open {
        lines.push(format!(
            "breaker opened {} after the fault started{}",
            offset(open),
            match o.breaker_openings {
                0 | 1 => String::new(),
                n => format!(" ({n} openings during the fault)"),
            }
        ));
        if let (Some(p50), Some(p99)) = (o.fail_fast_p50, o.fail_fast_p99) {
            lines.push(format!(
                "fail-fast p50 {}, p99 {}",
                latency(p50),
                latency(p99)
            ));
        }
        if let Some(rate) = o.probe_rate {
            lines.push(format!(
                "half-open probes: {rate:.2} attempts/s reached the proxy while open"
            ));
        }
        if o.amplification_before.is_some_and(|a| a < LOW_REACH) {
            lines.push(format!(
                "caution: before the fault most requests skipped the dependency ({:.2} attempts per request), so the opening may not be a breaker's doing",
                o.amplification_before.unwrap_or_default()
            ));
        }
    } else {
        lines.push(
            "breaker never opened (no 1 s window in which ≥ 95% of requests skipped the dependency)"
                .to_string(),
        );
    }

    lines.push(match o.time_to_recover {
        Some(recover) => format!("recovered {} after the fault ended", offset(recover)),
        None if o.after.requests == 0 => {
            "recovery not observed: no client requests after the fault".to_string()
        }
        None => format!(
            "did not recover within the {} after the fault",
            offset(w.length())
        ),
    });

    lines.push(format!(
        "failures during the fault: {} injected by the proxy, {} produced by the service itself",
        o.injected_failures, o.service_failures
    ));
    if o.unattributed_attempts > 0 {
        lines.push(format!(
            "{} of {} dependency attempts during the fault carried no known request id (tolerated: health checks and the like); they are left out of every rate",
            o.unattributed_attempts, o.attempts_during
        ));
    }
    lines
}

/// Why a window's breaker figures are not shown, and the aggregates that are.
pub fn unattributed(o: &Observation) -> Vec<String> {
    let mut lines = vec![format!(
        "not attributed: {} of {} dependency attempts during the fault carried no request id the client sent; the service does not propagate `traceparent` or `x-harness-request-id` (or the scenario's request_id_header) to its dependency, so breaker, probe and injected-versus-service figures cannot be measured",
        o.unattributed_attempts, o.attempts_during
    )];
    lines.push(match o.amplification_unattributed {
        Some(a) => format!(
            "unattributed aggregate: {} dependency attempts for {} client requests during the fault ({a:.2} per request)",
            o.attempts_during, o.during.requests
        ),
        None => "unattributed aggregate: no client requests during the fault".to_string(),
    });
    lines
}

/// "before: 200 requests, 1.5% errors, p50 3.0 ms, p99 12.0 ms".
fn phase(name: &str, s: &PhaseStats) -> String {
    match (s.requests, s.p50, s.p99) {
        (0, _, _) | (_, None, _) | (_, _, None) => format!("{name}: no requests"),
        (requests, Some(p50), Some(p99)) => format!(
            "{name}: {requests} requests, {:.1}% errors, p50 {}, p99 {}",
            s.error_rate * 100.0,
            latency(p50),
            latency(p99)
        ),
    }
}

/// A point or span on the run's clock: seconds with two decimals.
fn offset(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// A latency in the unit people read best at its size.
fn latency(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 1e-3 {
        format!("{:.0} µs", secs * 1e6)
    } else if secs < 1.0 {
        format!("{:.1} ms", secs * 1e3)
    } else {
        format!("{secs:.2} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_picks_a_readable_unit() {
        assert_eq!(latency(Duration::from_micros(250)), "250 µs");
        assert_eq!(latency(Duration::from_micros(3_100)), "3.1 ms");
        assert_eq!(latency(Duration::from_millis(1_500)), "1.50 s");
        assert_eq!(offset(Duration::from_millis(420)), "0.42 s");
    }
}
