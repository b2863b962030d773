//! The operator's word on a measured curve, between two curves: a rejected
//! curve stays in the log, flagged (`flags`), and every model from the next
//! decision and training on learns without it; a rejection can be taken
//! back; any curve's location can be measured again (a manual point).

use super::{Engine, EngineEvent, Stop};
use crate::record::flag::{REJECTED, RESTORED};
use crate::record::learned::learned_from;
use crate::record::{EventKind, Flag, Measurement};
use crate::store::{Entry, now_ms};
use std::borrow::Cow;

impl Engine {
    /// The curves the models learn from: every curve but the rejected ones
    /// and those the gate failed (the log itself, not a copy, while there
    /// are none).
    pub(super) fn learned(&self) -> Cow<'_, [Measurement]> {
        learned_from(&self.history, &self.rejected, self.protocols.len())
    }

    /// How many curves the models learn from (a flag read from the log may
    /// name a step the log has no curve for: it takes none away).
    pub(super) fn learned_count(&self) -> usize {
        crate::record::learned::learned_count(&self.history, &self.rejected, self.protocols.len())
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
