//! Latin-hypercube seed points: one per row stratum and one per column stratum,
//! so a handful of seeds spreads over the whole frame.

use super::Candidates;
use crate::seed;
use rand::Rng;
use rand::seq::SliceRandom;

/// `n` distinct candidates placed by a Latin hypercube over the frame; a
/// stratum's point that falls on a `barred` candidate takes the nearest one
/// that is not (so the seeds are as many, and none is barred).
pub fn latin_hypercube(candidates: &Candidates, n: usize, master_seed: u64, barred: &[bool]) -> Vec<usize> {
    let mut rng = seed::rng(master_seed, "latin-hypercube", &[]);
    let open = (0..candidates.len())
        .filter(|&k| !barred.get(k).copied().unwrap_or(false))
        .count();
    let n = n.min(open);
    let mut cols: Vec<usize> = (0..n).collect();
    cols.shuffle(&mut rng);
    let mut chosen: Vec<usize> = Vec::with_capacity(n);
    for (stratum_row, stratum_col) in cols.into_iter().enumerate() {
        let row = (stratum_row as f64 + rng.random::<f64>()) / n as f64 * candidates.rows as f64;
        let col = (stratum_col as f64 + rng.random::<f64>()) / n as f64 * candidates.cols as f64;
        if let Some(k) = candidates.nearest(row, col, |k| {
            !chosen.contains(&k) && !barred.get(k).copied().unwrap_or(false)
        }) {
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
        let seeds = latin_hypercube(&c, 10, 1, &[]);
        assert_eq!(seeds.len(), 10);
        assert_eq!(seeds, latin_hypercube(&c, 10, 1, &[]));
        assert_ne!(seeds, latin_hypercube(&c, 10, 2, &[]));
        // Each tenth of the rows holds one seed (up to the patch margin).
        let mut strata: Vec<u32> = seeds.iter().map(|&k| c.site(k).0 * 10 / 256).collect();
        strata.sort_unstable();
        strata.dedup();
        assert!(strata.len() >= 9, "{strata:?}");
    }

    #[test]
    fn barred_candidates_are_never_seeds_and_the_count_holds() {
        let c = Candidates::new(64, 64, 8, 2, None);
        // The left half barred.
        let barred: Vec<bool> = (0..c.len()).map(|k| c.site(k).1 < 32).collect();
        let seeds = latin_hypercube(&c, 10, 1, &barred);
        assert_eq!(seeds.len(), 10);
        assert!(seeds.iter().all(|&k| !barred[k]), "{seeds:?}");
        let all = vec![true; c.len()];
        assert!(latin_hypercube(&c, 10, 1, &all).is_empty());
    }
}
