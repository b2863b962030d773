//! What goes into the engine (commands) and what comes out (events), and its
//! run states, after Bluesky's RunEngine.

use crate::record::{Event, Measurement, Source};
use crate::record::{Survey, SweepEnd};
use crate::store::SessionStatus;
use std::sync::Arc;
use std::time::Duration;

/// States of a run. Pause is deferred to the next checkpoint (between curves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Idle,
    Running,
    /// A pause was asked for; the current curve finishes first.
    Pausing,
    Paused,
    Aborting,
    /// Every curve is in; the last dual-VAE map trains before the session
    /// closes (a minute or more with an ensemble).
    Finishing,
    /// Stopped by the user: bias at 0 V, tip withdrawn, session resumable.
    Aborted,
    Finished,
    Failed,
}

impl RunState {
    pub fn label(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Running => "running",
            Self::Pausing => "pausing",
            Self::Paused => "paused",
            Self::Aborting => "aborting",
            Self::Finishing => "finishing",
            Self::Aborted => "aborted",
            Self::Finished => "finished",
            Self::Failed => "failed",
        }
    }

    /// Whether the experiment is still going (a quit should ask first).
    pub fn is_active(self) -> bool {
        matches!(self, Self::Running | Self::Pausing | Self::Aborting | Self::Finishing)
    }

    /// The whole state machine in one table, as Bluesky's RunEngine keeps
    /// it: which state may follow which. The engine checks every change.
    pub fn can_become(self, next: RunState) -> bool {
        use RunState::*;
        match self {
            Idle => matches!(next, Running | Failed),
            Running => matches!(next, Pausing | Paused | Aborting | Finishing | Finished | Failed),
            // A resume before the checkpoint goes back to running.
            Pausing => matches!(next, Running | Paused | Aborting | Finishing | Finished | Failed),
            // The wait for the last model: it lands, or the user stops waiting.
            Finishing => matches!(next, Finished | Aborting | Failed),
            Paused => matches!(next, Running | Aborting | Failed),
            Aborting => matches!(next, Aborted | Failed),
            // The end of a run: nothing follows in this process.
            Aborted | Finished | Failed => false,
        }
    }
}

/// A request to the engine; it acts on it at the next checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Pause,
    Resume,
    /// From paused: take one step, then pause again.
    StepOnce,
    /// Stop now: ramp the bias to 0, withdraw, mark the session aborted.
    Abort,
    /// Pause at the next checkpoint and end the run, leaving it resumable.
    Quit,
    /// Measure this pixel next (source `manual`).
    AddManual {
        row: u32,
        col: u32,
    },
    /// Take a queued location out: a manual or moved-up point is forgotten, a
    /// policy candidate is never measured.
    Drop {
        row: u32,
        col: u32,
    },
    /// Move a queued location one place earlier; a policy candidate is moved
    /// ahead of the policy's next choice.
    MoveUp {
        row: u32,
        col: u32,
    },
    /// Continue with another policy (it learns from every curve so far).
    SetPolicy(crate::plan::PolicyKind),
    /// Change the UCB exploration weight β.
    SetBeta(f64),
    /// Start a dual-VAE retraining now.
    RetrainNow,
    /// The operator's note for the lab notebook (an `events` row, kind `note`).
    Note(String),
    /// Keep seeds and policy points out of this region from now on.
    Exclude(crate::plan::Exclusion),
    /// Take back the excluded region at this place in the list.
    Include(usize),
    /// Reject the curve of this step: kept in the log, flagged, and left out
    /// of every model from the next decision on.
    Reject(u32),
    /// Take a rejection back.
    Restore(u32),
    /// Measure the location of this step's curve again (a manual point).
    Repeat(u32),
}

/// Why a location is in the acquisition queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    /// Added by the user: measured first, in order.
    Manual,
    /// A policy candidate the user moved up: measured after manual points.
    Pinned,
    /// The policy's current ranking.
    Policy,
}

/// One line of the acquisition queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueEntry {
    pub row: u32,
    pub col: u32,
    pub kind: QueueKind,
    pub score: Option<f64>,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub structure_novelty: Option<f64>,
    pub spectral_novelty: Option<f64>,
}

/// The live dual VAE's latest map, for the cluster pane.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterView {
    pub model_step: u32,
    pub summaries: Vec<crate::analysis::ClusterSummary>,
    /// Joint latent position and cluster of every location it learned from.
    pub points: Vec<(f32, f32, u32)>,
    /// The step of each of `points`, ascending (a rejected curve has none).
    pub steps: Vec<u32>,
    pub ari: Option<f64>,
    /// The model's predicted response at every candidate (the map's layers).
    pub properties: std::sync::Arc<crate::record::PropertyGrid>,
}

/// One measured step, for progress lines and the console.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    pub step: u32,
    pub budget: u32,
    pub row: u32,
    pub col: u32,
    pub x_nm: f64,
    pub y_nm: f64,
    pub source: Source,
    pub policy: String,
    pub sweep_end: SweepEnd,
    pub points: usize,
    pub max_current_a: f64,
    pub hysteresis_area: f64,
    pub onset_v: Option<f64>,
    /// Time this step took (decision, move and sweep).
    pub took: Duration,
    /// Time since the run (this process) started.
    pub elapsed: Duration,
    /// Estimated time to the session's close: the curves left and the
    /// dual-VAE training it waits for (see `engine::eta`).
    pub eta: Duration,
}

impl StepReport {
    /// The report of curve `m`, chosen by `policy`, of a session of `budget`.
    pub fn of(m: &Measurement, budget: u32, policy: String, took: Duration, elapsed: Duration, eta: Duration) -> Self {
        Self {
            step: m.step,
            budget,
            row: m.row,
            col: m.col,
            x_nm: m.x_nm,
            y_nm: m.y_nm,
            source: m.source,
            policy,
            sweep_end: m.sweep_end,
            points: m.bias_v.len(),
            max_current_a: m.max_current_a,
            hysteresis_area: m.hysteresis_area,
            onset_v: m.onset_v,
            took,
            elapsed,
            eta,
        }
    }
}

/// The wait for the last dual-VAE map, told every second while it trains.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalTraining {
    /// Curves the training under way learns from.
    pub curves: usize,
    /// Its member under way, 1-based, of `members`.
    pub member: usize,
    pub members: usize,
    /// Since the run (this process) started.
    pub elapsed: Duration,
    /// Until the session closes, by the same model as the ETA.
    pub eta: Duration,
}

/// What the engine tells the outside world, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    State(RunState),
    /// Connected: identity and the link in words.
    Connected {
        idn: String,
        link: String,
    },
    Survey {
        rows: u32,
        cols: u32,
        width_nm: f64,
        height_nm: f64,
        reused: bool,
    },
    Step(StepReport),
    /// A row of the `events` table (retries, pauses, errors, ...).
    Logged(Event),
    /// The survey image (once, and again after a resume).
    SurveyImage(Arc<Survey>),
    /// Every measurement already in the log when the run (re)starts.
    History(Arc<Vec<Measurement>>),
    /// The next location is chosen; the tip goes there now.
    Decided {
        step: u32,
        row: u32,
        col: u32,
        source: Source,
    },
    /// A new curve, whole.
    Measured(Arc<Measurement>),
    /// The acquisition queue after a decision or a queue command.
    Queue(Vec<QueueEntry>),
    /// The excluded regions, at the start and whenever they change.
    Regions(Vec<crate::plan::Exclusion>),
    /// The steps whose curves are rejected, at the start and on each change.
    Rejected(Vec<u32>),
    /// A new estimate of the sample's drift under the tip (x, y nm).
    Drift([f64; 2]),
    /// A new live dual-VAE map.
    Clusters(Arc<ClusterView>),
    /// The session waits for its last model (state `Finishing`).
    Finishing(FinalTraining),
    /// The policy or its β changed.
    PolicyChanged {
        policy: crate::plan::PolicyKind,
        beta: f64,
    },
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub status: SessionStatus,
    /// Steps measured by this process.
    pub steps_this_run: u32,
    /// Steps in the session log now.
    pub steps_total: u32,
    pub budget: u32,
    /// Why the run stopped, when it failed.
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::RunState::{self, *};

    const ALL: [RunState; 9] = [
        Idle, Running, Pausing, Paused, Aborting, Finishing, Aborted, Finished, Failed,
    ];

    #[test]
    fn the_state_table_allows_the_runs_paths_and_nothing_after_the_end() {
        // start → pause → resume → abort, and a run that just finishes.
        for path in [
            &[Idle, Running, Pausing, Paused, Running, Aborting, Aborted][..],
            &[Idle, Running, Pausing, Running, Finished],
            &[Idle, Running, Finishing, Finished],
            &[Idle, Running, Pausing, Finishing, Aborting, Aborted],
            &[Idle, Running, Paused, Failed],
        ] {
            for w in path.windows(2) {
                assert!(w[0].can_become(w[1]), "{:?} → {:?}", w[0], w[1]);
            }
        }
        for end in [Aborted, Finished, Failed] {
            assert!(ALL.iter().all(|s| !end.can_become(*s)), "{end:?} is an end");
        }
        assert!(!Paused.can_become(Finished), "a paused run finishes only by running");
        assert!(!Idle.can_become(Paused));
        assert!(!Aborting.can_become(Running), "an abort is not taken back");
        assert!(
            !Finishing.can_become(Running) && !Finishing.can_become(Paused),
            "no curve is left to take"
        );
    }
}
