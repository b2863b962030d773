//! Publication-style figures of an analysis (SVG and PNG, with plotters) and a
//! `report.md` beside them.

mod curves;
mod markdown;
mod predicted;
mod topography;

pub use markdown::{Provenance, markdown};

use super::{Clustered, Sample};
use crate::record::{PropertyGrid, Survey};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// The bundled font (DejaVu Sans), so figures render the same on any machine.
static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

fn fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Distinct colours for clusters (Okabe–Ito, readable by colour-blind readers).
pub const PALETTE: [(u8, u8, u8); 8] = [
    (0, 114, 178),
    (230, 159, 0),
    (0, 158, 115),
    (204, 121, 167),
    (86, 180, 233),
    (213, 94, 0),
    (240, 228, 66),
    (0, 0, 0),
];

fn colour(c: usize) -> RGBColor {
    let (r, g, b) = PALETTE[c % PALETTE.len()];
    RGBColor(r, g, b)
}

/// Why a figure could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// plotters' own error, in its words.
    #[error("drawing: {0}")]
    Draw(String),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

type Res = Result<(), ReportError>;

fn e<T: std::fmt::Debug>(err: T) -> ReportError {
    ReportError::Draw(format!("{err:?}"))
}

fn range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let pad = ((hi - lo) * 0.05).max(1e-12);
    (lo - pad)..(hi + pad)
}

/// The legend's corner: the one whose quarter of the plot holds the fewest
/// points, so the legend hides as little of the map as it can.
fn quiet_corner(points: &[(f64, f64)], x: &std::ops::Range<f64>, y: &std::ops::Range<f64>) -> SeriesLabelPosition {
    let count = |right: bool, upper: bool| {
        points
            .iter()
            .filter(|(px, py)| {
                let fx = (px - x.start) / (x.end - x.start);
                let fy = (py - y.start) / (y.end - y.start);
                (fx > 0.5) == right && (fy > 0.5) == upper
            })
            .count()
    };
    [
        (SeriesLabelPosition::UpperRight, count(true, true)),
        (SeriesLabelPosition::UpperLeft, count(false, true)),
        (SeriesLabelPosition::LowerRight, count(true, false)),
        (SeriesLabelPosition::LowerLeft, count(false, false)),
    ]
    .into_iter()
    .min_by_key(|(_, n)| *n)
    .map(|(corner, _)| corner)
    .expect("four corners")
}

/// The boxed legend of a chart's labelled series, in `corner`.
fn legend<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    corner: SeriesLabelPosition,
    font_px: u32,
) -> Res {
    chart
        .configure_series_labels()
        .position(corner)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", font_px))
        .draw()
        .map_err(e)
}

fn latent_map<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, a: &Clustered) -> Res {
    root.fill(&WHITE).map_err(e)?;
    let xy: Vec<(f64, f64)> = a
        .joint
        .iter()
        .map(|p| (p[0] as f64, p.get(1).copied().unwrap_or(0.0) as f64))
        .collect();
    let (x_range, y_range) = (range(xy.iter().map(|p| p.0)), range(xy.iter().map(|p| p.1)));
    let corner = quiet_corner(&xy, &x_range, &y_range);
    let mut chart = ChartBuilder::on(root)
        .caption(
            "Joint latent map of the dual VAE, coloured by cluster",
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(x_range, y_range)
        .map_err(e)?;
    chart.configure_mesh().x_desc("z₁").y_desc("z₂").draw().map_err(e)?;
    for c in 0..a.summaries.len() {
        let col = colour(c);
        chart
            .draw_series(
                xy.iter()
                    .zip(&a.labels)
                    .filter(|(_, l)| **l == c)
                    .map(|(p, _)| Circle::new(*p, 4, col.filled())),
            )
            .map_err(e)?
            .label(format!("cluster {c}: {}", a.summaries[c].reading))
            .legend(move |(x, y)| Circle::new((x, y), 4, col.filled()));
    }
    legend(&mut chart, corner, 13)?;
    root.present().map_err(e)
}

/// The loop area of every curve, by cluster.
fn hysteresis<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, samples: &[Sample], a: &Clustered) -> Res {
    root.fill(&WHITE).map_err(e)?;
    let k = a.summaries.len();
    let mut chart = ChartBuilder::on(root)
        .caption(
            "Hysteresis loop area by cluster (points: locations, bar: mean)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(
            -0.5..(k as f64 - 0.5),
            range(samples.iter().map(|s| s.hysteresis_area * 1e12)),
        )
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_labels(k)
        .x_label_formatter(&|v| format!("cluster {}", v.round() as i64))
        .y_desc("hysteresis area (V·pA)")
        .draw()
        .map_err(e)?;
    for (i, (s, l)) in samples.iter().zip(&a.labels).enumerate() {
        // A deterministic jitter so points of one cluster do not hide each other.
        let jitter = ((i * 7919) % 101) as f64 / 101.0 * 0.5 - 0.25;
        chart
            .draw_series(std::iter::once(Circle::new(
                (*l as f64 + jitter, s.hysteresis_area * 1e12),
                3,
                colour(*l).mix(0.7).filled(),
            )))
            .map_err(e)?;
    }
    for s in &a.summaries {
        let m = s.hysteresis_area.mean * 1e12;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(s.cluster as f64 - 0.35, m), (s.cluster as f64 + 0.35, m)],
                BLACK.stroke_width(3),
            )))
            .map_err(e)?;
    }
    root.present().map_err(e)
}

/// With several sweeps a location: each cluster's mean loop area against
/// the top bias of each sweep (±1 sd), so a loop that opens only above a
/// threshold and one that is open under every range tell apart at a glance.
fn loop_against_bias<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, a: &Clustered, tops_v: &[f64]) -> Res {
    root.fill(&WHITE).map_err(e)?;
    let points: Vec<(f64, f64)> = a
        .summaries
        .iter()
        .flat_map(|s| tops_v.iter().zip(&s.protocol_areas).map(|(v, st)| (*v, st.mean * 1e12)))
        .collect();
    let highs = a
        .summaries
        .iter()
        .flat_map(|s| s.protocol_areas.iter().map(|st| (st.mean + st.sd) * 1e12));
    let y_range = range(highs.chain(std::iter::once(0.0)));
    let x_range = range(tops_v.iter().copied());
    let corner = quiet_corner(&points, &x_range, &y_range);
    let mut chart = ChartBuilder::on(root)
        .caption("Loop area against the sweep's top bias, by cluster", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(x_range, y_range)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("top |bias| of the sweep (V)")
        .y_desc("hysteresis area (V·pA)")
        .draw()
        .map_err(e)?;
    for s in &a.summaries {
        let col = colour(s.cluster);
        let line: Vec<(f64, f64)> = tops_v
            .iter()
            .zip(&s.protocol_areas)
            .map(|(v, st)| (*v, st.mean * 1e12))
            .collect();
        chart
            .draw_series(LineSeries::new(line.clone(), col.stroke_width(2)))
            .map_err(e)?
            .label(format!("cluster {}: {}", s.cluster, s.reading))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(2)));
        chart
            .draw_series(line.iter().map(|p| Circle::new(*p, 4, col.filled())))
            .map_err(e)?;
        for (v, st) in tops_v.iter().zip(&s.protocol_areas) {
            let (lo, hi) = ((st.mean - st.sd) * 1e12, (st.mean + st.sd) * 1e12);
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(*v, lo), (*v, hi)],
                    col.mix(0.6),
                )))
                .map_err(e)?;
        }
    }
    legend(&mut chart, corner, 13)?;
    root.present().map_err(e)
}

/// Writes every figure as SVG and PNG into `out`; returns the file stems.
/// `samples` are those `clusters` was made with (in its order); without
/// clusters (a session too short to cluster) only the path and the curves
/// are drawn. With a property map, each predicted quantity gets a map of its
/// own; the first `seeds` steps are marked as seeds. With several sweeps a
/// location (`tops_v`, each one's top bias), the loop against the bias.
pub fn figures(
    out: &Path,
    survey: &Survey,
    samples: &[Sample],
    clusters: Option<&Clustered>,
    grid: Option<&PropertyGrid>,
    seeds: usize,
    tops_v: &[f64],
) -> Result<Vec<String>, ReportError> {
    fonts();
    std::fs::create_dir_all(out).map_err(|source| ReportError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let first: Vec<(usize, &Sample)> = samples.iter().enumerate().filter(|(_, s)| s.session == 0).collect();
    let mut first_sorted = first.clone();
    first_sorted.sort_by_key(|(_, s)| s.step);
    let size = (1000, 760);
    let mut stems = Vec::new();
    macro_rules! both {
        ($stem:expr, |$root:ident| $draw:expr) => {{
            let svg: PathBuf = out.join(format!("{}.svg", $stem));
            let png: PathBuf = out.join(format!("{}.png", $stem));
            {
                let $root = SVGBackend::new(&svg, size).into_drawing_area();
                $draw?;
            }
            {
                let $root = BitMapBackend::new(&png, size).into_drawing_area();
                $draw?;
            }
            stems.push($stem.to_string());
        }};
    }
    let Some(a) = clusters else {
        both!("acquisition_path", |root| topography::figure(
            &root,
            survey,
            &first_sorted,
            &[],
            Some(seeds)
        ));
        both!("measured_iv", |root| curves::measured(&root, samples));
        return Ok(stems);
    };
    both!("latent_map", |root| latent_map(&root, a));
    both!("cluster_iv", |root| curves::cluster_means(&root, a, false));
    both!("cluster_iv_semilog", |root| curves::cluster_means(&root, a, true));
    both!("cluster_examples", |root| curves::examples(&root, samples, a));
    both!("topography_clusters", |root| topography::figure(
        &root, survey, &first, &a.labels, None
    ));
    both!("hysteresis_by_cluster", |root| hysteresis(&root, samples, a));
    if tops_v.len() > 1 && a.summaries.iter().all(|s| s.protocol_areas.len() == tops_v.len()) {
        both!("loop_against_bias", |root| loop_against_bias(&root, a, tops_v));
    }
    both!("acquisition_path", |root| topography::figure(
        &root,
        survey,
        &first_sorted,
        &a.labels,
        Some(seeds)
    ));
    both!("discovery", |root| curves::discovery(&root, samples, a, seeds));
    if let Some(grid) = grid.filter(|g| !g.points.is_empty()) {
        let measured: Vec<&Sample> = first.iter().map(|(_, s)| *s).collect();
        for q in predicted::Predicted::ALL {
            both!(q.stem(), |root| predicted::figure(&root, survey, grid, q, &measured));
        }
    }
    Ok(stems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legend_goes_where_the_points_are_not() {
        // A diagonal from lower left to upper right, plus a few in the upper left:
        // the lower right is empty.
        let mut points: Vec<(f64, f64)> = (0..20).map(|k| (k as f64, k as f64)).collect();
        points.extend([(1.0, 18.0), (2.0, 17.0)]);
        let (x, y) = (0.0..19.0, 0.0..19.0);
        assert!(matches!(quiet_corner(&points, &x, &y), SeriesLabelPosition::LowerRight));
        let flipped: Vec<(f64, f64)> = points.iter().map(|(a, b)| (*a, 19.0 - b)).collect();
        assert!(matches!(
            quiet_corner(&flipped, &x, &y),
            SeriesLabelPosition::UpperRight
        ));
    }
}
