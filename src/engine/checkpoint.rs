//! The checkpoint between two curves: background training is collected,
//! commands are acted on, and a pause waits here (never mid-curve).

use super::queue::Dropped;
use super::{AfterStep, Command, Engine, EngineEvent, RunState, Stop};
use crate::record::EventKind;
use crate::store::SessionStatus;
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};

/// What a command asks of the run, beyond what it does itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asks {
    Nothing,
    Pause,
    Go,
    /// Go for one curve, then pause.
    OneStep,
    /// The run ends here.
    End(SessionStatus),
}

impl Engine {
    /// Handles commands; returns a final status when the run should end here.
    pub(super) fn checkpoint(&mut self) -> Result<Option<SessionStatus>, Stop> {
        // Between curves nothing else writes: a table whose small parts have
        // piled up becomes one part (`[output] max_parts`). One that cannot
        // be compacted now keeps its parts; nothing is lost either way.
        match self.writer.compact_crowded(self.plan.output.max_parts as usize) {
            Ok(0) => {}
            Ok(n) => tracing::info!(parts = n, "compacted the session's crowded tables"),
            Err(e) => tracing::warn!(error = %e, "a crowded table was not compacted"),
        }
        self.collect_training()?;
        self.collect_outside()?;
        if self.retrainer.due(&self.plan, self.learned_count()) {
            self.start_training();
        }
        let mut pause = self.after_step == AfterStep::Pause;
        self.after_step = AfterStep::GoOn;
        loop {
            let next = match self.requeue.pop_front() {
                Some(cmd) => Ok(cmd),
                None => self.commands.try_recv(),
            };
            let cmd = match next {
                Ok(cmd) => cmd,
                Err(TryRecvError::Empty) => break,
                // The controller is gone (console closed): keep the data safe.
                Err(TryRecvError::Disconnected) => return self.quit().map(Some),
            };
            match self.command(cmd)? {
                Asks::Nothing => {}
                Asks::Pause => pause = true,
                Asks::Go => pause = false,
                Asks::OneStep => {
                    pause = false;
                    self.after_step = AfterStep::Pause;
                }
                Asks::End(status) => return Ok(Some(status)),
            }
        }
        if !pause {
            // A resume asked for before this checkpoint takes the pause back.
            if self.state == RunState::Pausing {
                self.set_state(RunState::Running);
            }
            return Ok(None);
        }
        self.set_state(RunState::Paused);
        self.writer.set_status(SessionStatus::Paused, None)?;
        self.log(EventKind::Pause, format!("paused before step {}", self.next_step()))?;
        self.tell_pause();
        self.rank_afresh();
        loop {
            // Waiting wakes now and then for what arrives from outside.
            let cmd = match self.commands.recv_timeout(std::time::Duration::from_millis(250)) {
                Ok(cmd) => cmd,
                Err(RecvTimeoutError::Timeout) => {
                    self.collect_outside()?;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return self.quit().map(Some),
            };
            match self.command(cmd)? {
                Asks::End(status) => return Ok(Some(status)),
                Asks::Go => {}
                Asks::OneStep => self.after_step = AfterStep::Pause,
                Asks::Nothing | Asks::Pause => {
                    // A background model may have landed while we waited.
                    self.collect_training()?;
                    continue;
                }
            }
            self.writer.set_status(SessionStatus::Running, None)?;
            self.pause_told = false;
            self.log(EventKind::Resume, format!("resumed at step {}", self.next_step()))?;
            self.set_state(RunState::Running);
            return Ok(None);
        }
    }

    /// Starts the plan's `on_pause` hook beside the paused run.
    fn tell_pause(&mut self) {
        let argv = self.plan.notify.on_pause.clone();
        if argv.is_empty() {
            return;
        }
        let told = super::notify::told(
            self.writer.dir(),
            SessionStatus::Paused,
            self.history.len() as u32,
            None,
        );
        self.hooks
            .push(super::notify::spawn("on_pause", argv, told, self.plan.notify.timeout_s));
        self.pause_told = true;
    }

    /// Logs the hooks that have ended, and the notes left from outside.
    pub(super) fn collect_outside(&mut self) -> Result<(), Stop> {
        for row in self.writer.take_inbox()? {
            self.emit(EngineEvent::Logged(row));
        }
        let (done, running): (Vec<_>, Vec<_>) = std::mem::take(&mut self.hooks)
            .into_iter()
            .partition(|h| h.is_finished());
        self.hooks = running;
        for hook in done {
            if let Ok(o) = hook.join() {
                self.log(o.kind, o.detail)?;
            }
        }
        Ok(())
    }

    fn command(&mut self, cmd: Command) -> Result<Asks, Stop> {
        match cmd {
            Command::Pause => return Ok(Asks::Pause),
            Command::Resume => return Ok(Asks::Go),
            Command::StepOnce => return Ok(Asks::OneStep),
            Command::Abort => return self.abort().map(Asks::End),
            Command::Quit => return self.quit().map(Asks::End),
            Command::AddManual { row, col } => {
                let survey = self.survey.clone().expect("survey before commands");
                if row >= survey.rows() || col >= survey.cols() {
                    self.log(
                        EventKind::ManualRefused,
                        format!("({row}, {col}) is outside the survey"),
                    )?;
                } else {
                    self.queue.add_manual((row, col));
                    self.log(EventKind::ManualAdded, format!("({row}, {col}) will be measured next"))?;
                    self.rank_afresh();
                }
            }
            Command::Drop { row, col } => self.drop_point(row, col)?,
            Command::MoveUp { row, col } => self.move_up(row, col)?,
            Command::SetPolicy(kind) => {
                self.plan.policy.name = kind;
                self.replace_policy(format!("policy is now {}", kind.label()))?;
            }
            Command::SetBeta(beta) => {
                if !(0.0..=100.0).contains(&beta) || !beta.is_finite() {
                    self.log(EventKind::BetaRefused, format!("β = {beta}: must be in 0 ..= 100"))?;
                } else {
                    self.plan.policy.beta = beta;
                    self.replace_policy(format!("β is now {beta}"))?;
                }
            }
            Command::Exclude(region) => self.exclude(region)?,
            Command::Reject(step) => self.flag(step, true)?,
            Command::Restore(step) => self.flag(step, false)?,
            Command::Repeat(step) => self.repeat(step)?,
            Command::Include(index) => self.include(index)?,
            Command::Note(text) => {
                if let Some(text) = crate::store::inbox::clean(&text) {
                    self.log(EventKind::Note, text)?;
                }
            }
            Command::RetrainNow => {
                if self.retrainer.busy() {
                    self.log(EventKind::Retrain, "a retraining is already running".to_string())?;
                } else if self.learned_count() < 4 {
                    self.log(EventKind::Retrain, "too few curves to train on yet".to_string())?;
                } else {
                    self.start_training();
                    self.log(
                        EventKind::Retrain,
                        format!("dual VAE retraining on {} curves", self.learned_count()),
                    )?;
                }
            }
        }
        Ok(Asks::Nothing)
    }

    /// Tells the console the queue; a paused run first ranks it on every
    /// curve so far, so what the user reads and edits (after a pause, a
    /// policy switch, β, a point) is what the policy would choose now, not
    /// the ranking the last decision was made on.
    pub(super) fn rank_afresh(&mut self) {
        if self.state == RunState::Paused
            && let Some(field) = &mut self.field
        {
            field.policy.rank_now();
        }
        self.publish_queue();
    }

    fn drop_point(&mut self, row: u32, col: u32) -> Result<(), Stop> {
        if self.queue.drop_point((row, col)) == Dropped::Candidate
            && let Some(field) = &mut self.field
            && let Some(k) = field.candidates.find(row, col)
        {
            // Never measured: as if it had been taken.
            field.taken[k] = true;
        }
        self.log(EventKind::QueueDrop, format!("({row}, {col}) dropped from the queue"))?;
        self.rank_afresh();
        Ok(())
    }

    fn move_up(&mut self, row: u32, col: u32) -> Result<(), Stop> {
        self.queue.move_up((row, col));
        self.log(EventKind::QueueMoveUp, format!("({row}, {col}) moved up"))?;
        self.rank_afresh();
        Ok(())
    }

    /// Rebuilds the policy from the plan and every curve so far, and records
    /// the new plan so a resumed session goes on with it.
    pub(super) fn replace_policy(&mut self, why: String) -> Result<(), Stop> {
        let survey = self.survey.clone().expect("survey taken");
        if let Some(field) = self.field.take() {
            let policy = self.fresh_policy(&survey, &field.candidates);
            self.field = Some(super::Field { policy, ..field });
        }
        self.writer.set_plan(&self.plan)?;
        self.log(EventKind::Policy, why)?;
        self.emit(EngineEvent::PolicyChanged {
            policy: self.plan.policy.name,
            beta: self.plan.policy.beta,
        });
        self.rank_afresh();
        Ok(())
    }

    /// Ends the run between two curves, resumable: bias to 0 V, tip off the
    /// surface (a quit from the console, Ctrl-C, SIGHUP or SIGTERM).
    pub(super) fn quit(&mut self) -> Result<SessionStatus, Stop> {
        self.set_state(RunState::Paused);
        self.instrument.abort()?;
        self.park()?;
        self.log(
            EventKind::Pause,
            format!(
                "run ended at step {}: bias at 0 V, tip withdrawn; resumable",
                self.next_step()
            ),
        )?;
        Ok(SessionStatus::Paused)
    }

    pub(super) fn abort(&mut self) -> Result<SessionStatus, Stop> {
        self.set_state(RunState::Aborting);
        self.instrument.abort()?;
        self.park()?;
        self.log(
            EventKind::Abort,
            format!("aborted at step {}: bias at 0 V, tip withdrawn", self.next_step()),
        )?;
        Ok(SessionStatus::Aborted)
    }
}
