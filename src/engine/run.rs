//! A run from start to end: connect, survey, build the candidate field, then
//! checkpoint and step until the budget is spent; however it ends, the tip is
//! made safe and the session's status recorded.

use super::notify;
use super::queue::Seeds;
use super::stop::{Stop, panic_message};
use super::{AfterStep, Engine, EngineEvent, Field, QueueEntry, QueueKind, RunOutcome, RunState};
use crate::policy::{self, Policy};
use crate::record::{Candidates, EventKind, Survey};
use crate::store::SessionStatus;
use std::sync::Arc;

impl Engine {
    /// Runs until the budget is spent, or a pause-and-quit, abort or failure.
    /// However the loop ends — an error, a bug that panics — the instrument
    /// gets `ABORT` and `WITHDRAW` and the session is left resumable.
    pub(super) fn run(mut self) -> RunOutcome {
        self.set_state(RunState::Running);
        let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_inner())) {
            Ok(result) => result,
            Err(panic) => Err(Stop::Panic(panic_message(&panic))),
        };
        let budget = self.plan.curves_budget();
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
        if let Err(e) = self.close(status, detail.clone()) {
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

    /// Records the last status; the plan's hooks for this end run once it is
    /// on disk, and their rows are in the log before it is compacted.
    fn close(&mut self, status: SessionStatus, detail: Option<String>) -> Result<(), crate::store::StoreError> {
        // A note left during the last curve is the session's too.
        if let Err(e) = self.collect_outside() {
            tracing::warn!(error = %e, "the notes left in the inbox were not logged");
        }
        let mut hooks = notify::at_end(&self.plan.notify, status);
        if self.pause_told {
            // A run paused in the console, then ended: its pause was told.
            hooks.retain(|(name, _)| *name != "on_pause");
        }
        let pending = std::mem::take(&mut self.hooks);
        if hooks.is_empty() && pending.is_empty() {
            return self.writer.set_status(status, detail);
        }
        self.writer.record_status(status, detail.clone())?;
        let told = notify::told(self.writer.dir(), status, self.history.len() as u32, detail.as_deref());
        let mut outcomes: Vec<notify::Outcome> = pending.into_iter().filter_map(|h| h.join().ok()).collect();
        for (name, argv) in hooks {
            outcomes.push(notify::run(name, argv, &told, self.plan.notify.timeout_s));
        }
        for o in outcomes {
            self.log(o.kind, o.detail)?;
        }
        self.writer.set_status(status, detail)
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
            for queued in std::mem::take(&mut self.restored) {
                self.log(EventKind::ManualAdded, queued)?;
            }
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
                    "the plan's compliance is {plan_a:e} A and the instrument's {inst_a:e} A: \
                     every curve is held to the lower, {:e} A",
                    plan_a.min(inst_a)
                ),
            )?;
        }
        self.drain_link_events()?;
        self.check_protocols_served()?;
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
        self.emit(EngineEvent::Regions(self.plan.policy.exclude.clone()));
        self.emit(EngineEvent::Rejected(self.rejected.iter().copied().collect()));
        self.publish_queue();
        self.time_the_work(&survey);
        if resumed {
            self.drift_on_resume()?;
        }

        loop {
            // The budget counts locations; the last one's set is finished.
            if self.budget_spent() {
                return self.finish("budget spent");
            }
            // Checkpoint: between two curves.
            if let Some(status) = self.checkpoint()? {
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
                return self.finish("every candidate has been measured");
            }
            if let Some(why) = self.suspended.take() {
                self.log(EventKind::Suspended, why)?;
                return self.quit();
            }
            if self.after_step == AfterStep::Pause {
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
        let barred = policy::exclude::barred(&p.exclude, &candidates, survey);
        let seeds = Seeds::new(policy::latin_hypercube(
            &candidates,
            p.seeds as usize,
            self.plan.seed,
            &barred,
        ));
        let policy = self.fresh_policy(survey, &candidates);
        let mut taken = vec![false; candidates.len()];
        // Where the curves were taken, and where the tip was sent for them
        // (a stage that settles off the point leaves the asked candidate taken).
        let places = self
            .history
            .iter()
            .map(|m| (m.row, m.col))
            .chain(self.asked.iter().copied());
        for (row, col) in places {
            if let Some(k) = candidates.find(row, col) {
                taken[k] = true;
            }
        }
        Field {
            candidates,
            taken,
            barred,
            seeds,
            policy,
        }
    }

    /// The plan's policy, caught up on every curve so far.
    pub(super) fn fresh_policy(&self, survey: &Survey, candidates: &Candidates) -> Box<dyn Policy> {
        let mut policy = policy::build(self.plan.policy.name, &self.plan, survey, candidates);
        let learned = self.learned();
        let replay: Vec<_> = learned.iter().map(|m| (candidates.find(m.row, m.col), m)).collect();
        policy.observe_history(&replay);
        policy
    }

    /// Tells the console what will be measured next.
    pub(super) fn publish_queue(&self) {
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
        let ranked: Vec<QueueEntry> = field
            .policy
            .queue(&field.closed())
            .into_iter()
            .map(|r| {
                let (row, col) = field.candidates.site(r.candidate);
                QueueEntry {
                    row,
                    col,
                    kind: QueueKind::Policy,
                    score: Some(r.score),
                    mean: r.mean,
                    std: r.std,
                    structure_novelty: r.structure_novelty,
                    spectral_novelty: r.spectral_novelty,
                }
            })
            .collect();
        let mut queue: Vec<QueueEntry> = self.queue.manual().map(|p| entry(p, QueueKind::Manual)).collect();
        // A pinned entry keeps the scores the policy gives it.
        queue.extend(
            self.queue
                .pinned()
                .map(|p| match ranked.iter().find(|e| (e.row, e.col) == *p) {
                    Some(e) => QueueEntry {
                        kind: QueueKind::Pinned,
                        ..e.clone()
                    },
                    None => entry(p, QueueKind::Pinned),
                }),
        );
        queue.extend(ranked.into_iter().filter(|e| !self.queue.is_pinned((e.row, e.col))));
        self.emit(EngineEvent::Queue(queue));
    }
}
