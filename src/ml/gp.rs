//! The exact Gaussian process of the deep kernel, on the learned embedding:
//! Matérn-5/2 ARD kernel, Gaussian noise, constant mean (the mean of the
//! targets). Factorised with faer; predictions in batches with O(M·N) memory,
//! never the M×M covariance.

use faer::linalg::solvers::{DenseSolveCore, Solve};
use faer::{Mat, Side};

/// Kernel hyperparameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Hyper {
    /// One lengthscale per embedding dimension (ARD).
    pub lengthscale: Vec<f64>,
    /// Signal variance σ_f².
    pub signal_var: f64,
    /// Noise variance σ_n².
    pub noise_var: f64,
}

const SQRT5: f64 = 2.236_067_977_499_79;

/// `a·b + c`, fused into one instruction where the caller is compiled with FMA
/// (`FUSED`); Rust never fuses on its own, and `mul_add` without the hardware
/// instruction is a slow library call, hence the switch.
#[inline(always)]
fn mul_add<const FUSED: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FUSED { a.mul_add(b, c) } else { a * b + c }
}

/// e^x for x ≤ 0, to within a few ulp of `f64::exp`, written without branches
/// or calls so the compiler vectorises loops over it: scoring every candidate
/// evaluates the kernel millions of times, and libm's scalar `exp` was most of
/// that time. Below −708 it returns 0 (as e^x underflows there anyway).
#[inline(always)]
fn exp_neg_with<const FUSED: bool>(x: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    // 1.5·2⁵² rounds to the nearest integer in the low mantissa bits, with no
    // call to `round` (which baseline x86-64 cannot inline, let alone vectorise).
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    let x = x.max(-708.0);
    let t = mul_add::<FUSED>(x, LOG2E, MAGIC);
    let k = t - MAGIC;
    let r = mul_add::<FUSED>(-k, LN2_LO, mul_add::<FUSED>(-k, LN2_HI, x));
    // Taylor series to r¹³ on |r| ≤ ln2/2: truncation below 1e-17.
    let mut p = 1.0 / 6_227_020_800.0;
    for c in [
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = mul_add::<FUSED>(p, r, c);
    }
    let scale = f64::from_bits(t.to_bits().wrapping_sub(MAGIC.to_bits()).wrapping_add(1023) << 52);
    let e = p * scale;
    if x > -708.0 { e } else { 0.0 }
}

/// Σ aᵢbᵢ with four running sums, so the adds do not wait on each other.
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// The largest value (0 for none), four lanes at a time.
#[inline(always)]
fn max_of(v: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let chunks = v.chunks_exact(4);
    let tail = chunks.remainder().iter().fold(0.0f64, |m, x| m.max(*x));
    for x in chunks {
        for k in 0..4 {
            acc[k] = acc[k].max(x[k]);
        }
    }
    acc.iter().fold(tail, |m, x| m.max(*x))
}

/// Matérn-5/2 of the scaled distance r: (1 + √5 r + 5/3 r²) e^{−√5 r}.
#[inline(always)]
fn matern52_with<const FUSED: bool>(r: f64) -> f64 {
    let s = SQRT5 * r;
    mul_add::<FUSED>(s, mul_add::<FUSED>(s, 1.0 / 3.0, 1.0), 1.0) * exp_neg_with::<FUSED>(-s)
}

/// The training covariance K = K_f + σ_n² I of row-major points (n × d).
pub fn train_covariance(z: &[f64], d: usize, h: &Hyper) -> Mat<f64> {
    covariance_and_slope(z, d, h).k
}

/// What one pass over the training pairs gives: K, the kernel's slope
/// S = σ_f² φ′(r)/r for every pair, and the points scaled by 1/ℓ (one vector per
/// dimension), all of which [`kernel_gradient`] needs.
#[derive(Debug, Clone)]
pub struct KernelPieces {
    pub k: Mat<f64>,
    pub slope: Mat<f64>,
    pub scaled: Vec<Vec<f64>>,
}

/// [`KernelPieces`] from one pass of exponentials, a column at a time so the
/// loops vectorise.
pub fn covariance_and_slope(z: &[f64], d: usize, h: &Hyper) -> KernelPieces {
    let n = z.len() / d.max(1);
    let u = scaled_columns(z, d, h);
    let mut k = Mat::<f64>::zeros(n, n);
    let mut slope = Mat::<f64>::zeros(n, n);
    fill_covariance_columns(&u, h, &mut k, &mut slope);
    KernelPieces { k, slope, scaled: u }
}

/// The points scaled by 1/ℓ, one contiguous vector per dimension.
fn scaled_columns(z: &[f64], d: usize, h: &Hyper) -> Vec<Vec<f64>> {
    let n = z.len() / d.max(1);
    (0..d)
        .map(|k| {
            let inv_l = 1.0 / h.lengthscale[k];
            (0..n).map(|i| z[i * d + k] * inv_l).collect()
        })
        .collect()
}

fn fill_covariance_columns(u: &[Vec<f64>], h: &Hyper, k: &mut Mat<f64>, slope: &mut Mat<f64>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, checked on the line above.
        return unsafe { covariance_columns_avx2(u, h, k, slope) };
    }
    covariance_columns::<false>(u, h, k, slope)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn covariance_columns_avx2(u: &[Vec<f64>], h: &Hyper, k: &mut Mat<f64>, slope: &mut Mat<f64>) {
    covariance_columns::<true>(u, h, k, slope)
}

#[inline(always)]
fn covariance_columns<const FUSED: bool>(u: &[Vec<f64>], h: &Hyper, k: &mut Mat<f64>, slope: &mut Mat<f64>) {
    let n = k.nrows();
    for j in 0..n {
        let kc = super::column_mut(k, j);
        let sc = super::column_mut(slope, j);
        for coords in u {
            let t = coords[j];
            for (o, c) in kc.iter_mut().zip(coords) {
                *o += (t - c) * (t - c);
            }
        }
        for (kv, sv) in kc.iter_mut().zip(sc.iter_mut()) {
            let s = SQRT5 * kv.sqrt();
            let e = exp_neg_with::<FUSED>(-s);
            *kv = h.signal_var * mul_add::<FUSED>(s, mul_add::<FUSED>(s, 1.0 / 3.0, 1.0), 1.0) * e;
            *sv = -h.signal_var * (5.0 / 3.0) * (1.0 + s) * e;
        }
        kc[j] += h.noise_var;
    }
}

/// Why a GP could not be fitted.
#[derive(Debug, thiserror::Error)]
#[error("the kernel matrix is not positive definite (noise {noise_var:e})")]
pub struct NotPositiveDefinite {
    pub noise_var: f64,
}

/// A GP conditioned on training data: everything prediction needs.
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
    /// Lower Cholesky factor of K.
    l: Mat<f64>,
    /// Negative log marginal likelihood of the training targets.
    pub nll: f64,
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

/// The gradient of −log p through the kernel, by the chain rule from
/// G = ∂(−log p)/∂K: with respect to every embedding coordinate, each log
/// lengthscale, the log signal variance and the log noise variance (the noise
/// above its floor `noise_floor`). O(n²·d), no matrices beyond G.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelGradient {
    /// ∂/∂z, row-major like z (n × d).
    pub z: Vec<f64>,
    pub log_lengthscale: Vec<f64>,
    pub log_signal_var: f64,
    pub log_noise_var: f64,
}

/// See [`KernelGradient`]. With u = z/ℓ, r = ‖uᵢ − uⱼ‖, K_f = σ_f² φ(r) and the
/// slope S = σ_f² φ′(r)/r = −5/3 σ_f² (1 + √5 r) e^{−√5 r} (finite at r = 0):
/// ∂K_f/∂zᵢₖ = Sᵢⱼ (uᵢₖ − uⱼₖ)/ℓₖ and ∂K_f/∂log ℓₖ = −Sᵢⱼ (uᵢₖ − uⱼₖ)². With
/// W = G⊙S every sum over pairs becomes a product of W with [1, uₖ, uₖ²]:
/// one n×n×(2d+1) matrix product instead of n² scalar steps.
pub fn kernel_gradient(pieces: &KernelPieces, h: &Hyper, g: &Mat<f64>, noise_floor: f64) -> KernelGradient {
    let KernelPieces { k, slope, scaled: u } = pieces;
    let (n, d) = (k.nrows(), u.len());
    let w = Mat::from_fn(n, n, |i, j| g[(i, j)] * slope[(i, j)]);
    let basis = Mat::from_fn(n, 1 + 2 * d, |i, c| match c {
        0 => 1.0,
        c if c <= d => u[c - 1][i],
        c => u[c - 1 - d][i] * u[c - 1 - d][i],
    });
    let mut m = Mat::<f64>::zeros(n, 1 + 2 * d);
    faer::linalg::matmul::matmul(
        m.as_mut(),
        faer::Accum::Replace,
        w.as_ref(),
        basis.as_ref(),
        1.0,
        faer::Par::Seq,
    );
    let mut gz = vec![0.0; n * d];
    let mut g_log_l = vec![0.0; d];
    for i in 0..n {
        let row_sum = m[(i, 0)];
        for kk in 0..d {
            let (ui, wu, wu2) = (u[kk][i], m[(i, 1 + kk)], m[(i, 1 + d + kk)]);
            // Σⱼ Wᵢⱼ(uᵢ − uⱼ) and Σⱼ Wᵢⱼ(uᵢ − uⱼ)²; Σ G⊙K counts (i, j) and (j, i).
            gz[i * d + kk] = 2.0 * (ui * row_sum - wu) / h.lengthscale[kk];
            g_log_l[kk] -= ui * ui * row_sum - 2.0 * ui * wu + wu2;
        }
    }
    let trace: f64 = (0..n).map(|i| g[(i, i)]).sum();
    let g_dot_k: f64 = (0..n).map(|j| dot(super::column(g, j), super::column(k, j))).sum();
    KernelGradient {
        z: gz,
        log_lengthscale: g_log_l,
        // ∂K/∂log σ_f² = K_f = K − σ_n² I.
        log_signal_var: g_dot_k - h.noise_var * trace,
        log_noise_var: trace * (h.noise_var - noise_floor),
    }
}

impl Posterior {
    pub fn len(&self) -> usize {
        self.alpha.len()
    }

    pub fn is_empty(&self) -> bool {
        self.alpha.is_empty()
    }

    /// The kernel between one test point and every training point, and the
    /// posterior mean there and the largest kernel value.
    fn kernel_column(&self, test: &[f64], out: &mut [f64]) -> (f64, f64) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA, checked on the line above.
            return unsafe { self.kernel_column_avx2(test, out) };
        }
        self.kernel_column_portable::<false>(test, out);
        (self.mean_from(out), max_of(out))
    }

    /// The same loops compiled for AVX2 and FMA: four lanes instead of SSE2's
    /// two and one instruction per Horner step, on the machines that have them
    /// (detected at run time, so the binary still runs on any x86-64).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn kernel_column_avx2(&self, test: &[f64], out: &mut [f64]) -> (f64, f64) {
        self.kernel_column_portable::<true>(test, out);
        (self.mean_from(out), max_of(out))
    }

    #[inline(always)]
    fn kernel_column_portable<const FUSED: bool>(&self, test: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        for (k, coords) in self.scaled.iter().enumerate() {
            let t = test[k] * self.inv_l[k];
            for (o, c) in out.iter_mut().zip(coords) {
                *o += (t - c) * (t - c);
            }
        }
        for o in out.iter_mut() {
            *o = self.signal_var * matern52_with::<FUSED>(o.sqrt());
        }
    }

    #[inline(always)]
    fn mean_from(&self, column: &[f64]) -> f64 {
        self.y_mean + dot(column, &self.alpha)
    }

    /// Posterior mean and latent variance at row-major test points (m × d),
    /// `batch` points at a time.
    pub fn predict(&self, z_test: &[f64], batch: usize) -> (Vec<f64>, Vec<f64>) {
        let d = self.d;
        let m = z_test.len() / d;
        let n = self.alpha.len();
        let mut mean = vec![0.0; m];
        let mut var = vec![0.0; m];
        let batch = batch.max(1);
        let mut start = 0;
        while start < m {
            let b = batch.min(m - start);
            let mut kx = Mat::<f64>::zeros(n, b);
            for j in 0..b {
                let col = super::column_mut(&mut kx, j);
                mean[start + j] = self.kernel_column(&z_test[(start + j) * d..(start + j + 1) * d], col).0;
            }
            // V = L⁻¹ K_x; var = σ_f² − ‖V_j‖².
            faer::linalg::triangular_solve::solve_lower_triangular_in_place(
                self.l.as_ref(),
                kx.as_mut(),
                faer::Par::Seq,
            );
            for j in 0..b {
                let col = super::column(&kx, j);
                var[start + j] = (self.signal_var - col.iter().map(|v| v * v).sum::<f64>()).max(0.0);
            }
            start += b;
        }
        (mean, var)
    }

    /// The mean at every test point, and an upper bound on each variance: the
    /// variance given only the most correlated training point (more data can
    /// only lower it). O(M·N) time, no solve.
    pub fn mean_and_variance_bound(&self, z_test: &[f64]) -> (Vec<f64>, Vec<f64>) {
        use rayon::prelude::*;
        let d = self.d;
        let n = self.alpha.len();
        let prior = self.signal_var + self.noise_var;
        z_test
            .par_chunks(256 * d)
            .map(|chunk| {
                let mut col = vec![0.0; n];
                let mut mean = Vec::with_capacity(chunk.len() / d);
                let mut bound = Vec::with_capacity(chunk.len() / d);
                for t in chunk.chunks(d) {
                    let (mu, best) = self.kernel_column(t, &mut col);
                    mean.push(mu);
                    bound.push((self.signal_var - best * best / prior).max(0.0));
                }
                (mean, bound)
            })
            .reduce(
                || (Vec::new(), Vec::new()),
                |mut a, b| {
                    a.0.extend(b.0);
                    a.1.extend(b.1);
                    a
                },
            )
    }

    /// [`Posterior::predict`] with the batches spread over the thread pool.
    pub fn predict_par(&self, z_test: &[f64], batch: usize) -> (Vec<f64>, Vec<f64>) {
        use rayon::prelude::*;
        let chunk = batch.max(1) * self.d;
        let parts: Vec<(Vec<f64>, Vec<f64>)> = z_test.par_chunks(chunk).map(|c| self.predict(c, batch)).collect();
        let mut mean = Vec::with_capacity(z_test.len() / self.d);
        let mut var = Vec::with_capacity(z_test.len() / self.d);
        for (m, v) in parts {
            mean.extend(m);
            var.extend(v);
        }
        (mean, var)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gauss–Jordan inverse, independent of faer, for the textbook check.
    fn inverse(a: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let n = a.len();
        let mut m: Vec<Vec<f64>> = a
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let mut r = row.clone();
                r.extend((0..n).map(|j| if i == j { 1.0 } else { 0.0 }));
                r
            })
            .collect();
        for c in 0..n {
            let p = (c..n).max_by(|&i, &j| m[i][c].abs().total_cmp(&m[j][c].abs())).unwrap();
            m.swap(c, p);
            let pv = m[c][c];
            for v in m[c].iter_mut() {
                *v /= pv;
            }
            for r in 0..n {
                if r != c {
                    let f = m[r][c];
                    let row_c = m[c].clone();
                    for (v, w) in m[r].iter_mut().zip(row_c) {
                        *v -= f * w;
                    }
                }
            }
        }
        m.into_iter().map(|r| r[n..].to_vec()).collect()
    }

    fn kernel(a: &[f64], b: &[f64], h: &Hyper) -> f64 {
        let r = ((a[0] - b[0]).powi(2) / h.lengthscale[0].powi(2) + (a[1] - b[1]).powi(2) / h.lengthscale[1].powi(2))
            .sqrt();
        h.signal_var * (1.0 + 5f64.sqrt() * r + 5.0 * r * r / 3.0) * (-(5f64.sqrt()) * r).exp()
    }

    fn data() -> (Vec<f64>, Vec<f64>, Hyper) {
        let z: Vec<f64> = (0..24).map(|k| ((k * 37 % 17) as f64 / 17.0) * 2.0 - 1.0).collect();
        let y: Vec<f64> = (0..12).map(|k| (k as f64 * 0.7).sin()).collect();
        let h = Hyper {
            lengthscale: vec![0.4, 0.9],
            signal_var: 1.3,
            noise_var: 0.05,
        };
        (z, y, h)
    }

    #[test]
    fn fast_exp_matches_std() {
        let mut worst = 0f64;
        for k in 0..200_000 {
            let x = -(k as f64) * 0.0035;
            let b = x.exp();
            for a in [exp_neg_with::<false>(x), exp_neg_with::<true>(x)] {
                worst = worst.max(((a - b) / b).abs());
            }
        }
        assert!(worst < 1e-14, "worst relative error {worst:e}");
        for fused in [exp_neg_with::<false>, exp_neg_with::<true>] {
            assert_eq!(fused(0.0), 1.0);
            assert_eq!(fused(-800.0), 0.0);
        }
    }

    #[test]
    fn posterior_matches_the_textbook() {
        let (z, y, h) = data();
        let post = condition(&z, 2, &y, &h).unwrap();
        let n = y.len();
        let pts: Vec<&[f64]> = (0..n).map(|i| &z[2 * i..2 * i + 2]).collect();
        let kmat: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| kernel(pts[i], pts[j], &h) + if i == j { h.noise_var } else { 0.0 })
                    .collect()
            })
            .collect();
        let kinv = inverse(&kmat);
        let ym = y.iter().sum::<f64>() / n as f64;
        let test: Vec<f64> = vec![0.1, -0.3, 0.9, 0.9, -1.0, 0.2, 0.35, 0.0];
        let (mean, var) = post.predict(&test, 3);
        for t in 0..4 {
            let x = &test[2 * t..2 * t + 2];
            let ks: Vec<f64> = pts.iter().map(|p| kernel(p, x, &h)).collect();
            let m: f64 = ym
                + (0..n)
                    .map(|i| ks[i] * (0..n).map(|j| kinv[i][j] * (y[j] - ym)).sum::<f64>())
                    .sum::<f64>();
            let v: f64 = h.signal_var
                - (0..n)
                    .map(|i| ks[i] * (0..n).map(|j| kinv[i][j] * ks[j]).sum::<f64>())
                    .sum::<f64>();
            assert!((mean[t] - m).abs() < 1e-6, "mean {} vs {m}", mean[t]);
            assert!((var[t] - v).abs() < 1e-6, "var {} vs {v}", var[t]);
        }
    }

    #[test]
    fn the_bound_is_a_bound_and_the_means_agree() {
        let (z, y, h) = data();
        let post = condition(&z, 2, &y, &h).unwrap();
        let test: Vec<f64> = (0..400).map(|k| ((k * 7 % 23) as f64 / 11.5) - 1.0).collect();
        let (mean, var) = post.predict(&test, 17);
        let (mean2, bound) = post.mean_and_variance_bound(&test);
        for k in 0..mean.len() {
            assert!((mean[k] - mean2[k]).abs() < 1e-12);
            assert!(bound[k] >= var[k] - 1e-12, "{} < {}", bound[k], var[k]);
        }
    }

    #[test]
    fn kernel_gradient_matches_finite_differences() {
        let (z, y, h) = data();
        let floor = 1e-4;
        let pieces = covariance_and_slope(&z, 2, &h);
        let (g, _) = nll_gradient_wrt_k(&pieces.k, &y).unwrap();
        let grad = kernel_gradient(&pieces, &h, &g, floor);
        let nll_at = |z: &[f64], h: &Hyper| condition(z, 2, &y, h).unwrap().nll;
        let eps = 1e-6;
        let fd = |f: &dyn Fn(f64) -> f64| (f(eps) - f(-eps)) / (2.0 * eps);
        let close = |what: &str, fd: f64, analytic: f64| {
            assert!(
                (fd - analytic).abs() < 1e-6 * (1.0 + fd.abs()),
                "{what}: fd {fd} vs {analytic}"
            )
        };
        for q in [0, 5, 11] {
            let f = |e: f64| {
                let mut z2 = z.clone();
                z2[q] += e;
                nll_at(&z2, &h)
            };
            close(&format!("z[{q}]"), fd(&f), grad.z[q]);
        }
        for k in 0..2 {
            let f = |e: f64| {
                let mut h2 = h.clone();
                h2.lengthscale[k] *= e.exp();
                nll_at(&z, &h2)
            };
            close(&format!("log lengthscale {k}"), fd(&f), grad.log_lengthscale[k]);
        }
        let f = |e: f64| {
            nll_at(
                &z,
                &Hyper {
                    signal_var: h.signal_var * e.exp(),
                    ..h.clone()
                },
            )
        };
        close("log signal variance", fd(&f), grad.log_signal_var);
        let f = |e: f64| {
            nll_at(
                &z,
                &Hyper {
                    noise_var: floor + (h.noise_var - floor) * e.exp(),
                    ..h.clone()
                },
            )
        };
        close("log noise variance", fd(&f), grad.log_noise_var);
    }

    #[test]
    fn gradient_through_g_matches_finite_differences() {
        let (z, y, h) = data();
        // d nll / d θ = Σ G ⊙ dK/dθ, here for each lengthscale, σ_f², σ_n² and one input coordinate.
        let k = train_covariance(&z, 2, &h);
        let (g, nll) = nll_gradient_wrt_k(&k, &y).unwrap();
        assert!((nll - condition(&z, 2, &y, &h).unwrap().nll).abs() < 1e-9);
        let nll_at = |z: &[f64], h: &Hyper| condition(z, 2, &y, h).unwrap().nll;
        let eps = 1e-6;
        type Perturb<'a> = Box<dyn Fn(f64) -> (Vec<f64>, Hyper) + 'a>;
        let perturbations: Vec<Perturb> = vec![
            Box::new(|e| {
                (
                    z.clone(),
                    Hyper {
                        lengthscale: vec![h.lengthscale[0] + e, h.lengthscale[1]],
                        ..h.clone()
                    },
                )
            }),
            Box::new(|e| {
                (
                    z.clone(),
                    Hyper {
                        lengthscale: vec![h.lengthscale[0], h.lengthscale[1] + e],
                        ..h.clone()
                    },
                )
            }),
            Box::new(|e| {
                (
                    z.clone(),
                    Hyper {
                        signal_var: h.signal_var + e,
                        ..h.clone()
                    },
                )
            }),
            Box::new(|e| {
                (
                    z.clone(),
                    Hyper {
                        noise_var: h.noise_var + e,
                        ..h.clone()
                    },
                )
            }),
            Box::new(|e| {
                let mut z2 = z.clone();
                z2[5] += e;
                (z2, h.clone())
            }),
        ];
        for (which, perturb) in perturbations.iter().enumerate() {
            let (zp, hp) = perturb(eps);
            let (zm, hm) = perturb(-eps);
            let fd = (nll_at(&zp, &hp) - nll_at(&zm, &hm)) / (2.0 * eps);
            let kp = train_covariance(&zp, 2, &hp);
            let km = train_covariance(&zm, 2, &hm);
            let n = y.len();
            let analytic: f64 = (0..n)
                .flat_map(|i| (0..n).map(move |j| (i, j)))
                .map(|(i, j)| g[(i, j)] * (kp[(i, j)] - km[(i, j)]) / (2.0 * eps))
                .sum();
            assert!(
                (fd - analytic).abs() < 1e-6 * (1.0 + fd.abs()),
                "parameter {which}: fd {fd} vs {analytic}"
            );
        }
    }
}
