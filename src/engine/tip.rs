//! Tip health: every `[quality] reference_every` curves the place of the
//! session's first good curve is measured again; a max current fallen under
//! `tip_drop` of what it was says the tip has changed (worn, blunted, picked
//! up dirt), which lowers every later current and would otherwise pass for
//! the film. Reported once per change (the new level is the next baseline).

use super::{Engine, Stop};
use crate::record::EventKind;

impl Engine {
    /// The reference: the first curve the gate passed (its step, pixel and
    /// max current).
    fn tip_reference(&self) -> Option<(u32, (u32, u32), f64)> {
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
        if q.reference_every == 0 {
            return Ok(());
        }
        let checking = std::mem::take(&mut self.checking_tip);
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
                // The changed tip's level is what later checks compare with.
                self.tip_baseline = Some(max_current_a);
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
            } else {
                self.log(EventKind::TipCheck, said)?;
            }
        }
        self.curves_since_tip_check += 1;
        if self.curves_since_tip_check >= q.reference_every
            && self.tip_checks.is_empty()
            && let Some((reference, at, _)) = self.tip_reference()
        {
            self.queue.add_manual(at);
            self.tip_checks.push((at, reference));
            self.curves_since_tip_check = 0;
            self.rank_afresh();
        }
        Ok(())
    }
}
