//! The machine learning: pure functions and small structs, no I/O, no async.

pub mod cluster;
pub mod consensus;
pub mod dkl;
pub mod gp;
pub mod iforest;
pub mod infer;
pub mod patches;
pub mod registration;
pub mod spectra;
pub mod ssim;
pub mod vae;

use burn::prelude::{Device, Tensor};

/// tanh as 1 − 2/(e^{2x} + 1): a few vectorised passes instead of the scalar
/// libm `tanhf` burn's CPU backend calls per element, which took a third of
/// the dual VAE's training time. Clamped where tanh is ±1 in f32 anyway.
pub fn tanh(x: Tensor<2>) -> Tensor<2> {
    let e = (x.clamp(-15.0, 15.0) * 2.0).exp();
    (e.clone() - 1.0) / (e + 1.0)
}

/// Column `j` of a matrix as a slice (an owned `Mat` is column-major).
pub(crate) fn column<T>(m: &faer::Mat<T>, j: usize) -> &[T] {
    m.col(j).try_as_col_major().expect("column-major").as_slice()
}

/// Column `j` of a matrix as a mutable slice.
pub(crate) fn column_mut<T>(m: &mut faer::Mat<T>, j: usize) -> &mut [T] {
    m.col_mut(j)
        .try_as_col_major_mut()
        .expect("column-major")
        .as_slice_mut()
}

/// The CPU device every model trains on.
pub fn device() -> Device {
    Device::flex().autodiff()
}
