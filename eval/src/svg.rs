//! A minimal, dependency-free SVG line chart: one polyline per series over categorical x values.
//!
//! Hand-written rather than a plotting crate because the charts are simple and
//! must be byte-for-byte reproducible; plotting crates lay out text with system
//! fonts, which differ between machines. [`line_chart`] draws the grid, the axes,
//! then each series followed by its legend entry, in that order.

use std::fmt::Write as _;

/// How a line is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stroke {
    /// A provider.
    Solid,
    /// A cryptographic floor.
    Dashed,
    /// A peer library.
    Dotted,
    /// A provider's second cryptographic floor.
    LongDashed,
    /// A provider's second peer library.
    DashDotted,
}

impl Stroke {
    /// The stroke of a provider's `i`-th floor (0-based): two are told apart.
    #[must_use]
    pub fn floor(i: usize) -> Self {
        if i == 0 {
            Self::Dashed
        } else {
            Self::LongDashed
        }
    }

    /// The stroke of a provider's `i`-th peer (0-based): two are told apart.
    #[must_use]
    pub fn peer(i: usize) -> Self {
        if i == 0 {
            Self::Dotted
        } else {
            Self::DashDotted
        }
    }
}

/// One line of a chart.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// One value per x position; `None` where the series has no point.
    pub values: Vec<Option<f64>>,
    /// Palette index: a provider, its floors and its peers share one colour.
    pub color: usize,
    /// How the line is drawn.
    pub stroke: Stroke,
}

/// A chart's axes and title.
#[derive(Clone, Debug)]
pub struct Chart<'a> {
    /// Title above the plot.
    pub title: &'a str,
    /// Label of the x axis.
    pub x_label: &'a str,
    /// Label of the y axis.
    pub y_label: &'a str,
    /// Category labels along x.
    pub x_values: &'a [String],
    /// How to print a y tick value.
    pub y_format: fn(f64) -> String,
}

const WIDTH: f64 = 860.0;
const HEIGHT: f64 = 460.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 260.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const PLOT_W: f64 = WIDTH - LEFT - RIGHT;
const PLOT_H: f64 = HEIGHT - TOP - BOTTOM;
const PALETTE: [&str; 12] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
    "#7f7f7f", "#bcbd22", "#393b79", "#637939",
];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Where values land in the plot: whole decades on a logarithmic y axis, and
/// evenly spaced categories on x.
struct Scale {
    /// Lowest decade exponent on y.
    dmin: f64,
    /// Highest decade exponent on y (above `dmin`).
    dmax: f64,
    /// Number of x positions, at least two.
    n: usize,
}

impl Scale {
    /// The decades that span every positive value of `series`; 1 to 10 when there is none.
    fn new(chart: &Chart<'_>, series: &[Series]) -> Self {
        let points = series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied())
            .filter(|v| *v > 0.0);
        let (lo, hi) = points.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        let (lo, hi) = if lo.is_finite() {
            (lo, hi)
        } else {
            (1.0, 10.0)
        };
        Self {
            dmin: lo.log10().floor(),
            dmax: hi.log10().ceil().max(lo.log10().floor() + 1.0),
            n: chart.x_values.len().max(2),
        }
    }

    /// The x coordinate of the `i`-th category.
    fn x(&self, i: usize) -> f64 {
        LEFT + PLOT_W * (i as f64) / ((self.n - 1) as f64)
    }

    /// The y coordinate of a positive value.
    fn y(&self, v: f64) -> f64 {
        TOP + PLOT_H * (1.0 - (v.log10() - self.dmin) / (self.dmax - self.dmin))
    }
}

/// A series' colour and dash pattern, shared by its line and its legend entry.
struct Style {
    color: &'static str,
    /// The `stroke-dasharray` attribute with its leading space, or nothing.
    dash: &'static str,
}

impl Style {
    fn of(s: &Series) -> Self {
        let color = PALETTE
            .get(s.color % PALETTE.len())
            .copied()
            .unwrap_or("#000");
        let dash = match s.stroke {
            Stroke::Solid => "",
            Stroke::Dashed => r#" stroke-dasharray="7 4""#,
            Stroke::Dotted => r#" stroke-dasharray="2 3""#,
            Stroke::LongDashed => r#" stroke-dasharray="14 4""#,
            Stroke::DashDotted => r#" stroke-dasharray="8 3 2 3""#,
        };
        Self { color, dash }
    }
}

/// Renders a line chart with a logarithmic y axis (values must be positive).
#[must_use]
pub fn line_chart(chart: &Chart<'_>, series: &[Series]) -> String {
    let scale = Scale::new(chart, series);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
        LEFT + PLOT_W / 2.0,
        escape(chart.title)
    );
    grid(&mut out, chart, &scale);
    axes(&mut out, chart);
    for (k, s) in series.iter().enumerate() {
        let style = Style::of(s);
        series_line(&mut out, s, &style, &scale);
        legend_entry(&mut out, k, s, &style);
    }
    out.push_str("</svg>\n");
    out
}

/// The grid with its tick labels: decade lines on y with lighter 2× and 5×
/// lines between, then one line per category on x.
fn grid(out: &mut String, chart: &Chart<'_>, scale: &Scale) {
    let mut d = scale.dmin;
    while d <= scale.dmax {
        let decade = 10f64.powf(d);
        let y = scale.y(decade);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/>"##,
            LEFT + PLOT_W
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + 4.0,
            escape(&(chart.y_format)(decade))
        );
        if d < scale.dmax {
            for m in [2.0, 5.0] {
                let y = scale.y(decade * m);
                let _ = writeln!(
                    out,
                    r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#f0f0f0"/>"##,
                    LEFT + PLOT_W
                );
                let _ = writeln!(
                    out,
                    r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#888" font-size="10">{}</text>"##,
                    LEFT - 6.0,
                    y + 3.0,
                    escape(&(chart.y_format)(decade * m))
                );
            }
        }
        d += 1.0;
    }
    for (i, label) in chart.x_values.iter().enumerate() {
        let x = scale.x(i);
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#eee"/>"##,
            TOP + PLOT_H
        );
        let _ = writeln!(
            out,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            TOP + PLOT_H + 18.0,
            escape(label)
        );
    }
}

/// The plot's frame and the labels of both axes.
fn axes(out: &mut String, chart: &Chart<'_>) {
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{TOP}" width="{PLOT_W}" height="{PLOT_H}" fill="none" stroke="#333"/>"##
    );
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        LEFT + PLOT_W / 2.0,
        HEIGHT - 16.0,
        escape(chart.x_label)
    );
    let _ = writeln!(
        out,
        r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">{}</text>"#,
        TOP + PLOT_H / 2.0,
        TOP + PLOT_H / 2.0,
        escape(chart.y_label)
    );
}

/// One series: a polyline through its positive values (when there are two or
/// more) and a dot on each.
fn series_line(out: &mut String, s: &Series, style: &Style, scale: &Scale) {
    let Style { color, dash } = style;
    let points: Vec<(String, String)> = s
        .values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            v.filter(|v| *v > 0.0)
                .map(|v| (format!("{:.1}", scale.x(i)), format!("{:.1}", scale.y(v))))
        })
        .collect();
    if points.len() > 1 {
        let joined: Vec<String> = points.iter().map(|(x, y)| format!("{x},{y}")).collect();
        let _ = writeln!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#,
            joined.join(" ")
        );
    }
    for (x, y) in &points {
        let _ = writeln!(out, r#"<circle cx="{x}" cy="{y}" r="3" fill="{color}"/>"#);
    }
}

/// The `k`-th legend entry, right of the plot: a stroke sample and the label.
fn legend_entry(out: &mut String, k: usize, s: &Series, style: &Style) {
    let Style { color, dash } = style;
    let ly = TOP + 10.0 + 20.0 * (k as f64);
    let lx = WIDTH - RIGHT + 16.0;
    let _ = writeln!(
        out,
        r#"<line x1="{lx}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="2"{dash}/>"#,
        lx + 24.0
    );
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
        lx + 30.0,
        ly + 4.0,
        escape(&s.label)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_is_well_formed_and_places_points() {
        let xs: Vec<String> = ["0", "1", "2"].iter().map(|s| (*s).to_owned()).collect();
        let chart = Chart {
            title: "t <&>",
            x_label: "depth",
            y_label: "ns",
            x_values: &xs,
            y_format: |v| format!("{v}"),
        };
        let series = [
            Series {
                label: "a".into(),
                values: vec![Some(10.0), Some(100.0), None],
                color: 0,
                stroke: Stroke::Solid,
            },
            Series {
                label: "b".into(),
                values: vec![Some(1000.0), None, Some(1.0)],
                color: 1,
                stroke: Stroke::Dashed,
            },
        ];
        let svg = line_chart(&chart, &series);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("t &lt;&amp;&gt;"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 4);
        // Decades 1 to 1000: four grid lines.
        assert_eq!(svg.matches(r##"stroke="#ddd""##).count(), 4);
        assert_eq!(svg, line_chart(&chart, &series), "deterministic");
    }
}
