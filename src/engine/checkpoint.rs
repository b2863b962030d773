//! The checkpoint between two curves: background training is collected,
//! commands are acted on, and a pause waits here (never mid-curve).

use super::{Command, Engine, EngineEvent, RunState, Stop};
use crate::record::EventKind;
use crate::store::SessionStatus;
use std::sync::mpsc::TryRecvError;

impl Engine {
    /// Handles commands; returns a final status when the run should end here.
    pub(super) fn checkpoint(&mut self, single_step: &mut bool) -> Result<Option<SessionStatus>, Stop> {
        self.collect_training()?;
        if self.retrainer.due(&self.plan, self.history.len()) {
            let survey = self.survey.clone().expect("survey taken");
            self.retrainer.start(&self.plan, &survey, &self.history);
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
        self.log(EventKind::Pause, format!("paused before step {}", self.next_step()))?;
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
                    // A background model may have landed while we waited.
                    self.collect_training()?;
                }
            }
            if !still_paused {
                self.writer.set_status(SessionStatus::Running, None)?;
                self.log(EventKind::Resume, format!("resumed at step {}", self.next_step()))?;
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
                let survey = self.survey.clone().expect("survey before commands");
                if row >= survey.rows() || col >= survey.cols() {
                    self.log(
                        EventKind::ManualRefused,
                        format!("({row}, {col}) is outside the survey"),
                    )?;
                } else {
                    self.manual.push_back((row, col));
                    self.log(EventKind::ManualAdded, format!("({row}, {col}) will be measured next"))?;
                    self.publish_queue();
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
            Command::RetrainNow => {
                if self.retrainer.busy() {
                    self.log(EventKind::Retrain, "a retraining is already running".to_string())?;
                } else if self.history.len() < 4 {
                    self.log(EventKind::Retrain, "too few curves to train on yet".to_string())?;
                } else {
                    let survey = self.survey.clone().expect("survey taken");
                    self.retrainer.start(&self.plan, &survey, &self.history);
                    self.log(
                        EventKind::Retrain,
                        format!("dual VAE retraining on {} curves", self.history.len()),
                    )?;
                }
            }
        }
        Ok(None)
    }

    fn drop_point(&mut self, row: u32, col: u32) -> Result<(), Stop> {
        let at = (row, col);
        if let Some(i) = self.manual.iter().position(|p| *p == at) {
            self.manual.remove(i);
        } else if let Some(i) = self.pinned.iter().position(|p| *p == at) {
            self.pinned.remove(i);
        } else if let Some(field) = &mut self.field
            && let Some(k) = field.candidates.find(row, col)
        {
            // Never measured: as if it had been taken.
            field.taken[k] = true;
        }
        self.log(EventKind::QueueDrop, format!("({row}, {col}) dropped from the queue"))?;
        self.publish_queue();
        Ok(())
    }

    fn move_up(&mut self, row: u32, col: u32) -> Result<(), Stop> {
        let at = (row, col);
        if let Some(i) = self.manual.iter().position(|p| *p == at) {
            if i > 0 {
                self.manual.swap(i, i - 1);
            }
        } else if let Some(i) = self.pinned.iter().position(|p| *p == at) {
            if i > 0 {
                self.pinned.swap(i, i - 1);
            }
        } else {
            self.pinned.push_back(at);
        }
        self.log(EventKind::QueueMoveUp, format!("({row}, {col}) moved up"))?;
        self.publish_queue();
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
        self.publish_queue();
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
