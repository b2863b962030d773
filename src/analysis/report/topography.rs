//! The survey topography with the measured points on it: coloured by
//! cluster, or as the acquisition path coloured by step with the seeds
//! marked; square for a square frame, with a colour bar.

use super::predicted::{beside_bar, colour_bar, viridis};
use super::{Res, colour, e, legend, quiet_corner};
use crate::analysis::Sample;
use crate::record::Survey;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

fn grey(t: f64) -> RGBColor {
    let v = (t.clamp(0.0, 1.0) * 200.0 + 30.0) as u8;
    RGBColor(v, v, v)
}

/// A chart over the survey frame in nm, y down as the image is, axes
/// labelled.
pub(super) fn frame<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: &str,
    survey: &Survey,
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, super::ReportError> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 19))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..survey.width_nm, survey.height_nm..0.0)
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("x (nm)")
        .y_desc("y (nm)")
        .draw()
        .map_err(e)?;
    Ok(chart)
}

/// `path`: the acquisition path, the first `seeds` of the steps marked as
/// seeds; otherwise the points coloured by cluster.
pub fn figure<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    survey: &Survey,
    samples: &[(usize, &Sample)],
    labels: &[usize],
    path: Option<usize>,
) -> Res {
    root.fill(&WHITE).map_err(e)?;
    let title = if path.is_some() {
        "Acquisition path over the topography (colour: step; squares: seeds)"
    } else {
        "Survey topography with measured points coloured by cluster"
    };
    let (map_area, bar_area) = beside_bar(root);
    let (w, h) = (survey.width_nm, survey.height_nm);
    let mut chart = frame(&map_area, title, survey)?;
    // At most 256 cells a side (a 256 px survey is drawn pixel for pixel; an
    // SVG of a larger one would be megabytes).
    let (rows, cols) = survey.heights_nm.dim();
    let step = rows.max(cols).div_ceil(256).max(1);
    let (lo, hi) = survey.height_range_nm();
    let (cw, ch) = (w / cols as f64, h / rows as f64);
    let mut cells = Vec::new();
    for r in (0..rows).step_by(step) {
        for c in (0..cols).step_by(step) {
            let t = (survey.heights_nm[[r, c]] - lo) / (hi - lo).max(1e-12);
            let (x0, y0) = (c as f64 * cw, r as f64 * ch);
            cells.push(Rectangle::new(
                [(x0, y0), (x0 + cw * step as f64, y0 + ch * step as f64)],
                grey(t).filled(),
            ));
        }
    }
    chart.draw_series(cells).map_err(e)?;
    match path {
        Some(seeds) => {
            let line: Vec<(f64, f64)> = samples.iter().map(|(_, s)| (s.x_nm, s.y_nm)).collect();
            chart
                .draw_series(LineSeries::new(line, RGBColor(213, 94, 0).mix(0.5).stroke_width(1)))
                .map_err(e)?;
            let last = samples.len().saturating_sub(1).max(1) as f64;
            for (k, (_, s)) in samples.iter().enumerate() {
                let fill = viridis(k as f64 / last).filled();
                let at = (s.x_nm, s.y_nm);
                if k < seeds {
                    // A square a few px across, in nm.
                    let (dx, dy) = (5.0 * w / 700.0, 5.0 * h / 700.0);
                    let corners = [(at.0 - dx, at.1 - dy), (at.0 + dx, at.1 + dy)];
                    chart.draw_series([Rectangle::new(corners, fill)]).map_err(e)?;
                    chart
                        .draw_series([Rectangle::new(corners, BLACK.stroke_width(1))])
                        .map_err(e)?;
                } else {
                    chart.draw_series([Circle::new(at, 3, fill)]).map_err(e)?;
                }
            }
            let steps = samples.iter().map(|(_, s)| s.step as f64);
            let (first, last) = steps.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
            colour_bar(
                &bar_area,
                "step",
                (first.min(last), last.max(first + 1.0)),
                false,
                viridis,
            )?;
        }
        None => {
            // One series per cluster, so the legend can say which colour is which.
            let clusters = labels.iter().copied().max().map_or(0, |m| m + 1);
            for c in 0..clusters {
                let mine: Vec<(f64, f64)> = samples
                    .iter()
                    .filter(|(k, _)| labels[*k] == c)
                    .map(|(_, s)| (s.x_nm, s.y_nm))
                    .collect();
                if mine.is_empty() {
                    continue;
                }
                let col = colour(c);
                let n = mine.len();
                chart
                    .draw_series(mine.iter().map(|p| Circle::new(*p, 4, col.filled())))
                    .map_err(e)?
                    .label(format!("cluster {c} (n = {n})"))
                    .legend(move |(x, y)| Circle::new((x, y), 4, col.filled()));
                chart
                    .draw_series(mine.iter().map(|p| Circle::new(*p, 4, BLACK.stroke_width(1))))
                    .map_err(e)?;
            }
            let points: Vec<(f64, f64)> = samples.iter().map(|(_, s)| (s.x_nm, s.y_nm)).collect();
            legend(&mut chart, quiet_corner(&points, &(0.0..w), &(h..0.0)), 13)?;
            colour_bar(&bar_area, "height (nm)", (lo, hi.max(lo + 1e-9)), false, grey)?;
        }
    }
    root.present().map_err(e)
}
