//! SVG plots (plotters).

use std::path::Path;

use anyhow::{anyhow, Result};
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
    let err = |e: String| anyhow!("plotting {title}: {e}");
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys: Vec<f64> = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).collect();
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    let (x0, x1) = if x0.is_finite() { (x0, x1.max(x0 + 1.0)) } else { (0.0, 1.0) };
    let y_pos = ys.iter().copied().filter(|&y| y > 0.0);
    let y_min = y_pos.clone().fold(f64::INFINITY, f64::min);
    let y_max = ys.iter().copied().fold(0.0f64, f64::max).max(1e-9);
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(80);
    let x_range = x0..x1;
    if log_y {
        let lo = if y_min.is_finite() { y_min / 1.5 } else { 1e-3 };
        let chart = builder
            .build_cartesian_2d(x_range, (lo..y_max * 1.5).log_scale())
            .map_err(|e| err(e.to_string()))?;
        draw_lines(chart, x_label, y_label, series, true).map_err(err)
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
        let chart = builder.build_cartesian_2d(x_range, y_range).map_err(|e| err(e.to_string()))?;
        draw_lines(chart, x_label, y_label, series, false).map_err(err)
    }
}

/// Mesh, one line with markers per series, and a legend; `positive_only` drops y ≤ 0 (log axes).
fn draw_lines<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64> + ValueFormatter<f64>>(
    mut chart: ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    positive_only: bool,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .y_label_formatter(&|v| tick(*v))
        .x_label_formatter(&|v| tick(*v))
        .draw()
        .map_err(e)?;
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

/// A figure of vertically stacked panels: (title, x label, y label, series, log y).
pub type PanelSpec<'a> = (&'a str, &'a str, &'a str, Vec<Series>, bool);

/// Writes an SVG with the given panels stacked vertically.
pub fn write_svg(path: &Path, panels: &[PanelSpec]) -> Result<()> {
    let height = 360 * panels.len().max(1) as u32;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let areas = root.split_evenly((panels.len().max(1), 1));
    for (area, (title, xl, yl, series, log)) in areas.iter().zip(panels) {
        panel(area, title, xl, yl, series, *log)?;
    }
    root.present().map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
    Ok(())
}
