//! The dual VAE in burn: the reference the fused pass is checked against
//! (same draws, same noise, same steps).

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::TensorData;

use super::init;
use super::settings::VaeSettings;
use super::training::Half;

fn linear(i: usize, o: usize, device: &Device, rng: &mut impl rand::Rng) -> Linear {
    let (weight, bias) = init::layer_draws(i, o, rng);
    let mut layer: Linear = LinearConfig::new(i, o).init(device);
    layer.weight = Param::from_tensor(Tensor::<2>::from_data(TensorData::new(weight, [i, o]), device));
    layer.bias = Some(Param::from_tensor(Tensor::<1>::from_data(
        TensorData::new(bias, [o]),
        device,
    )));
    layer
}

#[derive(Module, Debug)]
pub struct Encoder {
    hidden1: Linear,
    hidden2: Linear,
    mean: Linear,
    log_var: Linear,
}

impl Encoder {
    fn new(input: usize, hidden: usize, latent: usize, device: &Device, rng: &mut impl rand::Rng) -> Self {
        Self {
            hidden1: linear(input, hidden, device, rng),
            hidden2: linear(hidden, hidden, device, rng),
            mean: linear(hidden, latent, device, rng),
            log_var: linear(hidden, latent, device, rng),
        }
    }

    fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let h = crate::ml::tanh(self.hidden2.forward(crate::ml::tanh(self.hidden1.forward(x))));
        (self.mean.forward(h.clone()), self.log_var.forward(h))
    }
}

/// An MLP decoder; with `spatial`, the rotation/translation-aware decoder of
/// the published code (rVAE): three extra latent dimensions are an angle and a
/// shift applied to each pixel's coordinates, which go into the MLP with the
/// content latent, so the content latent need not encode orientation.
#[derive(Module, Debug)]
pub struct Decoder {
    hidden1: Linear,
    hidden2: Linear,
    out: Linear,
    spatial_side: usize,
}

impl Decoder {
    fn new(
        latent: usize,
        hidden: usize,
        output: usize,
        spatial_side: usize,
        device: &Device,
        rng: &mut impl rand::Rng,
    ) -> Self {
        let (input, out) = if spatial_side > 0 {
            (latent + 2, 1)
        } else {
            (latent, output)
        };
        Self {
            hidden1: linear(input, hidden, device, rng),
            hidden2: linear(hidden, hidden, device, rng),
            out: linear(hidden, out, device, rng),
            spatial_side,
        }
    }

    /// The output logits: the sigmoid is folded into the BCE (see `bce_sum`).
    fn mlp(&self, z: Tensor<2>) -> Tensor<2> {
        let h = crate::ml::tanh(self.hidden2.forward(crate::ml::tanh(self.hidden1.forward(z))));
        self.out.forward(h)
    }

    /// `z`: batch × latent (plus θ, dx, dy in front when spatial); returns logits.
    fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        if self.spatial_side == 0 {
            return self.mlp(z);
        }
        let [b, width] = z.dims();
        let side = self.spatial_side;
        let device = z.device();
        let pixels = side * side;
        let coords: Vec<f32> = init::pixel_grid(side).into_iter().flat_map(|(x, y)| [x, y]).collect();
        let grid = Tensor::<2>::from_data(TensorData::new(coords, [pixels, 2]), &device);
        let theta = z.clone().slice([0..b, 0..1]);
        let shift = z.clone().slice([0..b, 1..3]);
        let content = z.slice([0..b, 3..width]);
        let (cos, sin) = (theta.clone().cos(), theta.sin());
        let gx = grid.clone().slice([0..pixels, 0..1]).reshape([1, pixels]);
        let gy = grid.slice([0..pixels, 1..2]).reshape([1, pixels]);
        // Rotate and shift every pixel's coordinates, per sample: b × pixels.
        let x = cos.clone() * gx.clone() - sin.clone() * gy.clone() + shift.clone().slice([0..b, 0..1]);
        let y = sin * gx + cos * gy + shift.slice([0..b, 1..2]);
        let latent = width - 3;
        let content = content.reshape([b, 1, latent]).repeat_dim(1, pixels);
        let input = Tensor::cat(vec![x.reshape([b, pixels, 1]), y.reshape([b, pixels, 1]), content], 2)
            .reshape([b * pixels, latent + 2]);
        self.mlp(input).reshape([b, pixels])
    }
}

/// One half of the dual VAE: the image VAE (`adapter` absent) or the spectrum
/// VAE (with the adapter A that maps its latent mean into the image latent).
#[derive(Module, Debug)]
pub struct HalfVae {
    encoder: Encoder,
    decoder: Decoder,
    adapter: Option<Param<Tensor<2>>>,
    /// Leading latent dimensions that are the spatial decoder's θ, dx, dy.
    pose_dims: usize,
}

/// Σ BCE(σ(l), x) from the logits l, as −Σ log σ(l) + Σ (1 − x)·l (using
/// log σ(−l) = log σ(l) − l): one fused log-sigmoid instead of a sigmoid, a
/// clamp and two logs, and no log(0) for a saturated pixel. `one_minus_x` is
/// 1 − x, computed once.
fn bce_sum(logits: Tensor<2>, one_minus_x: Tensor<2>) -> Tensor<1> {
    (one_minus_x * logits.clone()).sum() - burn::tensor::activation::log_sigmoid(logits).sum()
}

fn kl_sum(mean: Tensor<2>, log_var: Tensor<2>) -> Tensor<1> {
    ((log_var.clone() + 1.0) - mean.clone() * mean - log_var.exp()).sum() * -0.5
}

impl HalfVae {
    pub(super) fn image(
        width: usize,
        patch_side: usize,
        s: &VaeSettings,
        device: &Device,
        rng: &mut impl rand::Rng,
    ) -> Self {
        let pose_dims = if s.spatial_decoder { 3 } else { 0 };
        Self {
            encoder: Encoder::new(width, s.hidden, s.latent + pose_dims, device, rng),
            decoder: Decoder::new(
                s.latent,
                s.hidden,
                width,
                if s.spatial_decoder { patch_side } else { 0 },
                device,
                rng,
            ),
            adapter: None,
            pose_dims,
        }
    }

    pub(super) fn spectrum(width: usize, s: &VaeSettings, device: &Device, rng: &mut impl rand::Rng) -> Self {
        Self {
            encoder: Encoder::new(width, s.hidden, s.latent, device, rng),
            decoder: Decoder::new(s.latent, s.hidden, width, 0, device, rng),
            adapter: Some(Param::from_tensor(Tensor::<2>::from_data(
                TensorData::new(init::identity(s.latent), [s.latent, s.latent]),
                device,
            ))),
            pose_dims: 0,
        }
    }

    /// The latent mean as it enters the alignment term: the image's content
    /// part, or the spectrum's mean mapped by A.
    fn view(&self, mean: Tensor<2>) -> Tensor<2> {
        let [b, w] = mean.dims();
        let content = if self.pose_dims > 0 {
            mean.slice([0..b, self.pose_dims..w])
        } else {
            mean
        };
        match &self.adapter {
            Some(a) => content.matmul(a.val()),
            None => content,
        }
    }

    /// Reconstruction + β·KL (summed over the batch) and the alignment view.
    /// `one_minus_x` is 1 − x.
    fn forward(
        &self,
        x: Tensor<2>,
        one_minus_x: Tensor<2>,
        eps: Tensor<2>,
        beta: f64,
    ) -> (Tensor<1>, Tensor<1>, Tensor<2>) {
        let (mean, log_var) = self.encoder.forward(x);
        let z = mean.clone() + (log_var.clone() * 0.5).exp() * eps;
        let recon = bce_sum(self.decoder.forward(z), one_minus_x);
        let kl = kl_sum(mean.clone(), log_var);
        (recon.clone() + kl * beta, recon, self.view(mean))
    }
}

fn rows_of(t: Tensor<2>) -> Vec<Vec<f32>> {
    let [n, d] = t.dims();
    let v: Vec<f32> = t.into_data().convert::<f32>().try_to_vec().expect("f32 data");
    (0..n).map(|i| v[i * d..(i + 1) * d].to_vec()).collect()
}

/// The burn model with its optimiser and the graph of the last forward pass.
pub(super) struct BurnHalf {
    /// Always present; an Option so that a step can move it into Adam.
    model: Option<HalfVae>,
    optim: ModuleOptimizer,
    /// The samples the next pass sees (every one, or a mini-batch) and 1 − x.
    x: Tensor<2>,
    one_minus_x: Tensor<2>,
    graph: Option<(Tensor<1>, Tensor<2>)>,
    /// Every sample, n × width, for choosing mini-batches.
    data: Vec<f32>,
    width: usize,
}

/// `rows` as a tensor, and 1 − `rows`.
fn with_complement(rows: Vec<f32>, width: usize) -> (Tensor<2>, Tensor<2>) {
    let device = crate::ml::device();
    let n = rows.len() / width;
    let one_minus: Vec<f32> = rows.iter().map(|v| 1.0 - v).collect();
    (
        Tensor::<2>::from_data(TensorData::new(rows, [n, width]), &device),
        Tensor::<2>::from_data(TensorData::new(one_minus, [n, width]), &device),
    )
}

impl BurnHalf {
    pub(super) fn new(model: HalfVae, data: Vec<f32>, width: usize) -> Self {
        let (x, one_minus_x) = with_complement(data.clone(), width);
        Self {
            model: Some(model),
            optim: AdamConfig::new().init(),
            x,
            one_minus_x,
            graph: None,
            data,
            width,
        }
    }
}

fn scalar_of(t: Tensor<1>) -> f64 {
    t.into_data().convert::<f32>().try_to_vec::<f32>().expect("f32 data")[0] as f64
}

impl Half for BurnHalf {
    fn select(&mut self, rows: Option<&[usize]>) {
        let w = self.width;
        let chosen = match rows {
            Some(rows) => rows
                .iter()
                .flat_map(|&r| self.data[r * w..(r + 1) * w].iter().copied())
                .collect(),
            None => self.data.clone(),
        };
        (self.x, self.one_minus_x) = with_complement(chosen, w);
    }

    fn forward(&mut self, eps: Vec<f32>, beta: f64, _want_loss: bool) -> (f64, f64, Vec<f32>) {
        let n = self.x.dims()[0];
        let width = eps.len() / n;
        let eps = Tensor::<2>::from_data(TensorData::new(eps, [n, width]), &self.x.device());
        let model = self.model.as_ref().expect("model");
        let (own, rec, view) = model.forward(self.x.clone(), self.one_minus_x.clone(), eps, beta);
        let mine: Vec<f32> = view.to_data().convert::<f32>().try_to_vec().expect("f32 data");
        let own_value = scalar_of(own.clone());
        self.graph = Some((own, view));
        (own_value, scalar_of(rec), mine)
    }

    fn step(&mut self, g: Vec<f32>, s: &VaeSettings) {
        let Some((own, view)) = self.graph.take() else { return };
        let n = self.x.dims()[0];
        // The surrogate (constant ⊙ view) has exactly the alignment's subgradient.
        let g = Tensor::<2>::from_data(TensorData::new(g, view.dims()), &self.x.device());
        let total = (own + (view * g).sum() * s.gamma) / n as f64;
        let model = self.model.take().expect("model");
        let grads = GradientsParams::from_grads(total.backward(), &model);
        self.model = Some(self.optim.step(s.learning_rate, model, grads));
    }

    /// The reference gives no predictor: it is only ever compared with the
    /// fused pass, whose weights the predictor reads.
    fn finish(self) -> (Vec<Vec<f32>>, Option<super::predictor::HalfWeights>) {
        let valid = self.model.expect("model").valid();
        let (mean, _) = valid.encoder.forward(self.x.valid());
        (rows_of(valid.view(mean)), None)
    }
}
