//! The operating-characteristics table of `harness calibrate --synthetic`, in Markdown so
//! that it reads on a terminal and pastes into `docs/decisions.md` unchanged.

use crate::compare::Verdict;
use crate::compare::synthetic::CaseResult;

/// One Markdown table: a row per case, each verdict's rate with its Wilson 95% interval.
pub fn operating_table(results: &[CaseResult]) -> String {
    let mut out = String::from(
        "| true effect | noise | scenario | runs | required | ROLLBACK | GO | NO-GO | met |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        let c = &r.case;
        let met = match r.met() {
            Some(true) => "yes",
            Some(false) => "**NO**",
            None => "-",
        };
        let mut rates = [Verdict::Rollback, Verdict::Go, Verdict::NoGo]
            .iter()
            .map(|v| rate(r, *v))
            .collect::<Vec<_>>();
        if r.counts.contains_key(&Verdict::Inconclusive) {
            rates[2].push_str(&format!(
                " (+{} INCONCLUSIVE)",
                r.counts[&Verdict::Inconclusive]
            ));
        }
        out.push_str(&format!(
            "| {} | {:.0}% | {} | {}v{} | {} | {} | {} | {} | {met} |\n",
            c.effect_label,
            c.noise * 100.0,
            c.scenario_label(),
            c.base_runs,
            c.candidate_runs,
            c.required.map_or_else(|| "-".to_string(), |q| q.describe()),
            rates[0],
            rates[1],
            rates[2],
        ));
    }
    out
}

/// `3/1000 = 0.3% [0.1, 0.9]`.
fn rate(r: &CaseResult, verdict: Verdict) -> String {
    let k = r.counts.get(&verdict).copied().unwrap_or(0);
    let iv = r.interval(verdict);
    format!(
        "{k}/{} = {} [{}, {}]",
        r.trials,
        pct(r.rate(verdict)),
        pct(iv.low),
        pct(iv.high)
    )
}

fn pct(x: f64) -> String {
    let v = x * 100.0;
    if v == 0.0 || v == 100.0 {
        format!("{v:.0}%")
    } else if !(1.0..=99.0).contains(&v) {
        format!("{v:.2}%")
    } else {
        format!("{v:.1}%")
    }
}
