//! The HTML report: one self-contained page that reviewers attach to a migration-phase
//! sign-off (DESIGN.md §9).
//!
//! The page holds, in order: the verdict banner; the decision table, the resilience
//! expectations and any validity problems; latency percentile curves per step; a timeline
//! per path with fault windows shaded; the resilience observations and fault list; the
//! scenario, policy, environment and provenance; and an empty sign-off table.
//!
//! Self-contained means no network at all: inline CSS, inline SVG charts (drawn with
//! plotters' SVG backend, which emits plain `<text>` and needs no font files), no
//! scripts, no images, no web fonts. A Content-Security-Policy meta tag forbids scripts
//! and remote loads, so a string that somehow escaped [`escape`] still could not run.
//!
//! Security: every string that comes from a scenario, a record, a response or the command
//! line goes through [`escape`] before it reaches the page, in text and in attribute
//! values alike (attributes are always double-quoted). Charts receive no such strings:
//! their titles, legends and captions are written here, so the one escape function
//! covers them too.

mod chart;
mod resilience;
mod spectrum;
mod tables;
#[cfg(test)]
mod tests;
mod timeline;

use crate::compare::{SideSummary, Verdict};
use crate::report::ReportDocument;

/// The whole report for `doc` as one HTML document.
pub fn render_html(doc: &ReportDocument) -> String {
    let c = &doc.comparison;
    let mut body = String::new();
    body.push_str(&banner(doc));
    body.push_str(&warnings(c));
    body.push_str(&contents());
    body.push_str(&tables::decision_section(c));
    body.push_str(&parity_section(c));
    body.push_str(&span_explanation(c));
    body.push_str(&service_checks(c));
    body.push_str(&check_failures(c));
    body.push_str(&spectrum::spectrum_section(doc));
    body.push_str(&timeline::timeline_section(doc));
    body.push_str(&resilience::resilience_section(c));
    body.push_str(&scenario_and_policy(doc));
    body.push_str(&environment_and_provenance(doc));
    body.push_str(&sign_off());
    let title = format!(
        "{} — {} — harness report",
        c.verdict.as_str(),
        scenario_name(doc)
    );
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta name=\"generator\" content=\"harness {}\">\n\
         <title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<main>\n{body}</main>\n\
         </body>\n</html>\n",
        escape(&doc.harness_version),
        escape(&title),
    )
}

/// Escapes `text` for HTML text and double- or single-quoted attribute values, in HTML and
/// inline SVG alike: `&`, `<`, `>`, `"` and `'`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// No scripts, no remote anything: only the page's own inline styles and inline SVG.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

/// CSS class suffix of a verdict (`v-go`, ...).
fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Go => "v-go",
        Verdict::NoGo => "v-nogo",
        Verdict::Rollback => "v-rollback",
        Verdict::Inconclusive => "v-inconclusive",
    }
}

/// A verdict as a coloured badge for tables.
fn badge(v: Verdict) -> String {
    format!(
        "<span class=\"badge {}\">{}</span>",
        verdict_class(v),
        v.as_str()
    )
}

/// The scenario's name, or a placeholder when the comparison had no runs to take it from.
fn scenario_name(doc: &ReportDocument) -> &str {
    match doc.comparison.scenario.name.as_str() {
        "" => "(unnamed scenario)",
        name => name,
    }
}

/// "legacy, live — path `legacy`, 5 runs".
fn side_line(side: &SideSummary) -> String {
    let path = if side.path.is_empty() {
        String::new()
    } else {
        format!(" — path <code>{}</code>", escape(&side.path))
    };
    format!(
        "<strong>{}</strong>{path}, {} run{}",
        escape(&side.label),
        side.runs,
        if side.runs == 1 { "" } else { "s" }
    )
}

fn banner(doc: &ReportDocument) -> String {
    let c = &doc.comparison;
    let meaning = match c.verdict {
        Verdict::Go => "Proven within the go margins: the candidate may advance.",
        Verdict::NoGo => "Neither proven safe nor proven harmful: hold, or run more repetitions.",
        Verdict::Rollback => "Proven beyond a rollback threshold: roll back.",
        Verdict::Inconclusive if c.invalid.is_empty() => {
            "Something the decision needs could not be measured (see the resilience expectations below): never GO."
        }
        Verdict::Inconclusive => {
            "The comparison is not valid: fix the problems listed below and compare again."
        }
    };
    format!(
        "<header class=\"banner {class}\" id=\"verdict\">\n\
         <p class=\"kicker\">harness compare · scenario <span class=\"scenario\">{scenario}</span></p>\n\
         <h1><span class=\"verdict-word\">{verdict}</span></h1>\n\
         <p class=\"meaning\">{meaning}</p>\n\
         <p class=\"reason\">{reason}</p>\n\
         <dl class=\"sides\">\n<div><dt>Candidate</dt><dd>{candidate}</dd></div>\n\
         <div><dt>Base</dt><dd>{base}</dd></div>\n\
         <div><dt>Generated</dt><dd>{generated}</dd></div>\n</dl>\n</header>\n",
        class = verdict_class(c.verdict),
        scenario = escape(scenario_name(doc)),
        verdict = c.verdict.as_str(),
        reason = escape(&c.reason),
        candidate = side_line(&c.candidate),
        base = side_line(&c.base),
        generated = escape(&doc.generated_at),
    )
}

/// Functional parity: the rows, each differing field's examples side by side, the noise.
fn parity_section(c: &crate::compare::Comparison) -> String {
    let Some(p) = &c.parity else {
        return String::new();
    };
    let rows: String = p
        .rows
        .iter()
        .map(|r| {
            format!(
                "<tr><td>{}</td><td><code>{}</code>{}</td><td>{}</td><td class=\"verdict {}\">{}</td><td>{}</td></tr>\n",
                escape(&r.step),
                escape(&r.field),
                if r.critical { " (critical)" } else { "" },
                escape(&super::parity::rate(r)),
                verdict_class(r.verdict),
                r.verdict,
                escape(&r.reason)
            )
        })
        .collect();
    let examples: String = p
        .rows
        .iter()
        .filter(|r| !r.examples.is_empty())
        .map(|r| {
            let items: String = r
                .examples
                .iter()
                .map(|e| {
                    format!(
                        "<tr><td>{}</td><td><code>{}</code> {}</td><td><pre class=\"base\">{}</pre></td><td><pre class=\"candidate\">{}</pre></td></tr>\n",
                        e.request_id,
                        escape(&e.at),
                        escape(e.kind.as_str()),
                        escape(&super::parity::value(&e.base)),
                        escape(&super::parity::value(&e.candidate))
                    )
                })
                .collect();
            format!(
                "<h3><code>{}</code> on {}</h3>\n<table class=\"diff\">\n<thead><tr><th>request</th><th>at</th><th>base</th><th>candidate</th></tr></thead>\n<tbody>\n{items}</tbody>\n</table>\n",
                escape(&r.field),
                escape(&r.step)
            )
        })
        .collect();
    let noise: String = p
        .noise
        .iter()
        .filter_map(super::parity::noise_line)
        .map(|l| format!("<li>{}</li>\n", escape(&l)))
        .collect();
    format!(
        "<section id=\"parity\">\n<h2>Functional parity</h2>\n<p>{} sampled iteration(s){}: each step on the base path twice and the candidate once; fields that differ between the two base answers are noise and not counted.</p>\n<table>\n<thead><tr><th>step</th><th>field</th><th>differing (95%)</th><th>verdict</th><th>reason</th></tr></thead>\n<tbody>\n{rows}</tbody>\n</table>\n{examples}{}</section>\n",
        p.samples,
        if p.complete { "" } else { " (interrupted)" },
        if noise.is_empty() {
            String::new()
        } else {
            format!("<p>Noise (base against base, not counted):</p>\n<ul>\n{noise}</ul>\n")
        }
    )
}

/// Where a slower latency row's time went, by the engine's spans.
fn span_explanation(c: &crate::compare::Comparison) -> String {
    let Some(e) = &c.explanation else {
        return String::new();
    };
    let rows: String = e
        .operations
        .iter()
        .map(|o| {
            let p50 = crate::compare::explain::duration;
            let hits = |s: Option<f64>| s.map_or_else(|| "–".to_string(), |s| format!("{:.0}%", s * 100.0));
            format!(
                "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td><td>{:.1} → {:.1}</td><td>{} → {}</td></tr>\n",
                escape(&o.name),
                if o.base_lazy && o.candidate_lazy { " <em>(lazy: its time is in the leaf that ran it)</em>" } else { "" },
                escape(&if o.base_lazy { "lazy".to_string() } else { p50(o.base_p50_us) }),
                escape(&if o.candidate_lazy { "lazy".to_string() } else { p50(o.candidate_p50_us) }),
                o.base_per_run,
                o.candidate_per_run,
                escape(&hits(o.base_cache_hits)),
                escape(&hits(o.candidate_cache_hits)),
            )
        })
        .collect();
    let caveats: String = e
        .caveats
        .iter()
        .map(|c| format!("<p class=\"note\">{}</p>\n", escape(c)))
        .collect();
    format!(
        "<section id=\"spans\">\n<h2>Why it is slower: the engine's spans</h2>\n<p>For {}, the operations whose time or cache-hit share changed most:</p>\n<table>\n<thead><tr><th>operation</th><th>base p50</th><th>candidate p50</th><th>spans per run</th><th>cache hits</th></tr></thead>\n<tbody>\n{rows}</tbody>\n</table>\n{caveats}</section>\n",
        escape(&e.rows.join("; "))
    )
}

/// The service's own counts beside what harness observed from outside.
fn service_checks(c: &crate::compare::Comparison) -> String {
    if c.service_checks.is_empty() {
        return String::new();
    }
    let items: String = c
        .service_checks
        .iter()
        .map(|s| {
            let class = if s.agree { "" } else { " class=\"disagree\"" };
            format!("<li{class}>{}</li>\n", escape(&s.line()))
        })
        .collect();
    format!(
        "<section id=\"service-checks\">\n<h2>Service counts beside harness's observations</h2>\n<ul>\n{items}</ul>\n</section>\n"
    )
}

/// The first answers that failed a check: what the error rows' counts are made of.
fn check_failures(c: &crate::compare::Comparison) -> String {
    if c.check_failures.is_empty() {
        return String::new();
    }
    let items: String = c
        .check_failures
        .iter()
        .map(|s| format!("<li><code>{}</code></li>\n", escape(s)))
        .collect();
    format!(
        "<section id=\"checks\">\n<h2>Failed checks</h2>\n<p>The first answers that failed a check or an extraction, per side:</p>\n<ul>\n{items}</ul>\n</section>\n"
    )
}

/// What a reader must not miss, right under the verdict.
fn warnings(c: &crate::compare::Comparison) -> String {
    if c.warnings.is_empty() {
        return String::new();
    }
    let items: String = c
        .warnings
        .iter()
        .map(|w| {
            format!(
                "<p class=\"warning\"><strong>Warning:</strong> {}</p>\n",
                escape(w)
            )
        })
        .collect();
    format!("<section id=\"warnings\" class=\"warnings\">\n{items}</section>\n")
}

fn contents() -> String {
    let links = [
        ("decision", "Decision"),
        ("latency", "Latency percentiles"),
        ("timeline", "Timelines"),
        ("resilience", "Resilience"),
        ("policy", "Scenario and policy"),
        ("provenance", "Environment and provenance"),
        ("sign-off", "Sign-off"),
    ];
    let items: String = links
        .iter()
        .map(|(id, name)| format!("<li><a href=\"#{id}\">{name}</a></li>"))
        .collect();
    format!("<nav class=\"contents\" aria-label=\"Contents\"><ol>{items}</ol></nav>\n")
}

/// A two-column table of names and already-escaped values.
fn facts_table(class: &str, facts: &[(&str, String)]) -> String {
    let rows: String = facts
        .iter()
        .map(|(name, value)| format!("<tr><th scope=\"row\">{name}</th><td>{value}</td></tr>\n"))
        .collect();
    format!("<table class=\"facts {class}\"><tbody>\n{rows}</tbody></table>\n")
}

/// A JSON value for people: strings bare, arrays joined, everything escaped.
fn json_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => escape(s),
        serde_json::Value::Array(items) => {
            items.iter().map(json_value).collect::<Vec<_>>().join(", ")
        }
        other => escape(&other.to_string()),
    }
}

fn scenario_and_policy(doc: &ReportDocument) -> String {
    let c = &doc.comparison;
    let scenario = facts_table(
        "scenario",
        &[
            ("name", escape(scenario_name(doc))),
            ("file", format!("<code>{}</code>", escape(&c.scenario.file))),
            ("hash", format!("<code>{}</code>", escape(&c.scenario.hash))),
        ],
    );
    // Every field of the policy, read through serde so that a field added to `Policy`
    // shows up here without anyone remembering to add it.
    let mut facts: Vec<(&str, String)> = vec![(
        "policy_version",
        format!("<code>{}</code>", escape(&c.policy_version)),
    )];
    let fields = serde_json::to_value(&c.policy).ok();
    let fields: Vec<(String, String)> = match &fields {
        Some(serde_json::Value::Object(map)) => map
            .iter()
            .map(|(k, v)| (escape(k), json_value(v)))
            .collect(),
        _ => Vec::new(),
    };
    facts.extend(fields.iter().map(|(k, v)| (k.as_str(), v.clone())));
    format!(
        "<section id=\"policy\">\n<h2>Scenario and policy</h2>\n{scenario}\
         <p class=\"policy-line\">{}</p>\n{}</section>\n",
        escape(&c.policy.describe()),
        facts_table("policy", &facts)
    )
}

fn environment_and_provenance(doc: &ReportDocument) -> String {
    let c = &doc.comparison;
    let env = match &doc.environment {
        Some(e) => facts_table(
            "environment",
            &[
                ("os", escape(&e.os)),
                ("arch", escape(&e.arch)),
                ("kernel", escape(&e.kernel)),
                ("cpu_model", escape(&e.cpu_model)),
                ("logical_cores", e.logical_cores.to_string()),
                ("harness_version", escape(&e.harness_version)),
                (
                    "fingerprint",
                    format!("<code>{}</code>", escape(&e.fingerprint())),
                ),
            ],
        ),
        None => "<p>No environment was recorded.</p>\n".to_string(),
    };
    let sides = facts_table(
        "sides",
        &[
            (
                "candidate environment",
                format!("<code>{}</code>", escape(&c.candidate.environment)),
            ),
            (
                "base environment",
                format!("<code>{}</code>", escape(&c.base.environment)),
            ),
            (
                "candidate scenario hash",
                format!("<code>{}</code>", escape(&c.candidate.scenario_hash)),
            ),
            (
                "base scenario hash",
                format!("<code>{}</code>", escape(&c.base.scenario_hash)),
            ),
        ],
    );
    let sources = if doc.sources.is_empty() {
        "none".to_string()
    } else {
        let items: String = doc
            .sources
            .iter()
            .map(|s| format!("<li><code>{}</code></li>", escape(s)))
            .collect();
        format!("<ul class=\"sources\">{items}</ul>")
    };
    let provenance = facts_table(
        "provenance",
        &[
            ("generated_at", escape(&doc.generated_at)),
            ("harness_version", escape(&doc.harness_version)),
            ("schema", format!("<code>{}</code>", escape(&doc.schema))),
            (
                "command",
                format!("<code class=\"command\">{}</code>", escape(&doc.command)),
            ),
            ("sources", sources),
        ],
    );
    format!(
        "<section id=\"provenance\">\n<h2>Environment and provenance</h2>\n\
         <h3>Environment</h3>\n{env}{sides}<h3>Provenance</h3>\n{provenance}\
         <h3>Runs</h3>\n{}</section>\n",
        tables::runs_table(doc)
    )
}

fn sign_off() -> String {
    let roles = [
        "Project Manager",
        "Technical Lead",
        "Operations Lead",
        "Security Officer",
    ];
    let rows: String = roles
        .iter()
        .map(|role| {
            format!("<tr><th scope=\"row\">{role}</th><td class=\"blank\"></td><td class=\"blank\"></td></tr>\n")
        })
        .collect();
    format!(
        "<section id=\"sign-off\" class=\"sign-off\">\n<h2>Sign-off</h2>\n\
         <p>Each signatory has read the decision and its reasons above.</p>\n\
         <table class=\"signoff\"><thead><tr><th scope=\"col\">Role</th>\
         <th scope=\"col\">Name</th><th scope=\"col\">Date</th></tr></thead>\n\
         <tbody>\n{rows}</tbody></table>\n</section>\n"
    )
}

/// The page's only style sheet: screen first, then print.
const CSS: &str = r#"
:root { --go: #1a7f37; --nogo: #9a6700; --nogo-bg: #fff3c4; --rollback: #c62828;
  --inconclusive: #5f6368; --ink: #1f2328; --muted: #59636e; --rule: #d1d9e0;
  --stripe: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue",
  "Liberation Sans", Arial, sans-serif; }
main { max-width: 1260px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { margin: 0; font-size: 44px; letter-spacing: .02em; }
h2 { margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--rule);
  font-size: 21px; }
h3 { margin: 20px 0 8px; font-size: 16px; }
code { font: 12.5px/1.3 ui-monospace, "SFMono-Regular", Menlo, Consolas,
  "Liberation Mono", monospace; overflow-wrap: anywhere; }
.banner { border-radius: 8px; padding: 18px 24px; color: #fff; }
.banner.v-go { background: var(--go); }
.banner.v-nogo { background: var(--nogo-bg); color: #3d2a00; border: 3px solid #d4a72c; }
.banner.v-rollback { background: var(--rollback); }
.banner.v-inconclusive { background: var(--inconclusive); }
.banner .kicker { margin: 0 0 4px; text-transform: uppercase; font-size: 12px;
  letter-spacing: .08em; opacity: .9; }
.banner .scenario { text-transform: none; font-weight: 600; letter-spacing: 0; }
.banner .meaning { margin: 4px 0; font-size: 16px; font-weight: 600; }
.banner .reason { margin: 4px 0 12px; font-size: 15px; }
.banner .sides { display: flex; flex-wrap: wrap; gap: 8px 32px; margin: 0; }
.banner .sides dt { font-size: 11px; text-transform: uppercase; letter-spacing: .08em;
  opacity: .85; }
.banner .sides dd { margin: 0; }
.banner code { font-size: 13px; }
.contents ol { display: flex; flex-wrap: wrap; gap: 4px 18px; padding: 0; margin: 12px 0 0;
  list-style: none; font-size: 13px; }
.contents a { color: #0969da; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { padding: 4px 7px; border: 1px solid var(--rule); text-align: left;
  vertical-align: top; }
thead th { background: #eef1f4; white-space: nowrap; }
tbody tr:nth-child(even) { background: var(--stripe); }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.reason { min-width: 200px; }
table.decision small, table.expectations small { color: var(--muted); white-space: nowrap; }
table.facts th { width: 220px; background: #eef1f4; font-weight: 600; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 10px; font-size: 12px;
  font-weight: 700; white-space: nowrap; color: #fff; }
.badge.v-go { background: var(--go); }
.badge.v-nogo { background: #d4a72c; color: #3d2a00; }
.badge.v-rollback { background: var(--rollback); }
.badge.v-inconclusive { background: var(--inconclusive); }
.tag { font-size: 11px; padding: 0 5px; border: 1px solid var(--rollback); border-radius: 4px;
  color: var(--rollback); }
.invalid li { color: #6e1b1b; }
.warning { background: #fff4ce; border-left: 4px solid #b7791f; padding: .5rem .75rem; color: #5c3c00; }
.valid { color: var(--go); }
figure { margin: 12px 0 24px; }
figcaption { font-weight: 600; margin-bottom: 4px; }
svg.chart { display: block; max-width: 100%; height: auto; border: 1px solid var(--rule);
  border-radius: 4px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 20px; margin: 6px 0 0; padding: 0;
  list-style: none; font-size: 13px; }
.swatch { display: inline-block; width: 22px; height: 4px; margin: 0 6px 3px 0;
  vertical-align: middle; }
.swatch.area { height: 12px; opacity: .35; }
.note { color: var(--muted); }
.observations { display: grid; gap: 10px;
  grid-template-columns: repeat(auto-fill, minmax(370px, 1fr)); }
.observation { border: 1px solid var(--rule); border-radius: 6px; padding: 6px 10px;
  font-size: 13px; }
.observation p { margin: 0 0 2px; }
.observation ul { margin: 0; padding-left: 18px; }
ul.sources { margin: 0; padding-left: 18px; }
table.signoff { width: 100%; }
table.signoff td.blank { height: 44px; width: 38%; }
@media print {
  @page { margin: 12mm; }
  body { font-size: 11px; }
  main { max-width: none; padding: 0; }
  .contents { display: none; }
  .banner, .badge, .swatch, thead th, table.facts th {
    -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .scroll { overflow: visible; }
  table { font-size: 10px; }
  thead { display: table-header-group; }
  .observations { display: block; }
  .observation { margin-bottom: 6px; }
  tr, figure, .banner, .observation { break-inside: avoid; page-break-inside: avoid; }
  h2, h3, figcaption { break-after: avoid; page-break-after: avoid; }
  .sign-off { break-before: page; page-break-before: always; break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"#;
