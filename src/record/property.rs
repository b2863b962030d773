//! What the dual VAE predicts a location would answer, measured or not.

/// One row of `property_map`: the response one model version predicts at one
/// candidate, reduced by the same scalarizers as a measured curve.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyPoint {
    /// Measurements the model was trained on (its version).
    pub model_step: u32,
    pub row: u32,
    pub col: u32,
    pub x_nm: f64,
    pub y_nm: f64,
    /// The means over the ensemble's members of each member's prediction.
    pub hysteresis_area: f64,
    pub max_current_a: f64,
    /// `None` where no member's predicted curve crosses the onset current.
    pub onset_v: Option<f64>,
    /// The spread (standard deviation) over the members; `None` with one.
    pub hysteresis_area_std: Option<f64>,
    pub max_current_a_std: Option<f64>,
    pub onset_v_std: Option<f64>,
    /// The cluster of the measured locations this patch sits among in the
    /// image latent (the members' vote).
    pub cluster: u32,
    /// Added column: `live` (retrained during the session) or `analyze`.
    pub model: String,
}
