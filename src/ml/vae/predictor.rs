//! A trained dual VAE read as a map from topography to response: a patch
//! through the image encoder to its latent mean, across the shared latent to
//! the spectral latent that the alignment A ties to it, and through the
//! spectral decoder to a curve. This is what lets the model say what a
//! location it never measured would answer.

use crate::ml::infer::{self, Dense};

/// The weights of one half the predictor takes: its encoder up to the latent
/// mean, its decoder, and (the spectrum's) alignment A.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct HalfWeights {
    /// hidden1, hidden2, mean: tanh between them, the mean linear.
    pub encoder: Vec<Dense>,
    /// hidden1, hidden2, out: tanh between them, logits out.
    pub decoder: Vec<Dense>,
    /// latent × latent, row-major: view = mean·A.
    pub adapter: Option<Vec<f32>>,
    /// Leading latent dimensions that are pose (the spatial decoder's θ, dx, dy).
    pub pose: usize,
}

/// Patch in, predicted curve out (both in the model's [0, 1] units).
#[derive(Debug, Clone, PartialEq)]
pub struct Predictor {
    encoder: Vec<Dense>,
    pose: usize,
    latent: usize,
    /// latent × latent, row-major: the spectral latent whose view A matches a
    /// given image latent, z_spec = z_img·P with P the (ridge) inverse of A.
    to_spectral: Vec<f64>,
    /// (latent + 1) × latent, row-major: an affine map from an image latent
    /// to the spectral view the training's measured locations had, where
    /// one was fitted ([`Predictor::fitted`]).
    fitted: Option<Vec<f64>>,
    decoder: Vec<Dense>,
}

impl Predictor {
    /// The predictor of a trained pair; `None` when a half has no decoder to
    /// read (a spatial decoder is fine: only the image *encoder* is used).
    pub(super) fn new(image: HalfWeights, spectrum: HalfWeights) -> Option<Self> {
        let latent = spectrum.encoder.last()?.outputs - spectrum.pose;
        let a: Vec<f64> = match &spectrum.adapter {
            Some(a) => a.iter().map(|v| *v as f64).collect(),
            None => identity(latent),
        };
        Some(Self {
            encoder: image.encoder,
            pose: image.pose,
            latent,
            to_spectral: ridge_inverse(&a, latent),
            fitted: None,
            decoder: spectrum.decoder,
        })
    }

    /// Latent dimensions of the shared map.
    pub fn latent(&self) -> usize {
        self.latent
    }

    /// The image latent means (pose dimensions dropped) of patches laid out
    /// row-major, `patch_side²` values in [0, 1] each.
    pub fn image_latent(&self, patches: &[f32]) -> Vec<Vec<f32>> {
        let width = self.latent + self.pose;
        infer::forward(patches, &self.encoder)
            .chunks(width)
            .map(|m| m[self.pose..].iter().map(|v| *v as f32).collect())
            .collect()
    }

    /// The same predictor with the image latent carried to the spectral
    /// view by the affine least-squares fit of `z_view` on `z_image` (the
    /// training's own locations): the L1 alignment leaves the two views
    /// offset and scaled against each other, and the decoder is sensitive
    /// to where in the latent it is read.
    pub fn fitted(&self, z_image: &[Vec<f32>], z_view: &[Vec<f32>]) -> Self {
        let (l, n) = (self.latent, z_image.len());
        let row = |z: &[f32]| -> Vec<f64> { z.iter().map(|v| *v as f64).chain(std::iter::once(1.0)).collect() };
        let x: Vec<Vec<f64>> = z_image.iter().map(|z| row(z)).collect();
        let m = l + 1;
        // Normal equations with a small ridge for a latent the samples do not span.
        let gram = faer::Mat::from_fn(m, m, |i, j| x.iter().map(|r| r[i] * r[j]).sum::<f64>());
        let scale = (0..m).map(|i| gram[(i, i)]).fold(0.0, f64::max).max(1e-12);
        let gram = faer::Mat::from_fn(m, m, |i, j| gram[(i, j)] + if i == j { 1e-9 * scale } else { 0.0 });
        let Ok(llt) = gram.llt(faer::Side::Lower) else {
            return self.clone();
        };
        let rhs = faer::Mat::from_fn(m, l, |i, j| {
            x.iter().zip(z_view).map(|(r, v)| r[i] * v[j] as f64).sum::<f64>()
        });
        use faer::linalg::solvers::Solve;
        let w = llt.solve(&rhs);
        let ok = n > m && (0..m * l).all(|k| w[(k / l, k % l)].is_finite());
        Self {
            fitted: ok.then(|| (0..m * l).map(|k| w[(k / l, k % l)]).collect()),
            ..self.clone()
        }
    }

    /// The curve (in [0, 1], the units the spectral view trained on) the
    /// spectral decoder gives for each image latent.
    pub fn curves(&self, z_image: &[Vec<f32>]) -> Vec<Vec<f32>> {
        let l = self.latent;
        let view = |z: &[f32]| -> Vec<f64> {
            match &self.fitted {
                Some(w) => (0..l)
                    .map(|j| w[l * l + j] + (0..l).map(|k| z[k] as f64 * w[k * l + j]).sum::<f64>())
                    .collect(),
                None => z.iter().map(|v| *v as f64).collect(),
            }
        };
        let z_spec: Vec<f32> = z_image
            .iter()
            .flat_map(|z| {
                let v = view(z);
                (0..l).map(move |j| (0..l).map(|k| v[k] * self.to_spectral[k * l + j]).sum::<f64>() as f32)
            })
            .collect();
        let width = self.decoder.last().map_or(0, |d| d.outputs).max(1);
        infer::forward(&z_spec, &self.decoder)
            .chunks(width)
            .map(|logits| logits.iter().map(|o| (1.0 / (1.0 + (-o).exp())) as f32).collect())
            .collect()
    }
}

fn identity(n: usize) -> Vec<f64> {
    (0..n * n).map(|k| if k / n == k % n { 1.0 } else { 0.0 }).collect()
}

/// P = Aᵀ(AAᵀ + λI)⁻¹ for a small square A: its inverse where A is well
/// conditioned, and the least-squares answer (no blow-up) where training
/// left it near singular.
fn ridge_inverse(a: &[f64], n: usize) -> Vec<f64> {
    use faer::linalg::solvers::DenseSolveCore;
    let scale = (0..n).map(|i| a[i * n + i].abs()).fold(0.0, f64::max).max(1e-12);
    let lambda = 1e-8 * scale * scale;
    let gram = faer::Mat::from_fn(n, n, |i, j| {
        (0..n).map(|k| a[i * n + k] * a[j * n + k]).sum::<f64>() + if i == j { lambda } else { 0.0 }
    });
    let Ok(llt) = gram.llt(faer::Side::Lower) else {
        return identity(n);
    };
    let inverse = llt.inverse();
    (0..n * n)
        .map(|k| {
            let (i, j) = (k / n, k % n);
            (0..n).map(|m| a[m * n + i] * inverse[(m, j)]).sum()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ridge_inverse_inverts_a_well_conditioned_matrix() {
        let a = [2.0, 1.0, -0.5, 1.5];
        let p = ridge_inverse(&a, 2);
        for i in 0..2 {
            for j in 0..2 {
                let v: f64 = (0..2).map(|k| a[i * 2 + k] * p[k * 2 + j]).sum();
                assert!((v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-6, "({i},{j}) {v}");
            }
        }
        // A singular A gives finite numbers, not infinities.
        assert!(ridge_inverse(&[1.0, 1.0, 1.0, 1.0], 2).iter().all(|v| v.is_finite()));
    }
}
