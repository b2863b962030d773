//! What happened during a session, in words and by kind: the `events`
//! table's row, and trouble an instrument reports on its link.

use serde::{Deserialize, Serialize};

/// One row of `events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub t_ms: i64,
    pub kind: EventKind,
    pub detail: String,
}

/// Trouble on the link that the session log should show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEvent {
    pub kind: EventKind,
    pub detail: String,
}

/// What kind of thing happened: the `kind` of an `events` row. Written as
/// the snake-case word of each variant; a kind this version does not know
/// (a newer program's) reads back as `Other` and is kept as it was.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum EventKind {
    /// A new session began.
    Start,
    /// A session continued: after a pause, or in a new process.
    Resume,
    /// The survey image is being taken.
    Survey,
    /// The run paused, or ended resumable.
    Pause,
    /// The user aborted: bias at 0 V, tip withdrawn.
    Abort,
    /// The budget is spent or nothing is left to measure.
    Finish,
    /// The run stopped on an error.
    Error,
    /// A request went again on the same link (a lost or garbled line).
    Retry,
    /// The link came back after it was lost.
    Reconnect,
    /// The link went away.
    LinkLost,
    /// The instrument answered with an error.
    InstrumentError,
    /// The instrument forgot its state (it was reset) and was set up again.
    InstrumentReset,
    /// A reply that cannot be right, not believed.
    BadReply,
    /// A sweep failed at a point (tried again there).
    SweepFailed,
    /// A point given up on after its tries.
    SiteSkipped,
    /// The tip settled farther from where it was sent than a survey pixel or two.
    SettledOffTarget,
    /// The plan's and the instrument's compliance differ.
    Compliance,
    /// A replayed dataset says how it differs from what was asked.
    Replay,
    /// The user added a point.
    ManualAdded,
    /// A point the user asked for cannot be measured.
    ManualRefused,
    /// The user dropped a queued point.
    QueueDrop,
    /// The user moved a queued point up.
    QueueMoveUp,
    /// The policy or its β changed.
    Policy,
    /// The policy's worker failed; another policy took over.
    PolicyFailed,
    /// A β out of range was refused.
    BetaRefused,
    /// A dual-VAE retraining started, finished or was given up on.
    Retrain,
    /// A retraining ended without a map.
    RetrainFailed,
    /// Opening the log found damage and mended it.
    LogRepaired,
    /// A `[notify]` hook ran and ended well: its exit status and output.
    Notify,
    /// A `[notify]` hook failed, did not start, or was killed at its limit.
    NotifyFailed,
    /// The operator's note in the lab notebook (`n`, `dualscope note`).
    Note,
    /// A region of the frame was excluded (the console's `v`).
    ExcludeAdded,
    /// An excluded region was taken back (the console's `V`).
    ExcludeRemoved,
    /// A region out of the frame, or a region that is not there, refused.
    ExcludeRefused,
    /// The operator rejected a curve: flagged, left out of the models.
    Rejected,
    /// A rejection taken back.
    Restored,
    /// A flag or repeat for a curve that is not there (or flagged so already).
    FlagRefused,
    /// A curve failed the quality gate: kept, left out of the models.
    QualityFailed,
    /// Curves failed the gate in a row (or the tip changed): the run ended
    /// resumable, for a person to look at the tip.
    Suspended,
    /// The reference place measured again: the tip conducts as before.
    TipCheck,
    /// The reference place conducts much less than it did: the tip changed.
    TipChanged,
    /// The curves just measured conduct much less than those before them:
    /// the tip check is brought forward.
    TipSuspected,
    /// A new drift estimate from a re-image of the frame.
    Drift,
    /// A re-image that could not be used (failed, or did not line up).
    DriftRefused,
    /// A kind this version does not know, kept as it was written.
    Other(String),
}

impl EventKind {
    const KNOWN: [EventKind; 44] = [
        Self::Start,
        Self::Resume,
        Self::Survey,
        Self::Pause,
        Self::Abort,
        Self::Finish,
        Self::Error,
        Self::Retry,
        Self::Reconnect,
        Self::LinkLost,
        Self::InstrumentError,
        Self::InstrumentReset,
        Self::BadReply,
        Self::SweepFailed,
        Self::SiteSkipped,
        Self::SettledOffTarget,
        Self::Compliance,
        Self::Replay,
        Self::ManualAdded,
        Self::ManualRefused,
        Self::QueueDrop,
        Self::QueueMoveUp,
        Self::Policy,
        Self::PolicyFailed,
        Self::BetaRefused,
        Self::Retrain,
        Self::RetrainFailed,
        Self::LogRepaired,
        Self::Notify,
        Self::NotifyFailed,
        Self::Note,
        Self::ExcludeAdded,
        Self::ExcludeRemoved,
        Self::ExcludeRefused,
        Self::Rejected,
        Self::Restored,
        Self::FlagRefused,
        Self::QualityFailed,
        Self::Suspended,
        Self::TipCheck,
        Self::TipChanged,
        Self::TipSuspected,
        Self::Drift,
        Self::DriftRefused,
    ];

    /// The word in the `kind` column.
    pub fn label(&self) -> &str {
        match self {
            Self::Start => "start",
            Self::Resume => "resume",
            Self::Survey => "survey",
            Self::Pause => "pause",
            Self::Abort => "abort",
            Self::Finish => "finish",
            Self::Error => "error",
            Self::Retry => "retry",
            Self::Reconnect => "reconnect",
            Self::LinkLost => "link_lost",
            Self::InstrumentError => "instrument_error",
            Self::InstrumentReset => "instrument_reset",
            Self::BadReply => "bad_reply",
            Self::SweepFailed => "sweep_failed",
            Self::SiteSkipped => "site_skipped",
            Self::SettledOffTarget => "settled_off_target",
            Self::Compliance => "compliance",
            Self::Replay => "replay",
            Self::ManualAdded => "manual_added",
            Self::ManualRefused => "manual_refused",
            Self::QueueDrop => "queue_drop",
            Self::QueueMoveUp => "queue_move_up",
            Self::Policy => "policy",
            Self::PolicyFailed => "policy_failed",
            Self::BetaRefused => "beta_refused",
            Self::Retrain => "retrain",
            Self::RetrainFailed => "retrain_failed",
            Self::LogRepaired => "log_repaired",
            Self::Notify => "notify",
            Self::NotifyFailed => "notify_failed",
            Self::Note => "note",
            Self::ExcludeAdded => "exclude_added",
            Self::ExcludeRemoved => "exclude_removed",
            Self::ExcludeRefused => "exclude_refused",
            Self::Rejected => "rejected",
            Self::Restored => "restored",
            Self::FlagRefused => "flag_refused",
            Self::QualityFailed => "quality_failed",
            Self::Suspended => "suspended",
            Self::TipCheck => "tip_check",
            Self::TipChanged => "tip_changed",
            Self::TipSuspected => "tip_suspected",
            Self::Drift => "drift",
            Self::DriftRefused => "drift_refused",
            Self::Other(s) => s,
        }
    }

    pub fn parse(text: &str) -> Self {
        Self::KNOWN
            .into_iter()
            .find(|k| k.label() == text)
            .unwrap_or_else(|| Self::Other(text.to_string()))
    }

    /// Something went wrong (the console counts and colours these).
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            Self::Error
                | Self::InstrumentError
                | Self::LinkLost
                | Self::BadReply
                | Self::SweepFailed
                | Self::SiteSkipped
                | Self::PolicyFailed
                | Self::RetrainFailed
                | Self::NotifyFailed
                | Self::QualityFailed
                | Self::Suspended
                | Self::TipChanged
        )
    }
}

impl From<String> for EventKind {
    fn from(text: String) -> Self {
        Self::parse(&text)
    }
}

impl From<EventKind> for String {
    fn from(kind: EventKind) -> Self {
        kind.label().to_string()
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_as_itself_and_unknown_ones_are_kept() {
        for k in EventKind::KNOWN {
            assert_eq!(EventKind::parse(k.label()), k);
        }
        assert_eq!(
            EventKind::parse("future_thing"),
            EventKind::Other("future_thing".into())
        );
        assert_eq!(EventKind::parse("future_thing").label(), "future_thing");
        // The journal keeps the word, as journals always did.
        let mut bytes = Vec::new();
        ciborium::into_writer(&EventKind::BadReply, &mut bytes).unwrap();
        let word: String = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(word, "bad_reply");
    }
}
