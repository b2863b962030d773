//! What a resumed run takes back from the log besides the curves: the drift
//! estimate later moves follow, the tip's baseline and when its next check
//! is due, and the re-measures the quality gate had queued but not taken.
//! Each is read from the tables the run wrote, never from a side file, so a
//! run killed at any point resumes as if it had paused there.

use super::Engine;
use crate::record::{Decision, DriftEstimate};
use crate::store::SessionLog;
use std::collections::BTreeSet;

/// A decision's label when its curve checks the tip (see `step::choose`).
pub(super) const TIP_CHECK_LABEL: &str = "manual: tip check at the place of step";

/// The parts of a log the engine's own state is rebuilt from.
pub(super) struct Memory {
    /// Steps whose curve was a tip check.
    tip_check_steps: BTreeSet<u32>,
    /// The latest drift estimate (x, y nm).
    drift_nm: Option<[f64; 2]>,
    /// The pixel of a decision journaled before the crash whose curve is
    /// still to come.
    in_flight: Option<(u32, u32)>,
}

impl Memory {
    pub(super) fn of(log: &SessionLog) -> Self {
        Self {
            tip_check_steps: tip_check_steps(&log.decisions),
            drift_nm: log.drift.last().map(|d: &DriftEstimate| [d.dx_nm, d.dy_nm]),
            in_flight: log.dangling.as_ref().map(|d| (d.decision.row, d.decision.col)),
        }
    }
}

fn tip_check_steps(decisions: &[Decision]) -> BTreeSet<u32> {
    decisions
        .iter()
        .filter(|d| d.policy.starts_with(TIP_CHECK_LABEL))
        .map(|d| d.step)
        .collect()
}

impl Engine {
    /// Rebuilds the state a run keeps beside the log. Returns what was
    /// queued again, in words, for the resume's events.
    pub(super) fn restore(&mut self, memory: Memory) -> Vec<String> {
        if let Some(drift) = memory.drift_nm {
            self.drift_nm = drift;
        }
        self.restore_tip(&memory.tip_check_steps);
        self.restore_gate(memory.in_flight)
    }

    /// The tip's baseline as the checks in the log left it (each check under
    /// `tip_drop` of the baseline made its own level the next one), and the
    /// curves since the last check.
    fn restore_tip(&mut self, checks: &BTreeSet<u32>) {
        let Some(reference) = self.history.iter().find(|m| !m.failed_gate() && m.max_current_a > 0.0) else {
            return;
        };
        let mut baseline = None;
        let mut last_check = None;
        for m in self.history.iter().filter(|m| checks.contains(&m.step)) {
            last_check = Some(m.step);
            if m.failed_gate() {
                continue;
            }
            let base = *baseline.get_or_insert(reference.max_current_a);
            if m.max_current_a / base < self.plan.quality.tip_drop {
                baseline = Some(m.max_current_a);
                self.tip_changed_at = Some(m.step);
            }
        }
        self.tip_baseline = baseline;
        self.curves_since_tip_check = match last_check {
            Some(step) => self.history.iter().filter(|m| m.step > step).count() as u32,
            None => self.history.len() as u32,
        };
    }

    /// Places whose failed curve was to be measured again: every first
    /// failure at a place was queued; those with no later curve there (and
    /// not the decision in flight) are queued again.
    fn restore_gate(&mut self, in_flight: Option<(u32, u32)>) -> Vec<String> {
        let mut queued = Vec::new();
        let remeasure = self.plan.quality.remeasure;
        for (k, m) in self.history.iter().enumerate() {
            let at = (m.row, m.col);
            let the_tip = m.failed_gate() && m.quality != Some(crate::record::Quality::Compliance);
            if !the_tip || !self.gate_remeasured.insert(at) || !remeasure {
                continue;
            }
            // Measured again: a later location there (the rest of its own
            // set does not count).
            let later = self.history[k + 1..]
                .iter()
                .any(|n| (n.row, n.col) == at && n.location_no() != m.location_no());
            if !later && in_flight != Some(at) {
                queued.push((at, m.step));
            }
        }
        queued
            .into_iter()
            .map(|(at, step)| {
                self.queue.add_manual(at);
                self.repeats.push((at, step));
                format!(
                    "({}, {}) will be measured next: a repeat of step {step}, whose curve failed the quality gate \
                     before the run stopped",
                    at.0, at.1
                )
            })
            .collect()
    }
}
