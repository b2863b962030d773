//! Baseline policies a learning policy must beat: uniformly random, and a
//! regular lattice sized to the budget.

use super::{Candidates, Choice, DecideContext, Policy};
use crate::plan::PolicyKind;
use crate::record::{Measurement, Source};
use crate::seed;
use rand::Rng;

/// A uniformly random open candidate. The draw for step `n` depends only on the
/// master seed, `n` and what is open, so a resumed session draws as an
/// uninterrupted one would.
pub struct RandomPolicy {
    master_seed: u64,
}

impl RandomPolicy {
    pub fn new(master_seed: u64) -> Self {
        Self { master_seed }
    }
}

impl Policy for RandomPolicy {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Random
    }

    fn observe(&mut self, _candidate: Option<usize>, _measurement: &Measurement) {}

    fn decide(&mut self, ctx: &DecideContext<'_>) -> Option<Choice> {
        let open: Vec<usize> = ctx.open().collect();
        if open.is_empty() {
            return None;
        }
        let mut rng = seed::rng(self.master_seed, "random-policy", &[ctx.step as u64]);
        let pick = open[rng.random_range(0..open.len())];
        Some(Choice::unscored(pick, Source::Random))
    }
}

/// A regular lattice of about `points` locations over the frame, visited in
/// serpentine order (short moves); then raster order over what is left.
pub struct GridPolicy {
    lattice: Vec<usize>,
}

impl GridPolicy {
    pub fn new(candidates: &Candidates, points: u32) -> Self {
        let side = (points as f64).sqrt().ceil().max(1.0) as usize;
        let mut lattice: Vec<usize> = Vec::with_capacity(side * side);
        for i in 0..side {
            let row = (i as f64 + 0.5) / side as f64 * candidates.rows as f64;
            for j in 0..side {
                let j = if i % 2 == 0 { j } else { side - 1 - j };
                let col = (j as f64 + 0.5) / side as f64 * candidates.cols as f64;
                if let Some(k) = candidates.nearest(row, col, |k| !lattice.contains(&k)) {
                    lattice.push(k);
                }
            }
        }
        Self { lattice }
    }
}

impl Policy for GridPolicy {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Grid
    }

    fn observe(&mut self, _candidate: Option<usize>, _measurement: &Measurement) {}

    fn decide(&mut self, ctx: &DecideContext<'_>) -> Option<Choice> {
        let next = self
            .lattice
            .iter()
            .copied()
            .find(|&k| !ctx.taken[k])
            .or_else(|| ctx.open().next())?;
        Some(Choice::unscored(next, Source::Grid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_is_reproducible_per_step_and_avoids_taken() {
        let c = Candidates::new(64, 64, 16, 2, None);
        let mut taken = vec![false; c.len()];
        let mut p = RandomPolicy::new(3);
        let ctx = DecideContext {
            step: 5,
            candidates: &c,
            taken: &taken,
        };
        let a = p.decide(&ctx).unwrap().candidate;
        assert_eq!(a, RandomPolicy::new(3).decide(&ctx).unwrap().candidate);
        taken.iter_mut().enumerate().for_each(|(k, t)| *t = k != 7);
        let ctx = DecideContext {
            step: 5,
            candidates: &c,
            taken: &taken,
        };
        assert_eq!(p.decide(&ctx).unwrap().candidate, 7);
        taken[7] = true;
        let ctx = DecideContext {
            step: 5,
            candidates: &c,
            taken: &taken,
        };
        assert!(p.decide(&ctx).is_none());
    }

    #[test]
    fn grid_spreads_over_the_frame() {
        let c = Candidates::new(256, 256, 16, 2, None);
        let mut p = GridPolicy::new(&c, 16);
        let mut taken = vec![false; c.len()];
        let mut rows = Vec::new();
        for step in 0..16 {
            let k = p
                .decide(&DecideContext {
                    step,
                    candidates: &c,
                    taken: &taken,
                })
                .unwrap()
                .candidate;
            taken[k] = true;
            rows.push(c.site(k).0);
        }
        rows.sort_unstable();
        rows.dedup();
        assert_eq!(rows.len(), 4);
        assert!(rows[0] < 64 && rows[3] > 192, "{rows:?}");
    }
}
