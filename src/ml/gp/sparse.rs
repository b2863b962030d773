//! The GP past a few hundred measured points: the deterministic training
//! conditional (DTC; Seeger, Williams & Lawrence 2003, in the terms of
//! Quiñonero-Candela & Rasmussen 2005) on m inducing points chosen from the
//! measured set.
//!
//! All n curves still condition the prediction, through the m inducing values:
//!
//! ```text
//! A  = σ²K_mm + K_mn K_nm                       (m × m, Cholesky L_A)
//! μ* = ȳ + k*ᵀ A⁻¹ K_mn (y − ȳ)
//! v* = k** − k*ᵀ K_mm⁻¹ k* + σ² k*ᵀ A⁻¹ k*
//! ```
//!
//! A new curve adds one row to K_nm and a rank-one term k kᵀ to A: its
//! Cholesky factor is updated in O(m²) (faer's rank-r update), never
//! refactorised, so a decision costs O(n·m) for the targets plus O(M·m) for the
//! candidates instead of the exact GP's O(n³) + O(M·n). With m = n it is the
//! exact GP (a test holds it to that).
//!
//! The candidates' variance bound of the exact GP holds unchanged: every
//! inducing point is a measured point u, and DTC's cross-covariance with a
//! measured inducing point is the kernel itself (Q(*, u) = k(*, u)), so "the
//! variance given only the best-correlated measured point" still bounds the
//! variance from above, taken over the inducing points.

use super::{Dtc, Hyper, NotPositiveDefinite, Posterior, scaled_columns};
use faer::{Col, Mat, MatRef, Side};
use rayon::prelude::*;

/// A DTC posterior that grows by one curve at a time.
#[derive(Clone)]
pub struct Sparse {
    /// The predictor: kernel columns against the inducing points, its weights
    /// (`alpha` = A⁻¹K_mn(y − ȳ)), L_mm, and L_A as its second factor.
    posterior: Posterior,
    /// K_nm, one row of m per conditioned curve.
    k_nm: Vec<f64>,
    inducing: Vec<usize>,
}

/// K_mm's diagonal gets this much of σ_f² more, so that inducing points close
/// together still factorise.
const JITTER: f64 = 1e-8;

impl Sparse {
    /// Conditions on the row-major points `z` (n × d) through the inducing
    /// points `inducing` (indices into `z`). Targets come with [`Sparse::condition`].
    pub fn build(z: &[f64], d: usize, inducing: &[usize], h: &Hyper) -> Result<Self, NotPositiveDefinite> {
        let m = inducing.len();
        let fail = || NotPositiveDefinite { noise_var: h.noise_var };
        let z_m: Vec<f64> = inducing
            .iter()
            .flat_map(|&i| z[i * d..(i + 1) * d].iter().copied())
            .collect();
        let mut posterior = Posterior {
            d,
            scaled: scaled_columns(&z_m, d, h),
            inv_l: h.lengthscale.iter().map(|l| 1.0 / l).collect(),
            signal_var: h.signal_var,
            noise_var: h.noise_var,
            y_mean: 0.0,
            alpha: vec![0.0; m],
            l: Mat::zeros(0, 0),
            dtc: None,
            nll: f64::NAN,
        };
        let mut k_mm = Mat::<f64>::zeros(m, m);
        for j in 0..m {
            posterior.kernel_column(&z_m[j * d..(j + 1) * d], crate::ml::column_mut(&mut k_mm, j));
            k_mm[(j, j)] += JITTER * h.signal_var;
        }
        let mut k_nm = vec![0.0; z.len() / d * m];
        if m > 0 {
            k_nm.par_chunks_mut(m).zip(z.par_chunks(d)).for_each(|(row, zi)| {
                posterior.kernel_column(zi, row);
            });
        }
        let n = k_nm.len() / m.max(1);
        let kn = MatRef::from_row_major_slice(&k_nm, n, m);
        let a = kn.transpose() * kn + &k_mm * faer::Scale(h.noise_var);
        let l_a = a.llt(Side::Lower).map_err(|_| fail())?.L().to_owned();
        posterior.l = k_mm.llt(Side::Lower).map_err(|_| fail())?.L().to_owned();
        posterior.dtc = Some(Dtc {
            l: l_a,
            noise_var: h.noise_var,
        });
        Ok(Self {
            posterior,
            k_nm,
            inducing: inducing.to_vec(),
        })
    }

    /// One more curve at embedding `z_new` (d): a row of K_nm and a rank-one
    /// update of L_A, O(m²).
    pub fn add(&mut self, z_new: &[f64]) -> Result<(), NotPositiveDefinite> {
        let m = self.inducing.len();
        let mut row = vec![0.0; m];
        self.posterior.kernel_column(z_new, &mut row);
        let dtc = self
            .posterior
            .dtc
            .as_mut()
            .expect("a sparse posterior has its second factor");
        let mut w = Mat::from_fn(m, 1, |i, _| row[i]);
        let mut alpha = Col::<f64>::from_fn(1, |_| 1.0).into_diagonal();
        faer::linalg::cholesky::llt::update::rank_r_update_clobber(dtc.l.as_mut(), w.as_mut(), alpha.as_mut())
            .map_err(|_| NotPositiveDefinite {
                noise_var: dtc.noise_var,
            })?;
        self.k_nm.extend_from_slice(&row);
        Ok(())
    }

    /// Sets the targets of every conditioned curve (they are re-scored at
    /// each decision): ȳ and the inducing weights A⁻¹K_mn(y − ȳ), O(n·m).
    pub fn condition(&mut self, y: &[f64]) {
        let m = self.inducing.len();
        assert_eq!(y.len(), self.len(), "one target per conditioned curve");
        let y_mean = y.iter().sum::<f64>() / y.len().max(1) as f64;
        let mut b = vec![0.0; m];
        for (row, yi) in self.k_nm.chunks(m.max(1)).zip(y) {
            let c = yi - y_mean;
            for (bj, kj) in b.iter_mut().zip(row) {
                *bj += c * kj;
            }
        }
        let dtc = self
            .posterior
            .dtc
            .as_ref()
            .expect("a sparse posterior has its second factor");
        let mut a = Mat::from_fn(m, 1, |i, _| b[i]);
        faer::linalg::triangular_solve::solve_lower_triangular_in_place(dtc.l.as_ref(), a.as_mut(), faer::Par::Seq);
        faer::linalg::triangular_solve::solve_upper_triangular_in_place(dtc.l.transpose(), a.as_mut(), faer::Par::Seq);
        self.posterior.alpha = (0..m).map(|i| a[(i, 0)]).collect();
        self.posterior.y_mean = y_mean;
    }

    /// The predictor: means, variance bounds and variances of candidates.
    pub fn posterior(&self) -> &Posterior {
        &self.posterior
    }

    /// Curves conditioned on.
    pub fn len(&self) -> usize {
        self.k_nm.len() / self.inducing.len().max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The inducing points, as indices of the curves they were chosen from.
    pub fn inducing(&self) -> &[usize] {
        &self.inducing
    }
}

/// Up to `m` of the row-major points `z` (n × d), spread over the embedding:
/// the point farthest from the centroid first, then each time the point
/// farthest from all chosen so far (distances scaled by `inv_l`, so they are
/// the kernel's). Stops early when only copies of chosen points are left
/// (repeat measurements at one place embed alike). O(n·m·d), deterministic.
pub fn farthest_points(z: &[f64], d: usize, inv_l: &[f64], m: usize) -> Vec<usize> {
    let n = z.len() / d.max(1);
    if n == 0 || m == 0 {
        return Vec::new();
    }
    let point = |i: usize| &z[i * d..(i + 1) * d];
    let dist2 = |a: &[f64], b: &[f64]| -> f64 {
        a.iter()
            .zip(b)
            .zip(inv_l)
            .map(|((x, y), s)| ((x - y) * s).powi(2))
            .sum()
    };
    let centroid: Vec<f64> = (0..d)
        .map(|k| (0..n).map(|i| z[i * d + k]).sum::<f64>() / n as f64)
        .collect();
    let farthest = |score: &[f64]| -> usize {
        (0..n)
            .max_by(|&a, &b| score[a].total_cmp(&score[b]).then(b.cmp(&a)))
            .expect("n > 0")
    };
    let from_centroid: Vec<f64> = (0..n).map(|i| dist2(point(i), &centroid)).collect();
    let mut chosen = vec![farthest(&from_centroid)];
    let mut nearest: Vec<f64> = (0..n).map(|i| dist2(point(i), point(chosen[0]))).collect();
    while chosen.len() < m.min(n) {
        let next = farthest(&nearest);
        if nearest[next] <= 0.0 {
            break;
        }
        chosen.push(next);
        let p = point(next);
        nearest.par_iter_mut().enumerate().for_each(|(i, best)| {
            *best = best.min(dist2(&z[i * d..(i + 1) * d], p));
        });
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::super::condition;
    use super::*;

    fn data(n: usize) -> (Vec<f64>, Vec<f64>, Hyper) {
        let z: Vec<f64> = (0..2 * n)
            .map(|k| ((k * 37 % 101) as f64 / 101.0) * 2.0 - 1.0)
            .collect();
        let y: Vec<f64> = (0..n)
            .map(|k| (k as f64 * 0.7).sin() + 0.3 * (k as f64 * 0.13).cos())
            .collect();
        let h = Hyper {
            lengthscale: vec![0.4, 0.9],
            signal_var: 1.3,
            noise_var: 0.05,
        };
        (z, y, h)
    }

    fn grid() -> Vec<f64> {
        (0..400).map(|k| ((k * 53 % 97) as f64 / 97.0) * 2.4 - 1.2).collect()
    }

    #[test]
    fn with_every_point_inducing_it_is_the_exact_gp() {
        // A 5×5 grid a lengthscale apart: A = σ²K + K² squares K's condition
        // number, so the check wants a K far from singular.
        let z: Vec<f64> = (0..25)
            .flat_map(|k| [(k % 5) as f64 * 0.5 - 1.0, (k / 5) as f64 * 0.9 - 1.8])
            .collect();
        let y: Vec<f64> = (0..25).map(|k| (k as f64 * 0.7).sin()).collect();
        let h = data(1).2;
        let exact = condition(&z, 2, &y, &h).unwrap();
        let all: Vec<usize> = (0..25).collect();
        let mut sparse = Sparse::build(&z, 2, &all, &h).unwrap();
        sparse.condition(&y);
        let t = grid();
        let (me, ve) = exact.predict(&t, 16);
        let (ms, vs) = sparse.posterior().predict(&t, 16);
        for k in 0..me.len() {
            assert!((me[k] - ms[k]).abs() < 1e-8, "mean {k}: {} vs {}", me[k], ms[k]);
            // K_mm's jitter (1e-8 σ_f²) shows in the variance's last digits.
            assert!((ve[k] - vs[k]).abs() < 1e-7, "variance {k}: {} vs {}", ve[k], vs[k]);
        }
    }

    #[test]
    fn curves_added_one_by_one_give_the_posterior_built_at_once() {
        let (z, y, h) = data(120);
        let inducing = farthest_points(&z[..2 * 60], 2, &[1.0 / 0.4, 1.0 / 0.9], 15);
        assert_eq!(inducing.len(), 15);
        let mut whole = Sparse::build(&z, 2, &inducing, &h).unwrap();
        whole.condition(&y);
        let mut grown = Sparse::build(&z[..2 * 60], 2, &inducing, &h).unwrap();
        for i in 60..120 {
            grown.add(&z[2 * i..2 * i + 2]).unwrap();
        }
        assert_eq!(grown.len(), 120);
        grown.condition(&y);
        let t = grid();
        let (mw, vw) = whole.posterior().predict(&t, 7);
        let (mg, vg) = grown.posterior().predict(&t, 7);
        for k in 0..mw.len() {
            assert!((mw[k] - mg[k]).abs() < 1e-8, "mean {k}");
            assert!((vw[k] - vg[k]).abs() < 1e-8, "variance {k}");
        }
        let (bm, _) = grown.posterior().mean_and_variance_bound(&t);
        for k in 0..mw.len() {
            assert!((bm[k] - mg[k]).abs() < 1e-9, "the bound pass gives the same mean");
        }
    }

    #[test]
    fn the_variance_bound_holds_and_few_inducing_points_stay_close_to_the_exact_gp() {
        let (z, y, h) = data(300);
        let exact = condition(&z, 2, &y, &h).unwrap();
        let inducing = farthest_points(&z, 2, &[1.0 / 0.4, 1.0 / 0.9], 60);
        let mut sparse = Sparse::build(&z, 2, &inducing, &h).unwrap();
        sparse.condition(&y);
        let t = grid();
        let (_, bound) = sparse.posterior().mean_and_variance_bound(&t);
        let (ms, vs) = sparse.posterior().predict(&t, 32);
        let (me, ve) = exact.predict(&t, 32);
        let (mut worst_mean, mut worst_var) = (0f64, 0f64);
        for k in 0..vs.len() {
            assert!(
                vs[k] <= bound[k] + 1e-9,
                "variance {} above its bound {}",
                vs[k],
                bound[k]
            );
            worst_var = worst_var.max((vs[k] - ve[k]).abs());
            worst_mean = worst_mean.max((ms[k] - me[k]).abs());
        }
        assert!(worst_mean < 0.1, "sparse mean off the exact one by {worst_mean}");
        assert!(worst_var < 0.1, "sparse variance off the exact one by {worst_var}");
    }

    #[test]
    fn farthest_points_spread_out_and_skip_copies() {
        // Four corners and copies of the centre.
        let z = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, -1.0, 1.0, 1.0, -1.0, -1.0, -1.0, 0.0, 0.0];
        let chosen = farthest_points(&z, 2, &[1.0, 1.0], 10);
        let mut corners = chosen[..4].to_vec();
        corners.sort();
        assert_eq!(corners, vec![2, 3, 4, 5]);
        // The centre once, its copies never.
        assert_eq!(chosen.len(), 5, "{chosen:?}");
    }
}
