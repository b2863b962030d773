//! The live dual VAE as the run sees it: finished trainings collected at a
//! checkpoint (their embeddings saved, their map sent to the console), and the
//! session's close, which waits for the last model.

use super::stop::Stop;
use super::{ClusterView, Command, Engine, EngineEvent, FinalTraining, RunState, eta};
use crate::record::EventKind;
use crate::store::SessionStatus;
use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

/// How waiting for the last model ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waited {
    Landed,
    Quit,
    Abort,
}

impl Engine {
    /// Saves a finished background training (embeddings, event, console map).
    pub(super) fn collect_training(&mut self) -> Result<(), Stop> {
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
        let a = &self.plan.analysis;
        self.pace.training_landed(
            trained.model_step as usize,
            a.vae_epochs as usize,
            a.vae_ensemble.max(1) as usize,
            Duration::from_secs_f64(trained.analysis.train_s),
        );
        let mut df = crate::store::schema::embeddings_frame(&trained.rows)?;
        self.writer.write_derived("embeddings", &mut df)?;
        if !trained.properties.is_empty() {
            let mut df = crate::store::schema::property_map_frame(&trained.properties)?;
            self.writer.write_derived("property_map", &mut df)?;
        }
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
            steps: trained.rows.iter().map(|r| r.step).collect(),
            ari: a.ari,
            properties: Arc::new(crate::record::PropertyGrid::new(trained.properties)),
        })));
        Ok(())
    }

    /// Starts a background training on every curve so far.
    pub(super) fn start_training(&mut self) {
        let survey = self.survey.clone().expect("survey taken");
        // The fields apart: the retrainer changes while the log is lent.
        let learned = crate::record::learned::learned_from(&self.history, &self.rejected, self.protocols.len());
        let max_only = crate::record::learned::max_current_only(&self.history, &self.rejected);
        self.retrainer.start(&self.plan, &survey, &learned, max_only);
    }

    /// Times the dual VAE and the policy's decisions (see [`eta::probe`]), so
    /// that the first ETA already prices what the session will do.
    pub(super) fn time_the_work(&mut self, survey: &crate::record::Survey) {
        let candidates = self.field.as_ref().map(|field| &field.candidates);
        let (training, decision) = eta::probe::time_the_work(&self.plan, survey, candidates);
        self.pace = eta::Pace::with_probe(training);
        self.pace.decisions_timed(decision);
    }

    /// The rest of the session by [`eta::forecast`]: `measured` of `budget`
    /// curves in (the budget is the curves there are once the run is closing).
    pub(super) fn forecast_for(&self, measured: usize, budget: usize) -> eta::Forecast {
        let mut now = eta::Now {
            in_flight: self.retrainer.in_flight(),
            last_started: self.retrainer.last_started,
            ..eta::Now::at(&self.plan, measured, budget, &self.pace)
        };
        // Counted in locations (what the models learn from) while the steps
        // are timed a curve each: a location costs a curve per protocol.
        let per_location = self.protocols.len() as f64;
        if per_location > 1.0 {
            for line in [&mut now.step, &mut now.step_beside] {
                line.fixed_s *= per_location;
                line.per_curve_s *= per_location;
            }
        }
        eta::forecast(&now, self.pace.cost())
    }

    /// Counted in what the models learn from, as the retrainer counts (a
    /// rejected or gate-failed curve takes a step but trains nothing): curves,
    /// or with several protocols whole locations.
    pub(super) fn forecast(&self) -> eta::Forecast {
        let learned = self.learned_count();
        let done = self.next_location() as usize - usize::from(self.open_set().is_some());
        let left_out = done.saturating_sub(learned);
        self.forecast_for(learned, (self.plan.policy.budget as usize).saturating_sub(left_out))
    }

    /// Tells the console and the progress lines how the last training goes.
    fn tell_finishing(&self) {
        let per_member = (self.plan.analysis.vae_epochs as usize).max(1);
        let members = self.plan.analysis.vae_ensemble.max(1) as usize;
        // The last training is on every curve the models learn from.
        let n = self.learned_count();
        self.emit(EngineEvent::Finishing(FinalTraining {
            curves: self.retrainer.last_started,
            member: (self.retrainer.epochs_done() / per_member + 1).min(members),
            members,
            elapsed: self.started.elapsed(),
            eta: self.forecast_for(n, n).total(),
        }));
    }

    /// "dual VAE", or "dual VAE ×8" for an ensemble of eight.
    fn vae_label(&self) -> String {
        match self.plan.analysis.vae_ensemble {
            0 | 1 => "dual VAE".to_string(),
            n => format!("dual VAE ×{n}"),
        }
    }

    /// Closes a session whose budget is spent (or whose candidates ran out):
    /// the tip off the surface, the last model in, `finish` in the log. An
    /// abort while the last model trains aborts; a quit leaves it finished
    /// without its map.
    pub(super) fn finish(&mut self, why: &str) -> Result<SessionStatus, Stop> {
        self.park()?;
        // The last model covers every curve: start it if the live models were on,
        // and let it land before the session closes. With an ensemble that is a
        // minute or more: say so, or the console looks stuck at its last curve.
        if self.plan.analysis.retrain_every > 0 {
            self.set_state(RunState::Finishing);
            self.collect_training()?;
            let all = self.learned_count();
            // A training on fewer curves would only be replaced by the last
            // one: let it go (it ends at its next epoch) rather than wait for
            // both; on the demo that is half a minute less.
            if self.retrainer.busy() && self.retrainer.last_started < all {
                let detail = format!(
                    "the {} on {} curves gives way to a last one on all {all} curves, which trains before the session closes",
                    self.vae_label(),
                    self.retrainer.last_started
                );
                self.retrainer.abandon();
                self.log(EventKind::Retrain, detail)?;
            } else if self.retrainer.busy() {
                let detail = format!(
                    "the {} on all {all} curves finishes before the session closes",
                    self.vae_label()
                );
                self.log(EventKind::Retrain, detail)?;
            } else if self.retrainer.last_started < all {
                let detail = format!(
                    "a last {} on all {all} curves trains before the session closes",
                    self.vae_label()
                );
                self.log(EventKind::Retrain, detail)?;
            }
            if !self.retrainer.busy() && self.retrainer.last_started < all {
                self.start_training();
            }
            let waited = self.await_training()?;
            if waited == Waited::Abort {
                return self.abort();
            }
            if waited == Waited::Quit {
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
        Ok(SessionStatus::Finished)
    }

    /// Waits for the background training to land, unless the console asks
    /// to quit or abort meanwhile (every curve is saved and the tip parked, so
    /// nothing but the map is lost).
    fn await_training(&mut self) -> Result<Waited, Stop> {
        let mut told = std::time::Instant::now() - Duration::from_secs(1);
        loop {
            self.collect_training()?;
            if !self.retrainer.busy() {
                return Ok(Waited::Landed);
            }
            if told.elapsed() >= Duration::from_secs(1) {
                self.tell_finishing();
                told = std::time::Instant::now();
            }
            match self.commands.recv_timeout(Duration::from_millis(100)) {
                Ok(Command::Abort) => {
                    self.retrainer.abandon();
                    return Ok(Waited::Abort);
                }
                Ok(Command::Quit) | Err(RecvTimeoutError::Disconnected) => {
                    self.retrainer.abandon();
                    return Ok(Waited::Quit);
                }
                // The budget is spent: nothing else is left to steer.
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }
}
