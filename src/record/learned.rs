//! Which curves a model may learn from: every curve but those the
//! operator rejected (`flags`) and those the quality gate failed. The live
//! models and `dualscope analyze` read the log through this one door.

use super::Measurement;
use std::borrow::Cow;
use std::collections::BTreeSet;

/// Whether a model may learn from `m`: not rejected, and not failed by the
/// quality gate.
pub fn learnable(m: &Measurement, rejected: &BTreeSet<u32>) -> bool {
    !rejected.contains(&m.step) && !m.failed_gate()
}

/// `history` less the `rejected` steps and the curves the quality gate
/// failed; borrowed while there are none.
pub fn learned<'a>(history: &'a [Measurement], rejected: &BTreeSet<u32>) -> Cow<'a, [Measurement]> {
    if history.iter().all(|m| learnable(m, rejected)) {
        return Cow::Borrowed(history);
    }
    Cow::Owned(history.iter().filter(|m| learnable(m, rejected)).cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Quality, Source, Sweep, SweepEnd};

    fn curve(step: u32, quality: Option<Quality>) -> Measurement {
        let sweep = Sweep {
            bias_v: vec![0.0, 1.0, 0.0],
            current_a: vec![0.0, 1e-10, 0.0],
            end: SweepEnd::Complete,
        };
        Measurement {
            quality,
            ..Measurement::of_sweep(step, 0, (1, 1), (1.0, 1.0), Source::Seed, sweep, 1e-12)
        }
    }

    #[test]
    fn the_models_learn_from_neither_rejected_nor_failed_curves() {
        let history = vec![
            curve(0, Some(Quality::Ok)),
            curve(1, Some(Quality::NoContact)),
            curve(2, None),
            curve(3, Some(Quality::Compliance)),
        ];
        let none = BTreeSet::new();
        let steps = |c: Cow<'_, [Measurement]>| c.iter().map(|m| m.step).collect::<Vec<_>>();
        assert_eq!(steps(learned(&history, &none)), vec![0, 2]);
        assert_eq!(steps(learned(&history, &BTreeSet::from([2]))), vec![0]);
        // Nothing failed, nothing rejected: the log itself, no copy.
        let clean = vec![curve(0, Some(Quality::Ok)), curve(1, None)];
        assert!(matches!(learned(&clean, &none), Cow::Borrowed(_)));
    }
}
