//! What one decision costs on this frame, timed before the first: while only
//! seeds (which take no fit) have been measured, the ETA has nothing else to
//! go on, and on the demo plan a policy step costs 1.4–2.3× a seed step.

use super::settings::{DnDklSettings, Observation};
use super::worker::DecisionCore;
use crate::ml::patches;
use crate::record::{Candidates, Survey};
use std::time::Instant;

/// Seconds one ranking takes after `n` curves, for each `n` of `sizes`
/// (ascending): a core of its own, fed made-up curves at candidates spread
/// over the frame, timed on the ranking after one more curve (as in a run,
/// where the structural novelty of earlier curves is already settled).
/// Nothing of the session's own policy is touched. Then, at the last size,
/// two more rankings are timed inside `beside` (which runs what it is given
/// beside a training, as in a run), their mean in `beside`.
pub fn time_decisions(
    settings: &DnDklSettings,
    survey: &Survey,
    candidates: &Candidates,
    sizes: &[usize],
    beside: impl FnOnce(&mut dyn FnMut()),
) -> DecisionTimes {
    let image = patches::normalise(&survey.heights_nm);
    let side = candidates.patch_px as usize;
    let mut core = DecisionCore::new(settings.clone(), patches::extract(&image, candidates));
    let points = settings.sweep_points.max(2);
    let made_up = |k: usize| -> Observation {
        let site = (k * 7919) % candidates.len().max(1);
        let (row, col) = candidates.site(site);
        let onset = 0.3 + 0.05 * (k % 9) as f64;
        let current_a = (0..points)
            .map(|p| {
                let v = 1.5 * (1.0 - (2.0 * p as f64 / (points - 1) as f64 - 1.0).abs());
                1e-10 / (1.0 + (-(v - onset) * 8.0).exp()) * (1.0 + 0.1 * (k % 4) as f64)
            })
            .collect();
        Observation {
            patch: patches::patch_at(&image, row, col, side),
            candidate: Some(site),
            current_a,
            // Only read when the kernel learns a scalar instead of novelty.
            target: (k % 5) as f64,
            catching_up: false,
        }
    };
    let mut absorbed = 0;
    let mut timed = DecisionTimes::default();
    for &n in sizes {
        while absorbed + 1 < n.max(2) {
            core.absorb(made_up(absorbed));
            absorbed += 1;
        }
        if core.rank().is_err() {
            return timed;
        }
        core.absorb(made_up(absorbed));
        absorbed += 1;
        let t0 = Instant::now();
        if core.rank().is_err() {
            return timed;
        }
        timed.alone.push((absorbed, t0.elapsed().as_secs_f64()));
    }
    let mut tries = Vec::new();
    beside(&mut || {
        for _ in 0..2 {
            core.absorb(made_up(absorbed));
            absorbed += 1;
            let t0 = Instant::now();
            if core.rank().is_ok() {
                tries.push(t0.elapsed().as_secs_f64());
            }
        }
    });
    if !tries.is_empty() && !timed.alone.is_empty() {
        timed.beside = Some((absorbed, tries.iter().sum::<f64>() / tries.len() as f64));
    }
    timed
}

/// Decisions timed by [`time_decisions`]: (curves, seconds) alone at each
/// size, and beside a training at the last.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecisionTimes {
    pub alone: Vec<(usize, f64)>,
    pub beside: Option<(usize, f64)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PolicyKind, SessionPlan};

    #[test]
    fn a_decision_is_timed_at_each_size_on_a_copy_of_its_own() {
        let heights_nm =
            ndarray::Array2::from_shape_fn((48, 48), |(r, c)| ((r as f64) * 0.3).sin() + (c as f64 * 0.2).cos());
        let survey = Survey {
            width_nm: 500.0,
            height_nm: 500.0,
            heights_nm,
        };
        let candidates = Candidates::new(48, 48, 16, 4, None);
        let plan = SessionPlan::default();
        let settings = DnDklSettings::from_plan(PolicyKind::DnDkl, &plan);
        let mut ran = false;
        let timed = time_decisions(&settings, &survey, &candidates, &[4, 12], |work| {
            ran = true;
            work()
        });
        assert!(ran);
        assert_eq!(timed.alone.iter().map(|t| t.0).collect::<Vec<_>>(), vec![4, 12]);
        assert!(timed.alone.iter().all(|t| t.1 > 0.0 && t.1 < 30.0), "{timed:?}");
        // Two more curves, each ranked beside.
        let (n, s) = timed.beside.expect("timed beside");
        assert!(n == 14 && s > 0.0 && s < 30.0, "{timed:?}");
    }
}
