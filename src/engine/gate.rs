//! The quality gate between the instrument and the models: every curve is
//! judged as it comes in (`record::quality`); a failed one is kept in the
//! log, never learned from, and its place is measured once more; failures
//! in a row suspend the run, since the tip then needs a person.

use super::{Engine, Stop};
use crate::record::{EventKind, Measurement, quality};

impl Engine {
    /// The gate's verdict on a new curve, in its row (none with the gate off).
    pub(super) fn judge_curve(&self, m: &mut Measurement) {
        let q = &self.plan.quality;
        if q.gate {
            // With several sweeps a location, contact is judged on the one
            // that reaches highest: a low-bias sweep that stays under the
            // onset carries no current because of the film, not the tip.
            let judges_contact = self.protocols.len() < 2 || m.protocol == Some(self.widest_protocol());
            let lines = quality::Lines {
                min_contact_score: if judges_contact { q.min_contact_score } else { 0.0 },
                max_noise_ratio: q.max_noise_ratio,
            };
            // Held to the noise of the curves just before it: the log's own,
            // so a resumed run judges the next curve as an unbroken one would.
            let reference =
                quality::noise_reference_a(self.history.iter().map(|h| (h.quality, h.current_a.as_slice())));
            m.quality = Some(quality::judge(&m.bias_v, &m.current_a, m.sweep_end, lines, reference));
        }
    }

    /// After the curve of `step` at `at` is in the log: an event and a
    /// repeat for a failed one (once per place), and the suspender's count.
    /// A curve cut at the compliance limit failed because the film conducts
    /// past the limit there, not because of the tip: it is not measured
    /// again (it would be cut again) and it shows contact, so it breaks a
    /// run of failures rather than adding to it.
    pub(super) fn gate_passed_or_failed(
        &mut self,
        step: u32,
        at: (u32, u32),
        verdict: Option<quality::Quality>,
    ) -> Result<(), Stop> {
        let Some(verdict) = verdict.filter(|v| !v.is_ok()) else {
            self.failed_in_a_row = 0;
            return Ok(());
        };
        let the_tip = verdict != quality::Quality::Compliance;
        self.failed_in_a_row = if the_tip { self.failed_in_a_row + 1 } else { 0 };
        let q = &self.plan.quality;
        let again = the_tip && q.remeasure && self.gate_remeasured.insert(at);
        let then = if !the_tip {
            "; the film conducts past the current limit here, so it is not measured again"
        } else if again {
            "; its place is measured again next"
        } else if q.remeasure && self.repeats.iter().any(|(p, _)| *p == at) {
            "; its place is queued to be measured again"
        } else if q.remeasure {
            "; its place was measured again already"
        } else {
            ""
        };
        self.log(
            EventKind::QualityFailed,
            format!(
                "curve of step {step} at ({}, {}): {}; kept in the log, left out of every model{then}",
                at.0,
                at.1,
                verdict.label()
            ),
        )?;
        if again {
            self.repeat(step)?;
        }
        let limit = self.plan.quality.pause_after;
        // The tip check those failures asked for failed the gate itself.
        let check_failed = self.checking_tip && std::mem::take(&mut self.tip_check_for_failures);
        // With the budget spent the run is over anyway: nothing to save for a person.
        if limit == 0 || self.failed_in_a_row < limit || self.budget_spent() {
            return Ok(());
        }
        if self.tip_check_for_failures {
            if !self.tip_checks.is_empty() {
                // The check is still to come: it decides.
                return Ok(());
            }
            // Given up on or taken out of the queue: nothing said the tip is sound.
            self.tip_check_for_failures = false;
        } else if !check_failed
            && self.plan.quality.check_tip_before_pausing
            && let Some((reference, place, _)) = self.tip_reference()
        {
            self.log(
                EventKind::TipSuspected,
                format!(
                    "{} curves in a row failed the quality gate (the last: {}): before the run is suspended, \
                     the tip is checked at the place of step {reference}",
                    self.failed_in_a_row,
                    verdict.label()
                ),
            )?;
            // A check the schedule queued already is the one.
            if self.tip_checks.is_empty() {
                self.queue_tip_check(place, reference);
            }
            self.tip_check_for_failures = true;
            return Ok(());
        }
        let checked = if check_failed {
            ", the check of the tip at a place that conducted before among them"
        } else {
            ""
        };
        self.suspended = Some(format!(
            "{} curves in a row failed the quality gate{checked} (the last: {}): the tip needs a look; \
             the session is resumable",
            self.failed_in_a_row,
            verdict.label()
        ));
        Ok(())
    }
}
