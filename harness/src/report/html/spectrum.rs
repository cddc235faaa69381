//! Latency percentile curves: the HDR percentile spectrum of each step's successful
//! requests, base runs merged against candidate runs merged.
//!
//! The x axis is log10(1/(1−q)), so 0, 90, 99, 99.9 and 99.99% sit one decade apart and
//! the tail gets as much room as the body; y is latency in ms. Curves are sampled from the
//! merged histograms, [`SAMPLES_PER_DECADE`] points per decade.

use std::error::Error;

use hdrhistogram::Histogram;
use plotters::prelude::*;

use super::chart::{self, BASE, CANDIDATE, GRID, LIVE_BASE, WIDTH};
use super::escape;
use crate::compare::SideSummary;
use crate::record::histogram::add_histogram;
use crate::record::{RunRecord, latency_histogram};
use crate::report::ReportDocument;

/// Decades of the x axis: up to 99.99%.
const DECADES: u32 = 4;
/// Points per decade: smooth enough at this width, small enough to keep the page light.
const SAMPLES_PER_DECADE: u32 = 50;
/// Height of one spectrum chart.
const HEIGHT: u32 = 340;

/// One line of a spectrum chart.
#[derive(Debug, Clone)]
pub(super) struct Curve {
    /// Colour of the line.
    pub(super) colour: RGBColor,
    /// (log10(1/(1−q)), latency ms), x ascending.
    pub(super) points: Vec<(f64, f64)>,
}

/// The section: one chart per step either side recorded.
pub(super) fn spectrum_section(doc: &ReportDocument) -> String {
    let c = &doc.comparison;
    let mut out = String::from(
        "<section id=\"latency\">\n<h2>Latency percentiles</h2>\n\
         <p class=\"note\">Percentile spectrum of successful requests per step, every run of a \
         side merged. The x axis is logarithmic in 1/(1−q): each step to the right is ten \
         times rarer.</p>\n",
    );
    let steps = steps(doc);
    if steps.is_empty() {
        out.push_str("<p>No steps were recorded: there is nothing to plot.</p>\n</section>\n");
        return out;
    }
    // A base side loaded from a stored baseline is named after it; say so in the legend.
    let base_role = if c.base.label.to_lowercase().contains("baseline") {
        "stored baseline"
    } else {
        "base"
    };
    for (flow, step) in steps {
        let name = format!("{flow}/{step}");
        let mut curves = Vec::new();
        let mut legend = String::new();
        let live_base = SideSummary {
            label: format!("{} (live)", c.base.path),
            ..c.base.clone()
        };
        let mut sides = vec![
            (base_role, &c.base, &doc.base_runs, BASE),
            ("candidate", &c.candidate, &doc.candidate_runs, CANDIDATE),
        ];
        if !doc.live_base_runs.is_empty() {
            sides.push(("base, live", &live_base, &doc.live_base_runs, LIVE_BASE));
        }
        for (role, summary, runs, colour) in sides {
            let (merged, merged_runs) = merged(runs, &flow, &step);
            legend.push_str(&chart::legend_item(
                colour,
                false,
                &side_legend(role, summary, merged_runs, merged.len()),
            ));
            curves.push(Curve {
                colour,
                points: spectrum_points(&merged),
            });
        }
        out.push_str(&format!(
            "<figure class=\"spectrum\">\n<figcaption>{}</figcaption>\n{}\n\
             <ul class=\"legend\">{legend}</ul>\n</figure>\n",
            escape(&name),
            spectrum_svg(&format!("Latency percentiles of {name}"), &curves)
        ));
    }
    out.push_str("</section>\n");
    out
}

/// "candidate: dagger, live — 5 runs merged, 12000 successful requests".
fn side_legend(role: &str, side: &SideSummary, runs: usize, requests: u64) -> String {
    match runs {
        0 => format!("{role}: {} — no run has this step", side.label),
        _ => format!(
            "{role}: {} — {runs} run{} merged, {requests} successful requests",
            side.label,
            if runs == 1 { "" } else { "s" }
        ),
    }
}

/// (flow, step) of every step either side recorded: the candidate's order first.
fn steps(doc: &ReportDocument) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for run in doc.candidate_runs.iter().chain(&doc.base_runs) {
        for s in &run.steps {
            if !out.iter().any(|(f, n)| *f == s.flow && *n == s.step) {
                out.push((s.flow.clone(), s.step.clone()));
            }
        }
    }
    out
}

/// The successful latencies of `flow/step` over `runs`, and how many runs had the step.
fn merged(runs: &[RunRecord], flow: &str, step: &str) -> (Histogram<u64>, usize) {
    let mut merged = latency_histogram();
    let mut count = 0;
    for s in runs
        .iter()
        .filter_map(|r| r.steps.iter().find(|s| s.flow == flow && s.step == step))
    {
        add_histogram(&mut merged, &s.ok);
        count += 1;
    }
    (merged, count)
}

/// The spectrum of `h` as chart points; empty for an empty histogram.
pub(super) fn spectrum_points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    (0..=DECADES * SAMPLES_PER_DECADE)
        .map(|i| {
            let x = f64::from(i) / f64::from(SAMPLES_PER_DECADE);
            let q = 1.0 - 10f64.powf(-x);
            (x, h.value_at_quantile(q) as f64 / 1_000.0)
        })
        .collect()
}

/// "0%", "90%", "99%", "99.9%", "99.99%" for x = 0, 1, 2, 3, 4.
pub(super) fn percentile_label(x: f64) -> String {
    let decimals = (x.round() as i64 - 2).max(0) as usize;
    format!("{:.*}%", decimals, 100.0 * (1.0 - 10f64.powf(-x)))
}

/// One spectrum chart titled `title` (escaped); a placeholder when no curve has points.
pub(super) fn spectrum_svg(title: &str, curves: &[Curve]) -> String {
    if curves.iter().all(|c| c.points.is_empty()) {
        return chart::placeholder(title, "no successful requests to plot");
    }
    let top = chart::axis_top(
        curves
            .iter()
            .flat_map(|c| c.points.iter().map(|p| p.1))
            .fold(0.0, f64::max),
    );
    let mut raw = String::new();
    match draw(&mut raw, curves, top) {
        Ok(()) => chart::finish(&raw, title),
        Err(e) => chart::placeholder(title, &format!("the chart could not be drawn: {e}")),
    }
}

fn draw(out: &mut String, curves: &[Curve], top: f64) -> Result<(), Box<dyn Error>> {
    let root = SVGBackend::with_string(out, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut plot = ChartBuilder::on(&root)
        .margin(14)
        // Room for the last tick label, "99.99%", centred on the right edge.
        .margin_right(36)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..f64::from(DECADES), 0f64..top)?;
    plot.configure_mesh()
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        // One label per decade: with at most this many, plotters picks the integers.
        .x_labels(DECADES as usize + 1)
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| chart::tick(*y, top))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()?;
    for curve in curves.iter().filter(|c| !c.points.is_empty()) {
        plot.draw_series(LineSeries::new(
            curve.points.iter().copied(),
            curve.colour.stroke_width(3),
        ))?;
    }
    root.present()?;
    Ok(())
}
