//! Deep kernel learning in burn: an MLP maps a topography patch to a small
//! embedding, and an exact GP with a Matérn-5/2 ARD kernel works on it.
//!
//! Burn has no Cholesky, so the marginal likelihood is differentiated by hand:
//! K is factorised with faer, G = ∂(−log p)/∂K = ½(K⁻¹ − ααᵀ), and the chain
//! rule through the kernel (`gp::kernel_gradient`, O(n²·d) in f64) gives the
//! gradient for the embedding and the kernel's hyperparameters. Those go back
//! into burn as constants; back-propagating the surrogate
//! Σ z⊙∂z + Σ θ⊙∂θ through the MLP then gives the exact gradient of −log p for
//! every weight. (Building K itself in burn and back-propagating Σ G⊙K gives
//! the same gradient — a test checks it — but its thirty-odd n×n tensor ops
//! cost more than the rest of a step.)
//! Each step refits warm from the last fit, for a few optimiser steps, and stops
//! once the objective settles.

use crate::ml::gp::{self, Hyper, NotPositiveDefinite, Posterior};
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::TensorData;
use rand::{Rng, SeedableRng};

/// The feature extractor: Linear layers with tanh between them.
#[derive(Module, Debug)]
pub struct FeatureExtractor {
    layers: Vec<Linear>,
}

impl FeatureExtractor {
    /// Layers initialised as burn's `Linear` does (uniform ±1/√fan_in), but from
    /// the session's own seeded stream: burn's global generator is shared by
    /// every model in the process, so two fits running side by side would not
    /// be reproducible with it.
    pub fn new(input: usize, hidden: &[usize], output: usize, device: &Device, rng: &mut impl Rng) -> Self {
        let mut sizes = vec![input];
        sizes.extend_from_slice(hidden);
        sizes.push(output);
        let layers = sizes
            .windows(2)
            .map(|w| {
                let bound = (1.0 / w[0] as f64).sqrt() as f32;
                let mut draw = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-bound..bound)).collect() };
                let weight = Tensor::<2>::from_data(TensorData::new(draw(w[0] * w[1]), [w[0], w[1]]), device);
                let bias = Tensor::<1>::from_data(TensorData::new(draw(w[1]), [w[1]]), device);
                let mut layer: Linear = LinearConfig::new(w[0], w[1]).init(device);
                layer.weight = Param::from_tensor(weight);
                layer.bias = Some(Param::from_tensor(bias));
                layer
            })
            .collect();
        Self { layers }
    }

    /// The weights as plain arrays, for batched inference outside burn.
    pub fn dense_layers(&self) -> Vec<crate::ml::infer::Dense> {
        self.layers
            .iter()
            .map(|l| {
                let w = l.weight.val();
                let [inputs, outputs] = w.dims();
                let f32s = |t: Tensor<1>| t.into_data().convert::<f32>().try_to_vec::<f32>().expect("f32 data");
                crate::ml::infer::Dense {
                    inputs,
                    outputs,
                    weight: f32s(w.reshape([inputs * outputs])),
                    bias: l
                        .bias
                        .as_ref()
                        .map(|b| f32s(b.val()))
                        .unwrap_or_else(|| vec![0.0; outputs]),
                }
            })
            .collect()
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let mut x = x;
        for (k, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if k < last {
                x = crate::ml::tanh(x);
            }
        }
        x
    }
}

/// The whole deep kernel: extractor plus GP hyperparameters (as logarithms, so
/// the optimiser cannot make them negative).
#[derive(Module, Debug)]
pub struct DeepKernel {
    pub extractor: FeatureExtractor,
    log_lengthscale: Param<Tensor<1>>,
    log_signal_var: Param<Tensor<1>>,
    log_noise_var: Param<Tensor<1>>,
}

const SQRT5: f64 = 2.236_067_977_499_79;
/// Smallest noise variance the fit may reach (keeps K well conditioned in f32).
const NOISE_FLOOR: f64 = 1e-4;

impl DeepKernel {
    pub fn new(input: usize, hidden: &[usize], embedding: usize, device: &Device, rng: &mut impl Rng) -> Self {
        Self {
            extractor: FeatureExtractor::new(input, hidden, embedding, device, rng),
            log_lengthscale: Param::from_tensor(Tensor::zeros([embedding], device)),
            log_signal_var: Param::from_tensor(Tensor::from_floats([(0.1f32).ln()], device)),
            log_noise_var: Param::from_tensor(Tensor::from_floats([(0.01f32).ln()], device)),
        }
    }

    pub fn embedding_dim(&self) -> usize {
        self.log_lengthscale.val().dims()[0]
    }

    /// K = K_f + σ_n² I of embedded points `z` (n × d), differentiable in burn.
    pub fn covariance(&self, z: Tensor<2>) -> Tensor<2> {
        let n = z.dims()[0];
        let device = z.device();
        let inv_l = self.log_lengthscale.val().neg().exp().unsqueeze::<2>();
        let zs = z * inv_l;
        let sq = (zs.clone() * zs.clone()).sum_dim(1);
        let d2 = sq.clone() + sq.transpose() - zs.clone().matmul(zs.transpose()) * 2.0;
        // ε keeps √ differentiable on the diagonal, where d² = 0.
        let r5 = (d2.clamp_min(0.0) + 1e-12).sqrt() * SQRT5;
        let shape = r5.clone() + r5.clone() * r5.clone() / 3.0 + 1.0;
        let kf = shape * r5.neg().exp() * self.log_signal_var.val().exp().unsqueeze::<2>();
        let noise = self.log_noise_var.val().exp() + NOISE_FLOOR;
        kf + Tensor::<2>::eye(n, &device) * noise.unsqueeze::<2>()
    }

    /// A scalar whose gradient is `gradient` for the embedding `z` and the
    /// kernel's log-hyperparameters (all else held constant).
    fn surrogate(&self, z: Tensor<2>, gradient: &gp::KernelGradient) -> Tensor<1> {
        let device = z.device();
        let dims = z.dims();
        let constant = |v: &[f64], shape: [usize; 1]| {
            Tensor::<1>::from_data(
                TensorData::new(v.iter().map(|x| *x as f32).collect::<Vec<f32>>(), shape),
                &device,
            )
        };
        let gz = constant(&gradient.z, [dims[0] * dims[1]]).reshape(dims);
        let gl = constant(&gradient.log_lengthscale, [dims[1]]);
        let gs = constant(&[gradient.log_signal_var], [1]);
        let gn = constant(&[gradient.log_noise_var], [1]);
        (z * gz).sum()
            + (self.log_lengthscale.val() * gl).sum()
            + (self.log_signal_var.val() * gs).sum()
            + (self.log_noise_var.val() * gn).sum()
    }

    /// MAP priors on the kernel: log-normal on each lengthscale and on the signal
    /// variance (centred on 1 and 0.1), and on the noise variance (centred on 0.01).
    fn neg_log_prior(&self) -> Tensor<1> {
        let l = (self.log_lengthscale.val() * self.log_lengthscale.val()).sum() * 0.5;
        let s = (self.log_signal_var.val() * self.log_signal_var.val()).sum() * 0.5;
        let dn = self.log_noise_var.val() - (0.01f64).ln();
        let nz = (dn.clone() * dn).sum() * 0.5;
        l + s + nz
    }

    pub fn hyper(&self) -> Hyper {
        let v = |t: Tensor<1>| -> Vec<f64> { t.into_data().convert::<f64>().try_to_vec::<f64>().expect("f64 data") };
        Hyper {
            lengthscale: v(self.log_lengthscale.val().exp()),
            signal_var: v(self.log_signal_var.val().exp())[0],
            noise_var: v(self.log_noise_var.val().exp())[0] + NOISE_FLOOR,
        }
    }

    /// Embeds row-major inputs (n × width) in batches, without autodiff.
    pub fn embed(&self, x: &[f32], width: usize) -> Vec<f64> {
        let n = x.len() / width;
        self.embed_tensor(Tensor::<2>::from_data(
            TensorData::new(x.to_vec(), [n, width]),
            &Device::flex(),
        ))
    }

    /// Embeds inputs already in a (plain, not autodiff) tensor: the candidates
    /// stay one tensor for the whole session instead of being copied each step.
    pub fn embed_tensor(&self, x: Tensor<2>) -> Vec<f64> {
        let z = self.valid().extractor.forward(x);
        z.into_data().convert::<f64>().try_to_vec::<f64>().expect("f64 data")
    }
}

/// Settings of one fit.
#[derive(Debug, Clone, Copy)]
pub struct FitSettings {
    pub learning_rate: f64,
    pub max_steps: usize,
    /// Stop once −log p changes by less than this (relative) for `patience` steps.
    pub tolerance: f64,
    pub patience: usize,
}

/// A deep kernel being trained, warm between calls.
#[derive(Clone)]
pub struct DklModel {
    device: Device,
    model: DeepKernel,
    optim: ModuleOptimizer,
    width: usize,
}

/// What one fit did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitReport {
    pub steps: usize,
    pub nll: f64,
}

impl DklModel {
    /// A freshly initialised model; the same seed gives the same weights.
    pub fn new_seeded(width: usize, hidden: &[usize], embedding: usize, device: Device, seed: u64) -> Self {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let model = DeepKernel::new(width, hidden, embedding, &device, &mut rng);
        Self {
            device,
            model,
            optim: AdamConfig::new().init(),
            width,
        }
    }

    pub fn kernel(&self) -> &DeepKernel {
        &self.model
    }

    /// Continues the fit on inputs `x` (n × width) and targets `y`.
    pub fn fit(&mut self, x: &[f32], y: &[f64], settings: FitSettings) -> Result<FitReport, NotPositiveDefinite> {
        let n = y.len();
        let xt = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [n, self.width]), &self.device);
        let d = self.model.embedding_dim();
        let mut last = f64::INFINITY;
        let mut calm = 0;
        let mut steps = 0;
        let mut nll = f64::NAN;
        for _ in 0..settings.max_steps {
            let z = self.model.extractor.forward(xt.clone());
            let z_host: Vec<f64> = z.to_data().convert::<f64>().try_to_vec::<f64>().expect("f64 data");
            let hyper = self.model.hyper();
            let pieces = gp::covariance_and_slope(&z_host, d, &hyper);
            let (g, value) = gp::nll_gradient_wrt_k(&pieces.k, y)?;
            nll = value;
            let gradient = gp::kernel_gradient(&pieces, &hyper, &g, NOISE_FLOOR);
            let loss = self.model.surrogate(z, &gradient) + self.model.neg_log_prior();
            let grads = GradientsParams::from_grads(loss.backward(), &self.model);
            self.model = self.optim.step(settings.learning_rate, self.model.clone(), grads);
            steps += 1;
            let change = (last - nll).abs() / (1.0 + nll.abs());
            last = nll;
            if change < settings.tolerance {
                calm += 1;
                if calm >= settings.patience {
                    break;
                }
            } else {
                calm = 0;
            }
        }
        Ok(FitReport { steps, nll })
    }

    /// Conditions the GP on the training data with the current weights.
    pub fn posterior(&self, x: &[f32], y: &[f64]) -> Result<Posterior, NotPositiveDefinite> {
        let d = self.model.embedding_dim();
        let z = self.model.embed(x, self.width);
        gp::condition(&z, d, y, &self.model.hyper())
    }

    pub fn embed(&self, x: &[f32]) -> Vec<f64> {
        self.model.embed(x, self.width)
    }

    pub fn embed_tensor(&self, x: Tensor<2>) -> Vec<f64> {
        self.model.embed_tensor(x)
    }

    /// The feature extractor's weights, for batched inference (see `infer`).
    pub fn dense_layers(&self) -> Vec<crate::ml::infer::Dense> {
        self.model.extractor.dense_layers()
    }

    /// Embeds many inputs with the current weights, outside burn (see `infer`).
    pub fn embed_fast(&self, x: &[f32]) -> Vec<f64> {
        crate::ml::infer::forward(x, &self.model.extractor.dense_layers())
    }

    pub fn embedding_dim(&self) -> usize {
        self.model.embedding_dim()
    }
}

#[cfg(test)]
mod tests;
