//! `GET /metrics`: the proxies in Prometheus' text format. Toxiproxy serves byte counts
//! per proxy and direction there; the data plane counts attempts, not bytes, so these
//! series are the proxies' state and attempt counts (since each proxy's last enable),
//! labelled like Toxiproxy's (`proxy`, `listener`, `upstream`).

use std::fmt::Write as _;

use super::answer::Reply;
use super::registry::Registry;
use crate::text::label_value;

/// One series family: name, type, help, and a value per proxy.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
}

const FAMILIES: [Family; 6] = [
    Family {
        name: "harness_proxy_enabled",
        kind: "gauge",
        help: "Whether the proxy is enabled (1) or down (0).",
    },
    Family {
        name: "harness_proxy_toxics",
        kind: "gauge",
        help: "Toxics and faults in force on the proxy.",
    },
    Family {
        name: "harness_proxy_attempts_total",
        kind: "counter",
        help: "Connections (tcp mode) or requests (http mode) since the proxy was last enabled.",
    },
    Family {
        name: "harness_proxy_injected_total",
        kind: "counter",
        help: "Attempts a toxic or fault acted on.",
    },
    Family {
        name: "harness_proxy_forwarded_total",
        kind: "counter",
        help: "Attempts that reached the upstream.",
    },
    Family {
        name: "harness_proxy_upstream_failed_total",
        kind: "counter",
        help: "Attempts that failed at the upstream (refused, reset, or an HTTP status of 500 or more).",
    },
];

/// The metrics of every proxy.
pub(super) async fn metrics(registry: &Registry) -> Reply {
    let proxies = registry.lock().await;
    let rows: Vec<(String, [u64; 6])> = proxies
        .values()
        .map(|m| {
            let labels = format!(
                "proxy=\"{}\",listener=\"{}\",upstream=\"{}\"",
                label_value(m.name()),
                label_value(&m.listen().to_string()),
                label_value(&m.info().upstream)
            );
            let totals = m.attempts().totals;
            let toxics = u64::try_from(m.entries().len()).unwrap_or(u64::MAX);
            let values = [
                u64::from(m.enabled()),
                toxics,
                totals.attempts,
                totals.injected,
                totals.forwarded,
                totals.upstream_failed,
            ];
            (labels, values)
        })
        .collect();
    drop(proxies);
    let mut text = String::new();
    for (i, family) in FAMILIES.iter().enumerate() {
        let _ = writeln!(text, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(text, "# TYPE {} {}", family.name, family.kind);
        for (labels, values) in &rows {
            let _ = writeln!(text, "{}{{{labels}}} {}", family.name, values[i]);
        }
    }
    Reply::Metrics(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_cannot_break_out_of_their_quotes() {
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(label_value("plain"), "plain");
    }
}
