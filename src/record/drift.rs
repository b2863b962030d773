//! One estimate of the sample's drift under the tip: the `drift` table's row.

use serde::{Deserialize, Serialize};

/// How far the film had drifted under the frame when it was imaged again
/// (`[drift]`), and how well the re-image lined up with the survey.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DriftEstimate {
    pub t_ms: i64,
    pub dx_nm: f64,
    pub dy_nm: f64,
    /// The normalised cross-correlation at the best shift (1 = identical).
    pub score: f64,
}
