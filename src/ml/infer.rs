//! Batched inference of a trained feature extractor over every candidate.
//!
//! Scoring a decision embeds all ~14k candidate patches with the weights of the
//! moment. Burn's CPU backend does that in ~25 ms, a third of it in scalar
//! `expf` calls for tanh and in fresh page-faulted buffers; here the same
//! network runs as two faer matrix products per layer on both cores and a
//! tanh the compiler vectorises, in a few ms. Training stays in burn; this only
//! reads its weights.

use faer::{Accum, Mat, MatRef, Par};

/// One dense layer: `weight` is input × output, row-major (burn's layout).
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    pub inputs: usize,
    pub outputs: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// tanh(x) = 1 − 2/(e^{2x} + 1), with e^y from a range reduction and a
/// degree-7 polynomial: absolute error below 2e-7 (relative error grows near
/// 0, where 1 − 2/(e + 1) cancels), no branches, no calls.
#[inline(always)]
pub(crate) fn tanh_f32(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5·2²³: round to integer in the mantissa
    let y = (2.0 * x).clamp(-40.0, 40.0) * std::f32::consts::LOG2_E;
    let t = y + MAGIC;
    let k = t - MAGIC;
    let r = (y - k) * std::f32::consts::LN_2;
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    let scale = f32::from_bits((t.to_bits().wrapping_sub(MAGIC.to_bits()).wrapping_add(127)) << 23);
    let e = p * scale;
    1.0 - 2.0 / (e + 1.0)
}

#[inline(always)]
fn bias_tanh_portable(out: &mut [f32], bias: &[f32], activate: bool) {
    for row in out.chunks_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            let s = *v + b;
            *v = if activate { tanh_f32(s) } else { s };
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn bias_tanh_avx2(out: &mut [f32], bias: &[f32], activate: bool) {
    bias_tanh_portable(out, bias, activate)
}

#[allow(unsafe_code)] // the call below, see its SAFETY note
pub(crate) fn bias_tanh(out: &mut [f32], bias: &[f32], activate: bool) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked on the line above.
        return unsafe { bias_tanh_avx2(out, bias, activate) };
    }
    bias_tanh_portable(out, bias, activate)
}

/// Activation buffers kept between calls, so a decision does not page-fault
/// fresh megabytes every time.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    layers: Vec<Mat<f32>>,
}

/// Runs `rows` inputs (row-major, `layers[0].inputs` wide) through the layers,
/// tanh between them, and returns the outputs as f64, row-major.
pub fn forward(x: &[f32], layers: &[Dense]) -> Vec<f64> {
    forward_with(x, layers, &mut Workspace::default())
}

/// [`forward`] reusing the buffers of `ws`.
pub fn forward_with(x: &[f32], layers: &[Dense], ws: &mut Workspace) -> Vec<f64> {
    let Some(first) = layers.first() else { return Vec::new() };
    let rows = x.len() / first.inputs;
    ws.layers.resize_with(layers.len(), || Mat::<f32>::zeros(0, 0));
    for (k, layer) in layers.iter().enumerate() {
        // Activations live as (outputs × rows), one column per input: Wᵀ times
        // the previous layer's columns, no transposed copies anywhere. The
        // patches themselves are read in place as the columns of xᵀ.
        let (done, rest) = ws.layers.split_at_mut(k);
        let out = &mut rest[0];
        if out.nrows() != layer.outputs || out.ncols() != rows {
            *out = Mat::<f32>::zeros(layer.outputs, rows);
        }
        let weight_t = MatRef::from_row_major_slice(&layer.weight, layer.inputs, layer.outputs).transpose();
        let input = if k == 0 {
            MatRef::from_row_major_slice(x, rows, layer.inputs).transpose()
        } else {
            done[k - 1].as_ref()
        };
        faer::linalg::matmul::matmul(out.as_mut(), Accum::Replace, weight_t, input, 1.0, Par::rayon(0));
        let activate = k + 1 < layers.len();
        for j in 0..rows {
            bias_tanh(super::column_mut(out, j), &layer.bias, activate);
        }
    }
    let last = &ws.layers[layers.len() - 1];
    let mut result = Vec::with_capacity(rows * last.nrows());
    for j in 0..rows {
        result.extend(super::column(last, j).iter().map(|v| *v as f64));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tanh_is_accurate() {
        for k in -4000..4000 {
            let x = k as f32 * 0.005;
            assert!(
                (tanh_f32(x) - x.tanh()).abs() < 2e-6,
                "{x}: {} vs {}",
                tanh_f32(x),
                x.tanh()
            );
        }
        assert_eq!(tanh_f32(100.0), 1.0);
        assert_eq!(tanh_f32(-100.0), -1.0);
    }

    #[test]
    fn two_layers_by_hand() {
        let layers = vec![
            Dense {
                inputs: 2,
                outputs: 2,
                weight: vec![1.0, 0.5, -1.0, 2.0],
                bias: vec![0.1, -0.2],
            },
            Dense {
                inputs: 2,
                outputs: 1,
                weight: vec![2.0, -1.0],
                bias: vec![0.3],
            },
        ];
        let x = [0.5f32, 0.25, -1.0, 0.0];
        let out = forward(&x, &layers);
        for (r, o) in out.iter().enumerate() {
            let (a, b) = (x[2 * r], x[2 * r + 1]);
            let h0 = (a - b + 0.1).tanh();
            let h1 = (a * 0.5 + b * 2.0 - 0.2).tanh();
            let expect = 2.0 * h0 - h1 + 0.3;
            assert!((*o as f32 - expect).abs() < 1e-5, "{o} vs {expect}");
        }
    }
}
