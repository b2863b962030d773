//! What was chosen for a step, and why: the `decisions` table's row.

use serde::{Deserialize, Serialize};

/// One row of `decisions`: what the policy chose for a step, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub step: u32,
    pub t_ms: i64,
    pub row: u32,
    pub col: u32,
    pub policy: String,
    /// Acquisition score; `None` for policies that do not score.
    pub score: Option<f64>,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub structure_novelty: Option<f64>,
    pub spectral_novelty: Option<f64>,
    pub n_candidates: u32,
    /// Time the model's fit took; `None` for choices that fit nothing.
    pub fit_ms: Option<f64>,
    pub score_ms: Option<f64>,
}
