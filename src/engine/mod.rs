//! The run loop: one thread owns the instrument and the policy and walks the
//! session through survey → Latin-hypercube seeds → policy steps → done.
//! It takes commands at checkpoints between curves and reports events; it never
//! waits on a screen.

mod checkpoint;
mod messages;
mod retrain;
mod setup;
mod step;

pub use messages::*;
pub use setup::{Controls, Resume, SetupError, prepare_new, prepare_resume};

use crate::instrument::{Instrument, InstrumentError};

use crate::plan::SessionPlan;
use crate::policy::{self, Policy};
use crate::record::{Candidates, Event, EventKind, Limits, Measurement, Survey};
use crate::store::reader::Dangling;
use crate::store::{Entry, SessionStatus, SessionWriter, StoreError, now_ms};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("instrument: {0}")]
    Instrument(#[from] InstrumentError),
    #[error("session log: {0}")]
    Store(#[from] StoreError),
    #[error("policy: {0}")]
    Policy(String),
    #[error("no location could be measured: {0}")]
    NothingMeasured(String),
    #[error("{0} locations in a row gave no usable curve; the instrument needs a look (the session is resumable)")]
    NoUsableCurves(u32),
    /// A bug: the run loop panicked. The instrument is made safe all the same.
    #[error("internal error (the run loop panicked: {0}); the session is resumable")]
    Panic(String),
}

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
    /// The instrument's limits (`LIM?`), checked at setup.
    limits: Limits,
    commands: Receiver<Command>,
    events: UnboundedSender<EngineEvent>,
    state: RunState,
    /// Points the user added, measured first.
    manual: VecDeque<(u32, u32)>,
    /// Policy candidates the user moved up, measured next.
    pinned: VecDeque<(u32, u32)>,
    /// Commands read while a step was under way, handled at the next checkpoint.
    requeue: VecDeque<Command>,
    engaged: bool,
    step_times: VecDeque<Duration>,
    started: Instant,
    steps_this_run: u32,
    retrainer: retrain::Retrainer,
    field: Option<Field>,
}

/// The parts of a run that exist once the survey is known.
struct Field {
    candidates: Candidates,
    /// Per candidate: measured, given up on, or dropped by the user.
    taken: Vec<bool>,
    seeds: Vec<usize>,
    policy: Box<dyn Policy>,
}

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        plan: SessionPlan,
        instrument: Box<dyn Instrument>,
        writer: SessionWriter,
        survey: Option<Survey>,
        history: Vec<Measurement>,
        dangling: Option<Dangling>,
        limits: Limits,
        commands: Receiver<Command>,
        events: UnboundedSender<EngineEvent>,
    ) -> Self {
        Self {
            plan,
            instrument,
            writer,
            survey: survey.map(Arc::new),
            history,
            dangling,
            dangling_was_row: false,
            skipped_in_a_row: 0,
            limits,
            commands,
            events,
            state: RunState::Idle,
            manual: VecDeque::new(),
            pinned: VecDeque::new(),
            requeue: VecDeque::new(),
            engaged: false,
            step_times: VecDeque::new(),
            started: Instant::now(),
            steps_this_run: 0,
            retrainer: retrain::Retrainer::default(),
            field: None,
        }
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

    fn set_state(&mut self, state: RunState) {
        if self.state != state {
            self.state = state;
            self.emit(EngineEvent::State(state));
        }
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

    /// Runs until the budget is spent, or a pause-and-quit, abort or failure.
    /// However the loop ends — an error, a bug that panics — the instrument
    /// gets `ABORT` and `WITHDRAW` and the session is left resumable.
    pub fn run(mut self) -> RunOutcome {
        self.set_state(RunState::Running);
        let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_inner())) {
            Ok(result) => result,
            Err(panic) => Err(Stop::Panic(panic_message(&panic))),
        };
        let budget = self.plan.policy.budget;
        let (status, detail) = match result {
            Ok(status) => (status, None),
            Err(stop) => {
                let detail = stop.to_string();
                tracing::error!(%detail, "run stopped");
                // The tip first, the log second: a full disk must not keep
                // the bias on the surface.
                let _ = self.instrument.abort();
                let _ = self.instrument.withdraw();
                self.engaged = false;
                let _ = self.drain_link_events();
                let _ = self.log(EventKind::Error, detail.clone());
                (SessionStatus::Failed, Some(detail))
            }
        };
        let state = match status {
            SessionStatus::Finished => RunState::Finished,
            SessionStatus::Failed => RunState::Failed,
            SessionStatus::Paused => RunState::Paused,
            SessionStatus::Aborted => RunState::Aborted,
            SessionStatus::Running => RunState::Idle,
        };
        // A failed status write (disk full) must not hide the first error.
        let mut detail = detail;
        if let Err(e) = self.writer.set_status(status, detail.clone()) {
            tracing::error!(error = %e, "could not record the session status");
            if detail.is_none() {
                detail = Some(e.to_string());
            }
        }
        self.set_state(state);
        RunOutcome {
            status: if detail.is_some() && status != SessionStatus::Failed {
                SessionStatus::Failed
            } else {
                status
            },
            steps_this_run: self.steps_this_run,
            steps_total: self.next_step(),
            budget,
            detail,
        }
    }

    fn run_inner(&mut self) -> Result<SessionStatus, Stop> {
        let idn = self.instrument.identity()?;
        self.emit(EngineEvent::Connected {
            idn: idn.idn(),
            link: self.instrument.link_label(),
        });
        let resumed = !self.history.is_empty() || self.survey.is_some();
        if resumed {
            self.log(
                EventKind::Resume,
                format!("continuing at step {} on {}", self.next_step(), idn.idn()),
            )?;
        } else {
            self.log(EventKind::Start, format!("new session on {}", idn.idn()))?;
        }
        for repair in self.writer.take_repairs() {
            self.log(EventKind::LogRepaired, repair)?;
        }
        let (plan_a, inst_a) = (self.plan.safety.current_max_a, self.limits.current_max_a);
        if (plan_a - inst_a).abs() > 1e-9 * plan_a.max(inst_a) {
            self.log(
                EventKind::Compliance,
                format!(
                    "the plan's compliance is {plan_a:e} A and the instrument's {inst_a:e} A:                      every curve is held to the lower, {:e} A",
                    plan_a.min(inst_a)
                ),
            )?;
        }
        self.drain_link_events()?;
        let survey = match self.survey.clone() {
            Some(s) => {
                self.emit(EngineEvent::Survey {
                    rows: s.rows(),
                    cols: s.cols(),
                    width_nm: s.width_nm,
                    height_nm: s.height_nm,
                    reused: true,
                });
                s
            }
            None => self.take_survey()?,
        };
        self.emit(EngineEvent::SurveyImage(survey.clone()));
        self.emit(EngineEvent::History(Arc::new(self.history.clone())));
        self.field = Some(self.build_field(&survey));
        self.publish_queue();

        let budget = self.plan.policy.budget;
        let mut single_step = false;
        loop {
            if self.next_step() >= budget {
                self.finish("budget spent")?;
                return Ok(SessionStatus::Finished);
            }
            // Checkpoint: between two curves.
            if let Some(status) = self.checkpoint(&mut single_step)? {
                return Ok(status);
            }
            if !self.step()? {
                if self.next_step() == 0 {
                    self.park()?;
                    let field = self.field.as_ref().expect("field built");
                    return Err(Stop::NothingMeasured(format!(
                        "{} candidate locations, none of them measurable",
                        field.candidates.len()
                    )));
                }
                self.finish("every candidate has been measured")?;
                return Ok(SessionStatus::Finished);
            }
            if single_step {
                self.set_state(RunState::Pausing);
            }
        }
    }

    fn take_survey(&mut self) -> Result<Arc<Survey>, Stop> {
        let (rows, cols) = (self.plan.survey.rows, self.plan.survey.cols);
        self.log(EventKind::Survey, format!("taking a {rows}×{cols} px survey"))?;
        let survey = self.instrument.survey(rows, cols)?;
        self.drain_link_events()?;
        crate::instrument::check::survey(&survey, crate::plan::memory::max_survey_pixels(&self.plan))?;
        self.writer.write_survey(0, &survey)?;
        self.emit(EngineEvent::Survey {
            rows: survey.rows(),
            cols: survey.cols(),
            width_nm: survey.width_nm,
            height_nm: survey.height_nm,
            reused: false,
        });
        let survey = Arc::new(survey);
        self.survey = Some(survey.clone());
        Ok(survey)
    }

    fn build_field(&self, survey: &Survey) -> Field {
        let p = &self.plan.policy;
        let sites = self.instrument.measurable_sites();
        let candidates = Candidates::new(survey.rows(), survey.cols(), p.patch_px, p.stride_px, sites.as_deref());
        let seeds = policy::latin_hypercube(&candidates, p.seeds as usize, self.plan.seed);
        let policy = self.fresh_policy(survey, &candidates);
        let mut taken = vec![false; candidates.len()];
        for m in &self.history {
            if let Some(k) = candidates.find(m.row, m.col) {
                taken[k] = true;
            }
        }
        Field {
            candidates,
            taken,
            seeds,
            policy,
        }
    }

    /// The plan's policy, caught up on every curve so far.
    fn fresh_policy(&self, survey: &Survey, candidates: &Candidates) -> Box<dyn Policy> {
        let mut policy = policy::build(self.plan.policy.name, &self.plan, survey, candidates);
        let replay: Vec<_> = self
            .history
            .iter()
            .map(|m| (candidates.find(m.row, m.col), m))
            .collect();
        policy.observe_history(&replay);
        policy
    }

    /// Tells the console what will be measured next.
    fn publish_queue(&self) {
        let Some(field) = &self.field else { return };
        let entry = |&(row, col): &(u32, u32), kind| QueueEntry {
            row,
            col,
            kind,
            score: None,
            mean: None,
            std: None,
            structure_novelty: None,
            spectral_novelty: None,
        };
        let mut queue: Vec<QueueEntry> = self.manual.iter().map(|p| entry(p, QueueKind::Manual)).collect();
        queue.extend(self.pinned.iter().map(|p| entry(p, QueueKind::Pinned)));
        for r in field.policy.queue(&field.taken) {
            let (row, col) = field.candidates.site(r.candidate);
            if self.pinned.contains(&(row, col)) {
                continue;
            }
            queue.push(QueueEntry {
                row,
                col,
                kind: QueueKind::Policy,
                score: Some(r.score),
                mean: r.mean,
                std: r.std,
                structure_novelty: r.structure_novelty,
                spectral_novelty: r.spectral_novelty,
            });
        }
        self.emit(EngineEvent::Queue(queue));
    }

    /// Saves a finished background training (embeddings, event, console map).
    fn collect_training(&mut self) -> Result<(), Stop> {
        let trained = match self.retrainer.collect() {
            None => return Ok(()),
            Some(Ok(trained)) => trained,
            Some(Err((curves, why))) => {
                self.log(
                    EventKind::RetrainFailed,
                    format!("dual VAE on {curves} curves: {why}; the last map stays"),
                )?;
                return Ok(());
            }
        };
        let mut df = crate::store::schema::embeddings_frame(&trained.rows)?;
        self.writer.write_derived("embeddings", &mut df)?;
        let a = &trained.analysis;
        let mut detail = format!(
            "{} on {} curves: {} clusters in {:.1} s",
            self.vae_label(),
            trained.model_step,
            a.summaries.len(),
            a.train_s
        );
        if let Some(ari) = a.ari {
            detail.push_str(&format!(", ARI vs. truth {ari:.2}"));
        }
        self.log(EventKind::Retrain, detail)?;
        let points = (0..a.labels.len())
            .map(|k| {
                let z = a.joint(k);
                (z[0], z.get(1).copied().unwrap_or(0.0), a.labels[k] as u32)
            })
            .collect();
        self.emit(EngineEvent::Clusters(Arc::new(ClusterView {
            model_step: trained.model_step,
            summaries: a.summaries.clone(),
            points,
            ari: a.ari,
        })));
        Ok(())
    }

    /// "dual VAE", or "dual VAE ×8" for an ensemble of eight.
    fn vae_label(&self) -> String {
        match self.plan.analysis.vae_ensemble {
            0 | 1 => "dual VAE".to_string(),
            n => format!("dual VAE ×{n}"),
        }
    }

    fn finish(&mut self, why: &str) -> Result<(), Stop> {
        self.park()?;
        // The last model covers every curve: start it if the live models were on,
        // and let it land before the session closes. With an ensemble that is a
        // minute or more: say so, or the console looks stuck at its last curve.
        if self.plan.analysis.retrain_every > 0 {
            if self.retrainer.busy() {
                let detail = format!(
                    "the {} on {} curves finishes before the session closes",
                    self.vae_label(),
                    self.retrainer.last_started
                );
                self.log(EventKind::Retrain, detail)?;
            }
            let mut waited = self.await_training()?;
            if waited && self.retrainer.last_started < self.history.len() {
                let detail = format!(
                    "a last {} on all {} curves trains before the session closes",
                    self.vae_label(),
                    self.history.len()
                );
                self.log(EventKind::Retrain, detail)?;
                let survey = self.survey.clone().expect("survey taken");
                self.retrainer.start(&self.plan, &survey, &self.history);
                waited = self.await_training()?;
            }
            if !waited {
                let detail = format!(
                    "stopped waiting for the {} on {} curves: its map is not saved \
                     (`dualscope analyze` trains one on the session)",
                    self.vae_label(),
                    self.retrainer.last_started
                );
                self.log(EventKind::Retrain, detail)?;
            }
        }
        self.log(EventKind::Finish, format!("{why}: {} measurements", self.next_step()))?;
        Ok(())
    }

    /// Waits for the background training to land, unless the console asks
    /// to quit or abort meanwhile (every curve is saved and the tip parked, so
    /// nothing but the map is lost): false if it stopped waiting.
    fn await_training(&mut self) -> Result<bool, Stop> {
        loop {
            self.collect_training()?;
            if !self.retrainer.busy() {
                return Ok(true);
            }
            match self.commands.recv_timeout(Duration::from_millis(100)) {
                Ok(Command::Quit | Command::Abort) | Err(RecvTimeoutError::Disconnected) => {
                    self.retrainer.abandon();
                    return Ok(false);
                }
                // The budget is spent: nothing else is left to steer.
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
            }
        }
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

/// The text of a caught panic.
fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}
