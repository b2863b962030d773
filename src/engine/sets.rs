//! A location's set of sweeps (`[[sweep.protocol]]`): one decision, then a
//! curve per protocol in the plan's order, each its own step and row. The
//! set is taken from the log, not kept aside: the newest location is open
//! while it has fewer curves than there are protocols, so a run stopped (or
//! killed) between two of its curves goes on with the next one on resume,
//! never measuring a logged curve again and never skipping one. Models
//! learn from a location once its whole set is in and passed the gate.

use super::{Engine, Stop};
use crate::record::{Measurement, Source};

/// The location whose set of curves is not complete yet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct OpenSet {
    pub location: u32,
    /// The protocol its next curve takes.
    pub protocol: u32,
    /// The pixel its decision chose.
    pub at: (u32, u32),
    /// Why the location is measured (its first curve's source).
    pub source: Source,
}

impl Engine {
    /// How many sweeps each location gets.
    pub(super) fn protocol_count(&self) -> u32 {
        self.protocols.len() as u32
    }

    /// The protocol that reaches the highest |bias| (the first of equals):
    /// where a set's contact is judged.
    pub(super) fn widest_protocol(&self) -> u32 {
        let mut widest = 0;
        for (k, p) in self.protocols.iter().enumerate() {
            if p.top_v() > self.protocols[widest].top_v() {
                widest = k;
            }
        }
        widest as u32
    }

    /// The number the next new location gets.
    pub(super) fn next_location(&self) -> u32 {
        self.history.last().map(|m| m.location_no() + 1).unwrap_or(0)
    }

    /// The newest location, while curves of its set are still to come.
    pub(super) fn open_set(&self) -> Option<OpenSet> {
        let last = self.history.last()?;
        let protocol = last.protocol_no() + 1;
        if protocol >= self.protocol_count() || self.set_given_up == Some(last.location_no()) {
            return None;
        }
        // Decisions are one per location: the newest is this location's.
        let at = self.asked.last().copied().unwrap_or((last.row, last.col));
        Some(OpenSet {
            location: last.location_no(),
            protocol,
            at,
            source: last.source,
        })
    }

    /// The budget's locations are all begun and the last one's set is in.
    pub(super) fn budget_spent(&self) -> bool {
        self.open_set().is_none() && self.next_location() >= self.plan.policy.budget
    }

    /// The curves of location `location`, in the order taken (the newest
    /// location's, or any whose curves sit together in the log).
    fn set_of(&self, location: u32) -> &[Measurement] {
        let end = self
            .history
            .iter()
            .rposition(|m| m.location_no() == location)
            .map_or(0, |k| k + 1);
        let start = self.history[..end]
            .iter()
            .rposition(|m| m.location_no() != location)
            .map_or(0, |k| k + 1);
        &self.history[start..end]
    }

    /// What a model learns from a location once its set is complete: the
    /// set as one curve when every curve of it passed (see
    /// [`crate::record::learned::combined`]), the curve itself with one
    /// protocol; `None` while the set is open or when any curve failed.
    pub(super) fn learnable_set(&self, location: u32) -> Option<Measurement> {
        use crate::record::learned::{combined, whole_and_learnable};
        let set = self.set_of(location);
        whole_and_learnable(set, &self.rejected, self.protocols.len()).then(|| combined(set))
    }

    /// Before the first move: an instrument that would serve another sweep
    /// than one of the set asks for (a replay that holds other protocols)
    /// ends the run here rather than leave every location's set cut short.
    /// With one protocol a replay's own sweep is served as stored, as ever.
    pub(super) fn check_protocols_served(&self) -> Result<(), Stop> {
        if self.protocols.len() < 2 {
            return Ok(());
        }
        for (k, asked) in self.protocols.iter().enumerate() {
            let served = self.instrument.sweep_served(asked);
            if !served.same_range(asked) {
                return Err(Stop::SweepNotServed(format!(
                    "sweep.protocol[{k}] asks {}→{}→{} V in {} points; the instrument serves {}→{}→{} V in {} \
                     points for it: change the plan's protocols to sweeps it holds",
                    asked.v_start,
                    asked.v_max,
                    asked.v_end,
                    asked.points,
                    served.v_start,
                    served.v_max,
                    served.v_end,
                    served.points
                )));
            }
        }
        Ok(())
    }
}
