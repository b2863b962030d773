//! The curves themselves: each cluster's mean I–V (linear and semi-log),
//! measured examples of every cluster, how soon the policy found each
//! cluster, and, for a session too short to cluster, every curve it measured.

use super::predicted::viridis;
use super::{Res, colour, e, legend, range};
use crate::analysis::{Clustered, Sample};
use plotters::coord::Shift;
use plotters::coord::combinators::LogCoord;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

const TO_PA: f64 = 1e12;

/// One branch of a sweep as `(bias, y)` points.
type Branch = Vec<(f64, f64)>;

/// Splits a sweep at its turn (the largest |bias|) into the up and the down
/// branch, both holding the turn, in `(bias, y)` points.
fn branches(bias_v: &[f64], y: impl Fn(usize) -> f64) -> (Branch, Branch) {
    let turn = bias_v
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .map_or(0, |(k, _)| k);
    let up = (0..=turn.min(bias_v.len().saturating_sub(1)))
        .map(|k| (bias_v[k], y(k)))
        .collect();
    let down = (turn..bias_v.len()).map(|k| (bias_v[k], y(k))).collect();
    (up, down)
}

/// The floor and ceiling of |I| in pA on a log axis: the smallest current
/// worth showing is a ten-thousandth of the largest (four decades hold a
/// C-AFM amplifier's range above its noise, and a zero has no logarithm).
fn log_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let hi = values.filter(|v| v.is_finite()).fold(0.0_f64, |m, v| m.max(v.abs()));
    let hi = hi.max(1e-3);
    (hi * 1e-4)..(hi * 2.0)
}

fn floor_at(v: f64, lo: f64) -> f64 {
    v.abs().max(lo)
}

type Chart<'a, DB, Y> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>;

/// One sweep as the lab draws it: the up branch solid (in the legend as
/// `label`, when given), the down branch dashed.
fn sweep<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64>>(
    chart: &mut Chart<'a, DB, Y>,
    bias_v: &[f64],
    y: impl Fn(usize) -> f64,
    style: ShapeStyle,
    label: Option<String>,
) -> Res {
    let (up, down) = branches(bias_v, y);
    let drawn = chart.draw_series(LineSeries::new(up, style)).map_err(e)?;
    if let Some(label) = label {
        drawn
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
    }
    chart.draw_series(DashedLineSeries::new(down, 6, 4, style)).map_err(e)?;
    Ok(())
}

/// Bias against |current| on a log axis, labelled.
fn log_axes<'a, DB: DrawingBackend + 'a>(chart: &mut Chart<'a, DB, LogCoord<f64>>) -> Res {
    chart
        .configure_mesh()
        .x_desc("bias (V)")
        .y_desc("|current| (pA)")
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .draw()
        .map_err(e)
}

/// Each cluster's mean curve, solid up and dashed down; linear with a ±1 sd
/// band, or semi-log (|I|) without one.
pub fn cluster_means<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &Clustered, semilog: bool) -> Res {
    root.fill(&WHITE).map_err(e)?;
    let xs = range(c.summaries.iter().flat_map(|s| s.bias_v.iter().copied()));
    let mut chart = ChartBuilder::on(root);
    chart.margin(12).x_label_area_size(45).y_label_area_size(70);
    if semilog {
        let ys = log_range(
            c.summaries
                .iter()
                .flat_map(|s| s.mean_current_a.iter().map(|m| m * TO_PA)),
        );
        let lo = ys.start;
        let mut chart = chart
            .caption(
                "Mean |I|–V of each cluster, semi-log (solid: up, dashed: down)",
                ("sans-serif", 20),
            )
            .build_cartesian_2d(xs, ys.log_scale())
            .map_err(e)?;
        log_axes(&mut chart)?;
        for s in &c.summaries {
            let label = format!("cluster {} (n = {})", s.cluster, s.size);
            let y = |k: usize| floor_at(s.mean_current_a[k] * TO_PA, lo);
            sweep(&mut chart, &s.bias_v, y, colour(s.cluster).stroke_width(2), Some(label))?;
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight, 13)?;
        return root.present().map_err(e);
    }
    let ys = range(c.summaries.iter().flat_map(|s| {
        s.mean_current_a
            .iter()
            .zip(&s.sd_current_a)
            .flat_map(|(m, d)| [(m - d) * TO_PA, (m + d) * TO_PA])
    }));
    let mut chart = chart
        .caption(
            "Mean I–V curve of each cluster (solid: up, dashed: down; band: ±1 sd)",
            ("sans-serif", 20),
        )
        .build_cartesian_2d(xs, ys)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("bias (V)")
        .y_desc("current (pA)")
        .draw()
        .map_err(e)?;
    for s in &c.summaries {
        let col = colour(s.cluster);
        let sd = |k: usize, sign: f64| (s.mean_current_a[k] + sign * s.sd_current_a[k]) * TO_PA;
        let band: Vec<(f64, f64)> = (0..s.bias_v.len())
            .map(|k| (s.bias_v[k], sd(k, 1.0)))
            .chain((0..s.bias_v.len()).rev().map(|k| (s.bias_v[k], sd(k, -1.0))))
            .collect();
        chart
            .draw_series(std::iter::once(Polygon::new(band, col.mix(0.12))))
            .map_err(e)?;
        let label = format!("cluster {} (n = {})", s.cluster, s.size);
        let y = |k: usize| s.mean_current_a[k] * TO_PA;
        sweep(&mut chart, &s.bias_v, y, col.stroke_width(2), Some(label))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft, 13)?;
    root.present().map_err(e)
}

/// The `n` members of cluster `cluster` nearest its centre in the joint
/// latent map: its most typical curves, not its extremes.
pub fn typical(c: &Clustered, cluster: usize, n: usize) -> Vec<usize> {
    let members: Vec<usize> = (0..c.labels.len()).filter(|k| c.labels[*k] == cluster).collect();
    let Some(first) = members.first() else {
        return Vec::new();
    };
    let dim = c.joint[*first].len();
    let centre: Vec<f64> = (0..dim)
        .map(|d| members.iter().map(|k| c.joint[*k][d] as f64).sum::<f64>() / members.len() as f64)
        .collect();
    let dist = |k: &usize| -> f64 {
        c.joint[*k]
            .iter()
            .zip(&centre)
            .map(|(z, m)| (*z as f64 - m).powi(2))
            .sum()
    };
    let mut by_distance = members.clone();
    by_distance.sort_by(|a, b| dist(a).total_cmp(&dist(b)).then(a.cmp(b)));
    by_distance.truncate(n);
    by_distance
}

/// Three measured curves of every cluster, one panel each, on one current
/// scale so the panels compare.
pub fn examples<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, samples: &[Sample], c: &Clustered) -> Res {
    root.fill(&WHITE).map_err(e)?;
    let k = c.summaries.len().max(1);
    let cols = k.min(4);
    let rows = k.div_ceil(cols);
    let (title, panels) = root.split_vertically(40);
    title
        .draw_text(
            "Measured I–V curves of each cluster: the three nearest its centre in the latent map",
            &("sans-serif", 20).into_text_style(&title),
            (12, 10),
        )
        .map_err(e)?;
    let picked: Vec<Vec<usize>> = (0..k).map(|cl| typical(c, cl, 3)).collect();
    let xs = range(picked.iter().flatten().flat_map(|i| samples[*i].bias_v.iter().copied()));
    let ys = range(
        picked
            .iter()
            .flatten()
            .flat_map(|i| samples[*i].current_a.iter().map(|v| v * TO_PA)),
    );
    for (cl, area) in panels.split_evenly((rows, cols)).into_iter().enumerate().take(k) {
        let col = colour(cl);
        let mut chart = ChartBuilder::on(&area)
            .caption(
                format!("cluster {cl} (n = {})", c.summaries[cl].size),
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(xs.clone(), ys.clone())
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("bias (V)")
            .y_desc("current (pA)")
            .label_style(("sans-serif", 11))
            .draw()
            .map_err(e)?;
        for (n, i) in picked[cl].iter().enumerate() {
            let s = &samples[*i];
            let shade = col.mix(1.0 - 0.3 * n as f64).stroke_width(2);
            let label = format!("step {}", s.step);
            sweep(&mut chart, &s.bias_v, |k| s.current_a[k] * TO_PA, shade, Some(label))?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft, 11)?;
    }
    root.present().map_err(e)
}

/// Locations found in each cluster against curves measured, in step order:
/// how soon the policy reached each kind of feature.
pub fn discovery<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    samples: &[Sample],
    c: &Clustered,
    seeds: usize,
) -> Res {
    root.fill(&WHITE).map_err(e)?;
    let mut order: Vec<usize> = (0..samples.len()).collect();
    order.sort_by_key(|i| samples[*i].step);
    let n = order.len();
    let k = c.summaries.len();
    let most = c.summaries.iter().map(|s| s.size).max().unwrap_or(1);
    let mut chart = ChartBuilder::on(root)
        .caption(
            "Discovery: locations found in each cluster against curves measured",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..(n as f64 + 1.0), 0.0..(most as f64 * 1.08 + 1.0))
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("curves measured")
        .y_desc("locations in the cluster")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(e)?;
    for cl in 0..k {
        let col = colour(cl);
        let mut found = 0usize;
        let mut line = vec![(0.0, 0.0)];
        for (m, i) in order.iter().enumerate() {
            if c.labels[*i] == cl {
                found += 1;
            }
            line.push(((m + 1) as f64, found as f64));
        }
        let first = order.iter().position(|i| c.labels[*i] == cl).map_or(0, |m| m + 1);
        chart
            .draw_series(LineSeries::new(line, col.stroke_width(2)))
            .map_err(e)?
            .label(format!("cluster {cl} (first at curve {first})"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(2)));
    }
    if seeds > 0 && seeds < n {
        let x = seeds as f64 + 0.5;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x, 0.0), (x, most as f64 * 1.08 + 1.0)],
                6,
                4,
                BLACK.mix(0.6).stroke_width(1),
            ))
            .map_err(e)?
            .label("end of the seeds")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.mix(0.6).stroke_width(1)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft, 13)?;
    root.present().map_err(e)
}

/// Every measured curve, coloured by step: linear on the left, semi-log on
/// the right (for a session too short to cluster).
pub fn measured<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, samples: &[Sample]) -> Res {
    root.fill(&WHITE).map_err(e)?;
    let (left, right) = root.split_horizontally(root.dim_in_pixel().0 / 2);
    let xs = range(samples.iter().flat_map(|s| s.bias_v.iter().copied()));
    let last = samples.len().saturating_sub(1).max(1) as f64;
    let ys = range(samples.iter().flat_map(|s| s.current_a.iter().map(|v| v * TO_PA)));
    let mut lin = ChartBuilder::on(&left)
        .caption("Measured I–V curves (colour: step)", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(xs.clone(), ys)
        .map_err(e)?;
    lin.configure_mesh()
        .x_desc("bias (V)")
        .y_desc("current (pA)")
        .draw()
        .map_err(e)?;
    let logs = log_range(samples.iter().flat_map(|s| s.current_a.iter().map(|v| v * TO_PA)));
    let lo = logs.start;
    let mut semilog = ChartBuilder::on(&right)
        .caption("The same, semi-log", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(xs, logs.log_scale())
        .map_err(e)?;
    log_axes(&mut semilog)?;
    for (n, s) in samples.iter().enumerate() {
        let style = viridis(n as f64 / last).stroke_width(2);
        let label = format!("step {}", s.step);
        sweep(&mut lin, &s.bias_v, |k| s.current_a[k] * TO_PA, style, Some(label))?;
        sweep(
            &mut semilog,
            &s.bias_v,
            |k| floor_at(s.current_a[k] * TO_PA, lo),
            style,
            None,
        )?;
    }
    if samples.len() <= 12 {
        legend(&mut lin, SeriesLabelPosition::UpperLeft, 13)?;
    }
    root.present().map_err(e)
}
