//! The exact Gaussian process of the deep kernel, on the learned embedding:
//! Matérn-5/2 ARD kernel, Gaussian noise, constant mean (the mean of the
//! targets). Factorised with faer; predictions in batches with O(M·N) memory,
//! never the M×M covariance.
//!
//! Rooms: `kernel` (Matérn-5/2 ARD and its gradients), this file (conditioning
//! on the training points), `predict` (mean and variance of candidates).

mod kernel;
mod predict;
mod sparse;

pub use kernel::*;
pub use sparse::{Sparse, farthest_points};

use faer::linalg::solvers::{DenseSolveCore, Solve};
use faer::{Mat, Side};

/// Why a GP could not be fitted.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the kernel matrix is not positive definite (noise {noise_var:e})")]
pub struct NotPositiveDefinite {
    pub noise_var: f64,
}

/// A GP conditioned on training data: everything prediction needs.
#[derive(Clone)]
pub struct Posterior {
    d: usize,
    /// Training points scaled by 1/ℓ, one vector per dimension (contiguous
    /// columns make the kernel loop vectorise).
    scaled: Vec<Vec<f64>>,
    inv_l: Vec<f64>,
    signal_var: f64,
    noise_var: f64,
    y_mean: f64,
    alpha: Vec<f64>,
    /// Lower Cholesky factor of K (of K_mm for a sparse posterior).
    l: Mat<f64>,
    /// A sparse posterior's second factor (see `sparse`); None for the exact GP.
    dtc: Option<Dtc>,
    /// Negative log marginal likelihood of the training targets (NaN for a
    /// sparse posterior, which is never compared on it).
    pub nll: f64,
}

/// The lower Cholesky factor of σ²K_mm + K_mn K_nm, and σ².
#[derive(Clone)]
struct Dtc {
    l: Mat<f64>,
    noise_var: f64,
}

/// Below a few hundred points rayon's start-up costs more than a second core
/// saves in a factorisation; above, both cores help.
fn parallelism_for(n: usize) {
    faer::set_global_parallelism(if n >= 400 { faer::Par::rayon(0) } else { faer::Par::Seq });
}

/// Cholesky of K, α = K⁻¹(y − ȳ) and −log p(y).
pub fn condition(z: &[f64], d: usize, y: &[f64], h: &Hyper) -> Result<Posterior, NotPositiveDefinite> {
    let k = train_covariance(z, d, h);
    condition_on(k, z, d, y, h)
}

/// As [`condition`], with K already built (the fit builds it in burn).
pub fn condition_on(k: Mat<f64>, z: &[f64], d: usize, y: &[f64], h: &Hyper) -> Result<Posterior, NotPositiveDefinite> {
    let n = y.len();
    parallelism_for(n);
    let y_mean = y.iter().sum::<f64>() / n.max(1) as f64;
    let llt = k
        .llt(Side::Lower)
        .map_err(|_| NotPositiveDefinite { noise_var: h.noise_var })?;
    let centred = Mat::from_fn(n, 1, |i, _| y[i] - y_mean);
    let alpha_m = llt.solve(&centred);
    let alpha: Vec<f64> = (0..n).map(|i| alpha_m[(i, 0)]).collect();
    let l = llt.L().to_owned();
    let log_det: f64 = (0..n).map(|i| 2.0 * l[(i, i)].ln()).sum();
    let fit: f64 = (0..n).map(|i| (y[i] - y_mean) * alpha[i]).sum();
    let nll = 0.5 * fit + 0.5 * log_det + 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln();
    let inv_l: Vec<f64> = h.lengthscale.iter().map(|l| 1.0 / l).collect();
    let scaled = scaled_columns(z, d, h);
    Ok(Posterior {
        d,
        scaled,
        inv_l,
        signal_var: h.signal_var,
        noise_var: h.noise_var,
        y_mean,
        alpha,
        l,
        dtc: None,
        nll,
    })
}

/// ∂(−log p)/∂K = ½(K⁻¹ − ααᵀ): with it, Σ G⊙K back-propagated through any
/// differentiable construction of K gives the exact gradient of −log p.
pub fn nll_gradient_wrt_k(k: &Mat<f64>, y: &[f64]) -> Result<(Mat<f64>, f64), NotPositiveDefinite> {
    let n = y.len();
    parallelism_for(n);
    let llt = k
        .llt(Side::Lower)
        .map_err(|_| NotPositiveDefinite { noise_var: f64::NAN })?;
    let y_mean = y.iter().sum::<f64>() / n.max(1) as f64;
    let centred = Mat::from_fn(n, 1, |i, _| y[i] - y_mean);
    let alpha = llt.solve(&centred);
    let kinv = llt.inverse();
    let l = llt.L();
    let log_det: f64 = (0..n).map(|i| 2.0 * l[(i, i)].ln()).sum();
    let fit: f64 = (0..n).map(|i| centred[(i, 0)] * alpha[(i, 0)]).sum();
    let nll = 0.5 * fit + 0.5 * log_det + 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln();
    let g = Mat::from_fn(n, n, |i, j| 0.5 * (kinv[(i, j)] - alpha[(i, 0)] * alpha[(j, 0)]));
    Ok((g, nll))
}

#[cfg(test)]
mod tests;
