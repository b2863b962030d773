//! Where one measured location sits in the joint latent map of one model.

/// One row of `embeddings`: where one measured location sits in the joint latent
/// map of one model version.
#[derive(Debug, Clone, PartialEq)]
pub struct LatentPoint {
    /// Measurements the model was trained on (its version).
    pub model_step: u32,
    pub row: u32,
    pub col: u32,
    pub z_image: Vec<f32>,
    pub z_spectrum: Vec<f32>,
    pub cluster: u32,
    /// Added column: the measurement's step.
    pub step: u32,
    /// Added column: `live` (retrained during the session) or `analyze`.
    pub model: String,
}
