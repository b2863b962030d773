//! The run loop: one thread owns the instrument and the policy and walks the
//! session through survey → Latin-hypercube seeds → policy steps → done.
//! It takes commands at checkpoints between curves and reports events; it never
//! waits on a screen.

//!
//! Rooms: `messages` (the engine's whole surface: states, commands, events),
//! `handle` (the engine as a value you spawn), `run` (one run from connect to
//! close), `checkpoint` (commands between curves), `step` (one curve),
//! `queue` (the user's points and the seeds), `models` (the live dual VAE),
//! `retrain` (its background trainings), `setup` (opening a session), `stop`
//! (why a run ends).

mod checkpoint;
mod drift;
pub mod eta;
mod flags;
mod gate;
mod handle;
mod messages;
mod models;
mod notify;
mod queue;
mod regions;
mod restore;
mod retrain;
mod run;
mod sets;
mod setup;
mod step;
mod stop;
mod tip;

pub use handle::{EngineError, EngineHandle, Running};
pub use messages::*;
pub use setup::{Resume, SetupError, check_new, prepare_new, prepare_resume};

use crate::instrument::Instrument;
use crate::plan::SessionPlan;
use crate::policy::Policy;
use crate::record::{Candidates, Event, EventKind, Limits, Measurement, Survey};
use crate::store::reader::Dangling;
use crate::store::{Entry, SessionWriter, StoreError, now_ms};
use queue::{Queue, Seeds};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver};
use std::time::Instant;
use stop::Stop;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// The engine of one session.
pub struct Engine {
    plan: SessionPlan,
    instrument: Box<dyn Instrument>,
    writer: SessionWriter,
    survey: Option<Arc<Survey>>,
    history: Vec<Measurement>,
    /// A decision journaled before a crash whose curve was never taken.
    dangling: Option<Dangling>,
    /// The dangling decision being measured has its `decisions` row already.
    dangling_was_row: bool,
    /// Locations given up on since the last good curve.
    skipped_in_a_row: u32,
    /// Curves in a row the quality gate failed.
    failed_in_a_row: u32,
    /// A tip check is queued because of those failures: until its curve is
    /// in, they do not end the run.
    tip_check_for_failures: bool,
    /// Places measured again after a failed curve (once each).
    gate_remeasured: std::collections::BTreeSet<(u32, u32)>,
    /// Why the run should end here, resumable (the gate's suspender, a
    /// changed tip).
    suspended: Option<String>,
    /// Tip checks queued: (pixel, the reference's step).
    tip_checks: Vec<((u32, u32), u32)>,
    curves_since_tip_check: u32,
    /// The step under way is a tip check.
    checking_tip: bool,
    /// The max current a tip check is held against (the reference's, then
    /// the level of the latest changed tip).
    tip_baseline: Option<f64>,
    /// The step of the check that found the tip changed last.
    tip_changed_at: Option<u32>,
    /// The sample's drift under the tip as last measured (x, y nm).
    drift_nm: [f64; 2],
    /// When this run last imaged the frame again.
    last_reimage: Option<Instant>,
    /// The instrument's limits (`LIM?`), checked at setup.
    limits: Limits,
    /// Pixels the tip was sent to in the log so far (from `decisions`),
    /// one per location.
    asked: Vec<(u32, u32)>,
    /// The sweeps every location gets, in order (`[[sweep.protocol]]`).
    protocols: Vec<crate::instrument::SweepRequest>,
    /// A location whose set was cut short this run (a curve given up).
    set_given_up: Option<u32>,
    commands: Receiver<Command>,
    events: UnboundedSender<EngineEvent>,
    /// The caller's ends of the two channels, until [`Engine::spawn`] hands them over.
    outer: Option<(mpsc::Sender<Command>, UnboundedReceiver<EngineEvent>)>,
    state: RunState,
    /// What happens after the next curve: go on, or pause (a single step).
    after_step: AfterStep,
    /// The user's points: added ones first, moved-up candidates next.
    queue: Queue,
    /// Commands read while a step was under way, handled at the next checkpoint.
    requeue: VecDeque<Command>,
    engaged: bool,
    /// Step and training times, for the ETA.
    pace: eta::Pace,
    started: Instant,
    steps_this_run: u32,
    retrainer: retrain::Retrainer,
    field: Option<Field>,
    /// `[notify]` hooks running beside the run.
    hooks: Vec<std::thread::JoinHandle<notify::Outcome>>,
    /// The pause under way has run `on_pause` already.
    pause_told: bool,
    /// Steps whose curve the operator rejected: no model learns from them.
    rejected: std::collections::BTreeSet<u32>,
    /// Manual points that repeat a step: where, and which step.
    repeats: Vec<((u32, u32), u32)>,
    /// What a resume queued again from the log, for its events.
    restored: Vec<String>,
}

/// The parts of a run that exist once the survey is known.
struct Field {
    candidates: Candidates,
    /// Per candidate: measured, given up on, or dropped by the user.
    taken: Vec<bool>,
    /// Per candidate: inside an excluded region (the plan's and the console's).
    barred: Vec<bool>,
    seeds: Seeds,
    policy: Box<dyn Policy>,
}

impl Field {
    /// Per candidate: not to be chosen (taken, or inside an excluded region).
    fn closed(&self) -> Vec<bool> {
        self.taken.iter().zip(&self.barred).map(|(t, b)| *t || *b).collect()
    }
}

/// What the run does after the curve it is taking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterStep {
    GoOn,
    /// Pause at the next checkpoint (one step was asked for while paused).
    Pause,
}

impl Engine {
    /// An engine ready to [`spawn`](Engine::spawn); `log` is what a resumed
    /// session holds so far.
    pub(crate) fn new(
        plan: SessionPlan,
        instrument: Box<dyn Instrument>,
        writer: SessionWriter,
        limits: Limits,
        log: Option<crate::store::SessionLog>,
    ) -> Self {
        let (cmd_tx, commands) = mpsc::channel();
        let (events, ev_rx) = unbounded_channel();
        let memory = log.as_ref().map(restore::Memory::of);
        let (survey, history, dangling, asked, rejected) = match log {
            Some(log) => {
                let asked = log.decisions.iter().map(|d| (d.row, d.col)).collect();
                let rejected = crate::record::flag::rejected(&log.flags);
                (log.survey, log.measurements, log.dangling, asked, rejected)
            }
            None => (None, Vec::new(), None, Vec::new(), Default::default()),
        };
        let protocols = plan.sweep.protocols();
        let mut engine = Self {
            plan,
            instrument,
            writer,
            survey: survey.map(Arc::new),
            history,
            dangling,
            dangling_was_row: false,
            skipped_in_a_row: 0,
            failed_in_a_row: 0,
            tip_check_for_failures: false,
            gate_remeasured: Default::default(),
            suspended: None,
            tip_checks: Vec::new(),
            curves_since_tip_check: 0,
            checking_tip: false,
            tip_baseline: None,
            tip_changed_at: None,
            drift_nm: [0.0, 0.0],
            last_reimage: None,
            limits,
            asked,
            protocols,
            set_given_up: None,
            commands,
            events,
            outer: Some((cmd_tx, ev_rx)),
            state: RunState::Idle,
            after_step: AfterStep::GoOn,
            queue: Queue::default(),
            requeue: VecDeque::new(),
            engaged: false,
            pace: eta::Pace::default(),
            started: Instant::now(),
            steps_this_run: 0,
            retrainer: retrain::Retrainer::default(),
            field: None,
            hooks: Vec::new(),
            pause_told: false,
            rejected,
            repeats: Vec::new(),
            restored: Vec::new(),
        };
        if let Some(memory) = memory {
            engine.restored = engine.restore(memory);
        }
        engine
    }

    pub fn session_dir(&self) -> &std::path::Path {
        self.writer.dir()
    }

    pub fn plan(&self) -> &SessionPlan {
        &self.plan
    }

    fn emit(&self, event: EngineEvent) {
        // Nobody listening is fine: the log is the record, not the screen.
        let _ = self.events.send(event);
    }

    /// Moves the run to `state`, as `RunState::can_become` allows (a move
    /// it does not allow is a bug: loud in a debug build, logged in a release).
    fn set_state(&mut self, state: RunState) {
        if self.state == state {
            return;
        }
        if !self.state.can_become(state) {
            tracing::error!(
                from = self.state.label(),
                to = state.label(),
                "state change not in the table"
            );
            debug_assert!(false, "state change {:?} → {:?} not in the table", self.state, state);
        }
        self.state = state;
        self.emit(EngineEvent::State(state));
    }

    fn log(&mut self, kind: EventKind, detail: impl Into<String>) -> Result<(), StoreError> {
        let row = Event {
            t_ms: now_ms(),
            kind,
            detail: detail.into(),
        };
        tracing::info!(kind = %row.kind, detail = %row.detail, "event");
        self.writer.append(Entry::Event(row.clone()))?;
        self.emit(EngineEvent::Logged(row));
        Ok(())
    }

    fn drain_link_events(&mut self) -> Result<(), StoreError> {
        for e in self.instrument.drain_link_events() {
            self.log(e.kind, e.detail)?;
        }
        Ok(())
    }

    fn next_step(&self) -> u32 {
        self.history.last().map(|m| m.step + 1).unwrap_or(0)
    }

    /// Lifts the tip off the surface if it is on it.
    fn park(&mut self) -> Result<(), Stop> {
        if self.engaged {
            self.instrument.withdraw()?;
            self.engaged = false;
        }
        self.drain_link_events()?;
        Ok(())
    }
}
