//! Timelines: requests sent per second, errors per second and latency (p99, p50) over the
//! measured window of each side's first run, fault windows shaded.
//!
//! Timeline seconds start at the end of warmup while fault windows are stated in seconds
//! since the run started, so windows are shifted by the run's warmup and clipped to the
//! timeline ([`fault_shades`]). Each point covers one second `[s, s + 1)` and is drawn at
//! its middle, so a window shaded from 10 to 20 covers exactly the points of seconds 10–19.

use std::error::Error;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{self, ERRORS, FAULT, FAULT_OPACITY, GRID, P50, P99, SENT, WIDTH};
use super::escape;
use crate::compare::SideSummary;
use crate::record::{FaultRecord, RunRecord, TimelinePoint};
use crate::report::ReportDocument;

/// Height of one panel; a timeline has three.
const PANEL_HEIGHT: u32 = 170;

/// A fault window on the timeline's clock.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Shade {
    /// The fault's name.
    pub(super) name: String,
    /// Start, seconds since the end of warmup.
    pub(super) start: f64,
    /// End (exclusive), seconds since the end of warmup.
    pub(super) end: f64,
}

/// The section: one timeline per side, from its first run.
pub(super) fn timeline_section(doc: &ReportDocument) -> String {
    let c = &doc.comparison;
    let mut out = String::from(
        "<section id=\"timeline\">\n<h2>Timelines</h2>\n\
         <p class=\"note\">First run of each side, second by second from the end of warmup. \
         Shaded: fault windows (stated in seconds since the run started, shifted by the \
         run's warmup).</p>\n",
    );
    for (role, summary, runs) in [
        ("base", &c.base, &doc.base_runs),
        ("candidate", &c.candidate, &doc.candidate_runs),
    ] {
        out.push_str(&side_figure(role, summary, runs));
    }
    out.push_str("</section>\n");
    out
}

fn side_figure(role: &str, side: &SideSummary, runs: &[RunRecord]) -> String {
    let Some(run) = runs.first() else {
        let title = format!("{role}: {}", side.label);
        return format!(
            "<figure class=\"timeline\">\n<figcaption>{}</figcaption>\n{}\n</figure>\n",
            escape(&title),
            chart::placeholder(&title, "no runs on this side")
        );
    };
    let caption = format!(
        "{role}: {} — path {}, run {} of {}, started {}",
        side.label,
        run.path,
        run.repetition,
        runs.len(),
        run.started_at
    );
    let shades = fault_shades(&run.faults, run.load.warmup_s, span(&run.timeline));
    let mut legend = [
        (SENT, "requests sent / s"),
        (ERRORS, "errors / s"),
        (P99, "p99 latency (ms)"),
        (P50, "p50 latency (ms)"),
    ]
    .iter()
    .map(|(colour, label)| chart::legend_item(*colour, false, label))
    .collect::<String>();
    for s in &shades {
        legend.push_str(&chart::legend_item(
            FAULT,
            true,
            &format!("fault {}: {:.1}–{:.1} s", s.name, s.start, s.end),
        ));
    }
    format!(
        "<figure class=\"timeline\">\n<figcaption>{}</figcaption>\n{}\n\
         <ul class=\"legend\">{legend}</ul>\n</figure>\n",
        escape(&caption),
        timeline_svg(&format!("Timeline of {caption}"), &run.timeline, &shades)
    )
}

/// Length of the timeline in seconds: one past the last second, at least 1.
pub(super) fn span(points: &[TimelinePoint]) -> f64 {
    points
        .iter()
        .map(|p| f64::from(p.second) + 1.0)
        .fold(1.0, f64::max)
}

/// The windows of `faults` on the timeline's clock: shifted by `warmup_s` and clipped to
/// `[0, span]`; windows wholly outside (in warmup, after the end) or malformed are left out.
pub(super) fn fault_shades(faults: &[FaultRecord], warmup_s: f64, span: f64) -> Vec<Shade> {
    // An edited record may hold anything; a nonsense warmup is taken as none.
    let warmup = if warmup_s.is_finite() && warmup_s > 0.0 {
        warmup_s
    } else {
        0.0
    };
    faults
        .iter()
        .flat_map(|f| {
            f.windows.iter().filter_map(move |&(start, end)| {
                if !(start.is_finite() && end.is_finite()) {
                    return None;
                }
                let start = (start - warmup).max(0.0);
                let end = (end - warmup).min(span);
                (end > start).then(|| Shade {
                    name: f.name.clone(),
                    start,
                    end,
                })
            })
        })
        .collect()
}

/// One line of a panel: its colour, width and connected segments.
struct Line {
    colour: RGBColor,
    width: u32,
    segments: Vec<Vec<(f64, f64)>>,
}

impl Line {
    /// `value` of every point, as one segment.
    fn all(colour: RGBColor, points: &[TimelinePoint], value: fn(&TimelinePoint) -> f64) -> Self {
        Self {
            colour,
            width: 2,
            segments: vec![points.iter().map(|p| (middle(p), value(p))).collect()],
        }
    }

    /// `value` of the points with successful requests; a second without any breaks the
    /// line rather than dropping it to zero, which would read as "very fast".
    fn latency(
        colour: RGBColor,
        width: u32,
        points: &[TimelinePoint],
        value: fn(&TimelinePoint) -> f64,
    ) -> Self {
        let mut segments: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut current = Vec::new();
        for p in points {
            if p.ok > 0 {
                current.push((middle(p), value(p)));
            } else if !current.is_empty() {
                segments.push(std::mem::take(&mut current));
            }
        }
        if !current.is_empty() {
            segments.push(current);
        }
        Self {
            colour,
            width,
            segments,
        }
    }

    fn max(&self) -> f64 {
        self.segments
            .iter()
            .flatten()
            .map(|p| p.1)
            .fold(0.0, f64::max)
    }
}

fn middle(p: &TimelinePoint) -> f64 {
    f64::from(p.second) + 0.5
}

/// The timeline chart titled `title` (escaped): three panels sharing the x axis.
pub(super) fn timeline_svg(title: &str, points: &[TimelinePoint], shades: &[Shade]) -> String {
    if points.is_empty() {
        return chart::placeholder(title, "no timeline: the run recorded no seconds");
    }
    let panels = [
        ("sent / s", vec![Line::all(SENT, points, |p| p.sent as f64)]),
        (
            "errors / s",
            vec![Line::all(ERRORS, points, |p| p.failed as f64)],
        ),
        (
            "latency (ms)",
            vec![
                Line::latency(P50, 2, points, |p| p.p50_us as f64 / 1_000.0),
                Line::latency(P99, 2, points, |p| p.p99_us as f64 / 1_000.0),
            ],
        ),
    ];
    let mut raw = String::new();
    match draw(&mut raw, &panels, span(points), shades) {
        Ok(()) => chart::finish(&raw, title),
        Err(e) => chart::placeholder(title, &format!("the chart could not be drawn: {e}")),
    }
}

fn draw(
    out: &mut String,
    panels: &[(&str, Vec<Line>)],
    span: f64,
    shades: &[Shade],
) -> Result<(), Box<dyn Error>> {
    let count = u32::try_from(panels.len()).unwrap_or(1);
    let root = SVGBackend::with_string(out, (WIDTH, PANEL_HEIGHT * count)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((panels.len(), 1));
    for (index, (area, (y_desc, lines))) in areas.iter().zip(panels).enumerate() {
        let last = index + 1 == panels.len();
        panel(area, y_desc, lines, span, shades, last)?;
    }
    root.present()?;
    Ok(())
}

fn panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    y_desc: &str,
    lines: &[Line],
    span: f64,
    shades: &[Shade],
    last: bool,
) -> Result<(), Box<dyn Error>> {
    let top = chart::axis_top(lines.iter().map(Line::max).fold(0.0, f64::max));
    let mut plot = ChartBuilder::on(area)
        .margin_top(10)
        .margin_left(14)
        .margin_right(18)
        .x_label_area_size(if last { 44 } else { 24 })
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..span, 0f64..top)?;
    let x_label = |x: &f64| chart::tick(*x, span);
    let y_label = |y: &f64| chart::tick(*y, top);
    let mut mesh = plot.configure_mesh();
    mesh.bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .x_labels(12)
        .y_labels(4)
        .y_desc(y_desc)
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14));
    if last {
        mesh.x_desc("seconds since the end of warmup");
    }
    mesh.draw()?;
    // Over the grid, under the data: the shading tints the grid and never hides a line.
    plot.draw_series(shades.iter().map(|s| {
        Rectangle::new(
            [(s.start, 0.0), (s.end, top)],
            FAULT.mix(FAULT_OPACITY).filled(),
        )
    }))?;
    for line in lines {
        let style = line.colour.stroke_width(line.width);
        for segment in &line.segments {
            if let [only] = segment.as_slice() {
                // A lone second has no neighbour to draw a line to: mark it instead.
                plot.draw_series(std::iter::once(Circle::new(*only, 3, line.colour.filled())))?;
            } else {
                plot.draw_series(LineSeries::new(segment.iter().copied(), style))?;
            }
        }
    }
    Ok(())
}
