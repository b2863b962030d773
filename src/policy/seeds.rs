//! Latin-hypercube seed points: one per row stratum and one per column stratum,
//! so a handful of seeds spreads over the whole frame.

use super::Candidates;
use crate::seed;
use rand::Rng;
use rand::seq::SliceRandom;

/// `n` distinct candidates placed by a Latin hypercube over the frame.
pub fn latin_hypercube(candidates: &Candidates, n: usize, master_seed: u64) -> Vec<usize> {
    let mut rng = seed::rng(master_seed, "latin-hypercube", &[]);
    let n = n.min(candidates.len());
    let mut cols: Vec<usize> = (0..n).collect();
    cols.shuffle(&mut rng);
    let mut chosen: Vec<usize> = Vec::with_capacity(n);
    for (stratum_row, stratum_col) in cols.into_iter().enumerate() {
        let row = (stratum_row as f64 + rng.random::<f64>()) / n as f64 * candidates.rows as f64;
        let col = (stratum_col as f64 + rng.random::<f64>()) / n as f64 * candidates.cols as f64;
        if let Some(k) = candidates.nearest(row, col, |k| !chosen.contains(&k)) {
            chosen.push(k);
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_seed_per_stratum_and_reproducible() {
        let c = Candidates::new(256, 256, 16, 2, None);
        let seeds = latin_hypercube(&c, 10, 1);
        assert_eq!(seeds.len(), 10);
        assert_eq!(seeds, latin_hypercube(&c, 10, 1));
        assert_ne!(seeds, latin_hypercube(&c, 10, 2));
        // Each tenth of the rows holds one seed (up to the patch margin).
        let mut strata: Vec<u32> = seeds.iter().map(|&k| c.site(k).0 * 10 / 256).collect();
        strata.sort_unstable();
        strata.dedup();
        assert!(strata.len() >= 9, "{strata:?}");
    }
}
