//! The dual VAE: an image VAE on topography patches and a spectrum VAE on I–V
//! curves, tied by a learnable latent×latent matrix A applied to the spectral
//! mean and an L1 term γ·|z_img − z_spec·A|, so locations with similar
//! structure *and* similar response land together in one latent map.
//!
//! Both VAEs are MLPs (two hidden layers, tanh, sigmoid output, BCE
//! reconstruction, β-weighted KL), trained full batch with Adam. The model is
//! defined in burn (`reference`) and trains through the fused pass (`fused`)
//! (same draws, same steps; 2–3× faster than burn's autodiff with the MLP
//! decoder, 4× with the spatial one).
//!
//! Rooms: `settings` (what training takes and gives), `init` (the starting
//! draws both passes share), `training` (the two halves on two threads that
//! meet once an epoch), `reference` (the burn model), `fused` (the pass
//! written by hand).

mod fused;
mod init;
mod predictor;
mod reference;
mod settings;
mod training;

pub use predictor::Predictor;
pub use settings::{Embedding, VaeSettings, Views};

use rand::SeedableRng;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use training::train_pair;

/// Which implementation trains the model: the fused pass of `vae_fused`, or
/// burn's autodiff (the reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Fused,
    Burn,
}

/// Trains a dual VAE on the views and returns the latent means.
///
/// The two halves train on two threads, one per core: they meet once an
/// epoch to trade their latent means for the alignment term, whose gradient
/// each half then adds to its own (the same gradients as one joint graph).
pub fn train(views: Views, s: &VaeSettings) -> Embedding {
    train_watched(views, s, &AtomicUsize::new(0), &AtomicBool::new(false))
}

/// [`train`], counting finished epochs in `epochs_done` for whoever shows
/// progress: a long training (the spatial decoder, many sessions) should not
/// look like a hang. Once `stop` is set it ends at the next epoch, its map
/// unfinished: the caller has stopped wanting it (a later training supersedes
/// it), and the cores are wanted elsewhere.
pub fn train_watched(views: Views, s: &VaeSettings, epochs_done: &AtomicUsize, stop: &AtomicBool) -> Embedding {
    train_with(Pass::Fused, views, s, epochs_done, stop)
}

/// [`train`] through burn's autodiff: the reference the fused pass is checked
/// against (same draws, same noise, same steps), and what the bench compares
/// it with.
pub fn train_reference(views: Views, s: &VaeSettings) -> Embedding {
    train_with(Pass::Burn, views, s, &AtomicUsize::new(0), &AtomicBool::new(false))
}

fn train_with(pass: Pass, views: Views, s: &VaeSettings, epochs_done: &AtomicUsize, stop: &AtomicBool) -> Embedding {
    let Views {
        images,
        patch_side,
        spectra,
        spectrum_width,
    } = views;
    let image_width = patch_side * patch_side;
    let n = images.len() / image_width.max(1);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s.seed);
    // The spatial decoder's θ, dx, dy: three more image latent dimensions.
    let pose = if s.spatial_decoder { 3 } else { 0 };
    let ((zi, image, loss, recon, align), (zs, spectrum, ..)) = match pass {
        Pass::Fused => {
            use fused::FusedHalf;
            let side = if s.spatial_decoder { patch_side } else { 0 };
            let image = FusedHalf::new(images.to_vec(), image_width, false, side, s, &mut rng);
            let spectrum = FusedHalf::new(spectra.to_vec(), spectrum_width, true, 0, s, &mut rng);
            train_pair(
                move || image,
                move || spectrum,
                n,
                s.latent + pose,
                s,
                (epochs_done, stop),
            )
        }
        Pass::Burn => {
            let device = crate::ml::device();
            let image = reference::HalfVae::image(image_width, patch_side, s, &device, &mut rng);
            let spectrum = reference::HalfVae::spectrum(spectrum_width, s, &device, &mut rng);
            let (img_data, spec_data) = (images.to_vec(), spectra.to_vec());
            train_pair(
                move || reference::BurnHalf::new(image, img_data, image_width),
                move || reference::BurnHalf::new(spectrum, spec_data, spectrum_width),
                n,
                s.latent + pose,
                s,
                (epochs_done, stop),
            )
        }
    };
    Embedding {
        z_image: zi,
        z_spectrum: zs,
        loss,
        reconstruction: recon,
        alignment: align,
        predictor: image.zip(spectrum).and_then(|(i, s)| Predictor::new(i, s)),
    }
}

#[cfg(test)]
mod tests;
