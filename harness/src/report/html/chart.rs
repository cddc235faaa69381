//! What every chart shares: size, colours, number labels, and turning plotters' SVG into
//! an accessible inline element (or a placeholder when there is nothing to draw).
//!
//! plotters draws axes, grid, tick labels and data; it is never handed a string from a
//! record. Titles go into a `<title>` added here and legends are HTML beside the chart,
//! both through [`escape`].

use plotters::style::RGBColor;

use super::escape;

/// Width of every chart in SVG user units; CSS scales it down on narrow screens.
pub(super) const WIDTH: u32 = 960;

/// The base side's line.
pub(super) const BASE: RGBColor = RGBColor(0x57, 0x60, 0x6a);
/// The live base path's line, beside a stored baseline.
pub(super) const LIVE_BASE: RGBColor = RGBColor(0xbf, 0x87, 0x00);
/// The candidate side's line.
pub(super) const CANDIDATE: RGBColor = RGBColor(0x09, 0x69, 0xda);
/// Requests sent per second.
pub(super) const SENT: RGBColor = RGBColor(0x09, 0x69, 0xda);
/// Errors per second.
pub(super) const ERRORS: RGBColor = RGBColor(0xc6, 0x28, 0x28);
/// p99 latency.
pub(super) const P99: RGBColor = RGBColor(0x82, 0x50, 0xdf);
/// p50 latency.
pub(super) const P50: RGBColor = RGBColor(0x8c, 0x95, 0x9f);
/// Fault window shading.
pub(super) const FAULT: RGBColor = RGBColor(0xf0, 0x88, 0x3e);
/// Opacity of the fault shading, light enough that lines stay readable through it.
pub(super) const FAULT_OPACITY: f64 = 0.28;
/// Grid lines.
pub(super) const GRID: RGBColor = RGBColor(0xd8, 0xde, 0xe4);

/// `#rrggbb` of `c`, for HTML legends.
pub(super) fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// One legend entry: a swatch of `colour` (a line, or an area when `area`) and `label`,
/// which is escaped here.
pub(super) fn legend_item(colour: RGBColor, area: bool, label: &str) -> String {
    format!(
        "<li><span class=\"swatch{}\" style=\"background:{}\"></span>{}</li>",
        if area { " area" } else { "" },
        hex(colour),
        escape(label)
    )
}

/// Turns plotters' output into an inline chart: a class for CSS, `role="img"` and a
/// `<title>` (escaped) as the first child, so screen readers and hovering name it.
pub(super) fn finish(raw: &str, title: &str) -> String {
    let Some(rest) = raw.strip_prefix("<svg ") else {
        // plotters always opens with `<svg `; anything else is not ours to trust.
        return placeholder(title, "the chart could not be drawn");
    };
    let Some((attributes, body)) = rest.split_once('>') else {
        return placeholder(title, "the chart could not be drawn");
    };
    format!(
        "<svg class=\"chart\" role=\"img\" {attributes}><title>{}</title>{body}",
        escape(title)
    )
}

/// A small chart-sized SVG saying why there is no chart, so the page keeps its shape.
pub(super) fn placeholder(title: &str, message: &str) -> String {
    let height = 80;
    format!(
        "<svg class=\"chart\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" \
         height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\"><title>{}</title>\
         <rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{height}\" fill=\"#f6f8fa\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-family=\"sans-serif\" \
         font-size=\"15\" fill=\"#59636e\">{}</text></svg>",
        escape(title),
        WIDTH / 2,
        height / 2 + 5,
        escape(message)
    )
}

/// The top of a value axis: a little above the largest value, and never an empty range
/// (plotters maps an empty range to NaN coordinates).
pub(super) fn axis_top(max: f64) -> f64 {
    if max.is_finite() && max > 0.0 {
        max * 1.08
    } else {
        1.0
    }
}

/// A tick label with as many decimals as the axis' scale needs.
pub(super) fn tick(value: f64, top: f64) -> String {
    if top < 0.1 {
        format!("{value:.3}")
    } else if top < 2.0 {
        format!("{value:.2}")
    } else if top < 20.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}
