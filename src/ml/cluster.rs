//! Clusters in the joint latent map: a Gaussian mixture with full
//! covariances fitted by EM, the number of components chosen by BIC, and the
//! adjusted Rand index to compare a clustering with the ground truth.
//!
//! A mixture rather than k-means: the motifs occupy the latent map in blobs of
//! very different sizes and spreads (a few triple junctions, many interiors),
//! which k-means' equal spherical clusters split badly, and a mixture's
//! likelihood gives BIC to choose the number of clusters. Full rather than
//! diagonal covariances: the two aligned views are nearly collinear, so every
//! blob is a slanted ellipse that diagonal components can only tile with
//! several pieces (on 5 simulated films, z-scored, 12 starts: 5–8 clusters
//! and mean ARI 0.29 with diagonal components, 3–6 clusters and 0.34 with
//! full ones). Written here because linfa's mixture brings its own ndarray
//! and rand, a second copy of each beside burn's, for a 4-dimensional problem
//! of a few hundred points.

use rand::Rng;

#[derive(Debug, Clone, PartialEq)]
pub struct Mixture {
    pub weights: Vec<f64>,
    pub means: Vec<Vec<f64>>,
    /// Covariances, row-major d × d.
    pub covariances: Vec<Vec<f64>>,
    pub log_likelihood: f64,
    pub bic: f64,
    /// The most likely component of every point.
    pub labels: Vec<usize>,
}

impl Mixture {
    /// The most probable component of each of `data` (points in the units the
    /// mixture was chosen in); `None` for a covariance that does not factorise.
    pub fn label(&self, data: &[Vec<f64>]) -> Option<Vec<usize>> {
        let d = self.means.first()?.len();
        let chol: Vec<Vec<f64>> = self.covariances.iter().map(|c| cholesky(c, d)).collect::<Option<_>>()?;
        Some(
            data.iter()
                .map(|x| {
                    (0..self.weights.len())
                        .map(|c| self.weights[c].max(1e-300).ln() + log_normal(x, &self.means[c], &chol[c], d))
                        .enumerate()
                        .max_by(|a, b| a.1.total_cmp(&b.1))
                        .map_or(0, |(c, _)| c)
                })
                .collect(),
        )
    }
}

const REG: f64 = 1e-6;
/// EM starts per k: on the latent maps of simulated films, BIC's choice
/// still moved with the k-means++ draw at 4 starts.
const RESTARTS: usize = 12;

/// Cholesky of a small SPD matrix; `None` if it is not positive definite.
fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = a[i * d + j] - (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum::<f64>();
            if i == j {
                if s <= 0.0 {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some(l)
}

/// log N(x | mean, L Lᵀ).
fn log_normal(x: &[f64], mean: &[f64], l: &[f64], d: usize) -> f64 {
    let mut z = vec![0.0; d];
    log_normal_in(x, mean, l, d, log_det(l, d), &mut z)
}

/// log |L Lᵀ| of a Cholesky factor.
fn log_det(l: &[f64], d: usize) -> f64 {
    (0..d).map(|i| 2.0 * l[i * d + i].ln()).sum()
}

/// [`log_normal`] with the factor's log-determinant given and the whitened
/// point written into `z` (d long): EM calls it n·k times an iteration, and an
/// allocation and d logarithms each were half of its time.
#[inline]
fn log_normal_in(x: &[f64], mean: &[f64], l: &[f64], d: usize, log_det: f64, z: &mut [f64]) -> f64 {
    for i in 0..d {
        let s: f64 = (x[i] - mean[i]) - (0..i).map(|k| l[i * d + k] * z[k]).sum::<f64>();
        z[i] = s / l[i * d + i];
    }
    -0.5 * (z[..d].iter().map(|v| v * v).sum::<f64>() + log_det + d as f64 * (2.0 * std::f64::consts::PI).ln())
}

fn log_sum_exp(v: &[f64]) -> f64 {
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum()
}

/// k-means++ seeding.
fn seed_means(data: &[Vec<f64>], k: usize, rng: &mut impl Rng) -> Vec<Vec<f64>> {
    let mut means = vec![data[rng.random_range(0..data.len())].clone()];
    while means.len() < k {
        let d2: Vec<f64> = data
            .iter()
            .map(|x| means.iter().map(|m| sq_dist(x, m)).fold(f64::INFINITY, f64::min))
            .collect();
        let total: f64 = d2.iter().sum();
        if total <= 0.0 {
            means.push(data[rng.random_range(0..data.len())].clone());
            continue;
        }
        let mut u = rng.random::<f64>() * total;
        let mut pick = data.len() - 1;
        for (i, w) in d2.iter().enumerate() {
            if u < *w {
                pick = i;
                break;
            }
            u -= w;
        }
        means.push(data[pick].clone());
    }
    means
}

/// Fits a k-component mixture by EM from a k-means++ start.
pub fn fit(data: &[Vec<f64>], k: usize, rng: &mut impl Rng) -> Option<Mixture> {
    let n = data.len();
    let d = data.first()?.len();
    if n < k || k == 0 {
        return None;
    }
    let mut means = seed_means(data, k, rng);
    let mut spread = vec![0.0; d * d];
    let centre: Vec<f64> = (0..d)
        .map(|j| data.iter().map(|x| x[j]).sum::<f64>() / n as f64)
        .collect();
    for x in data {
        for i in 0..d {
            spread[i * d + i] += (x[i] - centre[i]).powi(2) / n as f64;
        }
    }
    for i in 0..d {
        spread[i * d + i] += REG;
    }
    let mut covs = vec![spread; k];
    let mut weights = vec![1.0 / k as f64; k];
    let mut resp = vec![vec![0.0; k]; n];
    let mut last = f64::NEG_INFINITY;
    let mut ll = f64::NEG_INFINITY;
    let (mut lp, mut z) = (vec![0.0; k], vec![0.0; d]);
    for _ in 0..300 {
        // E step.
        let chol: Vec<Vec<f64>> = covs.iter().map(|c| cholesky(c, d)).collect::<Option<_>>()?;
        let log_dets: Vec<f64> = chol.iter().map(|l| log_det(l, d)).collect();
        let log_weights: Vec<f64> = weights.iter().map(|w| w.max(1e-300).ln()).collect();
        ll = 0.0;
        for (x, r) in data.iter().zip(resp.iter_mut()) {
            for (c, p) in lp.iter_mut().enumerate() {
                *p = log_weights[c] + log_normal_in(x, &means[c], &chol[c], d, log_dets[c], &mut z);
            }
            let total = log_sum_exp(&lp);
            ll += total;
            for c in 0..k {
                r[c] = (lp[c] - total).exp();
            }
        }
        // M step.
        for c in 0..k {
            let nk: f64 = resp.iter().map(|r| r[c]).sum::<f64>().max(1e-10);
            weights[c] = nk / n as f64;
            means[c] = (0..d)
                .map(|j| data.iter().zip(&resp).map(|(x, r)| r[c] * x[j]).sum::<f64>() / nk)
                .collect();
            let mut cov = vec![0.0; d * d];
            for (x, r) in data.iter().zip(&resp) {
                for i in 0..d {
                    for j in 0..d {
                        cov[i * d + j] += r[c] * (x[i] - means[c][i]) * (x[j] - means[c][j]);
                    }
                }
            }
            for (i, v) in cov.iter_mut().enumerate() {
                *v /= nk;
                if i / d == i % d {
                    *v += REG;
                }
            }
            covs[c] = cov;
        }
        if (ll - last).abs() < 1e-7 * (1.0 + ll.abs()) {
            break;
        }
        last = ll;
    }
    // Weights, means, and the d(d + 1)/2 free entries of each covariance.
    let params = (k - 1) + k * d + k * d * (d + 1) / 2;
    let bic = -2.0 * ll + params as f64 * (n as f64).ln();
    let labels = resp
        .iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(c, _)| c)
                .unwrap_or(0)
        })
        .collect();
    Some(Mixture {
        weights,
        means,
        covariances: covs,
        log_likelihood: ll,
        bic,
        labels,
    })
}

/// The best of a few restarts for each k in `k_range`, by BIC (or the given k).
///
/// The points are z-scored per dimension first and the mixture mapped back:
/// EM's covariance floor is absolute, while the latent map's scale is not
/// (A is learned, and KL and alignment shrink the views to spreads of
/// ~1e-3), so without this the floor rivals the clusters' own spread, merges
/// them, and on some trainings leaves a single cluster.
///
/// `None` for no points, or for a point that is not finite (a diverged
/// training): EM would turn it into clusters of NaN without a word.
pub fn choose(data: &[Vec<f64>], k_range: std::ops::RangeInclusive<usize>, rng: &mut impl Rng) -> Option<Mixture> {
    if data.iter().flatten().any(|v| !v.is_finite()) {
        return None;
    }
    let n = data.len() as f64;
    let d = data.first()?.len();
    let centre: Vec<f64> = (0..d).map(|j| data.iter().map(|x| x[j]).sum::<f64>() / n).collect();
    let scale: Vec<f64> = (0..d)
        .map(|j| {
            let sd = (data.iter().map(|x| (x[j] - centre[j]).powi(2)).sum::<f64>() / n).sqrt();
            // A constant column (up to rounding) stays as it is, not blown up.
            if sd > 1e-12 * (1.0 + centre[j].abs()) { sd } else { 1.0 }
        })
        .collect();
    let scaled: Vec<Vec<f64>> = data
        .iter()
        .map(|x| (0..d).map(|j| (x[j] - centre[j]) / scale[j]).collect())
        .collect();
    // A component holding fewer points than it has covariance dimensions (plus
    // one) has a singular covariance, held up only by the REG floor: its
    // likelihood grows without bound and BIC rewards it. On a 40-curve session
    // BIC chose 7 clusters, four of them 3 points each.
    let min_points = (d + 1) as f64;
    let sound = |m: &Mixture| m.weights.iter().all(|w| w * n >= min_points);
    let (mut best, mut best_sound): (Option<Mixture>, Option<Mixture>) = (None, None);
    for k in k_range {
        for _ in 0..RESTARTS {
            let Some(m) = fit(&scaled, k, rng) else { continue };
            if sound(&m) && best_sound.as_ref().is_none_or(|b| m.bic < b.bic) {
                best_sound = Some(m.clone());
            }
            if best.as_ref().is_none_or(|b| m.bic < b.bic) {
                best = Some(m);
            }
        }
    }
    // Too few points for any sound mixture: the best there is.
    let mut m = best_sound.or(best)?;
    for mean in &mut m.means {
        for j in 0..d {
            mean[j] = mean[j] * scale[j] + centre[j];
        }
    }
    for cov in &mut m.covariances {
        for (i, v) in cov.iter_mut().enumerate() {
            *v *= scale[i / d] * scale[i % d];
        }
    }
    // The density of the original points: the Jacobian of the z-scoring.
    let log_jacobian: f64 = scale.iter().map(|s| s.ln()).sum::<f64>() * n;
    m.log_likelihood -= log_jacobian;
    m.bic += 2.0 * log_jacobian;
    Some(m)
}

/// [`choose`] on at most `at_most` of the points, spread evenly over them (every
/// (n / at_most)-th), then every point labelled by the chosen mixture: BIC's
/// 84 EM fits (k = 2..8, 12 starts each) grow with n and on 2000 points cost
/// more than the dual VAE's training itself; a few hundred points place a
/// handful of components as well. Up to `at_most` points it is [`choose`].
pub fn choose_on_spread(
    data: &[Vec<f64>],
    k_range: std::ops::RangeInclusive<usize>,
    rng: &mut impl Rng,
    at_most: usize,
) -> Option<Mixture> {
    let n = data.len();
    if at_most == 0 || n <= at_most {
        return choose(data, k_range, rng);
    }
    let spread: Vec<Vec<f64>> = (0..at_most).map(|i| data[i * n / at_most].clone()).collect();
    let mut m = choose(&spread, k_range, rng)?;
    m.labels = m.label(data)?;
    Some(m)
}

/// Adjusted Rand index of two labelings (1: identical up to renaming, ~0: chance).
pub fn adjusted_rand_index(a: &[usize], b: &[usize]) -> f64 {
    let n = a.len();
    let ka = a.iter().copied().max().map_or(0, |m| m + 1);
    let kb = b.iter().copied().max().map_or(0, |m| m + 1);
    let mut table = vec![vec![0u64; kb]; ka];
    for (x, y) in a.iter().zip(b) {
        table[*x][*y] += 1;
    }
    let c2 = |v: u64| (v * v.saturating_sub(1)) as f64 / 2.0;
    let sum_cells: f64 = table.iter().flatten().map(|&v| c2(v)).sum();
    let sum_a: f64 = table.iter().map(|r| c2(r.iter().sum())).sum();
    let sum_b: f64 = (0..kb).map(|j| c2(table.iter().map(|r| r[j]).sum())).sum();
    let total = c2(n as u64);
    let expected = sum_a * sum_b / total.max(1.0);
    let max = 0.5 * (sum_a + sum_b);
    if (max - expected).abs() < 1e-12 {
        return 1.0;
    }
    (sum_cells - expected) / (max - expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};

    fn blobs(rng: &mut impl Rng) -> (Vec<Vec<f64>>, Vec<usize>) {
        let centres = [(0.0, 0.0, 0.3), (5.0, 0.0, 0.8), (0.0, 6.0, 0.2)];
        let mut data = Vec::new();
        let mut truth = Vec::new();
        for (c, &(x, y, s)) in centres.iter().enumerate() {
            let nrm = Normal::new(0.0, s).unwrap();
            for _ in 0..(40 + 30 * c) {
                data.push(vec![x + nrm.sample(rng), y + nrm.sample(rng)]);
                truth.push(c);
            }
        }
        (data, truth)
    }

    #[test]
    fn bic_finds_three_blobs_and_ari_is_one() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let (data, truth) = blobs(&mut rng);
        let m = choose(&data, 1..=6, &mut rng).unwrap();
        assert_eq!(m.means.len(), 3);
        assert!((adjusted_rand_index(&m.labels, &truth) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_mixture_chosen_on_a_spread_of_the_points_labels_them_all() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let (data, truth) = blobs(&mut rng);
        // Blob by blob in the data: an even spread still sees all three.
        let m = choose_on_spread(&data, 1..=6, &mut rand_chacha::ChaCha8Rng::seed_from_u64(4), 60).unwrap();
        assert_eq!(m.means.len(), 3);
        assert_eq!(m.labels.len(), data.len());
        assert!((adjusted_rand_index(&m.labels, &truth) - 1.0).abs() < 1e-9);
        // Up to the limit it is `choose`, draw for draw.
        let all = choose_on_spread(&data, 1..=6, &mut rand_chacha::ChaCha8Rng::seed_from_u64(4), 1000).unwrap();
        let plain = choose(&data, 1..=6, &mut rand_chacha::ChaCha8Rng::seed_from_u64(4)).unwrap();
        assert_eq!(all, plain);
    }

    #[test]
    fn the_scale_of_the_map_does_not_change_the_clusters() {
        // A latent map shrunk to a spread of ~1e-4 (as a collapsed view is)
        // splits as the unit-scale one does.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let (data, truth) = blobs(&mut rng);
        let tiny: Vec<Vec<f64>> = data.iter().map(|x| vec![x[0] * 1e-4, x[1] * 3e-5 + 2.0]).collect();
        let m = choose(&tiny, 1..=6, &mut rand_chacha::ChaCha8Rng::seed_from_u64(2)).unwrap();
        assert_eq!(m.means.len(), 3);
        assert!((adjusted_rand_index(&m.labels, &truth) - 1.0).abs() < 1e-9);
        // A diverged training's NaN is refused, not clustered.
        let mut broken = tiny.clone();
        broken[5][1] = f64::NAN;
        assert!(choose(&broken, 1..=3, &mut rand_chacha::ChaCha8Rng::seed_from_u64(2)).is_none());
        // The mixture is reported in the map's own units.
        for mean in &m.means {
            assert!(mean[0].abs() < 1e-3 && (mean[1] - 2.0).abs() < 1e-3, "{mean:?}");
        }
    }

    #[test]
    fn few_points_do_not_buy_clusters_of_their_own() {
        // 40 points in 4-D, two blobs. Components of 2–4 points have singular
        // covariances whose likelihood BIC cannot outweigh; each component must
        // hold at least d + 1 = 5 points.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let nrm = Normal::new(0.0, 1.0).unwrap();
        let mut data = Vec::new();
        let mut truth = Vec::new();
        for c in 0..2 {
            for _ in 0..20 {
                data.push(
                    (0..4)
                        .map(|j| if j == 0 { 12.0 * c as f64 } else { 0.0 } + nrm.sample(&mut rng))
                        .collect(),
                );
                truth.push(c);
            }
        }
        let m = choose(&data, 1..=8, &mut rng).unwrap();
        assert!(m.weights.iter().all(|w| w * 40.0 >= 5.0 - 1e-9), "{:?}", m.weights);
        assert_eq!(m.means.len(), 2, "{:?}", m.weights);
        assert!((adjusted_rand_index(&m.labels, &truth) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn ari_known_values() {
        // sklearn.metrics.adjusted_rand_score([0,0,1,1],[0,0,1,2]) == 0.5714285714285715
        assert!((adjusted_rand_index(&[0, 0, 1, 1], &[0, 0, 1, 2]) - 0.571_428_571_428_571_5).abs() < 1e-12);
        assert!((adjusted_rand_index(&[0, 1, 2], &[2, 0, 1]) - 1.0).abs() < 1e-12);
    }
}
