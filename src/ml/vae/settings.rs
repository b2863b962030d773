//! What the dual VAE trains on, with what settings, and what it gives back.

/// Training settings (the plan's `[analysis]` table).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VaeSettings {
    pub hidden: usize,
    pub latent: usize,
    pub epochs: usize,
    pub learning_rate: f64,
    pub beta: f64,
    pub gamma: f64,
    pub spatial_decoder: bool,
    pub seed: u64,
    /// Samples a step sees: 0 (or n or more) trains full batch; fewer
    /// trains on mini-batches of this many, `epochs` steps in all.
    pub batch: usize,
}

/// What training produced: the latent means of every sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// n × latent, image latent means.
    pub z_image: Vec<Vec<f32>>,
    /// n × latent, spectral latent means mapped by A into the image latent space.
    pub z_spectrum: Vec<Vec<f32>>,
    /// Loss at the last epoch (per sample), and its parts.
    pub loss: f64,
    pub reconstruction: f64,
    pub alignment: f64,
    /// The trained model read as topography → response (the fused pass
    /// gives one; the burn reference does not).
    pub predictor: Option<super::Predictor>,
}

/// What the dual VAE trains on: n patches and n curves, both in [0, 1].
#[derive(Debug, Clone, Copy)]
pub struct Views<'a> {
    /// n × patch_side², row-major.
    pub images: &'a [f32],
    pub patch_side: usize,
    /// n × spectrum_width, row-major.
    pub spectra: &'a [f32],
    pub spectrum_width: usize,
}
