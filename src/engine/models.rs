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
            ari: a.ari,
            properties: Arc::new(crate::record::PropertyGrid::new(trained.properties)),
        })));
        Ok(())
    }

    /// Starts a background training on every curve so far.
    pub(super) fn start_training(&mut self) {
        let survey = self.survey.clone().expect("survey taken");
        self.retrainer.start(&self.plan, &survey, &self.history);
    }

    /// Times dual-VAE epochs of the session's shapes on a few and on all the
    /// budget's curves, so that the first ETA already counts the training the
    /// session waits for at its end (~0.1 s in a release build at the demo's
    /// 210 curves; skipped when nothing trains live).
    pub(super) fn time_the_training(&mut self) {
        if self.plan.analysis.retrain_every == 0 {
            return;
        }
        // Two sizes far enough apart for a slope, the larger where the session
        // ends (a budget of 32 or less timed 32 twice: no line, no wait).
        let large = (self.plan.policy.budget as usize).clamp(128, 512);
        let timed = crate::analysis::time_epochs(
            &self.plan.analysis,
            self.plan.policy.patch_px as usize,
            self.plan.sweep.points as usize,
            &[32, large],
        );
        let epoch = eta::Line::through(timed[0], timed[1]);
        let clustered = crate::analysis::time_clustering(&self.plan.analysis, &[32, 96], self.plan.seed);
        let clustering = eta::Line::through(clustered[0], clustered[1]);
        let cost = epoch.zip(clustering).map(|(epoch, clustering)| eta::TrainingCost {
            epoch,
            clustering,
            contention_s: 0.0,
        });
        tracing::info!(?timed, ?clustered, ?cost, "dual-VAE training cost");
        self.pace = eta::Pace::with_probe(cost);
    }

    /// Times the plan's decisions on a throw-away copy of the policy (at 16
    /// curves and a quarter of the budget, where the fit's growth shows; ~0.3 s
    /// on the demo plan), for the ETA before the first policy step.
    pub(super) fn time_the_decisions(&mut self, survey: &crate::record::Survey) {
        let Some(field) = self.field.as_ref() else { return };
        let half = (self.plan.policy.budget as usize / 4).clamp(32, 128);
        let t0 = std::time::Instant::now();
        let timed = crate::policy::time_decisions(
            self.plan.policy.name,
            &self.plan,
            survey,
            &field.candidates,
            &[16, half],
        );
        tracing::info!(probe_s = t0.elapsed().as_secs_f64(), "decisions timed");
        let line = match timed[..] {
            [a, b] => eta::Line::through(a, b),
            _ => None,
        };
        tracing::info!(?timed, ?line, "decision cost");
        self.pace.decisions_timed(line);
    }

    /// The rest of the session by [`eta::forecast`]: `measured` of `budget`
    /// curves in (the budget is the curves there are once the run is closing).
    pub(super) fn forecast_for(&self, measured: usize, budget: usize) -> eta::Forecast {
        let now = eta::Now {
            measured,
            budget,
            step: self.pace.step_line(),
            retrain_every: self.plan.analysis.retrain_every as usize,
            epochs: self.plan.analysis.vae_epochs as usize,
            members: self.plan.analysis.vae_ensemble.max(1) as usize,
            in_flight: self.retrainer.in_flight(),
            last_started: self.retrainer.last_started,
        };
        eta::forecast(&now, self.pace.cost())
    }

    pub(super) fn forecast(&self) -> eta::Forecast {
        self.forecast_for(self.history.len(), self.plan.policy.budget as usize)
    }

    /// Tells the console and the progress lines how the last training goes.
    fn tell_finishing(&self) {
        let per_member = (self.plan.analysis.vae_epochs as usize).max(1);
        let members = self.plan.analysis.vae_ensemble.max(1) as usize;
        let n = self.history.len();
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
            let all = self.history.len();
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
