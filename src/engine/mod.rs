//! The run loop: one thread owns the instrument and the policy and walks the
//! session through survey → Latin-hypercube seeds → policy steps → done.
//! It takes commands at checkpoints between curves and reports events; it never
//! waits on a screen.

mod messages;
mod retrain;
mod setup;

pub use messages::*;
pub use setup::{Controls, Resume, SetupError, prepare_new, prepare_resume};

use crate::instrument::{Instrument, InstrumentError, Survey, SweepRequest};
use crate::plan::SessionPlan;
use crate::policy::{self, Candidates, DecideContext, Decision, Policy};
use crate::scalar::CurveSummary;
use crate::store::{
    DecisionRow, Entry, EventRow, MeasurementRow, SessionStatus, SessionWriter, Source, StoreError, now_ms,
};
use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// Attempts at one point before it is given up.
const SWEEP_ATTEMPTS: u32 = 3;

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("instrument: {0}")]
    Instrument(#[from] InstrumentError),
    #[error("session log: {0}")]
    Store(#[from] StoreError),
}

/// The engine of one session.
pub struct Engine {
    plan: SessionPlan,
    instrument: Box<dyn Instrument>,
    writer: SessionWriter,
    survey: Option<Survey>,
    history: Vec<MeasurementRow>,
    /// A decision journaled before a crash whose curve was never taken.
    dangling: Option<DecisionRow>,
    commands: Receiver<Command>,
    events: UnboundedSender<EngineEvent>,
    state: RunState,
    manual: VecDeque<(u32, u32)>,
    /// Commands read while a step was under way, handled at the next checkpoint.
    requeue: VecDeque<Command>,
    engaged: bool,
    step_times: VecDeque<Duration>,
    started: Instant,
    steps_this_run: u32,
    retrainer: retrain::Retrainer,
    /// The latest cluster summary of the live dual VAE.
    clusters: Option<std::sync::Arc<retrain::Trained>>,
}

/// The parts of a run that exist once the survey is known.
struct Field {
    candidates: Candidates,
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
        history: Vec<MeasurementRow>,
        dangling: Option<DecisionRow>,
        commands: Receiver<Command>,
        events: UnboundedSender<EngineEvent>,
    ) -> Self {
        Self {
            plan,
            instrument,
            writer,
            survey,
            history,
            dangling,
            commands,
            events,
            state: RunState::Idle,
            manual: VecDeque::new(),
            requeue: VecDeque::new(),
            engaged: false,
            step_times: VecDeque::new(),
            started: Instant::now(),
            steps_this_run: 0,
            retrainer: retrain::Retrainer::default(),
            clusters: None,
        }
    }

    pub fn session_dir(&self) -> &std::path::Path {
        self.writer.dir()
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

    fn log(&mut self, kind: &str, detail: impl Into<String>) -> Result<(), StoreError> {
        let row = EventRow {
            t_ms: now_ms(),
            kind: kind.into(),
            detail: detail.into(),
        };
        tracing::info!(kind, detail = %row.detail, "event");
        self.writer.append(Entry::Event(row.clone()))?;
        self.emit(EngineEvent::Logged(row));
        Ok(())
    }

    fn drain_link_events(&mut self) -> Result<(), StoreError> {
        for e in self.instrument.drain_link_events() {
            self.log(&e.kind, e.detail)?;
        }
        Ok(())
    }

    fn next_step(&self) -> u32 {
        self.history.last().map(|m| m.step + 1).unwrap_or(0)
    }

    /// Runs until the budget is spent, or a pause-and-quit, abort or failure.
    pub fn run(mut self) -> RunOutcome {
        self.set_state(RunState::Running);
        let result = self.run_inner();
        let budget = self.plan.policy.budget;
        let (status, detail) = match result {
            Ok(status) => (status, None),
            Err(stop) => {
                let detail = stop.to_string();
                tracing::error!(%detail, "run stopped");
                let _ = self.log("error", detail.clone());
                let _ = self.instrument.abort();
                let _ = self.instrument.withdraw();
                (SessionStatus::Failed, Some(detail))
            }
        };
        let state = match status {
            SessionStatus::Finished => RunState::Finished,
            SessionStatus::Failed => RunState::Failed,
            SessionStatus::Paused => RunState::Paused,
            _ => RunState::Idle,
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
                "resume",
                format!("continuing at step {} on {}", self.next_step(), idn.idn()),
            )?;
        } else {
            self.log("start", format!("new session on {}", idn.idn()))?;
        }
        let survey = match self.survey.take() {
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
        let mut field = self.build_field(&survey);
        self.survey = Some(survey);

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
            match self.step(&mut field)? {
                true => {}
                false => {
                    self.finish("every candidate has been measured")?;
                    return Ok(SessionStatus::Finished);
                }
            }
            if single_step {
                self.set_state(RunState::Pausing);
            }
        }
    }

    fn take_survey(&mut self) -> Result<Survey, Stop> {
        let (rows, cols) = (self.plan.survey.rows, self.plan.survey.cols);
        self.log("survey", format!("taking a {rows}×{cols} px survey"))?;
        let survey = self.instrument.survey(rows, cols)?;
        self.drain_link_events()?;
        self.writer.write_survey(0, &survey)?;
        self.emit(EngineEvent::Survey {
            rows: survey.rows(),
            cols: survey.cols(),
            width_nm: survey.width_nm,
            height_nm: survey.height_nm,
            reused: false,
        });
        Ok(survey)
    }

    fn build_field(&mut self, survey: &Survey) -> Field {
        let p = &self.plan.policy;
        let sites = self.instrument.measurable_sites();
        let candidates = Candidates::new(survey.rows(), survey.cols(), p.patch_px, p.stride_px, sites.as_deref());
        let seeds = policy::latin_hypercube(&candidates, p.seeds as usize, self.plan.seed);
        let mut policy = policy::build(p.name, &self.plan, survey, &candidates);
        let mut taken = vec![false; candidates.len()];
        let mut replay = Vec::with_capacity(self.history.len());
        for m in &self.history {
            let k = candidates.find(m.row, m.col);
            if let Some(k) = k {
                taken[k] = true;
            }
            replay.push((k, m));
        }
        policy.observe_history(&replay);
        Field {
            candidates,
            taken,
            seeds,
            policy,
        }
    }

    /// Saves a finished background training (embeddings, event), if any.
    fn collect_training(&mut self, wait: bool) -> Result<(), Stop> {
        let Some(trained) = self.retrainer.collect(wait) else {
            return Ok(());
        };
        let mut df = crate::store::schema::embeddings_frame(&trained.rows)?;
        self.writer.write_derived("embeddings", &mut df)?;
        let a = &trained.analysis;
        let mut detail = format!(
            "dual VAE on {} curves: {} clusters in {:.1} s",
            trained.model_step,
            a.summaries.len(),
            a.train_s
        );
        if let Some(ari) = a.ari {
            detail.push_str(&format!(", ARI vs. truth {ari:.2}"));
        }
        self.log("retrain", detail)?;
        self.clusters = Some(std::sync::Arc::new(trained));
        Ok(())
    }

    /// Handles commands; returns a final status when the run should end here.
    fn checkpoint(&mut self, single_step: &mut bool) -> Result<Option<SessionStatus>, Stop> {
        self.collect_training(false)?;
        if self.retrainer.due(&self.plan, self.history.len()) {
            let survey = self.survey.as_ref().expect("survey taken");
            self.retrainer.start(&self.plan, survey, &self.history);
        }
        let mut pause = *single_step;
        *single_step = false;
        loop {
            let next = match self.requeue.pop_front() {
                Some(cmd) => Ok(cmd),
                None => self.commands.try_recv(),
            };
            match next {
                Ok(cmd) => {
                    if let Some(status) = self.command(cmd, &mut pause, single_step)? {
                        return Ok(Some(status));
                    }
                }
                Err(TryRecvError::Empty) => break,
                // The controller is gone (console closed): keep the data safe.
                Err(TryRecvError::Disconnected) => return self.quit().map(Some),
            }
        }
        if !pause {
            return Ok(None);
        }
        self.set_state(RunState::Paused);
        self.writer.set_status(SessionStatus::Paused, None)?;
        self.log("pause", format!("paused before step {}", self.next_step()))?;
        loop {
            let cmd = match self.commands.recv() {
                Ok(cmd) => cmd,
                Err(_) => return self.quit().map(Some),
            };
            let mut still_paused = true;
            match cmd {
                Command::Resume => still_paused = false,
                Command::StepOnce => {
                    still_paused = false;
                    *single_step = true;
                }
                other => {
                    if let Some(status) = self.command(other, &mut still_paused, single_step)? {
                        return Ok(Some(status));
                    }
                }
            }
            if !still_paused {
                self.writer.set_status(SessionStatus::Running, None)?;
                self.log("resume", format!("resumed at step {}", self.next_step()))?;
                self.set_state(RunState::Running);
                return Ok(None);
            }
        }
    }

    fn command(
        &mut self,
        cmd: Command,
        pause: &mut bool,
        single_step: &mut bool,
    ) -> Result<Option<SessionStatus>, Stop> {
        match cmd {
            Command::Pause => *pause = true,
            Command::Resume => *pause = false,
            Command::StepOnce => {
                *pause = false;
                *single_step = true;
            }
            Command::Abort => return self.abort().map(Some),
            Command::Quit => return self.quit().map(Some),
            Command::AddManual { row, col } => {
                let survey = self.survey.as_ref().expect("survey before commands");
                if row >= survey.rows() || col >= survey.cols() {
                    self.log("manual_refused", format!("({row}, {col}) is outside the survey"))?;
                } else {
                    self.manual.push_back((row, col));
                    self.log("manual_added", format!("({row}, {col}) will be measured next"))?;
                }
            }
        }
        Ok(None)
    }

    fn quit(&mut self) -> Result<SessionStatus, Stop> {
        self.set_state(RunState::Paused);
        self.log("pause", format!("run ended at step {}; resumable", self.next_step()))?;
        self.park()?;
        Ok(SessionStatus::Paused)
    }

    fn abort(&mut self) -> Result<SessionStatus, Stop> {
        self.set_state(RunState::Aborting);
        self.instrument.abort()?;
        self.park()?;
        self.log(
            "abort",
            format!("aborted at step {}: bias at 0 V, tip withdrawn", self.next_step()),
        )?;
        Ok(SessionStatus::Aborted)
    }

    fn finish(&mut self, why: &str) -> Result<(), Stop> {
        self.park()?;
        // The last model covers every curve: start it if the live models were on,
        // and let it land before the session closes.
        if self.plan.analysis.retrain_every > 0 {
            self.collect_training(true)?;
            if self.retrainer.last_started < self.history.len() {
                let survey = self.survey.as_ref().expect("survey taken");
                self.retrainer.start(&self.plan, survey, &self.history);
                self.collect_training(true)?;
            }
        }
        self.log("finish", format!("{why}: {} measurements", self.next_step()))?;
        Ok(())
    }

    /// Lifts the tip off the surface if it is on it.
    fn park(&mut self) -> Result<(), Stop> {
        if self.engaged {
            self.instrument.withdraw()?;
            self.engaged = false;
        }
        Ok(())
    }

    /// Decides, moves, sweeps and records one step. `false` when nothing is left.
    fn step(&mut self, field: &mut Field) -> Result<bool, Stop> {
        let t0 = Instant::now();
        let step = self.next_step();
        let Some((row, col, decision, policy_label)) = self.choose(field, step)? else {
            return Ok(false);
        };
        let candidate = field.candidates.find(row, col);
        let survey = self.survey.as_ref().expect("survey taken");
        let (x_nm, y_nm) = survey.pixel_to_nm(row, col);
        self.writer.append(Entry::Decision(DecisionRow {
            step,
            t_ms: now_ms(),
            row,
            col,
            policy: policy_label.clone(),
            score: decision.score,
            mean: decision.mean,
            std: decision.std,
            structure_novelty: decision.structure_novelty,
            spectral_novelty: decision.spectral_novelty,
            n_candidates: field.candidates.len() as u32,
            fit_ms: decision.fit_ms,
            score_ms: decision.score_ms,
        }))?;

        let Some(sweep) = self.measure_at(x_nm, y_nm, row, col)? else {
            if let Some(k) = candidate {
                field.taken[k] = true;
            }
            return Ok(true);
        };
        let summary = CurveSummary::of(&sweep.bias_v, &sweep.current_a, self.plan.analysis.onset_current_a);
        let row_out = MeasurementRow {
            step,
            t_ms: now_ms(),
            row,
            col,
            x_nm,
            y_nm,
            source: decision.source,
            bias_v: sweep.bias_v,
            current_a: sweep.current_a,
            sweep_end: sweep.end,
            hysteresis_area: summary.hysteresis_area,
            onset_v: if summary.onset_v.is_nan() {
                None
            } else {
                Some(summary.onset_v)
            },
            max_current_a: summary.max_current_a,
        };
        self.writer.append(Entry::Measurement(row_out.clone()))?;
        if let Some(k) = candidate {
            field.taken[k] = true;
        }
        field.policy.observe(candidate, &row_out);
        self.drain_link_events()?;

        let took = t0.elapsed();
        self.steps_this_run += 1;
        self.step_times.push_back(took);
        if self.step_times.len() > 20 {
            self.step_times.pop_front();
        }
        let mean = self.step_times.iter().sum::<Duration>() / self.step_times.len() as u32;
        let remaining = self.plan.policy.budget.saturating_sub(step + 1);
        let report = StepReport {
            step,
            budget: self.plan.policy.budget,
            row,
            col,
            x_nm,
            y_nm,
            source: row_out.source,
            policy: policy_label,
            sweep_end: row_out.sweep_end,
            points: row_out.bias_v.len(),
            max_current_a: row_out.max_current_a,
            hysteresis_area: row_out.hysteresis_area,
            onset_v: row_out.onset_v,
            took,
            elapsed: self.started.elapsed(),
            eta: mean * remaining,
        };
        self.history.push(row_out);
        self.emit(EngineEvent::Step(report));
        Ok(true)
    }

    /// Picks the next location: a dangling decision from before a crash, then
    /// manual points, then seeds, then the policy.
    fn choose(&mut self, field: &mut Field, step: u32) -> Result<Option<(u32, u32, Decision, String)>, Stop> {
        if let Some(d) = self.dangling.take()
            && d.step == step
        {
            let source = match d.policy.as_str() {
                "manual" => Source::Manual,
                "lhs-seed" => Source::Seed,
                "random" => Source::Random,
                "grid" => Source::Grid,
                _ => Source::Policy,
            };
            let k = field.candidates.find(d.row, d.col).unwrap_or(0);
            let decision = Decision {
                candidate: k,
                source,
                score: d.score,
                mean: d.mean,
                std: d.std,
                structure_novelty: d.structure_novelty,
                spectral_novelty: d.spectral_novelty,
                fit_ms: d.fit_ms,
                score_ms: d.score_ms,
            };
            return Ok(Some((d.row, d.col, decision, d.policy)));
        }
        if let Some((row, col)) = self.manual.pop_front() {
            let k = field.candidates.find(row, col).unwrap_or(usize::MAX);
            return Ok(Some((row, col, Decision::unscored(k, Source::Manual), "manual".into())));
        }
        let seeds_done = self.history.iter().filter(|m| m.source == Source::Seed).count();
        if seeds_done < field.seeds.len()
            && let Some(&k) = field.seeds.iter().find(|&&k| !field.taken[k])
        {
            let (row, col) = field.candidates.site(k);
            return Ok(Some((row, col, Decision::unscored(k, Source::Seed), "lhs-seed".into())));
        }
        let ctx = DecideContext {
            step,
            candidates: &field.candidates,
            taken: &field.taken,
        };
        Ok(field.policy.decide(&ctx).map(|d| {
            let (row, col) = field.candidates.site(d.candidate);
            (row, col, d, field.policy.kind().label().to_string())
        }))
    }

    /// Moves and sweeps, retrying a failed sweep; `None` if the point is given up.
    fn measure_at(
        &mut self,
        x_nm: f64,
        y_nm: f64,
        row: u32,
        col: u32,
    ) -> Result<Option<crate::instrument::Sweep>, Stop> {
        let request: SweepRequest = self.plan.sweep;
        for attempt in 1..=SWEEP_ATTEMPTS {
            let result = (|| {
                if !self.engaged {
                    self.instrument.engage()?;
                    self.engaged = true;
                }
                self.instrument.move_to(x_nm, y_nm)?;
                self.take_commands_mid_step();
                self.instrument.sweep(&request)
            })();
            match result {
                Ok(sweep) => return Ok(Some(sweep)),
                Err(e) if e.is_transient() || matches!(e, InstrumentError::BadArgument(_)) => {
                    self.drain_link_events()?;
                    self.log(
                        "sweep_failed",
                        format!("({row}, {col}) attempt {attempt}/{SWEEP_ATTEMPTS}: {e}"),
                    )?;
                    if matches!(e, InstrumentError::BadArgument(_)) {
                        break;
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.log(
            "site_skipped",
            format!("({row}, {col}) given up; the step goes to another point"),
        )?;
        Ok(None)
    }

    /// A pause asked for while the tip moves shows as "pausing" at once.
    fn take_commands_mid_step(&mut self) {
        while let Ok(cmd) = self.commands.try_recv() {
            if matches!(cmd, Command::Pause | Command::Quit) {
                self.set_state(RunState::Pausing);
            }
            self.requeue.push_back(cmd);
        }
    }
}
