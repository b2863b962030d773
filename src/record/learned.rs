//! Which curves a model may learn from: every curve but those the
//! operator rejected (`flags`) and those the quality gate failed; with
//! several protocols, one curve per location whose whole set is in and
//! learnable. The live models and `dualscope analyze` read the log through
//! this one door.

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

/// The curves no model learns from whose max current still tells the
/// property map something, one per place (the one reaching highest), none
/// rejected: those the sweep cut at the current limit (`compliance`: the
/// film conducts up to the limit there, and the instrument records no more
/// anywhere), and those of a place where every curve, two or more, found no
/// contact (a dim place: its current stays within the noise however often
/// the tip lands there, while a lost contact comes back at the repeat).
pub fn max_current_only(history: &[Measurement], rejected: &BTreeSet<u32>) -> Vec<Measurement> {
    use super::Quality;
    let kept: Vec<&Measurement> = history.iter().filter(|m| !rejected.contains(&m.step)).collect();
    let dim = |m: &Measurement| {
        let mut at_place = kept.iter().filter(|n| (n.row, n.col) == (m.row, m.col));
        at_place.clone().count() >= 2 && at_place.all(|n| n.quality == Some(Quality::NoContact))
    };
    let mut only: Vec<Measurement> = Vec::new();
    for &m in kept
        .iter()
        .filter(|m| m.quality == Some(Quality::Compliance) || (m.quality == Some(Quality::NoContact) && dim(m)))
    {
        match only.iter_mut().find(|c| (c.row, c.col) == (m.row, m.col)) {
            Some(c) if c.max_current_a.abs() >= m.max_current_a.abs() => {}
            Some(c) => *c = m.clone(),
            None => only.push(m.clone()),
        }
    }
    only
}

/// Whether a model may learn from a location's `set` of curves: all
/// `protocols` of them are in, and each is learnable.
pub fn whole_and_learnable(set: &[Measurement], rejected: &BTreeSet<u32>, protocols: usize) -> bool {
    set.len() == protocols && set.iter().all(|m| learnable(m, rejected))
}

/// The log's locations, each as the run of curves it holds, in order.
fn locations(history: &[Measurement]) -> impl Iterator<Item = &[Measurement]> {
    history.chunk_by(|a, b| a.location_no() == b.location_no())
}

/// The learnable curves of a log whose locations get `protocols` sweeps
/// each: [`learned`] with one; with more, one [`combined`] curve per
/// location whose set is complete and wholly learnable.
pub fn learned_from<'a>(
    history: &'a [Measurement],
    rejected: &BTreeSet<u32>,
    protocols: usize,
) -> Cow<'a, [Measurement]> {
    if protocols <= 1 {
        return learned(history, rejected);
    }
    Cow::Owned(
        locations(history)
            .filter(|set| whole_and_learnable(set, rejected, protocols))
            .map(combined)
            .collect(),
    )
}

/// How many curves [`learned_from`] gives, without putting them together.
pub fn learned_count(history: &[Measurement], rejected: &BTreeSet<u32>, protocols: usize) -> usize {
    if protocols <= 1 {
        return history.iter().filter(|m| learnable(m, rejected)).count();
    }
    locations(history)
        .filter(|set| whole_and_learnable(set, rejected, protocols))
        .count()
}

/// A location's set of curves as the one curve the models see: the
/// protocols' curves end to end (bias and current), in the plan's order, so
/// the novelty and the spectral view take in how the response changes with
/// the bias range. Its scalars: the loop areas summed, the largest current,
/// the first protocol's onset; its place, step and source are the first
/// curve's.
pub fn combined(set: &[Measurement]) -> Measurement {
    let first = &set[0];
    Measurement {
        bias_v: set.iter().flat_map(|m| m.bias_v.iter().copied()).collect(),
        current_a: set.iter().flat_map(|m| m.current_a.iter().copied()).collect(),
        sweep_end: super::SweepEnd::Complete,
        hysteresis_area: set.iter().map(|m| m.hysteresis_area).sum(),
        max_current_a: set.iter().map(|m| m.max_current_a).fold(0.0, f64::max),
        protocol: None,
        location: Some(first.location_no()),
        ..first.clone()
    }
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

    /// One curve a place, the one reaching highest: every cut one, and a
    /// place's where all its curves (two or more) found no contact; none
    /// rejected, none of another verdict.
    #[test]
    fn the_max_current_alone_is_kept_of_cut_curves_and_of_dim_places() {
        let at = |step: u32, place: u32, top_a: f64, quality: Quality| Measurement {
            row: place,
            max_current_a: top_a,
            ..curve(step, Some(quality))
        };
        let history = vec![
            at(0, 1, 5e-9, Quality::Compliance),
            at(1, 2, 4e-9, Quality::Compliance),
            at(2, 1, 6e-9, Quality::Compliance),
            at(3, 3, 7e-9, Quality::Compliance),
            at(4, 4, 1e-9, Quality::Ok),
            // A lost contact that came back at the repeat.
            at(5, 5, 1e-13, Quality::NoContact),
            at(6, 5, 2e-10, Quality::Ok),
            // A dim place: no contact twice.
            at(7, 6, 2e-11, Quality::NoContact),
            at(8, 6, 3e-11, Quality::NoContact),
            // Once only: it tells nothing yet.
            at(9, 7, 2e-11, Quality::NoContact),
            at(10, 8, 9e-9, Quality::Noisy),
        ];
        let kept = |rejected: &[u32]| -> Vec<(u32, u32)> {
            max_current_only(&history, &rejected.iter().copied().collect())
                .iter()
                .map(|m| (m.step, m.row))
                .collect()
        };
        assert_eq!(kept(&[]), vec![(2, 1), (1, 2), (3, 3), (8, 6)]);
        assert_eq!(kept(&[1, 2, 8]), vec![(0, 1), (3, 3)]);
    }

    /// Sets of three: a location with a failed or rejected curve, or an
    /// unfinished set, is left out; the others are one curve each, their
    /// curves end to end.
    #[test]
    fn with_protocols_each_whole_learnable_set_is_one_curve() {
        let at = |step: u32, location: u32, protocol: u32, q: Quality| Measurement {
            location: Some(location),
            protocol: Some(protocol),
            ..curve(step, Some(q))
        };
        let history: Vec<Measurement> = [
            (0, 0, 0, Quality::Ok),
            (1, 0, 1, Quality::Ok),
            (2, 0, 2, Quality::Ok),
            (3, 1, 0, Quality::Ok),
            (4, 1, 1, Quality::Noisy),
            (5, 1, 2, Quality::Ok),
            (6, 2, 0, Quality::Ok),
            (7, 2, 1, Quality::Ok),
            (8, 2, 2, Quality::Ok),
            (9, 3, 0, Quality::Ok),
        ]
        .into_iter()
        .map(|(s, l, p, q)| at(s, l, p, q))
        .collect();
        let none = BTreeSet::new();
        let sets = learned_from(&history, &none, 3);
        assert_eq!(sets.iter().map(|m| m.step).collect::<Vec<_>>(), vec![0, 6]);
        assert_eq!(sets[0].current_a.len(), 9);
        assert_eq!(sets[0].location, Some(0));
        assert_eq!(
            learned_from(&history, &BTreeSet::from([7]), 3)
                .iter()
                .map(|m| m.step)
                .collect::<Vec<_>>(),
            vec![0]
        );
        // One protocol: the curves themselves.
        assert_eq!(learned_from(&history, &none, 1).len(), 9);
    }
}
