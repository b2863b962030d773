//! The operator's word on a measured curve, between two curves: a rejected
//! curve stays in the log, flagged (`flags`), and every model from the next
//! decision and training on learns without it; a rejection can be taken
//! back; any curve's location can be measured again (a manual point).

use super::{Engine, EngineEvent, Stop};
use crate::record::flag::{REJECTED, RESTORED};
use crate::record::{EventKind, Flag, Measurement};
use crate::store::{Entry, now_ms};
use std::borrow::Cow;
use std::collections::BTreeSet;

/// Whether a model may learn from `m`: not rejected, and not failed by the
/// quality gate.
fn learnable(m: &Measurement, rejected: &BTreeSet<u32>) -> bool {
    !rejected.contains(&m.step) && !m.failed_gate()
}

/// `history` less the `rejected` steps and the curves the quality gate
/// failed; borrowed while there are none.
pub(super) fn learned<'a>(history: &'a [Measurement], rejected: &BTreeSet<u32>) -> Cow<'a, [Measurement]> {
    if history.iter().all(|m| learnable(m, rejected)) {
        return Cow::Borrowed(history);
    }
    Cow::Owned(history.iter().filter(|m| learnable(m, rejected)).cloned().collect())
}

impl Engine {
    /// The curves the models learn from: every curve but the rejected ones
    /// and those the gate failed (the log itself, not a copy, while there
    /// are none).
    pub(super) fn learned(&self) -> Cow<'_, [Measurement]> {
        learned(&self.history, &self.rejected)
    }

    /// How many curves the models learn from (a flag read from the log may
    /// name a step the log has no curve for: it takes none away).
    pub(super) fn learned_count(&self) -> usize {
        self.history.iter().filter(|m| learnable(m, &self.rejected)).count()
    }

    /// Rejects (`reject`) or restores the curve of `step`.
    pub(super) fn flag(&mut self, step: u32, reject: bool) -> Result<(), Stop> {
        if !self.history.iter().any(|m| m.step == step) {
            self.log(EventKind::FlagRefused, format!("no curve at step {step}"))?;
            return Ok(());
        }
        if self.rejected.contains(&step) == reject {
            let is = if reject { "rejected" } else { "not rejected" };
            self.log(
                EventKind::FlagRefused,
                format!("the curve of step {step} is {is} already"),
            )?;
            return Ok(());
        }
        let (word, reason) = if reject {
            (REJECTED, "rejected by the operator")
        } else {
            (RESTORED, "rejection taken back by the operator")
        };
        self.writer.append(Entry::Flag(Flag {
            step,
            t_ms: now_ms(),
            flag: word.into(),
            reason: reason.into(),
        }))?;
        if reject {
            self.rejected.insert(step);
        } else {
            self.rejected.remove(&step);
        }
        self.emit(EngineEvent::Rejected(self.rejected.iter().copied().collect()));
        let learned = self.learned_count();
        let (kind, what) = if reject {
            (EventKind::Rejected, "rejected: it stays in the log, flagged, and")
        } else {
            (EventKind::Restored, "restored: it")
        };
        let why = format!(
            "curve of step {step} {what} the models from the next decision on learn from {learned} of {} curves",
            self.history.len()
        );
        // The policy learns again from the curves it may use.
        self.replace_policy(why.clone())?;
        self.log(kind, why)?;
        Ok(())
    }

    /// Queues a new curve at the location of `step`'s (a manual point).
    pub(super) fn repeat(&mut self, step: u32) -> Result<(), Stop> {
        let Some(m) = self.history.iter().find(|m| m.step == step) else {
            self.log(EventKind::FlagRefused, format!("no curve at step {step} to repeat"))?;
            return Ok(());
        };
        let at = (m.row, m.col);
        self.queue.add_manual(at);
        self.repeats.push((at, step));
        self.log(
            EventKind::ManualAdded,
            format!("({}, {}) will be measured next: a repeat of step {step}", at.0, at.1),
        )?;
        self.rank_afresh();
        Ok(())
    }

    /// The step a manual point at `at` repeats, once (the oldest such ask).
    pub(super) fn take_repeat(&mut self, at: (u32, u32)) -> Option<u32> {
        let i = self.repeats.iter().position(|(p, _)| *p == at)?;
        Some(self.repeats.remove(i).1)
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
}
