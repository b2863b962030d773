//! One half of the dual VAE (MLP encoder, MLP decoder) trained by a fused
//! forward and backward pass written out by hand.
//!
//! Why by hand: with 210 samples and 256 hidden units, burn's CPU backend
//! spends two thirds of a training epoch outside the matrix products — one
//! unfused op at a time (a tanh alone is six ops forward and more backward),
//! scalar libm `expf`/`log1pf` per element, a fresh page-faulted buffer per op,
//! and Adam's eight tensor ops per parameter. Here each layer is one faer
//! matrix product plus one vectorised pass, the buffers live as long as the
//! model, and Adam is one loop. The burn model (`reference`) stays the reference:
//! a test trains both from the same seed and compares them, with either
//! decoder.

mod layer;

use super::init::{identity, pixel_grid};
use super::predictor::HalfWeights;
use super::settings::VaeSettings;
use super::training::Half;
use layer::*;

/// Activations of the last forward pass (row-major, one row per sample) and
/// the gradient buffers of the backward pass, kept between epochs.
#[derive(Debug, Clone, Default)]
struct Buffers {
    a1: Vec<f32>,
    a2: Vec<f32>,
    mean: Vec<f32>,
    log_var: Vec<f32>,
    std: Vec<f32>,
    eps: Vec<f32>,
    z: Vec<f32>,
    b1: Vec<f32>,
    b2: Vec<f32>,
    logits: Vec<f32>,
    view: Vec<f32>,
    d_logits: Vec<f32>,
    d_b2: Vec<f32>,
    d_b1: Vec<f32>,
    d_z: Vec<f32>,
    d_mean: Vec<f32>,
    d_log_var: Vec<f32>,
    d_a2: Vec<f32>,
    d_a1: Vec<f32>,
    /// The spatial decoder's input, one row per (sample, pixel): the pixel's
    /// rotated and shifted coordinates, then the content latent.
    u: Vec<f32>,
    d_u: Vec<f32>,
}

/// One half: the image VAE (no adapter) or the spectrum VAE (adapter A).
#[derive(Debug, Clone)]
pub struct FusedHalf {
    hidden1: Layer,
    hidden2: Layer,
    mean: Layer,
    log_var: Layer,
    dec_hidden1: Layer,
    dec_hidden2: Layer,
    dec_out: Layer,
    /// latent × latent, applied to the spectral mean: view = mean·A.
    adapter: Option<Param>,
    /// The rotation/translation ("spatial") decoder's pixel grid, if it has one.
    spatial: Option<Vec<(f32, f32)>>,
    /// Content latent dimensions (the view's width).
    latent: usize,
    /// Leading latent dimensions that are the spatial decoder's θ, dx, dy.
    pose: usize,
    /// Every sample, n × width.
    x: Vec<f32>,
    /// The mini-batch's samples, gathered from `x`, while one is selected.
    batch: Option<Vec<f32>>,
    adam: Adam,
    buf: Buffers,
}

impl FusedHalf {
    /// Draws the weights as `HalfVae::image` / `HalfVae::spectrum` do (encoder
    /// hidden1, hidden2, mean, log-var, then decoder hidden1, hidden2, out), so
    /// one seed gives both paths the same start. `x` is n × width in [0, 1].
    /// `patch_side` > 0 gives the image half the spatial decoder: three more
    /// latent dimensions (θ, dx, dy) and a decoder that maps one pixel's
    /// coordinates and the content latent to that pixel.
    pub fn new(
        x: Vec<f32>,
        width: usize,
        adapter: bool,
        patch_side: usize,
        s: &VaeSettings,
        rng: &mut impl rand::Rng,
    ) -> Self {
        let (h, l) = (s.hidden, s.latent);
        let pose = if patch_side > 0 { 3 } else { 0 };
        let (dec_in, dec_out) = if patch_side > 0 { (l + 2, 1) } else { (l, width) };
        let hidden1 = Layer::init(width, h, rng);
        let hidden2 = Layer::init(h, h, rng);
        let mean = Layer::init(h, l + pose, rng);
        let log_var = Layer::init(h, l + pose, rng);
        // The spatial decoder's products have one row per pixel (256× the
        // MLP's): worth sharing across the pool the caller runs it in.
        let decoder = |layer: Layer| if patch_side > 0 { layer.across_pool() } else { layer };
        Self {
            hidden1,
            hidden2,
            mean,
            log_var,
            dec_hidden1: decoder(Layer::init(dec_in, h, rng)),
            dec_hidden2: decoder(Layer::init(h, h, rng)),
            dec_out: decoder(Layer::init(h, dec_out, rng)),
            adapter: adapter.then(|| Param::new(identity(l))),
            spatial: (patch_side > 0).then(|| pixel_grid(patch_side)),
            latent: l,
            pose,
            x,
            batch: None,
            adam: Adam { time: 0 },
            buf: Buffers::default(),
        }
    }

    /// Runs the encoder into the buffers: latent means, log-variances, and the
    /// means as they enter the alignment term (mean·A for the spectrum).
    fn encode(&mut self) {
        let b = &mut self.buf;
        let x = self.batch.as_deref().unwrap_or(&self.x);
        self.hidden1.forward(x, &mut b.a1, true);
        self.hidden2.forward(&b.a1, &mut b.a2, true);
        self.mean.forward(&b.a2, &mut b.mean, false);
        self.log_var.forward(&b.a2, &mut b.log_var, false);
        let (l, pose) = (self.latent, self.pose);
        let content = b.mean.chunks(l + pose).map(|m| &m[pose..]);
        b.view.clear();
        match &self.adapter {
            Some(a) => b.view.extend(
                content.flat_map(|m| (0..l).map(move |j| (0..l).map(|k| m[k] * a.value[k * l + j]).sum::<f32>())),
            ),
            None => b.view.extend(content.flatten()),
        }
    }

    /// The spatial decoder's input rows from the latent samples `z`.
    fn pixel_inputs(grid: &[(f32, f32)], z: &[f32], width: usize, u: &mut Vec<f32>) {
        u.clear();
        for zi in z.chunks(width) {
            let (sin, cos) = zi[0].sin_cos();
            for &(gx, gy) in grid {
                u.push(cos * gx - sin * gy + zi[1]);
                u.push(sin * gx + cos * gy + zi[2]);
                u.extend_from_slice(&zi[3..]);
            }
        }
    }

    /// ∂L/∂z from ∂L/∂u: the content gradients summed over a sample's pixels,
    /// and the shift's and angle's through the coordinate transform.
    fn pose_gradient(grid: &[(f32, f32)], z: &[f32], width: usize, d_u: &[f32], d_z: &mut Vec<f32>) {
        let row = width - 1;
        d_z.clear();
        d_z.resize(z.len(), 0.0);
        for ((zi, dz), du) in z
            .chunks(width)
            .zip(d_z.chunks_mut(width))
            .zip(d_u.chunks(grid.len() * row))
        {
            let (sin, cos) = zi[0].sin_cos();
            for (&(gx, gy), dp) in grid.iter().zip(du.chunks(row)) {
                let (dx, dy) = (dp[0], dp[1]);
                dz[0] += dx * (-sin * gx - cos * gy) + dy * (cos * gx - sin * gy);
                dz[1] += dx;
                dz[2] += dy;
                for (d, v) in dz[3..].iter_mut().zip(&dp[2..]) {
                    *d += v;
                }
            }
        }
    }

    /// The forward pass with noise `eps` (n × latent): returns this half's
    /// Σ reconstruction + β·KL and Σ reconstruction (NaN unless `want_loss`:
    /// only the last epoch's are reported), and the alignment view.
    pub fn forward(&mut self, eps: &[f32], beta: f64, want_loss: bool) -> (f64, f64, &[f32]) {
        self.encode();
        let b = &mut self.buf;
        b.eps.clear();
        b.eps.extend_from_slice(eps);
        b.std.clear();
        b.std.extend(b.log_var.iter().map(|v| (0.5 * v).exp()));
        b.z.clear();
        b.z.extend(b.mean.iter().zip(&b.std).zip(eps).map(|((m, s), e)| m + s * e));
        match &self.spatial {
            Some(grid) => {
                Self::pixel_inputs(grid, &b.z, self.latent + self.pose, &mut b.u);
                self.dec_hidden1.forward(&b.u, &mut b.b1, true);
            }
            None => self.dec_hidden1.forward(&b.z, &mut b.b1, true),
        }
        self.dec_hidden2.forward(&b.b1, &mut b.b2, true);
        self.dec_out.forward(&b.b2, &mut b.logits, false);
        if !want_loss {
            return (f64::NAN, f64::NAN, &b.view);
        }
        let recon = bce_sum(&b.logits, self.batch.as_deref().unwrap_or(&self.x));
        let kl = -0.5
            * b.mean
                .iter()
                .zip(&b.log_var)
                .map(|(&m, &v)| (1.0 + v - m * m - v.exp()) as f64)
                .sum::<f64>();
        (recon + beta * kl, recon, &b.view)
    }

    /// Back-propagates (own loss + γ·Σ g ⊙ view)/n from the last forward pass,
    /// where `g` (n × latent) is the alignment term's subgradient on this
    /// half's view, and takes one Adam step.
    pub fn step(&mut self, g: &[f32], s: &VaeSettings) {
        let l = self.latent;
        let x = self.batch.as_deref().unwrap_or(&self.x);
        let n = x.len() / self.hidden1.inputs;
        let scale = 1.0 / n as f32;
        let (beta, gamma) = (s.beta as f32, s.gamma as f32);
        let b = &mut self.buf;
        logit_gradient(&mut b.d_logits, &b.logits, x, scale);
        self.dec_out.backward(&b.b2, &b.d_logits, Some((&mut b.d_b2, false)));
        through_tanh(&mut b.d_b2, &b.b2);
        self.dec_hidden2.backward(&b.b1, &b.d_b2, Some((&mut b.d_b1, false)));
        through_tanh(&mut b.d_b1, &b.b1);
        let width = l + self.pose;
        match &self.spatial {
            Some(grid) => {
                self.dec_hidden1.backward(&b.u, &b.d_b1, Some((&mut b.d_u, false)));
                Self::pose_gradient(grid, &b.z, width, &b.d_u, &mut b.d_z);
            }
            None => self.dec_hidden1.backward(&b.z, &b.d_b1, Some((&mut b.d_z, false))),
        }
        // ∂/∂mean: through z, the KL's β·mean, and the alignment's γ·g (·Aᵀ)
        // on the content dimensions.
        b.d_mean.clear();
        b.d_mean
            .extend(b.d_z.iter().zip(&b.mean).map(|(dz, m)| dz + scale * beta * m));
        let pose = self.pose;
        let content = b.d_mean.chunks_mut(width).map(|row| &mut row[pose..]);
        match &mut self.adapter {
            Some(a) => {
                for (dm, gr) in content.zip(g.chunks(l)) {
                    for (k, dm) in dm.iter_mut().enumerate() {
                        *dm += scale * gamma * (0..l).map(|j| gr[j] * a.value[k * l + j]).sum::<f32>();
                    }
                }
                a.grad.fill(0.0);
                for (m, gr) in b.mean.chunks(l).zip(g.chunks(l)) {
                    for (row, mk) in a.grad.chunks_mut(l).zip(m) {
                        for (cell, gj) in row.iter_mut().zip(gr) {
                            *cell += scale * gamma * mk * gj;
                        }
                    }
                }
            }
            None => {
                for (dm, gv) in content.flatten().zip(g) {
                    *dm += scale * gamma * gv;
                }
            }
        }
        // ∂/∂log-var: z = mean + e^{v/2}·ε, and KL's β·½(e^v − 1).
        b.d_log_var.clear();
        b.d_log_var.extend(
            b.d_z
                .iter()
                .zip(&b.std)
                .zip(&b.eps)
                .map(|((dz, sd), e)| dz * e * 0.5 * sd + scale * beta * 0.5 * (sd * sd - 1.0)),
        );
        self.mean.backward(&b.a2, &b.d_mean, Some((&mut b.d_a2, false)));
        self.log_var.backward(&b.a2, &b.d_log_var, Some((&mut b.d_a2, true)));
        through_tanh(&mut b.d_a2, &b.a2);
        self.hidden2.backward(&b.a1, &b.d_a2, Some((&mut b.d_a1, false)));
        through_tanh(&mut b.d_a1, &b.a1);
        self.hidden1.backward(x, &b.d_a1, None);
        let adapter = self.adapter.iter_mut();
        let params = [
            &mut self.hidden1,
            &mut self.hidden2,
            &mut self.mean,
            &mut self.log_var,
            &mut self.dec_hidden1,
            &mut self.dec_hidden2,
            &mut self.dec_out,
        ]
        .into_iter()
        .flat_map(|layer| layer.params())
        .chain(adapter);
        self.adam.step(s.learning_rate, params);
    }

    /// The alignment view of every sample from the current weights, noise-free.
    pub fn view(&mut self) -> Vec<Vec<f32>> {
        self.encode();
        self.buf.view.chunks(self.latent).map(<[f32]>::to_vec).collect()
    }
}

impl Half for FusedHalf {
    fn select(&mut self, rows: Option<&[usize]>) {
        let width = self.hidden1.inputs;
        self.batch = rows.map(|rows| {
            let mut batch = self.batch.take().unwrap_or_default();
            batch.clear();
            for &r in rows {
                batch.extend_from_slice(&self.x[r * width..(r + 1) * width]);
            }
            batch
        });
    }

    fn forward(&mut self, eps: Vec<f32>, beta: f64, want_loss: bool) -> (f64, f64, Vec<f32>) {
        let (own, rec, view) = FusedHalf::forward(self, &eps, beta, want_loss);
        (own, rec, view.to_vec())
    }

    fn step(&mut self, g: Vec<f32>, s: &VaeSettings) {
        FusedHalf::step(self, &g, s)
    }

    fn finish(mut self) -> (Vec<Vec<f32>>, Option<HalfWeights>) {
        self.batch = None;
        let views = FusedHalf::view(&mut self);
        let dense = |layers: [&Layer; 3]| layers.iter().map(|l| l.dense()).collect();
        let weights = HalfWeights {
            encoder: dense([&self.hidden1, &self.hidden2, &self.mean]),
            decoder: dense([&self.dec_hidden1, &self.dec_hidden2, &self.dec_out]),
            adapter: self.adapter.as_ref().map(|a| a.value.clone()),
            pose: self.pose,
        };
        (views, Some(weights))
    }
}
