//! Structural similarity (SSIM) of topography patches, and the structural
//! novelty of every candidate: 1 − its highest SSIM to any measured patch,
//! updated with one new column per measurement, never recomputed from scratch.
//!
//! The SSIM is scikit-image's `structural_similarity` with a uniform 7×7
//! window, sample covariance and data range 1 (patches are in [0, 1]): the mean
//! over every window position that lies inside the patch.

use super::patches::PatchSet;
use rayon::prelude::*;

pub const WINDOW: usize = 7;
const C1: f32 = 0.01 * 0.01;
const C2: f32 = 0.03 * 0.03;

/// Window sums over all valid `WINDOW × WINDOW` positions, by separable running sums.
#[inline(always)]
fn window_sums(p: &[f32], side: usize, rows: &mut [f32], out: &mut [f32]) {
    let w = side + 1 - WINDOW;
    for r in 0..side {
        let line = &p[r * side..(r + 1) * side];
        let mut s: f32 = line[..WINDOW].iter().sum();
        rows[r * w] = s;
        for c in 1..w {
            s += line[c + WINDOW - 1] - line[c - 1];
            rows[r * w + c] = s;
        }
    }
    for c in 0..w {
        let mut s: f32 = (0..WINDOW).map(|r| rows[r * w + c]).sum();
        out[c] = s;
        for r in 1..w {
            s += rows[(r + WINDOW - 1) * w + c] - rows[(r - 1) * w + c];
            out[r * w + c] = s;
        }
    }
}

/// Per-window mean and sample variance of one patch.
#[derive(Debug, Clone)]
struct Moments {
    mean: Vec<f32>,
    var: Vec<f32>,
}

fn moments(p: &[f32], side: usize) -> Moments {
    let w = side + 1 - WINDOW;
    let n = (WINDOW * WINDOW) as f32;
    let mut s = vec![0f32; w * w];
    let mut ss = vec![0f32; w * w];
    let sq: Vec<f32> = p.iter().map(|v| v * v).collect();
    let mut rows = vec![0f32; side * w];
    window_sums(p, side, &mut rows, &mut s);
    window_sums(&sq, side, &mut rows, &mut ss);
    let mean: Vec<f32> = s.iter().map(|v| v / n).collect();
    let var = ss
        .iter()
        .zip(&mean)
        .map(|(q, m)| (q / n - m * m) * n / (n - 1.0))
        .collect();
    Moments { mean, var }
}

/// Buffers one thread reuses for every pair (no allocation or zeroing per pair).
struct Scratch {
    product: Vec<f32>,
    rows: Vec<f32>,
    sums: Vec<f32>,
}

impl Scratch {
    fn new(side: usize) -> Self {
        let w = side + 1 - WINDOW;
        Self {
            product: vec![0.0; side * side],
            rows: vec![0.0; side * w],
            sums: vec![0.0; w * w],
        }
    }
}

#[inline(always)]
fn ssim_with(x: &[f32], mx: &Moments, y: &[f32], my: &Moments, side: usize, scratch: &mut Scratch) -> f32 {
    let w = side + 1 - WINDOW;
    let n = (WINDOW * WINDOW) as f32;
    for ((p, a), b) in scratch.product.iter_mut().zip(x).zip(y) {
        *p = a * b;
    }
    window_sums(&scratch.product, side, &mut scratch.rows, &mut scratch.sums);
    let mut total = 0f32;
    for (k, s) in scratch.sums.iter().enumerate() {
        let (ux, uy) = (mx.mean[k], my.mean[k]);
        let cov = (s / n - ux * uy) * n / (n - 1.0);
        total += ((2.0 * ux * uy + C1) * (2.0 * cov + C2)) / ((ux * ux + uy * uy + C1) * (mx.var[k] + my.var[k] + C2));
    }
    total / (w * w) as f32
}

/// [`ssim_with`] compiled for AVX2 where the CPU has it (eight f32 lanes).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn ssim_avx2(x: &[f32], mx: &Moments, y: &[f32], my: &Moments, side: usize, scratch: &mut Scratch) -> f32 {
    ssim_with(x, mx, y, my, side, scratch)
}

#[allow(unsafe_code)] // the call below, see its SAFETY note
fn ssim_fast(x: &[f32], mx: &Moments, y: &[f32], my: &Moments, side: usize, scratch: &mut Scratch) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked on the line above.
        return unsafe { ssim_avx2(x, mx, y, my, side, scratch) };
    }
    ssim_with(x, mx, y, my, side, scratch)
}

/// SSIM of two square patches of side `side` (7 ≤ side ≤ 64).
pub fn ssim(x: &[f32], y: &[f32], side: usize) -> f32 {
    let mut scratch = Scratch::new(side);
    ssim_with(x, &moments(x, side), y, &moments(y, side), side, &mut scratch)
}

/// The structural novelty of every candidate, kept up to date incrementally.
#[derive(Clone)]
pub struct StructuralNovelty {
    side: usize,
    moments: Vec<Moments>,
    best: Vec<f32>,
    measured: usize,
}

impl StructuralNovelty {
    pub fn new(patches: &PatchSet) -> Self {
        let side = patches.side;
        assert!((WINDOW..=64).contains(&side), "patch side {side} outside 7..=64");
        let moments = (0..patches.len())
            .into_par_iter()
            .map(|k| moments(patches.patch(k), side))
            .collect();
        Self {
            side,
            moments,
            best: vec![f32::NEG_INFINITY; patches.len()],
            measured: 0,
        }
    }

    /// Adds one measured patch: one new SSIM per candidate.
    pub fn add(&mut self, patches: &PatchSet, measured: &[f32]) {
        let side = self.side;
        let my = moments(measured, side);
        self.best
            .par_iter_mut()
            .zip(self.moments.par_iter())
            .enumerate()
            .for_each_init(
                || Scratch::new(side),
                |scratch, (k, (best, mx))| {
                    let s = ssim_fast(patches.patch(k), mx, measured, &my, side, scratch);
                    if s > *best {
                        *best = s;
                    }
                },
            );
        self.measured += 1;
    }

    /// 1 − max SSIM to any measured patch (1 before anything is measured).
    pub fn novelty(&self, k: usize) -> f64 {
        if self.measured == 0 {
            1.0
        } else {
            (1.0 - self.best[k] as f64).clamp(0.0, 2.0)
        }
    }

    pub fn len(&self) -> usize {
        self.best.len()
    }

    /// How many measured patches have been added.
    pub fn measured(&self) -> usize {
        self.measured
    }

    pub fn is_empty(&self) -> bool {
        self.best.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(x: &[f32], y: &[f32], side: usize) -> f32 {
        let w = side + 1 - WINDOW;
        let n = (WINDOW * WINDOW) as f32;
        let mut total = 0.0;
        for r in 0..w {
            for c in 0..w {
                let (mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
                for dr in 0..WINDOW {
                    for dc in 0..WINDOW {
                        let (a, b) = (x[(r + dr) * side + c + dc], y[(r + dr) * side + c + dc]);
                        sx += a;
                        sy += b;
                        sxx += a * a;
                        syy += b * b;
                        sxy += a * b;
                    }
                }
                let (ux, uy) = (sx / n, sy / n);
                let k = n / (n - 1.0);
                let (vx, vy, cxy) = (
                    (sxx / n - ux * ux) * k,
                    (syy / n - uy * uy) * k,
                    (sxy / n - ux * uy) * k,
                );
                total += ((2.0 * ux * uy + C1) * (2.0 * cxy + C2)) / ((ux * ux + uy * uy + C1) * (vx + vy + C2));
            }
        }
        total / (w * w) as f32
    }

    fn patch(seed: u32) -> Vec<f32> {
        (0..256u32)
            .map(|k| (k.wrapping_mul(2654435761u32.wrapping_add(seed)) % 1000) as f32 / 1000.0)
            .collect()
    }

    #[test]
    fn matches_the_definition() {
        let (x, y) = (patch(1), patch(7));
        assert!((ssim(&x, &y, 16) - naive(&x, &y, 16)).abs() < 1e-4);
        assert!((ssim(&x, &x, 16) - 1.0).abs() < 1e-5);
        // skimage.metrics.structural_similarity(x, y, win_size=7, data_range=1.0)
        assert!((ssim(&x, &y, 16) - -0.068_545_91).abs() < 1e-4, "{}", ssim(&x, &y, 16));
    }

    #[test]
    fn novelty_drops_to_zero_where_measured() {
        let data: Vec<f32> = (0..4).flat_map(patch).collect();
        let set = PatchSet { side: 16, data };
        let mut sn = StructuralNovelty::new(&set);
        assert_eq!(sn.novelty(2), 1.0);
        sn.add(&set, set.patch(2));
        assert!(sn.novelty(2) < 1e-5);
        assert!(sn.novelty(0) > 0.1);
    }
}
