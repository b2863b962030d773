//! Prediction from a conditioned GP: every candidate's mean, an upper bound
//! on its variance, and exact variances in batches with O(M·N) memory.

use super::*;

impl Posterior {
    pub fn len(&self) -> usize {
        self.alpha.len()
    }

    pub fn is_empty(&self) -> bool {
        self.alpha.is_empty()
    }

    /// The kernel between one test point and every training point, and the
    /// posterior mean there and the largest kernel value.
    #[allow(unsafe_code)] // the call below, see its SAFETY note
    pub(super) fn kernel_column(&self, test: &[f64], out: &mut [f64]) -> (f64, f64) {
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
                let col = crate::ml::column_mut(&mut kx, j);
                mean[start + j] = self.kernel_column(&z_test[(start + j) * d..(start + j + 1) * d], col).0;
            }
            // A sparse posterior solves the same columns against its second factor.
            let mut kx_dtc = self.dtc.as_ref().map(|_| kx.clone());
            // V = L⁻¹ K_x; var = σ_f² − ‖V_j‖².
            faer::linalg::triangular_solve::solve_lower_triangular_in_place(
                self.l.as_ref(),
                kx.as_mut(),
                faer::Par::Seq,
            );
            let mut explained: Vec<f64> = (0..b)
                .map(|j| crate::ml::column(&kx, j).iter().map(|v| v * v).sum::<f64>())
                .collect();
            if let (Some(dtc), Some(kx)) = (&self.dtc, kx_dtc.as_mut()) {
                // σ² k*ᵀ (σ²K_mm + K_mn K_nm)⁻¹ k*: what the inducing points
                // cannot pin down (see `sparse`).
                faer::linalg::triangular_solve::solve_lower_triangular_in_place(
                    dtc.l.as_ref(),
                    kx.as_mut(),
                    faer::Par::Seq,
                );
                for (j, e) in explained.iter_mut().enumerate() {
                    *e -= dtc.noise_var * crate::ml::column(kx, j).iter().map(|v| v * v).sum::<f64>();
                }
            }
            for (j, e) in explained.into_iter().enumerate() {
                var[start + j] = (self.signal_var - e).max(0.0);
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
