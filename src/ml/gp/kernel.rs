//! The Matérn-5/2 ARD kernel: its hyperparameters, the covariance of the
//! training points with its slope, and the kernel's part of the gradient of
//! the marginal likelihood.

use faer::Mat;

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

pub(super) const SQRT5: f64 = 2.236_067_977_499_79;

/// `a·b + c`, fused into one instruction where the caller is compiled with FMA
/// (`FUSED`); Rust never fuses on its own, and `mul_add` without the hardware
/// instruction is a slow library call, hence the switch.
#[inline(always)]
pub(super) fn mul_add<const FUSED: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FUSED { a.mul_add(b, c) } else { a * b + c }
}

/// e^x for x ≤ 0, to within a few ulp of `f64::exp`, written without branches
/// or calls so the compiler vectorises loops over it: scoring every candidate
/// evaluates the kernel millions of times, and libm's scalar `exp` was most of
/// that time. Below −708 it returns 0 (as e^x underflows there anyway).
#[inline(always)]
pub(super) fn exp_neg_with<const FUSED: bool>(x: f64) -> f64 {
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
pub(super) fn dot(a: &[f64], b: &[f64]) -> f64 {
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
pub(super) fn max_of(v: &[f64]) -> f64 {
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
pub(super) fn matern52_with<const FUSED: bool>(r: f64) -> f64 {
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
pub(super) fn scaled_columns(z: &[f64], d: usize, h: &Hyper) -> Vec<Vec<f64>> {
    let n = z.len() / d.max(1);
    (0..d)
        .map(|k| {
            let inv_l = 1.0 / h.lengthscale[k];
            (0..n).map(|i| z[i * d + k] * inv_l).collect()
        })
        .collect()
}

#[allow(unsafe_code)] // the call below, see its SAFETY note
pub(super) fn fill_covariance_columns(u: &[Vec<f64>], h: &Hyper, k: &mut Mat<f64>, slope: &mut Mat<f64>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, checked on the line above.
        return unsafe { covariance_columns_avx2(u, h, k, slope) };
    }
    covariance_columns::<false>(u, h, k, slope)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) fn covariance_columns_avx2(u: &[Vec<f64>], h: &Hyper, k: &mut Mat<f64>, slope: &mut Mat<f64>) {
    covariance_columns::<true>(u, h, k, slope)
}

#[inline(always)]
pub(super) fn covariance_columns<const FUSED: bool>(u: &[Vec<f64>], h: &Hyper, k: &mut Mat<f64>, slope: &mut Mat<f64>) {
    let n = k.nrows();
    for j in 0..n {
        let kc = crate::ml::column_mut(k, j);
        let sc = crate::ml::column_mut(slope, j);
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
    let g_dot_k: f64 = (0..n)
        .map(|j| dot(crate::ml::column(g, j), crate::ml::column(k, j)))
        .sum();
    KernelGradient {
        z: gz,
        log_lengthscale: g_log_l,
        // ∂K/∂log σ_f² = K_f = K − σ_n² I.
        log_signal_var: g_dot_k - h.noise_var * trace,
        log_noise_var: trace * (h.noise_var - noise_floor),
    }
}
