//! The dual VAE: an image VAE on topography patches and a spectrum VAE on I–V
//! curves, tied by a learnable latent×latent matrix A applied to the spectral
//! mean and an L1 term γ·|z_img − z_spec·A|, so locations with similar
//! structure *and* similar response land together in one latent map.
//!
//! Both VAEs are MLPs (two hidden layers, tanh, sigmoid output, BCE
//! reconstruction, β-weighted KL), trained full batch with Adam. The model is
//! defined here in burn and trains through the fused pass of `vae_fused`
//! (same draws, same steps; 2–3× faster than burn's autodiff with the MLP
//! decoder, 4× with the spatial one).

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::TensorData;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use std::sync::atomic::{AtomicUsize, Ordering};

fn linear(i: usize, o: usize, device: &Device, rng: &mut impl rand::Rng) -> Linear {
    let (weight, bias) = super::vae_fused::layer_draws(i, o, rng);
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
        let h = super::tanh(self.hidden2.forward(super::tanh(self.hidden1.forward(x))));
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
        let h = super::tanh(self.hidden2.forward(super::tanh(self.hidden1.forward(z))));
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
        let coords: Vec<f32> = super::vae_fused::pixel_grid(side)
            .into_iter()
            .flat_map(|(x, y)| [x, y])
            .collect();
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
    fn image(width: usize, patch_side: usize, s: &VaeSettings, device: &Device, rng: &mut impl rand::Rng) -> Self {
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

    fn spectrum(width: usize, s: &VaeSettings, device: &Device, rng: &mut impl rand::Rng) -> Self {
        Self {
            encoder: Encoder::new(width, s.hidden, s.latent, device, rng),
            decoder: Decoder::new(s.latent, s.hidden, width, 0, device, rng),
            adapter: Some(Param::from_tensor(Tensor::<2>::from_data(
                TensorData::new(super::vae_fused::identity(s.latent), [s.latent, s.latent]),
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

/// What one half hands the other after its forward pass each epoch.
struct Exchange {
    view: Vec<f32>,
    own_loss: f64,
    recon: f64,
}

/// One half as the training loop drives it: a forward pass with given noise,
/// then one optimiser step with the alignment term's subgradient on its view.
trait Half {
    /// Σ (reconstruction + β·KL), Σ reconstruction (either may be NaN unless
    /// `want_loss`), and the alignment view, n × latent row-major.
    fn forward(&mut self, eps: Vec<f32>, beta: f64, want_loss: bool) -> (f64, f64, Vec<f32>);
    /// Back-propagates (own loss + γ·Σ g ⊙ view)/n and steps the optimiser.
    fn step(&mut self, g: Vec<f32>, s: &VaeSettings);
    /// The noise-free alignment view of every sample.
    fn view(self) -> Vec<Vec<f32>>;
}

/// The burn model with its optimiser and the graph of the last forward pass.
struct BurnHalf {
    /// Always present; an Option so that a step can move it into Adam.
    model: Option<HalfVae>,
    optim: ModuleOptimizer,
    x: Tensor<2>,
    one_minus_x: Tensor<2>,
    graph: Option<(Tensor<1>, Tensor<2>)>,
}

impl BurnHalf {
    fn new(model: HalfVae, data: Vec<f32>, width: usize) -> Self {
        let device = super::device();
        let n = data.len() / width;
        let one_minus_x: Vec<f32> = data.iter().map(|v| 1.0 - v).collect();
        Self {
            model: Some(model),
            optim: AdamConfig::new().init(),
            x: Tensor::<2>::from_data(TensorData::new(data, [n, width]), &device),
            one_minus_x: Tensor::<2>::from_data(TensorData::new(one_minus_x, [n, width]), &device),
            graph: None,
        }
    }
}

fn scalar_of(t: Tensor<1>) -> f64 {
    t.into_data().convert::<f32>().try_to_vec::<f32>().expect("f32 data")[0] as f64
}

impl Half for BurnHalf {
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

    fn view(self) -> Vec<Vec<f32>> {
        let valid = self.model.expect("model").valid();
        let (mean, _) = valid.encoder.forward(self.x.valid());
        rows_of(valid.view(mean))
    }
}

impl Half for super::vae_fused::FusedHalf {
    fn forward(&mut self, eps: Vec<f32>, beta: f64, want_loss: bool) -> (f64, f64, Vec<f32>) {
        let (own, rec, view) = super::vae_fused::FusedHalf::forward(self, &eps, beta, want_loss);
        (own, rec, view.to_vec())
    }

    fn step(&mut self, g: Vec<f32>, s: &VaeSettings) {
        super::vae_fused::FusedHalf::step(self, &g, s)
    }

    fn view(mut self) -> Vec<Vec<f32>> {
        super::vae_fused::FusedHalf::view(&mut self)
    }
}

/// Trains one half; `sign` is +1 for the image half and −1 for the spectrum
/// half, the sign with which its view enters |z_img − z_spec·A|.
#[allow(clippy::too_many_arguments)]
fn train_half(
    mut half: impl Half,
    n: usize,
    noise_width: usize,
    sign: f32,
    s: VaeSettings,
    noise_seed: u64,
    to_other: std::sync::mpsc::Sender<Exchange>,
    from_other: std::sync::mpsc::Receiver<Exchange>,
    epochs_done: &AtomicUsize,
) -> HalfResult {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(noise_seed);
    let (mut loss, mut recon, mut align) = (f64::NAN, f64::NAN, f64::NAN);
    for epoch in 0..s.epochs {
        let eps: Vec<f32> = (0..n * noise_width).map(|_| StandardNormal.sample(&mut rng)).collect();
        let (own_value, rec_value, mine) = half.forward(eps, s.beta, epoch + 1 == s.epochs);
        // Both halves see the same two views, so both compute the same signs.
        let _ = to_other.send(Exchange {
            view: mine.clone(),
            own_loss: own_value,
            recon: rec_value,
        });
        let Ok(theirs) = from_other.recv() else { break };
        let (img, spec) = if sign > 0.0 {
            (&mine, &theirs.view)
        } else {
            (&theirs.view, &mine)
        };
        let diff_sign: Vec<f32> = img
            .iter()
            .zip(spec)
            .map(|(a, b)| sign * (a - b).signum() * ((a - b) != 0.0) as u8 as f32)
            .collect();
        align = img.iter().zip(spec).map(|(a, b)| (a - b).abs() as f64).sum::<f64>() / n as f64;
        loss = (own_value + theirs.own_loss) / n as f64 + s.gamma * align;
        recon = (rec_value + theirs.recon) / n as f64;
        half.step(diff_sign, &s);
        if sign > 0.0 {
            epochs_done.fetch_add(1, Ordering::Relaxed);
        }
    }
    (half.view(), loss, recon, align)
}

/// What one half's training returns: its views, and the last epoch's loss,
/// reconstruction and alignment.
type HalfResult = (Vec<Vec<f32>>, f64, f64, f64);

/// Trains the image half (made by `image`, noise `image_noise` wide) and the
/// spectrum half on two threads that meet once an epoch.
fn train_pair<I: Half, S: Half>(
    image: impl FnOnce() -> I + Send,
    spectrum: impl FnOnce() -> S + Send,
    n: usize,
    image_noise: usize,
    s: &VaeSettings,
    epochs_done: &AtomicUsize,
) -> (HalfResult, HalfResult) {
    let (to_spec, from_img) = std::sync::mpsc::channel();
    let (to_img, from_spec) = std::sync::mpsc::channel();
    let settings = *s;
    // One pool per half, a core each: burn's matrix products would otherwise
    // both ask the global pool for every core and trip over each other (the
    // fused MLP pass runs its products on the calling thread).
    let pool = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool")
    };
    // The spatial decoder's image half does ~100× the spectrum half's work
    // an epoch, so the spectrum half mostly waits: let the image half's
    // products use both cores.
    let image_threads = if s.spatial_decoder { 2 } else { 1 };
    let (img_pool, spec_pool) = (pool(image_threads), pool(1));
    std::thread::scope(|scope| {
        let a = scope.spawn(|| {
            img_pool.install(|| {
                let half = image();
                train_half(
                    half,
                    n,
                    image_noise,
                    1.0,
                    settings,
                    s.seed ^ 0x1111,
                    to_spec,
                    from_spec,
                    epochs_done,
                )
            })
        });
        let b = scope.spawn(|| {
            spec_pool.install(|| {
                let half = spectrum();
                train_half(
                    half,
                    n,
                    s.latent,
                    -1.0,
                    settings,
                    s.seed ^ 0x2222,
                    to_img,
                    from_img,
                    epochs_done,
                )
            })
        });
        (
            a.join().expect("image VAE thread"),
            b.join().expect("spectrum VAE thread"),
        )
    })
}

/// Which implementation trains the model: the fused pass of `vae_fused`, or
/// burn's autodiff (the reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Fused,
    Burn,
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

/// Trains a dual VAE on the views and returns the latent means.
///
/// The two halves train on two threads, one per core: they meet once an
/// epoch to trade their latent means for the alignment term, whose gradient
/// each half then adds to its own (the same gradients as one joint graph).
pub fn train(views: Views, s: &VaeSettings) -> Embedding {
    train_watched(views, s, &AtomicUsize::new(0))
}

/// [`train`], counting finished epochs in `epochs_done` for whoever shows
/// progress: a long training (the spatial decoder, many sessions) should not
/// look like a hang.
pub fn train_watched(views: Views, s: &VaeSettings, epochs_done: &AtomicUsize) -> Embedding {
    train_with(Pass::Fused, views, s, epochs_done)
}

/// [`train`] through burn's autodiff: the reference the fused pass is checked
/// against (same draws, same noise, same steps), and what the bench compares
/// it with.
pub fn train_reference(views: Views, s: &VaeSettings) -> Embedding {
    train_with(Pass::Burn, views, s, &AtomicUsize::new(0))
}

fn train_with(pass: Pass, views: Views, s: &VaeSettings, epochs_done: &AtomicUsize) -> Embedding {
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
    let ((zi, loss, recon, align), (zs, ..)) = match pass {
        Pass::Fused => {
            use super::vae_fused::FusedHalf;
            let side = if s.spatial_decoder { patch_side } else { 0 };
            let image = FusedHalf::new(images.to_vec(), image_width, false, side, s, &mut rng);
            let spectrum = FusedHalf::new(spectra.to_vec(), spectrum_width, true, 0, s, &mut rng);
            train_pair(move || image, move || spectrum, n, s.latent + pose, s, epochs_done)
        }
        Pass::Burn => {
            let device = super::device();
            let image = HalfVae::image(image_width, patch_side, s, &device, &mut rng);
            let spectrum = HalfVae::spectrum(spectrum_width, s, &device, &mut rng);
            let (img_data, spec_data) = (images.to_vec(), spectra.to_vec());
            train_pair(
                move || BurnHalf::new(image, img_data, image_width),
                move || BurnHalf::new(spectrum, spec_data, spectrum_width),
                n,
                s.latent + pose,
                s,
                epochs_done,
            )
        }
    };
    Embedding {
        z_image: zi,
        z_spectrum: zs,
        loss,
        reconstruction: recon,
        alignment: align,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n: usize) -> (Vec<f32>, Vec<f32>) {
        // Two kinds of sample: dark patches with flat curves, bright ones with ramps.
        let mut img = Vec::new();
        let mut spec = Vec::new();
        for i in 0..n {
            let bright = i % 2 == 0;
            img.extend((0..16).map(|k| if bright { 0.8 + 0.01 * k as f32 } else { 0.1 }));
            spec.extend((0..10).map(|k| if bright { k as f32 / 10.0 } else { 0.05 }));
        }
        (img, spec)
    }

    fn toy_views<'a>(img: &'a [f32], spec: &'a [f32]) -> Views<'a> {
        Views {
            images: img,
            patch_side: 4,
            spectra: spec,
            spectrum_width: 10,
        }
    }

    /// A weak KL weight: with 20 toy samples β = 1 collapses the posterior.
    fn settings(epochs: usize, spatial: bool) -> VaeSettings {
        VaeSettings {
            hidden: 32,
            latent: 2,
            epochs,
            learning_rate: 1e-2,
            beta: 0.1,
            gamma: 10.0,
            spatial_decoder: spatial,
            seed: 3,
        }
    }

    #[test]
    fn training_separates_two_kinds_and_aligns_the_views() {
        let (img, spec) = toy(20);
        let short = train(toy_views(&img, &spec), &settings(2, false));
        let long = train(toy_views(&img, &spec), &settings(1500, false));
        assert!(long.loss < short.loss, "{} !< {}", long.loss, short.loss);
        let centre = |rows: &[Vec<f32>], parity: usize| -> Vec<f32> {
            let pick: Vec<&Vec<f32>> = rows
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 2 == parity)
                .map(|(_, r)| r)
                .collect();
            (0..2)
                .map(|d| pick.iter().map(|r| r[d]).sum::<f32>() / pick.len() as f32)
                .collect()
        };
        let (a, b) = (centre(&long.z_image, 0), centre(&long.z_image, 1));
        let gap = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
        let spread = long
            .z_image
            .iter()
            .enumerate()
            .map(|(i, z)| {
                let c = if i % 2 == 0 { &a } else { &b };
                ((z[0] - c[0]).powi(2) + (z[1] - c[1]).powi(2)).sqrt()
            })
            .fold(0f32, f32::max);
        assert!(gap > 3.0 * spread, "kinds not separated: {a:?} {b:?}, spread {spread}");
        // The two views agree after alignment.
        let mismatch: f32 = long
            .z_image
            .iter()
            .zip(&long.z_spectrum)
            .map(|(p, q)| (p[0] - q[0]).abs() + (p[1] - q[1]).abs())
            .sum::<f32>()
            / 20.0;
        assert!(mismatch < gap, "views disagree by {mismatch} (gap {gap})");
    }

    #[test]
    fn the_fused_pass_trains_as_burn_does() {
        // Same seed, same draws, same noise: after a few Adam steps the two
        // implementations differ only by f32 rounding, with either decoder.
        let (img, spec) = toy(12);
        for spatial in [false, true] {
            let s = settings(6, spatial);
            let fused = train_with(Pass::Fused, toy_views(&img, &spec), &s, &AtomicUsize::new(0));
            let reference = train_reference(toy_views(&img, &spec), &s);
            for (a, b) in [
                (&fused.z_image, &reference.z_image),
                (&fused.z_spectrum, &reference.z_spectrum),
            ] {
                for (p, q) in a.iter().flatten().zip(b.iter().flatten()) {
                    assert!((p - q).abs() < 1e-4, "spatial {spatial}: fused {p} vs burn {q}");
                }
            }
            for (p, q) in [
                (fused.loss, reference.loss),
                (fused.reconstruction, reference.reconstruction),
                (fused.alignment, reference.alignment),
            ] {
                assert!(
                    (p - q).abs() < 1e-4 * q.abs().max(1.0),
                    "spatial {spatial}: fused {p} vs burn {q}"
                );
            }
            // And the embedding moved: the comparison is not of two starting points.
            let start = train_with(
                Pass::Fused,
                toy_views(&img, &spec),
                &settings(1, spatial),
                &AtomicUsize::new(0),
            );
            let moved = fused
                .z_image
                .iter()
                .flatten()
                .zip(start.z_image.iter().flatten())
                .map(|(p, q)| (p - q).abs())
                .fold(0f32, f32::max);
            assert!(
                moved > 1e-2,
                "spatial {spatial}: training did not move the embedding ({moved})"
            );
        }
    }

    #[test]
    fn same_seed_same_embedding_and_the_spatial_decoder_trains() {
        let (img, spec) = toy(8);
        let done = AtomicUsize::new(0);
        let a = train_watched(toy_views(&img, &spec), &settings(5, false), &done);
        assert_eq!(done.load(Ordering::Relaxed), 5, "every epoch counted once");
        let b = train(toy_views(&img, &spec), &settings(5, false));
        assert_eq!(a, b);
        let s = train(toy_views(&img, &spec), &settings(20, true));
        assert!(s.loss.is_finite());
        assert_eq!(s.z_image[0].len(), 2);
    }
}
