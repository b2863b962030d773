//! Figures of the dense property map: one predicted quantity over the survey
//! frame (a cell per candidate), the measured points on top, and a colour bar
//! in the quantity's units.

use super::{Res, e};
use crate::analysis::Sample;
use crate::record::{PropertyGrid, PropertyPoint, Survey};
use plotters::coord::Shift;
use plotters::prelude::*;

/// A quantity the property map predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Predicted {
    LoopArea,
    MaxCurrent,
    Onset,
}

impl Predicted {
    pub const ALL: [Predicted; 3] = [Self::LoopArea, Self::MaxCurrent, Self::Onset];

    pub fn stem(self) -> &'static str {
        match self {
            Self::LoopArea => "predicted_loop_area",
            Self::MaxCurrent => "predicted_max_current",
            Self::Onset => "predicted_onset",
        }
    }

    fn caption(self) -> &'static str {
        match self {
            Self::LoopArea => "Predicted hysteresis loop area",
            Self::MaxCurrent => "Predicted maximum current",
            Self::Onset => "Predicted onset bias",
        }
    }

    /// The colour bar's label: the quantity and its units.
    fn units(self) -> &'static str {
        match self {
            Self::LoopArea => "loop area (V·pA)",
            Self::MaxCurrent => "max current (pA)",
            Self::Onset => "onset (V)",
        }
    }

    /// Currents and loop areas span decades: they are coloured by their log.
    fn log(self) -> bool {
        self != Self::Onset
    }

    /// The value on the colour axis (log10 where [`Self::log`]).
    fn value(self, p: &PropertyPoint) -> Option<f64> {
        let v = match self {
            Self::LoopArea => p.hysteresis_area * 1e12,
            Self::MaxCurrent => p.max_current_a * 1e12,
            Self::Onset => p.onset_v?,
        };
        match self.log() {
            true => (v > 0.0 && v.is_finite()).then(|| v.log10()),
            false => v.is_finite().then_some(v),
        }
    }
}

/// Viridis, five stops: perceptually even, readable in grey and by
/// colour-blind readers.
pub(super) fn viridis(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let x = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// One quantity's map over the frame, the measured points on it, and its
/// colour bar; `None` when the model predicts nothing for it anywhere.
pub fn figure<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    survey: &Survey,
    grid: &PropertyGrid,
    q: Predicted,
    measured: &[&Sample],
) -> Res {
    root.fill(&WHITE).map_err(e)?;
    let values: Vec<(&PropertyPoint, f64)> = grid.points.iter().filter_map(|p| Some((p, q.value(p)?))).collect();
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, v)| {
            (lo.min(*v), hi.max(*v))
        });
    let (lo, hi) = if lo < hi { (lo, hi) } else { (lo - 0.5, lo + 0.5) };
    let (map_area, bar_area) = beside_bar(root);
    let (w, h) = (survey.width_nm, survey.height_nm);
    let caption = format!("{} ({} curves; points: measured)", q.caption(), grid.model_step);
    let mut chart = super::topography::frame(&map_area, &caption, survey)?;
    // A cell per candidate, as wide as the grid's spacing.
    let (nm_per_px_x, nm_per_px_y) = (w / survey.cols().max(1) as f64, h / survey.rows().max(1) as f64);
    let spacing = spacing_px(grid) as f64;
    let (cw, ch) = (spacing * nm_per_px_x, spacing * nm_per_px_y);
    chart
        .draw_series(values.iter().map(|(p, v)| {
            Rectangle::new(
                [
                    (p.x_nm - 0.5 * cw, p.y_nm - 0.5 * ch),
                    (p.x_nm + 0.5 * cw, p.y_nm + 0.5 * ch),
                ],
                viridis((v - lo) / (hi - lo)).filled(),
            )
        }))
        .map_err(e)?;
    chart
        .draw_series(
            measured
                .iter()
                .map(|s| Circle::new((s.x_nm, s.y_nm), 3, WHITE.filled())),
        )
        .map_err(e)?;
    chart
        .draw_series(
            measured
                .iter()
                .map(|s| Circle::new((s.x_nm, s.y_nm), 3, BLACK.stroke_width(1))),
        )
        .map_err(e)?;
    colour_bar(&bar_area, q.units(), (lo, hi), q.log(), viridis)?;
    root.present().map_err(e)
}

/// The figure split into a map and a colour bar beside it: a square frame
/// draws square, the plot as wide as it is high (the caption and x labels
/// take about what the y labels and margins do).
pub(super) fn beside_bar<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
) -> (DrawingArea<DB, Shift>, DrawingArea<DB, Shift>) {
    let (width_px, height_px) = root.dim_in_pixel();
    root.split_horizontally((height_px + 20).min(width_px.saturating_sub(150)))
}

/// The grid's spacing in pixels (the smallest step between its columns).
fn spacing_px(grid: &PropertyGrid) -> u32 {
    let mut cols: Vec<u32> = grid.points.iter().map(|p| p.col).collect();
    cols.sort_unstable();
    cols.dedup();
    cols.windows(2).map(|w| w[1] - w[0]).min().unwrap_or(1).max(1)
}

/// A vertical colour bar from `lo` to `hi` in `ramp`'s colours, labelled
/// `units`; `log`: the values are log10 of what the labels read.
pub(super) fn colour_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    units: &str,
    (lo, hi): (f64, f64),
    log: bool,
    ramp: fn(f64) -> RGBColor,
) -> Res {
    let mut bar = ChartBuilder::on(area)
        .margin_top(60)
        .margin_bottom(57)
        .margin_right(10)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..1.0, lo..hi)
        .map_err(e)?;
    // Enough digits that neighbouring ticks differ, however narrow the range.
    let (a, b) = if log {
        (10f64.powf(lo), 10f64.powf(hi))
    } else {
        (lo, hi)
    };
    let step = (b - a).abs() / 8.0;
    let decimals = if step > 0.0 {
        (-step.log10().floor()).max(0.0) as usize
    } else {
        2
    };
    bar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_desc(units)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .y_label_formatter(&|v| {
            let x = if log { 10f64.powf(*v) } else { *v };
            format!("{x:.decimals$}")
        })
        .draw()
        .map_err(e)?;
    let steps = 100;
    bar.draw_series((0..steps).map(|k| {
        let (a, b) = (k as f64 / steps as f64, (k + 1) as f64 / steps as f64);
        Rectangle::new([(0.0, lo + a * (hi - lo)), (1.0, lo + b * (hi - lo))], ramp(a).filled())
    }))
    .map_err(e)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_runs_from_purple_to_yellow() {
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
        assert_eq!(viridis(0.5), RGBColor(33, 145, 140));
        assert_eq!(viridis(7.0), viridis(1.0));
    }
}
