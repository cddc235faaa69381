//! Resilience observations (per path and fault window, in the words of
//! [`describe`](crate::resilience::describe)) and the list of faults injected.

use super::escape;
use crate::compare::Comparison;
use crate::resilience::describe;

/// The section: observations per path, then the faults.
pub(super) fn resilience_section(c: &Comparison) -> String {
    let mut out = String::from("<section id=\"resilience\">\n<h2>Resilience</h2>\n");
    if c.resilience.is_empty() {
        out.push_str("<p>No fault window was observed on either side.</p>\n");
    }
    for path in &c.resilience {
        out.push_str(&format!(
            "<h3>{} <span class=\"note\">({}, {} fault window{} over all runs)</span></h3>\n\
             <div class=\"observations\">\n",
            escape(&path.path),
            escape(&path.side),
            path.observations.len(),
            if path.observations.len() == 1 {
                ""
            } else {
                "s"
            }
        ));
        for (index, o) in path.observations.iter().enumerate() {
            let mut lines = describe(o).into_iter();
            let head = lines.next().unwrap_or_default();
            let rest: String = lines.map(|l| format!("<li>{}</li>", escape(&l))).collect();
            out.push_str(&format!(
                "<div class=\"observation\"><p><strong>{}. {}</strong></p><ul>{rest}</ul></div>\n",
                index + 1,
                escape(&head)
            ));
        }
        out.push_str("</div>\n");
    }
    out.push_str("<h3>Faults</h3>\n");
    out.push_str(&faults_table(c));
    out.push_str("</section>\n");
    out
}

fn faults_table(c: &Comparison) -> String {
    if c.faults.is_empty() {
        return "<p>No faults were injected.</p>\n".to_string();
    }
    let body: String = c
        .faults
        .iter()
        .map(|f| {
            let windows = if f.windows.is_empty() {
                "never (outside the run)".to_string()
            } else {
                f.windows
                    .iter()
                    .map(|(a, b)| format!("{a:.1}–{b:.1} s"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{:.2} per {}</td>\
                 <td>{}</td><td class=\"num\">{} of {}</td></tr>\n",
                escape(&f.name),
                escape(f.kind.as_str()),
                escape(f.at.as_str()),
                f.probability,
                escape(f.per.as_str()),
                escape(&windows),
                f.injected,
                f.attempts
            )
        })
        .collect();
    format!(
        "<p class=\"note\">As the candidate's first run recorded them; both sides face the \
         same faults. Windows are in seconds since the run started, warmup included.</p>\n\
         <div class=\"scroll\"><table class=\"faults\">\n<thead><tr><th scope=\"col\">Fault</th>\
         <th scope=\"col\">Kind</th><th scope=\"col\">At</th><th scope=\"col\">Probability</th>\
         <th scope=\"col\">Active</th><th scope=\"col\">Injected / attempts</th></tr></thead>\n\
         <tbody>\n{body}</tbody></table></div>\n"
    )
}
