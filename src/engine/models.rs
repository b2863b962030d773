//! The live dual VAE as the run sees it: finished trainings collected at a
//! checkpoint (their embeddings saved, their map sent to the console), and the
//! session's close, which waits for the last model.

use super::stop::Stop;
use super::{ClusterView, Command, Engine, EngineEvent};
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
            if self.retrainer.busy() {
                let detail = format!(
                    "the {} on {} curves finishes before the session closes",
                    self.vae_label(),
                    self.retrainer.last_started
                );
                self.log(EventKind::Retrain, detail)?;
            }
            let mut waited = self.await_training()?;
            if waited == Waited::Landed && self.retrainer.last_started < self.history.len() {
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
        loop {
            self.collect_training()?;
            if !self.retrainer.busy() {
                return Ok(Waited::Landed);
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
