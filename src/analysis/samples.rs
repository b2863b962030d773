//! One measured location with everything the analysis looks at: the patch in
//! nm and as the image VAE sees it, the curve, its scalars, and its motif where
//! the caller knows the truth.

use super::relief;
use crate::ml::patches;
use crate::plan::SessionPlan;
use crate::record::{GroundTruth, Measurement, Motif, Survey};

/// One measured location, with everything the analysis looks at.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Which of the analysed sessions it comes from.
    pub session: usize,
    pub step: u32,
    pub row: u32,
    pub col: u32,
    pub x_nm: f64,
    pub y_nm: f64,
    /// The patch around it in nm (for the topography descriptors).
    pub patch_nm: Vec<f64>,
    /// The same patch as the image VAE sees it (see [`relief::tip_relief`]).
    pub patch01: Vec<f32>,
    pub bias_v: Vec<f64>,
    pub current_a: Vec<f64>,
    pub hysteresis_area: f64,
    /// The loop area of each protocol's curve (`[[sweep.protocol]]`), in
    /// the plan's order; one entry, `hysteresis_area`, with one protocol.
    pub protocol_areas: Vec<f64>,
    pub onset_v: Option<f64>,
    pub max_current_a: f64,
    /// Ground truth, where the caller knows it (a simulated film, a replay
    /// dataset with labels).
    pub truth: Option<Motif>,
}

/// A session's survey as the analysis cuts it into patches: each location's
/// patch in nm and as the image VAE sees it. Measured locations and
/// candidates are cut the same way.
pub struct PatchView {
    image_nm: ndarray::Array2<f32>,
    side: usize,
    span_nm: f32,
    window_px: f32,
}

impl PatchView {
    pub fn new(plan: &SessionPlan, survey: &Survey) -> Self {
        let image_nm = survey.heights_nm.mapv(|v| v as f32);
        let (lo, hi) = image_nm
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
        let nm_per_px = survey.width_nm / survey.cols().max(1) as f64;
        Self {
            image_nm,
            side: plan.policy.patch_px as usize,
            span_nm: (hi - lo).max(1e-6),
            window_px: (plan.analysis.patch_window_nm / nm_per_px) as f32,
        }
    }

    /// The patch centred on a pixel, in nm.
    pub fn patch_nm(&self, row: u32, col: u32) -> Vec<f32> {
        patches::patch_at(&self.image_nm, row, col, self.side)
    }

    /// The patch's side (px).
    pub fn side(&self) -> usize {
        self.side
    }

    /// A patch in nm as the image VAE sees it (see [`relief::tip_relief`]).
    pub fn seen(&self, patch_nm: &[f32]) -> Vec<f32> {
        relief::tip_relief(patch_nm, self.side, self.span_nm, self.window_px)
    }

    /// The tip's own pixel in a patch (px from its first row and column),
    /// as [`patches::patch_at`] cuts it.
    pub fn tip_px(&self) -> f32 {
        (self.side / 2) as f32
    }

    /// A patch in nm as relief windowed about the tip's own pixel (see
    /// [`relief::tip_relief_about`]).
    pub fn about_tip(&self, patch_nm: &[f32]) -> Vec<f32> {
        relief::tip_relief_about(patch_nm, self.side, self.span_nm, self.window_px, self.tip_px())
    }
}

/// Builds samples from one session's survey and measurements; `truth`, where
/// the caller has it, labels each with the motif under it.
pub fn samples(
    session: usize,
    plan: &SessionPlan,
    survey: &Survey,
    measurements: &[Measurement],
    truth: Option<&dyn GroundTruth>,
) -> Vec<Sample> {
    let view = PatchView::new(plan, survey);
    measurements
        .iter()
        .map(|m| {
            let patch = view.patch_nm(m.row, m.col);
            Sample {
                session,
                step: m.step,
                row: m.row,
                col: m.col,
                x_nm: m.x_nm,
                y_nm: m.y_nm,
                patch_nm: patch.iter().map(|v| *v as f64).collect(),
                patch01: view.seen(&patch),
                bias_v: m.bias_v.clone(),
                current_a: m.current_a.clone(),
                hysteresis_area: m.hysteresis_area,
                protocol_areas: protocol_areas(&plan.sweep.protocols(), m),
                onset_v: m.onset_v,
                max_current_a: m.max_current_a,
                truth: truth.and_then(|t| t.motif_at(m.row, m.col, m.x_nm, m.y_nm)),
            }
        })
        .collect()
}

/// The loop area of each protocol's part of a location's curve: with
/// several protocols the models see a location's curves end to end
/// (`record::learned::combined`), each as long as its protocol's points; a
/// curve that is not a whole set counts as one protocol.
pub fn protocol_areas(protocols: &[crate::instrument::SweepRequest], m: &Measurement) -> Vec<f64> {
    let lengths: Vec<usize> = protocols.iter().map(|p| p.points as usize).collect();
    if protocols.len() < 2 || lengths.iter().sum::<usize>() != m.current_a.len() {
        return vec![m.hysteresis_area];
    }
    let mut from = 0;
    lengths
        .iter()
        .map(|n| {
            let part = from..from + n;
            from += n;
            crate::scalar::hysteresis_area(&m.bias_v[part.clone()], &m.current_a[part])
        })
        .collect()
}
