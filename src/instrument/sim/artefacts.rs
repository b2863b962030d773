//! The artefacts of a long session on a real C-AFM (`[sim.artefacts]`):
//! the sample drifts under the tip, the piezo creeps on after a long move,
//! some sweeps find no contact, some are noisy, and the tip changes after a
//! while. All of it
//! runs on the instrument's own clock (the real microscope's time, so a
//! session at `time_scale = 0` drifts as far as one at real speed), and all
//! of it is seeded.

use crate::plan::ArtefactPlan;
use crate::seed;
use rand::Rng;

/// The artefacts' state: the instrument's clock and its last move.
#[derive(Debug, Clone)]
pub struct Artefacts {
    plan: ArtefactPlan,
    master_seed: u64,
    clock_ms: f64,
    /// (move vector in nm, clock at its end) of the last move.
    last_move: Option<([f64; 2], f64)>,
}

impl Artefacts {
    pub fn new(plan: &ArtefactPlan, master_seed: u64) -> Self {
        Self {
            plan: plan.clone(),
            master_seed,
            clock_ms: 0.0,
            last_move: None,
        }
    }

    /// Instrument time passes (whether or not the simulator waits for it).
    pub fn advance(&mut self, ms: f64) {
        self.clock_ms += ms.max(0.0);
    }

    pub fn clock_ms(&self) -> f64 {
        self.clock_ms
    }

    /// A move of (dx, dy) nm has just ended.
    pub fn moved(&mut self, by_nm: [f64; 2]) {
        self.last_move = Some((by_nm, self.clock_ms));
    }

    /// How far the sample has drifted since the clock started (x, y nm):
    /// the constant velocity's path plus the turning part's, integrated.
    pub fn drift_nm(&self) -> [f64; 2] {
        let p = &self.plan;
        let t_min = self.clock_ms / 60_000.0;
        let omega = std::f64::consts::TAU / p.drift_period_min;
        let w = p.drift_wobble_nm_per_min;
        // ∫ w·(sin ωs, cos ωs) ds from 0 to t.
        let (wx, wy) = if w != 0.0 {
            (
                w / omega * (1.0 - (omega * t_min).cos()),
                w / omega * (omega * t_min).sin(),
            )
        } else {
            (0.0, 0.0)
        };
        [p.drift_nm_per_min[0] * t_min + wx, p.drift_nm_per_min[1] * t_min + wy]
    }

    /// How far past the commanded point the piezo has crept by now (x, y nm).
    pub fn creep_nm(&self) -> [f64; 2] {
        let p = &self.plan;
        match self.last_move {
            Some((by, at_ms)) if p.creep_fraction > 0.0 => {
                let settled = 1.0 - (-(self.clock_ms - at_ms) / 1000.0 / p.creep_tau_s).exp();
                [by[0] * p.creep_fraction * settled, by[1] * p.creep_fraction * settled]
            }
            _ => [0.0, 0.0],
        }
    }

    /// The point of the film (nm, in the survey's frame) under a tip sent to
    /// (x, y): where the piezo really is, less how far the sample drifted.
    pub fn under_tip(&self, x_nm: f64, y_nm: f64) -> (f64, f64) {
        let ([cx, cy], [dx, dy]) = (self.creep_nm(), self.drift_nm());
        (x_nm + cx - dx, y_nm + cy - dy)
    }

    /// Whether the sweep keyed by place and visit finds no contact (keyed as
    /// the noise is, so a resumed session sees the same).
    pub fn contact_lost(&self, key: (u64, u64), visit: u64) -> bool {
        let share = self.plan.contact_loss;
        share > 0.0 && seed::rng(self.master_seed, "contact-loss", &[key.0, key.1, visit]).random::<f64>() < share
    }

    /// What the noise of the sweep keyed by place and visit is scaled by:
    /// `noisy_factor` on a `noisy_share` of the sweeps, drawn apart from
    /// contact loss (a lost contact can be noisy too), else 1.
    pub fn noise_factor(&self, key: (u64, u64), visit: u64) -> f64 {
        let share = self.plan.noisy_share;
        if share > 0.0 && seed::rng(self.master_seed, "noisy-sweep", &[key.0, key.1, visit]).random::<f64>() < share {
            self.plan.noisy_factor
        } else {
            1.0
        }
    }

    /// What every current is scaled by on the instrument's `sweep`-th sweep
    /// (1-based): 1 until the tip changes, `tip_change_factor` after.
    pub fn current_factor(&self, sweep: u64) -> f64 {
        let after = self.plan.tip_change_after as u64;
        if after > 0 && sweep > after {
            self.plan.tip_change_factor
        } else {
            1.0
        }
    }
}

/// A simulated instrument on film `draw` of the simulator's family with
/// `artefacts` on, engaged, and the plan it was made from.
fn family_instrument(draw: u32, artefacts: ArtefactPlan) -> (super::SimInstrument, crate::plan::SessionPlan) {
    use crate::instrument::Instrument;
    let mut plan = crate::plan::SessionPlan::default();
    plan.sim.time_scale = 0.0;
    plan.film.draw = draw;
    plan.sim.artefacts = artefacts;
    let mut sim = super::SimInstrument::new(super::SimConfig::from_plan(&plan)).expect("the simulator needs no files");
    sim.engage().expect("the simulator engages");
    (sim, plan)
}

/// The curves at `places` seeded random places of film `draw`, each taken
/// by every instrument of `instruments` (the same film with other
/// artefacts), handed to `keep` as (instrument's index, curve).
fn at_random_places(
    draw: u32,
    places: usize,
    instruments: &mut [&mut super::SimInstrument],
    plan: &crate::plan::SessionPlan,
    mut keep: impl FnMut(usize, &crate::record::Sweep),
) {
    use crate::instrument::Instrument;
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(draw as u64);
    for _ in 0..places {
        let (x, y) = (
            rng.random_range(0.0..plan.survey.width_nm),
            rng.random_range(0.0..plan.survey.height_nm),
        );
        for (k, sim) in instruments.iter_mut().enumerate() {
            if let Ok(sweep) = sim.move_to(x, y).and_then(|_| sim.sweep(&plan.sweep.first())) {
                keep(k, &sweep);
            }
        }
    }
}

/// The contact score (`record::quality::contact_score`) of the curves at
/// `places` seeded random places of film `draw` of the simulator's family:
/// (as measured, with the tip out of contact). What the quality gate's line
/// is chosen on (`examples/quality_gate.rs`) and checked against.
pub fn contact_scores(draw: u32, places: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut touching, plan) = family_instrument(draw, ArtefactPlan::default());
    let (mut lifted, _) = family_instrument(
        draw,
        ArtefactPlan {
            contact_loss: 1.0,
            ..ArtefactPlan::default()
        },
    );
    let (mut on, mut off) = (Vec::new(), Vec::new());
    at_random_places(draw, places, &mut [&mut touching, &mut lifted], &plan, |k, sweep| {
        if let Some(s) = crate::record::quality::contact_score(&sweep.bias_v, &sweep.current_a) {
            [&mut on, &mut off][k].push(s);
        }
    });
    (on, off)
}

/// The noise ratio the gate holds a curve to (its noise,
/// `record::quality::noise_a`, over the median noise of the session's
/// recent curves) for the curves at `places` seeded random places of film
/// `draw`: (as measured, with `noisy_factor` times the film's noise). The
/// reference is what a session would have: the median over the first
/// [`NOISE_REFERENCE_CURVES`](crate::record::quality::NOISE_REFERENCE_CURVES)
/// clean curves. Curves cut at the compliance limit are left out, as the
/// gate judges them so before their noise. What the gate's noise line is
/// chosen on (`examples/quality_gate.rs`) and checked against.
pub fn noise_ratios(draw: u32, places: usize, noisy_factor: f64) -> (Vec<f64>, Vec<f64>) {
    use crate::record::{SweepEnd, quality};
    let (mut clean, plan) = family_instrument(draw, ArtefactPlan::default());
    let (mut noisy, _) = family_instrument(
        draw,
        ArtefactPlan {
            noisy_share: 1.0,
            noisy_factor,
            ..ArtefactPlan::default()
        },
    );
    let (mut steady, mut loud) = (Vec::new(), Vec::new());
    at_random_places(draw, places, &mut [&mut clean, &mut noisy], &plan, |k, sweep| {
        if sweep.end == SweepEnd::Complete
            && let Some(n) = quality::noise_a(&sweep.current_a)
        {
            [&mut steady, &mut loud][k].push(n);
        }
    });
    let mut first: Vec<f64> = steady.iter().take(quality::NOISE_REFERENCE_CURVES).copied().collect();
    first.sort_by(f64::total_cmp);
    let reference = first[first.len() / 2];
    let ratio = |v: Vec<f64>| v.into_iter().map(|n| n / reference).collect();
    (ratio(steady), ratio(loud))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> ArtefactPlan {
        ArtefactPlan {
            drift_nm_per_min: [5.0, -2.0],
            creep_fraction: 0.02,
            creep_tau_s: 10.0,
            contact_loss: 0.03,
            tip_change_after: 150,
            ..ArtefactPlan::default()
        }
    }

    #[test]
    fn the_sample_drifts_with_the_instruments_clock() {
        let mut a = Artefacts::new(&plan(), 1);
        assert_eq!(a.drift_nm(), [0.0, 0.0]);
        a.advance(120_000.0);
        let [dx, dy] = a.drift_nm();
        assert!((dx - 10.0).abs() < 1e-9 && (dy + 4.0).abs() < 1e-9, "{dx} {dy}");
        // The tip sent to (100, 100) sees the film 10 nm left, 4 nm up of it.
        let (x, y) = a.under_tip(100.0, 100.0);
        assert!((x - 90.0).abs() < 1e-9 && (y - 104.0).abs() < 1e-9);
        // The turning part comes back to where it began after one period.
        let turning = ArtefactPlan {
            drift_wobble_nm_per_min: 3.0,
            drift_period_min: 10.0,
            ..ArtefactPlan::default()
        };
        let mut b = Artefacts::new(&turning, 1);
        b.advance(5.0 * 60_000.0);
        let half = b.drift_nm();
        assert!((half[0] - 3.0 * 10.0 / std::f64::consts::PI).abs() < 1e-6, "{half:?}");
        b.advance(5.0 * 60_000.0);
        assert!(b.drift_nm().iter().all(|v| v.abs() < 1e-6), "{:?}", b.drift_nm());
    }

    #[test]
    fn the_piezo_creeps_on_after_a_move_and_settles() {
        let mut a = Artefacts::new(&plan(), 1);
        a.moved([1000.0, 0.0]);
        assert_eq!(a.creep_nm(), [0.0, 0.0]);
        a.advance(10_000.0);
        let [cx, _] = a.creep_nm();
        assert!((cx - 20.0 * (1.0 - (-1.0f64).exp())).abs() < 1e-9, "{cx}");
        a.advance(1e6);
        assert!((a.creep_nm()[0] - 20.0).abs() < 1e-6);
        // A new move starts its own creep.
        a.moved([0.0, -500.0]);
        assert_eq!(a.creep_nm(), [0.0, 0.0]);
    }

    /// The gate's default line, chosen on draws 1–10, on the validation
    /// draws 101–110 and the demo film: no curve without contact passes, and
    /// almost every curve in contact does.
    #[test]
    fn the_gates_line_holds_on_films_it_was_not_chosen_on() {
        let line = crate::plan::QualityPlan::default().min_contact_score;
        let (mut missed, mut passed, mut curves) = (0, 0, 0);
        for draw in [0].into_iter().chain(101..=110) {
            let (on, off) = contact_scores(draw, 60);
            missed += on.iter().filter(|s| **s < line).count();
            passed += off.iter().filter(|s| **s >= line).count();
            curves += on.len();
        }
        assert_eq!(passed, 0, "a curve of only noise passed the gate");
        assert!(missed * 200 <= curves, "{missed} of {curves} curves in contact failed");
    }

    /// The noise line, chosen on draws 1–10, on draws 101–110 and the demo
    /// film: no ordinary curve is noisy, every curve with 3× the noise is.
    #[test]
    fn the_noise_line_holds_on_films_it_was_not_chosen_on() {
        let line = crate::plan::QualityPlan::default().max_noise_ratio;
        for draw in [0].into_iter().chain(101..=110) {
            let (steady, loud) = noise_ratios(draw, 60, 3.0);
            assert!(steady.len() >= 55 && loud.len() == steady.len(), "draw {draw}");
            let worst = steady.iter().copied().fold(0.0, f64::max);
            let quietest = loud.iter().copied().fold(f64::INFINITY, f64::min);
            assert!(
                worst < line && quietest > line,
                "draw {draw}: {worst} {quietest} against {line}"
            );
        }
    }

    #[test]
    fn contact_is_lost_on_about_the_planned_share_and_the_tip_changes_once() {
        let a = Artefacts::new(&plan(), 7);
        let lost = (0..4000u64).filter(|k| a.contact_lost((*k, 3), 0)).count();
        assert!((80..=160).contains(&lost), "{lost} of 4000");
        // Keyed by place and visit: the same answer every time.
        assert_eq!(a.contact_lost((5, 3), 0), a.contact_lost((5, 3), 0));
        assert_eq!(a.current_factor(150), 1.0);
        assert_eq!(a.current_factor(151), 0.4);
        let off = Artefacts::new(&ArtefactPlan::default(), 7);
        assert!(!(0..1000u64).any(|k| off.contact_lost((k, 1), 0)));
        assert_eq!(off.current_factor(10_000), 1.0);
    }
}
