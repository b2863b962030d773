//! Tip health: every `[quality] reference_every` curves the place of the
//! session's first good curve is measured again; a max current fallen under
//! `tip_drop` of what it was says the tip has changed (worn, blunted, picked
//! up dirt), which lowers every later current and would otherwise pass for
//! the film. Reported once per change (the new level is the next baseline).
//!
//! Between checks the curves' neighbours in time say when to look sooner:
//! the places differ, so one weak curve tells nothing, but when the median
//! max current of the newest [`RECENT`] good curves falls under `tip_drop`
//! of the median of the [`BEFORE`] before them, the check is brought
//! forward (a `tip_suspected` event). A false alarm costs one curve; only
//! the check at the reference place says the tip changed.

use super::{Engine, Stop};
use crate::record::{EventKind, Measurement};

/// The newest good curves whose median is held against the ones before.
pub(super) const RECENT: usize = 8;
/// The good curves before them, the median they are held to.
pub(super) const BEFORE: usize = 32;

/// Whether the newest [`RECENT`] good curves of `history` conduct under
/// `drop` of the [`BEFORE`] before them (medians of max current), counting
/// only curves after step `since` (a changed tip's). `None` while there are
/// too few; else the two medians.
pub(super) fn conducts_less(history: &[Measurement], since: Option<u32>, drop: f64) -> Option<(f64, f64)> {
    let good: Vec<f64> = history
        .iter()
        .rev()
        .take_while(|m| since.is_none_or(|s| m.step > s))
        .filter(|m| !m.failed_gate())
        .map(|m| m.max_current_a)
        .take(RECENT + BEFORE)
        .collect();
    if good.len() < RECENT + BEFORE {
        return None;
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (recent, before) = (median(&good[..RECENT]), median(&good[RECENT..]));
    (recent < drop * before).then_some((recent, before))
}

impl Engine {
    /// The reference: the first curve the gate passed (its step, pixel and
    /// max current).
    pub(super) fn tip_reference(&self) -> Option<(u32, (u32, u32), f64)> {
        self.history
            .iter()
            .find(|m| !m.failed_gate() && m.max_current_a > 0.0)
            .map(|m| (m.step, (m.row, m.col), m.max_current_a))
    }

    /// Whether the manual point at `at` is a queued tip check: then this
    /// step checks the tip, and the reference's step names it.
    pub(super) fn take_tip_check(&mut self, at: (u32, u32)) -> Option<u32> {
        let i = self.tip_checks.iter().position(|(p, _)| *p == at)?;
        self.checking_tip = true;
        Some(self.tip_checks.remove(i).1)
    }

    /// After each curve: a check's curve is held against the baseline, and
    /// the next check is queued when its turn comes.
    pub(super) fn tip_after_curve(&mut self, max_current_a: f64, failed: bool) -> Result<(), Stop> {
        let q = self.plan.quality.clone();
        let checking = std::mem::take(&mut self.checking_tip);
        // Asked for by failed curves in a row (`gate`), not by the schedule.
        let for_failures = checking && std::mem::take(&mut self.tip_check_for_failures);
        if checking
            && !failed
            && let Some((reference, _, first)) = self.tip_reference()
        {
            let baseline = *self.tip_baseline.get_or_insert(first);
            let ratio = max_current_a / baseline;
            let said = format!(
                "tip check at the place of step {reference}: max |I| {} against {} ({ratio:.2}×)",
                crate::fmt::current(max_current_a),
                crate::fmt::current(baseline),
            );
            if ratio < q.tip_drop {
                // The changed tip's level is what later checks compare with,
                // and its curves what later suspicions compare with.
                self.tip_baseline = Some(max_current_a);
                self.tip_changed_at = self.history.last().map(|m| m.step);
                let then = if q.tip_change_pauses {
                    "; the run ends here, resumable, for a person to look at the tip"
                } else {
                    ""
                };
                self.log(
                    EventKind::TipChanged,
                    format!("{said}, under {:.2}×: the tip has changed{then}", q.tip_drop),
                )?;
                if q.tip_change_pauses {
                    self.suspended = Some(format!("the tip has changed ({ratio:.2}× the reference's current)"));
                }
            } else if for_failures {
                self.log(
                    EventKind::TipCheck,
                    format!(
                        "{said}: the tip is sound, so the failed curves before it were brief losses of \
                         contact or places too weak to tell from none; the run goes on"
                    ),
                )?;
            } else {
                self.log(EventKind::TipCheck, said)?;
            }
        }
        if q.reference_every == 0 {
            return Ok(());
        }
        self.curves_since_tip_check += 1;
        // Brought forward: only once the newest window is all after the
        // last check, so one drop asks once.
        if self.curves_since_tip_check >= RECENT as u32
            && self.curves_since_tip_check < q.reference_every
            && self.tip_checks.is_empty()
            && !self.budget_spent()
            && let Some((recent, before)) = conducts_less(&self.history, self.tip_changed_at, q.tip_drop)
            && let Some((reference, at, _)) = self.tip_reference()
        {
            self.log(
                EventKind::TipSuspected,
                format!(
                    "the newest {RECENT} good curves conduct {} (median max |I|) against {} for the {BEFORE} before \
                     them ({:.2}×): the tip is checked now at the place of step {reference}",
                    crate::fmt::current(recent),
                    crate::fmt::current(before),
                    recent / before
                ),
            )?;
            self.queue_tip_check(at, reference);
            return Ok(());
        }
        // A check queued after the budget's last curve would never be taken.
        if self.curves_since_tip_check >= q.reference_every
            && self.tip_checks.is_empty()
            && !self.budget_spent()
            && let Some((reference, at, _)) = self.tip_reference()
        {
            self.queue_tip_check(at, reference);
        }
        Ok(())
    }

    /// Queues a check of the tip at `at`, the place of step `reference`.
    pub(super) fn queue_tip_check(&mut self, at: (u32, u32), reference: u32) {
        self.queue.add_manual(at);
        self.tip_checks.push((at, reference));
        self.curves_since_tip_check = 0;
        self.rank_afresh();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Quality, Source, Sweep, SweepEnd};

    fn curve(step: u32, max_a: f64, quality: Quality) -> Measurement {
        let sweep = Sweep {
            bias_v: vec![0.0, 1.0, 0.0],
            current_a: vec![0.0, max_a, 0.0],
            end: SweepEnd::Complete,
        };
        Measurement {
            quality: Some(quality),
            ..Measurement::of_sweep(step, 0, (1, 1), (1.0, 1.0), Source::Policy, sweep, 1e-12)
        }
    }

    /// Places differ: one weak curve, or a few, raise nothing; a run of
    /// weak ones does; failed curves are not counted, and a changed tip's
    /// curves are held only to each other.
    #[test]
    fn a_run_of_weak_curves_after_strong_ones_raises_the_suspicion() {
        let mut h: Vec<Measurement> = (0..40)
            .map(|k| curve(k, if k % 5 == 0 { 10e-12 } else { 100e-12 }, Quality::Ok))
            .collect();
        assert_eq!(conducts_less(&h, None, 0.6), None);
        for k in 40..44 {
            h.push(curve(k, 30e-12, Quality::Ok));
        }
        assert_eq!(
            conducts_less(&h, None, 0.6),
            None,
            "half the window weak: the median holds"
        );
        // Failed curves (no contact reads ~0) count for nothing.
        for k in 44..50 {
            h.push(curve(k, 1e-13, Quality::NoContact));
        }
        assert_eq!(conducts_less(&h, None, 0.6), None);
        for k in 50..54 {
            h.push(curve(k, 30e-12, Quality::Ok));
        }
        let (recent, before) = conducts_less(&h, None, 0.6).expect("eight weak curves in a row");
        assert!((recent - 30e-12).abs() < 1e-18 && (before - 100e-12).abs() < 1e-18);
        // After a change found at step 45, too few curves to tell.
        assert_eq!(conducts_less(&h, Some(45), 0.6), None);
    }
}
