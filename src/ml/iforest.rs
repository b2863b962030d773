//! Isolation Forest (Liu, Ting & Zhou 2008) as scikit-learn runs it: 100 trees,
//! each on a subsample of up to 256 points, depth limited to ⌈log₂ ψ⌉, score
//! 2^(−E[h(x)]/c(ψ)).
//!
//! Written here rather than taken from a crate: the crates on offer fix the
//! feature count at compile time or bring a whole ML framework, and this policy
//! needs a run-time width and a stream seeded from the session's master seed.

use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

enum Node {
    Leaf {
        size: usize,
    },
    Split {
        feature: usize,
        threshold: f64,
        left: Box<Node>,
        right: Box<Node>,
    },
}

/// Average path length of an unsuccessful search in a binary search tree of `n`.
fn c(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + 0.577_215_664_901_532_9) - 2.0 * (n - 1.0) / n
        }
    }
}

fn grow(data: &[&[f64]], rows: &mut [usize], depth: usize, max_depth: usize, rng: &mut impl Rng) -> Node {
    if rows.len() <= 1 || depth >= max_depth {
        return Node::Leaf { size: rows.len() };
    }
    let width = data[rows[0]].len();
    // Like scikit-learn: draw a feature, and draw again (without replacement)
    // while the drawn one is constant in this node; a node where every feature
    // is constant is a leaf.
    let mut untried: Vec<usize> = (0..width).collect();
    let (feature, lo, hi) = loop {
        if untried.is_empty() {
            return Node::Leaf { size: rows.len() };
        }
        let f = untried.swap_remove(rng.random_range(0..untried.len()));
        let (lo, hi) = rows.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &r| {
            (lo.min(data[r][f]), hi.max(data[r][f]))
        });
        if hi > lo {
            break (f, lo, hi);
        }
    };
    let threshold = lo + rng.random::<f64>() * (hi - lo);
    let mut split = 0;
    for k in 0..rows.len() {
        if data[rows[k]][feature] < threshold {
            rows.swap(k, split);
            split += 1;
        }
    }
    let (l, r) = rows.split_at_mut(split);
    Node::Split {
        feature,
        threshold,
        left: Box::new(grow(data, l, depth + 1, max_depth, rng)),
        right: Box::new(grow(data, r, depth + 1, max_depth, rng)),
    }
}

fn path(node: &Node, x: &[f64], depth: f64) -> f64 {
    match node {
        Node::Leaf { size } => depth + c(*size),
        Node::Split {
            feature,
            threshold,
            left,
            right,
        } => {
            if x[*feature] < *threshold {
                path(left, x, depth + 1.0)
            } else {
                path(right, x, depth + 1.0)
            }
        }
    }
}

pub struct IsolationForest {
    trees: Vec<Node>,
    psi: usize,
}

impl IsolationForest {
    pub const TREES: usize = 100;
    pub const MAX_SAMPLES: usize = 256;

    pub fn fit(data: &[&[f64]], rng: &mut impl Rng) -> Self {
        let n = data.len();
        let psi = n.clamp(1, Self::MAX_SAMPLES);
        let max_depth = (psi as f64).log2().ceil().max(1.0) as usize;
        // One stream per tree, drawn from the caller's: the trees grow on both
        // cores and the forest is the same whatever the thread count.
        let seeds: Vec<u64> = (0..Self::TREES).map(|_| rng.random()).collect();
        let trees = seeds
            .into_par_iter()
            .map(|seed| {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
                let mut rows: Vec<usize> = if n == 0 {
                    Vec::new()
                } else {
                    sample(&mut rng, n, psi).into_vec()
                };
                grow(data, &mut rows, 0, max_depth, &mut rng)
            })
            .collect();
        Self { trees, psi }
    }

    /// Anomaly score in (0, 1]; higher is more anomalous (0.5 is unremarkable).
    pub fn score(&self, x: &[f64]) -> f64 {
        if self.trees.is_empty() {
            return 0.5;
        }
        let mean = self.trees.iter().map(|t| path(t, x, 0.0)).sum::<f64>() / self.trees.len() as f64;
        let norm = c(self.psi).max(1e-12);
        2f64.powf(-mean / norm)
    }
}

/// Isolation-forest novelty of every curve among all of them, min–max scaled
/// to [0, 1] (all 0.5 when they cannot be told apart).
pub fn novelty(features: &[Vec<f64>], rng: &mut impl Rng) -> Vec<f64> {
    let rows: Vec<&[f64]> = features.iter().map(|v| v.as_slice()).collect();
    let forest = IsolationForest::fit(&rows, rng);
    let scores: Vec<f64> = rows.iter().map(|x| forest.score(x)).collect();
    let (lo, hi) = scores.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &s| {
        (lo.min(s), hi.max(s))
    });
    if hi - lo < 1e-12 {
        return vec![0.5; scores.len()];
    }
    scores.iter().map(|s| (s - lo) / (hi - lo)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_outlier_is_most_novel() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut data: Vec<Vec<f64>> = (0..200)
            .map(|_| (0..5).map(|_| rng.random::<f64>() * 0.1).collect())
            .collect();
        data.push(vec![0.9, 0.05, 0.05, 0.9, 0.05]);
        let n = novelty(&data, &mut rng);
        let best = n.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        assert_eq!(best, 200);
        assert!(n.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn path_normaliser_matches_the_paper() {
        // c(256) from Liu et al.: 2 H(255) − 2·255/256 ≈ 10.2448
        assert!((c(256) - 10.2448).abs() < 1e-3, "{}", c(256));
    }
}
