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

/// Matérn-5/2 of the scaled distance r: (1 + √5 r + 5/3 r²) e^{−√5 r}.
#[inline]
pub fn matern52(r: f64) -> f64 {
    (1.0 + SQRT5 * r + 5.0 / 3.0 * r * r) * (-SQRT5 * r).exp()
}

/// Scaled distance between two embedding points.
#[inline]
fn scaled_distance(a: &[f64], b: &[f64], inv_l: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .zip(inv_l)
        .map(|((x, y), il)| ((x - y) * il).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// The training covariance K = K_f + σ_n² I of row-major points (n × d).
pub fn train_covariance(z: &[f64], d: usize, h: &Hyper) -> Mat<f64> {
    let n = z.len() / d;
    let inv_l: Vec<f64> = h.lengthscale.iter().map(|l| 1.0 / l).collect();
    Mat::from_fn(n, n, |i, j| {
        let k = h.signal_var
            * matern52(scaled_distance(
                &z[i * d..(i + 1) * d],
                &z[j * d..(j + 1) * d],
                &inv_l,
            ));
        if i == j { k + h.noise_var } else { k }
    })
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
    z: Vec<f64>,
    inv_l: Vec<f64>,
    signal_var: f64,
    y_mean: f64,
    alpha: Vec<f64>,
    /// Lower Cholesky factor of K.
    l: Mat<f64>,
    /// Negative log marginal likelihood of the training targets.
    pub nll: f64,
}

/// Cholesky of K, α = K⁻¹(y − ȳ) and −log p(y).
pub fn condition(
    z: &[f64],
    d: usize,
    y: &[f64],
    h: &Hyper,
) -> Result<Posterior, NotPositiveDefinite> {
    let k = train_covariance(z, d, h);
    condition_on(k, z, d, y, h)
}

/// As [`condition`], with K already built (the fit builds it in burn).
pub fn condition_on(
    k: Mat<f64>,
    z: &[f64],
    d: usize,
    y: &[f64],
    h: &Hyper,
) -> Result<Posterior, NotPositiveDefinite> {
    let n = y.len();
    let y_mean = y.iter().sum::<f64>() / n.max(1) as f64;
    let llt = k.llt(Side::Lower).map_err(|_| NotPositiveDefinite {
        noise_var: h.noise_var,
    })?;
    let centred = Mat::from_fn(n, 1, |i, _| y[i] - y_mean);
    let alpha_m = llt.solve(&centred);
    let alpha: Vec<f64> = (0..n).map(|i| alpha_m[(i, 0)]).collect();
    let l = llt.L().to_owned();
    let log_det: f64 = (0..n).map(|i| 2.0 * l[(i, i)].ln()).sum();
    let fit: f64 = (0..n).map(|i| (y[i] - y_mean) * alpha[i]).sum();
    let nll = 0.5 * fit + 0.5 * log_det + 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln();
    Ok(Posterior {
        d,
        z: z.to_vec(),
        inv_l: h.lengthscale.iter().map(|l| 1.0 / l).collect(),
        signal_var: h.signal_var,
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
    let llt = k.llt(Side::Lower).map_err(|_| NotPositiveDefinite {
        noise_var: f64::NAN,
    })?;
    let y_mean = y.iter().sum::<f64>() / n.max(1) as f64;
    let centred = Mat::from_fn(n, 1, |i, _| y[i] - y_mean);
    let alpha = llt.solve(&centred);
    let kinv = llt.inverse();
    let l = llt.L();
    let log_det: f64 = (0..n).map(|i| 2.0 * l[(i, i)].ln()).sum();
    let fit: f64 = (0..n).map(|i| centred[(i, 0)] * alpha[(i, 0)]).sum();
    let nll = 0.5 * fit + 0.5 * log_det + 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln();
    let g = Mat::from_fn(n, n, |i, j| {
        0.5 * (kinv[(i, j)] - alpha[(i, 0)] * alpha[(j, 0)])
    });
    Ok((g, nll))
}

impl Posterior {
    pub fn len(&self) -> usize {
        self.alpha.len()
    }

    pub fn is_empty(&self) -> bool {
        self.alpha.is_empty()
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
            let mut kx = Mat::<f64>::from_fn(n, b, |i, j| {
                let t = &z_test[(start + j) * d..(start + j + 1) * d];
                self.signal_var
                    * matern52(scaled_distance(&self.z[i * d..(i + 1) * d], t, &self.inv_l))
            });
            for j in 0..b {
                mean[start + j] =
                    self.y_mean + (0..n).map(|i| kx[(i, j)] * self.alpha[i]).sum::<f64>();
            }
            // V = L⁻¹ K_x; var = σ_f² − ‖V_j‖².
            self.l.as_ref().solve_lower_triangular_in_place(kx.as_mut());
            for j in 0..b {
                let q: f64 = (0..n).map(|i| kx[(i, j)] * kx[(i, j)]).sum();
                var[start + j] = (self.signal_var - q).max(0.0);
            }
            start += b;
        }
        (mean, var)
    }

    /// [`Posterior::predict`] with the batches spread over the thread pool.
    pub fn predict_par(&self, z_test: &[f64], batch: usize) -> (Vec<f64>, Vec<f64>) {
        use rayon::prelude::*;
        let chunk = batch.max(1) * self.d;
        let parts: Vec<(Vec<f64>, Vec<f64>)> = z_test
            .par_chunks(chunk)
            .map(|c| self.predict(c, batch))
            .collect();
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
            let p = (c..n)
                .max_by(|&i, &j| m[i][c].abs().total_cmp(&m[j][c].abs()))
                .unwrap();
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
        let r = ((a[0] - b[0]).powi(2) / h.lengthscale[0].powi(2)
            + (a[1] - b[1]).powi(2) / h.lengthscale[1].powi(2))
        .sqrt();
        h.signal_var * (1.0 + 5f64.sqrt() * r + 5.0 * r * r / 3.0) * (-(5f64.sqrt()) * r).exp()
    }

    fn data() -> (Vec<f64>, Vec<f64>, Hyper) {
        let z: Vec<f64> = (0..24)
            .map(|k| ((k * 37 % 17) as f64 / 17.0) * 2.0 - 1.0)
            .collect();
        let y: Vec<f64> = (0..12).map(|k| (k as f64 * 0.7).sin()).collect();
        let h = Hyper {
            lengthscale: vec![0.4, 0.9],
            signal_var: 1.3,
            noise_var: 0.05,
        };
        (z, y, h)
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
