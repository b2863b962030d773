//! `[drift]`: seeing the sample drift under the tip and moving with it.

use serde::{Deserialize, Serialize};

/// Drift tracking: every `every` curves the frame is imaged again at
/// `1 / coarse_factor` of the survey's resolution, lined up with the survey
/// by cross-correlation (to a fraction of a pixel), and the offset found is
/// added to every later move; the measurements record the film point
/// measured (where the tip went, less the drift). Off by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DriftPlan {
    /// Curves between two re-images (0 = never).
    pub every: u32,
    /// Minutes between two re-images, on the wall clock (0 = never): the
    /// sample drifts with time, not with curves, so a run whose curves come
    /// slowly (long dwell, a paused queue) still looks often enough. With
    /// both set, whichever comes first.
    pub every_min: f64,
    /// The re-image has the survey's rows and columns divided by this.
    pub coarse_factor: u32,
    /// The largest shift looked for, in re-image pixels each way.
    pub max_shift_px: u32,
    /// A re-image that lines up worse than this (normalised
    /// cross-correlation) leaves the estimate as it was.
    pub min_score: f64,
}

impl Default for DriftPlan {
    fn default() -> Self {
        Self {
            every: 0,
            every_min: 0.0,
            coarse_factor: 2,
            max_shift_px: 8,
            min_score: 0.5,
        }
    }
}

impl DriftPlan {
    /// Whether the drift is tracked at all.
    pub fn tracked(&self) -> bool {
        self.every > 0 || self.every_min > 0.0
    }
}
