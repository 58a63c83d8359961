//! SVG plots (plotters): panels of line series, linear or log y, the legend where the lines
//! are not, log axes labelled at 1-2-5 × 10^k only.

use std::path::Path;

use crate::error::{ReportError, Result};
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// A named line of (x, y) points.
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Points.
    pub points: Vec<(f64, f64)>,
}

/// The ten "tab10" colours, in order.
const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Draws one panel of line series into `area`.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_y: bool,
) -> Result<()> {
    let err = |e: String| ReportError::Plot(format!("{title}: {e}"));
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys: Vec<f64> = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).collect();
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    let (x0, x1) = if x0.is_finite() { (x0, x1.max(x0 + 1.0)) } else { (0.0, 1.0) };
    let y_pos = ys.iter().copied().filter(|&y| y > 0.0);
    let y_min = y_pos.clone().fold(f64::INFINITY, f64::min);
    let y_max = ys.iter().copied().fold(0.0f64, f64::max).max(1e-9);
    // Titles come from the same strings as the terminal's tables, where `names` are quoted
    // in backticks; a figure shows them plain.
    let caption = title.replace('`', "");
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(caption, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(80);
    let x_range = x0..x1;
    // Data within one decade reads better on a linear axis (a log axis would label one tick).
    if log_y && y_min.is_finite() && y_max / y_min >= 10.0 {
        let lo = if y_min.is_finite() { y_min / 1.5 } else { 1e-3 };
        let hi = y_max * 1.5;
        let norm = |y: f64| (y.ln() - lo.ln()) / (hi.ln() - lo.ln());
        let legend = legend_corner(&normalised(series, (x0, x1), &norm, true));
        let chart = builder
            .build_cartesian_2d(x_range, (lo..hi).log_scale())
            .map_err(|e| err(e.to_string()))?;
        draw_lines(chart, x_label, y_label, series, true, legend).map_err(err)
    } else {
        // The axis spans the data when it is negative (rewards) or far from 0 (accuracies
        // between 88 and 93 %); otherwise it starts at 0.
        let y_lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
        let y_hi = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let y_range = if y_lo.is_finite() && (y_lo < 0.0 || y_lo > 0.5 * y_max) {
            let pad = 0.05 * (y_hi - y_lo).max(1e-3 * y_hi.abs()).max(1e-9);
            (y_lo - pad)..(y_hi + pad)
        } else {
            0.0..y_max * 1.1
        };
        let (a, b) = (y_range.start, y_range.end);
        let norm = |y: f64| (y - a) / (b - a);
        let legend = legend_corner(&normalised(series, (x0, x1), &norm, false));
        let chart = builder.build_cartesian_2d(x_range, y_range).map_err(|e| err(e.to_string()))?;
        draw_lines(chart, x_label, y_label, series, false, legend).map_err(err)
    }
}

/// Mesh, one line with markers per series, and a legend; `positive_only` drops y ≤ 0 (log axes).
fn draw_lines<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64> + ValueFormatter<f64>>(
    mut chart: ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    positive_only: bool,
    legend: SeriesLabelPosition,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    // plotters may place one decade twice (0.1 as 10 × 0.01 and as 1 × 0.1): label once.
    let seen = std::cell::RefCell::new(std::collections::HashSet::new());
    let label_once =
        |v: &f64| log_tick(*v).filter(|l| seen.borrow_mut().insert(l.clone())).unwrap_or_default();
    // x values given as log10 of the quantity (a label `log10(…)`): label each decade with
    // the quantity itself, 0.1 1 10 100, and nothing between.
    let log_x = x_label.strip_prefix("log10(").and_then(|l| l.strip_suffix(')'));
    let x_desc = log_x.map_or_else(|| x_label.to_string(), |l| format!("{l} (log scale)"));
    let decade = |v: &f64| {
        let near = v.round();
        if (v - near).abs() < 1e-9 {
            tick(10f64.powf(near))
        } else {
            String::new()
        }
    };
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(x_desc).y_desc(y_label);
    if log_x.is_some() {
        mesh.x_label_formatter(&decade);
    } else {
        mesh.x_label_formatter(&|v| tick(*v));
    }
    if positive_only {
        // A log axis: labels at 1, 2 and 5 × 10^k only (the axis marks every integer
        // multiple, whose labels overprint near each decade), no light lines between them.
        mesh.y_label_formatter(&label_once).light_line_style(TRANSPARENT);
    } else {
        // Major grid lines only: the light ones between them crowd a printed figure.
        mesh.y_label_formatter(&|v| tick(*v)).light_line_style(TRANSPARENT);
    }
    mesh.draw().map_err(e)?;
    for (i, s) in series.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let pts: Vec<(f64, f64)> =
            s.points.iter().copied().filter(|p| !positive_only || p.1 > 0.0).collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
            .map_err(e)?
            .label(s.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled()))).map_err(e)?;
    }
    chart
        .configure_series_labels()
        .position(legend)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(e)?;
    Ok(())
}

/// Axis tick text: plain for moderate magnitudes, scientific otherwise (a tick within 1e-12
/// of zero, a rounding residue of the axis, is 0).
fn tick(v: f64) -> String {
    let a = v.abs();
    if a < 1e-12 {
        return "0".into();
    }
    if (1e-2..1e6).contains(&a) {
        format!("{}", (v * 1000.0).round() / 1000.0)
    } else {
        format!("{v:.0e}")
    }
}

/// A log-axis tick's label: 1, 2 or 5 × 10^k, else `None` (left unlabelled).
fn log_tick(v: f64) -> Option<String> {
    if !(v.is_finite() && v > 0.0) {
        return None;
    }
    let mantissa = v / 10f64.powf(v.log10().floor());
    let one_two_five = [1.0, 2.0, 5.0, 10.0].iter().any(|m| (mantissa - m).abs() < 1e-6 * m);
    // Not `tick`: on a log axis a tiny value is data, not a rounding residue of zero.
    one_two_five.then(|| if (1e-2..1e6).contains(&v) { tick(v) } else { format!("{v:.0e}") })
}

/// Every series as points in the plot's unit square (x and y mapped to `[0, 1]`), each line
/// segment sampled too, for placing the legend where the lines are not.
fn normalised(
    series: &[Series],
    (x0, x1): (f64, f64),
    y: &dyn Fn(f64) -> f64,
    positive_only: bool,
) -> Vec<(f64, f64)> {
    let mut out = vec![];
    for s in series {
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite() && (!positive_only || p.1 > 0.0))
            .map(|&(x, v)| ((x - x0) / (x1 - x0), y(v)))
            .collect();
        out.extend(&pts);
        for w in pts.windows(2) {
            let ((ax, ay), (bx, by)) = (w[0], w[1]);
            out.extend((1..16).map(|k| {
                let t = f64::from(k) / 16.0;
                (ax + t * (bx - ax), ay + t * (by - ay))
            }));
        }
    }
    out
}

/// The corner of the plot whose legend-sized region (the right or left 40 %, the top or
/// bottom 35 %) holds the fewest points of `points` (unit square); ties: upper right, upper
/// left, lower right, lower left.
fn legend_corner(points: &[(f64, f64)]) -> SeriesLabelPosition {
    let count = |left: bool, top: bool| {
        points
            .iter()
            .filter(|&&(x, y)| {
                (if left { x <= 0.4 } else { x >= 0.6 })
                    && (if top { y >= 0.65 } else { y <= 0.35 })
            })
            .count()
    };
    let corners = [
        (SeriesLabelPosition::UpperRight, count(false, true)),
        (SeriesLabelPosition::UpperLeft, count(true, true)),
        (SeriesLabelPosition::LowerRight, count(false, false)),
        (SeriesLabelPosition::LowerLeft, count(true, false)),
    ];
    let best = corners.iter().map(|c| c.1).min().unwrap_or(0);
    corners.into_iter().find(|c| c.1 == best).map_or(SeriesLabelPosition::UpperRight, |c| c.0)
}

/// A figure of vertically stacked panels: (title, x label, y label, series, log y). An x label
/// `log10(QUANTITY)` says the x values are log10 of the quantity: the axis is labelled with
/// the quantity at each decade (0.1, 1, 10, …) and described as `QUANTITY (log scale)`.
pub type PanelSpec<'a> = (&'a str, &'a str, &'a str, Vec<Series>, bool);

/// An SVG document with the given panels stacked vertically (900 px wide, 360 px per panel).
pub fn svg_string(panels: &[PanelSpec]) -> Result<String> {
    let height = 360 * panels.len().max(1) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| ReportError::Plot(e.to_string()))?;
        let areas = root.split_evenly((panels.len().max(1), 1));
        for (area, (title, xl, yl, series, log)) in areas.iter().zip(panels) {
            panel(area, title, xl, yl, series, *log)?;
        }
        root.present().map_err(|e| ReportError::Plot(e.to_string()))?;
    }
    Ok(svg)
}

/// Writes [`svg_string`] of `panels` to `path`.
pub fn write_svg(path: &Path, panels: &[PanelSpec]) -> Result<()> {
    let svg = svg_string(panels)?;
    std::fs::write(path, svg).map_err(|source| ReportError::Io { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axes_label_only_one_two_five() {
        let labelled: Vec<f64> = [10.0, 20.0, 30.0, 50.0, 70.0, 90.0, 100.0, 0.002, 0.003]
            .into_iter()
            .filter(|&v| log_tick(v).is_some())
            .collect();
        assert_eq!(labelled, vec![10.0, 20.0, 50.0, 100.0, 0.002]);
        assert_eq!(log_tick(0.0), None);
        assert_eq!(log_tick(2e-13).as_deref(), Some("2e-13"));
    }

    #[test]
    fn the_legend_goes_where_the_lines_are_not() {
        // A line falling from the upper left to the lower right: the upper right is empty.
        let falling = Series { label: "a".into(), points: vec![(0.0, 10.0), (10.0, 0.0)] };
        let pts = normalised(&[falling], (0.0, 10.0), &|y| y / 10.0, false);
        assert_eq!(legend_corner(&pts), SeriesLabelPosition::UpperRight);
        // Rising: the upper right is full, the upper left empty.
        let rising = Series { label: "b".into(), points: vec![(0.0, 0.0), (10.0, 10.0)] };
        let pts = normalised(&[rising], (0.0, 10.0), &|y| y / 10.0, false);
        assert_eq!(legend_corner(&pts), SeriesLabelPosition::UpperLeft);
        // Flat along the top: a lower corner.
        let top = Series { label: "c".into(), points: vec![(0.0, 9.5), (10.0, 9.5)] };
        let pts = normalised(&[top], (0.0, 10.0), &|y| y / 10.0, false);
        assert_eq!(legend_corner(&pts), SeriesLabelPosition::LowerRight);
    }

    #[test]
    fn a_figure_has_no_backticks_and_labels_a_log_axis_sparsely() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f.svg");
        let s = Series {
            label: "1 Mbit/s".into(),
            points: (0..20).map(|i| (f64::from(i), 3.0 + 10.0 * f64::from(i % 7))).collect(),
        };
        write_svg(&path, &[("cut `stage1.block0.relu`", "split", "ms", vec![s], true)])
            .expect("writes");
        let svg = std::fs::read_to_string(&path).expect("reads");
        // Every <text> element's content, trimmed.
        let texts: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim()))
            .collect();
        assert!(texts.contains(&"cut stage1.block0.relu") && !svg.contains('`'), "{texts:?}");
        for unlabelled in ["30", "40", "60", "70", "80", "90"] {
            assert!(!texts.contains(&unlabelled), "{unlabelled} labelled on a log axis: {texts:?}");
        }
        assert!(texts.contains(&"20") && texts.contains(&"50"), "1-2-5 labels kept: {texts:?}");
    }

    /// Every `<text>` element's content of `panels` drawn, trimmed.
    fn texts(panels: &[PanelSpec]) -> Vec<String> {
        let svg = svg_string(panels).expect("draws");
        svg.split("<text")
            .skip(1)
            .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim().to_string()))
            .collect()
    }

    #[test]
    fn a_log10_x_axis_is_labelled_with_the_quantity_at_each_decade() {
        let s = Series { label: "s".into(), points: vec![(-1.0, 3.0), (2.0, 4.0)] };
        let t = texts(&[("t", "log10(rate, Mbit/s)", "ms", vec![s], false)]);
        for label in ["0.1", "1", "10", "100", "rate, Mbit/s (log scale)"] {
            assert!(t.iter().any(|x| x == label), "{label} in {t:?}");
        }
        assert!(!t.iter().any(|x| x == "-0.5" || x == "0.5" || x == "1.5"), "{t:?}");
    }

    #[test]
    fn each_decade_is_labelled_once_and_a_narrow_range_is_linear() {
        let wide =
            Series { label: "w".into(), points: vec![(100.0, 0.03), (200.0, 0.3), (300.0, 3.0)] };
        let t = texts(&[("t", "x", "y", vec![wide], true)]);
        for decade in ["0.1", "1"] {
            assert_eq!(t.iter().filter(|s| *s == decade).count(), 1, "{decade} in {t:?}");
        }
        // 6–11 ms: a log axis would label only 10; the panel is drawn linear, several labels.
        let narrow = Series { label: "n".into(), points: vec![(0.0, 6.0), (1.0, 11.0)] };
        let t = texts(&[("t", "x", "y", vec![narrow], true)]);
        let numbers = t.iter().filter(|s| s.parse::<f64>().is_ok_and(|v| v > 2.0)).count();
        assert!(numbers >= 4, "{t:?}");
    }
}
