//! The fused pass's building blocks: a parameter with its Adam moments, a
//! dense layer as one faer product plus one vectorised pass, and the loss's
//! gradients written out.

use super::super::init::layer_draws;
use faer::{Accum, MatMut, MatRef, Par};

/// A parameter tensor with its gradient and Adam moments, row-major.
#[derive(Debug, Clone)]
pub(super) struct Param {
    pub(super) value: Vec<f32>,
    pub(super) grad: Vec<f32>,
    pub(super) m: Vec<f32>,
    pub(super) v: Vec<f32>,
}

impl Param {
    pub(super) fn new(value: Vec<f32>) -> Self {
        let n = value.len();
        Self {
            value,
            grad: vec![0.0; n],
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }
}

/// burn's Adam (`AdamConfig::new()`: β₁ 0.9, β₂ 0.999, ε 1e-5, bias-corrected
/// the same way), so both paths take the same steps.
#[derive(Debug, Clone, Copy)]
pub(super) struct Adam {
    pub(super) time: i32,
}

impl Adam {
    const BETA_1: f32 = 0.9;
    const BETA_2: f32 = 0.999;
    const EPSILON: f32 = 1e-5;

    pub(super) fn step<'a>(&mut self, lr: f64, params: impl Iterator<Item = &'a mut Param>) {
        self.time += 1;
        let correction2 = (1.0 - Self::BETA_2.powi(self.time)).sqrt();
        let factor = correction2 / (1.0 - Self::BETA_1.powi(self.time));
        let eps = Self::EPSILON * correction2;
        let lr = lr as f32;
        for p in params {
            for (((w, g), m), v) in p.value.iter_mut().zip(&p.grad).zip(&mut p.m).zip(&mut p.v) {
                *m = *m * Self::BETA_1 + g * (1.0 - Self::BETA_1);
                *v = *v * Self::BETA_2 + g * g * (1.0 - Self::BETA_2);
                *w -= lr * (*m * factor) / (v.sqrt() + eps);
            }
        }
    }
}

/// A dense layer, `weight` inputs × outputs row-major: burn's `Linear` layout.
#[derive(Debug, Clone)]
pub(super) struct Layer {
    pub(super) inputs: usize,
    pub(super) outputs: usize,
    pub(super) weight: Param,
    pub(super) bias: Param,
    /// How its matrix products run: on the calling thread, or across the
    /// current rayon pool (the spatial decoder's one row per pixel).
    pub(super) par: Par,
}

pub(super) fn rows(x: &[f32], cols: usize) -> MatRef<'_, f32> {
    MatRef::from_row_major_slice(x, x.len() / cols, cols)
}

pub(super) fn rows_mut(x: &mut [f32], cols: usize) -> MatMut<'_, f32> {
    let r = x.len() / cols;
    MatMut::from_row_major_slice_mut(x, r, cols)
}

impl Layer {
    /// The layer's weights as inference reads them (same layout).
    pub(super) fn dense(&self) -> crate::ml::infer::Dense {
        crate::ml::infer::Dense {
            inputs: self.inputs,
            outputs: self.outputs,
            weight: self.weight.value.clone(),
            bias: self.bias.value.clone(),
        }
    }

    pub(super) fn init(inputs: usize, outputs: usize, rng: &mut impl rand::Rng) -> Self {
        let (weight, bias) = layer_draws(inputs, outputs, rng);
        Self {
            inputs,
            outputs,
            weight: Param::new(weight),
            bias: Param::new(bias),
            par: Par::Seq,
        }
    }

    pub(super) fn across_pool(mut self) -> Self {
        self.par = Par::rayon(0);
        self
    }

    /// `out` = x·W + b, then tanh when `activate`.
    pub(super) fn forward(&self, x: &[f32], out: &mut Vec<f32>, activate: bool) {
        let n = x.len() / self.inputs;
        out.resize(n * self.outputs, 0.0);
        faer::linalg::matmul::matmul(
            rows_mut(out, self.outputs),
            Accum::Replace,
            rows(x, self.inputs),
            rows(&self.weight.value, self.outputs),
            1.0,
            self.par,
        );
        crate::ml::infer::bias_tanh(out, &self.bias.value, activate);
    }

    /// Gradients of W and b from `d` = ∂L/∂out; with `dx`, also ∂L/∂x
    /// (written, or added when `accumulate`).
    pub(super) fn backward(&mut self, x: &[f32], d: &[f32], dx: Option<(&mut Vec<f32>, bool)>) {
        faer::linalg::matmul::matmul(
            rows_mut(&mut self.weight.grad, self.outputs),
            Accum::Replace,
            rows(x, self.inputs).transpose(),
            rows(d, self.outputs),
            1.0,
            self.par,
        );
        self.bias.grad.fill(0.0);
        for row in d.chunks(self.outputs) {
            for (g, v) in self.bias.grad.iter_mut().zip(row) {
                *g += v;
            }
        }
        if let Some((dx, accumulate)) = dx {
            dx.resize(d.len() / self.outputs * self.inputs, 0.0);
            faer::linalg::matmul::matmul(
                rows_mut(dx, self.inputs),
                if accumulate { Accum::Add } else { Accum::Replace },
                rows(d, self.outputs),
                rows(&self.weight.value, self.outputs).transpose(),
                1.0,
                self.par,
            );
        }
    }

    pub(super) fn params(&mut self) -> [&mut Param; 2] {
        [&mut self.weight, &mut self.bias]
    }
}

/// ∂/∂h of tanh(h), in place on `d`, from the activation a = tanh(h).
pub(super) fn through_tanh(d: &mut [f32], a: &[f32]) {
    for (d, a) in d.iter_mut().zip(a) {
        *d *= 1.0 - a * a;
    }
}

#[inline(always)]
pub(super) fn logit_gradient_portable(d: &mut [f32], logits: &[f32], x: &[f32], scale: f32) {
    for ((d, o), x) in d.iter_mut().zip(logits).zip(x) {
        // σ(o) = ½ + ½·tanh(o/2), with the vectorised tanh.
        *d = scale * (0.5 + 0.5 * crate::ml::infer::tanh_f32(0.5 * o) - x);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) fn logit_gradient_avx2(d: &mut [f32], logits: &[f32], x: &[f32], scale: f32) {
    logit_gradient_portable(d, logits, x, scale)
}

/// `d` = scale·(σ(logits) − x): the gradient of Σ BCE(σ(logits), x).
#[allow(unsafe_code)] // the call below, see its SAFETY note
pub(super) fn logit_gradient(d: &mut Vec<f32>, logits: &[f32], x: &[f32], scale: f32) {
    d.resize(logits.len(), 0.0);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked on the line above.
        return unsafe { logit_gradient_avx2(d, logits, x, scale) };
    }
    logit_gradient_portable(d, logits, x, scale)
}

/// Σ BCE(σ(o), x) = Σ (1 − x)·o − log σ(o), with log σ(o) = min(o, 0) − ln(1 + e^−|o|).
pub(super) fn bce_sum(logits: &[f32], x: &[f32]) -> f64 {
    logits
        .iter()
        .zip(x)
        .map(|(&o, &x)| {
            let (o, x) = (o as f64, x as f64);
            (1.0 - x) * o - (o.min(0.0) - (-o.abs()).exp().ln_1p())
        })
        .sum()
}
