//! DN-DKL, dual-novelty deep kernel learning, and its two halves as policies of
//! their own: `dkl-ucb` (spectral novelty only) and `structure` (SSIM only).
//!
//! The heavy work (novelty scoring, the warm-started fit, scoring every
//! candidate) runs on a worker thread that produces a *ranking* of all
//! candidates after each new curve. `decide` picks the best open candidate from
//! the ranking of the right version: the one that includes every curve so far,
//! or — pipelined — the one computed while the last curve was being measured,
//! so the next sweep starts without waiting for a fit.
//!
//! Rooms: `settings` (what the worker is told), `worker` (the thread's state
//! and its fit), `large` (the sparse GP and refits beside the acquisition
//! past a few hundred curves), `rank` (one ranking of every candidate),
//! `shelf` (where rankings wait for the policy), and here the policy itself.

mod large;
mod probe;
mod rank;
mod settings;
mod shelf;
mod worker;

pub use probe::{DecisionTimes, time_decisions};
pub use settings::{DnDklSettings, Observation};
pub use shelf::{DnDklError, Ranking};
pub use worker::DecisionCore;

use super::{Candidates, Choice, DecideContext, Policy, Ranked};
use crate::ml::patches;
use crate::plan::{DklTarget, PolicyKind};
use crate::record::{Measurement, Source};
use shelf::Shelf;
use std::sync::Arc;
use std::sync::mpsc::{Sender, channel};
use std::time::Instant;

pub struct DnDkl {
    settings: DnDklSettings,
    to_worker: Option<Sender<Observation>>,
    shelf: Arc<Shelf>,
    worker: Option<std::thread::JoinHandle<()>>,
    image: ndarray::Array2<f32>,
    side: usize,
    observed: usize,
    catching_up: bool,
    last: Option<Arc<Ranking>>,
    /// Why the worker stopped, once it has.
    failed: Option<DnDklError>,
}

impl DnDkl {
    /// A policy over `candidates`; the `barred` ones (inside an excluded
    /// region) are never worth an exact score.
    pub fn new(
        settings: DnDklSettings,
        survey: &crate::record::Survey,
        candidates: &Candidates,
        barred: Vec<bool>,
    ) -> Self {
        let image = patches::normalise(&survey.heights_nm);
        let patches = patches::extract(&image, candidates);
        let (tx, rx) = channel();
        let shelf = Arc::new(Shelf::default());
        let worker = {
            let settings = settings.clone();
            let shelf = shelf.clone();
            std::thread::Builder::new()
                .name("dn-dkl".into())
                .spawn(move || DecisionCore::new(settings, patches).barring(&barred).run(rx, &shelf))
                .expect("spawn the DN-DKL worker")
        };
        Self {
            side: candidates.patch_px as usize,
            settings,
            to_worker: Some(tx),
            shelf,
            worker: Some(worker),
            image,
            observed: 0,
            catching_up: false,
            last: None,
            failed: None,
        }
    }

    /// Waits for the ranking that includes exactly `version` curves (or the
    /// first one after it, when that version was skipped during catch-up).
    fn ranking(&self, version: usize) -> Result<Arc<Ranking>, DnDklError> {
        let mut shelf = self.shelf.rankings.lock().expect("ranking shelf");
        loop {
            if let Some(r) = shelf
                .iter()
                .find(|r| r.version == version)
                .or_else(|| shelf.iter().find(|r| r.version > version))
            {
                return Ok(r.clone());
            }
            if let Some(e) = self.shelf.failed.lock().expect("failure slot").clone() {
                return Err(e);
            }
            if self.worker.as_ref().is_none_or(|w| w.is_finished()) {
                return Err(DnDklError::Stopped);
            }
            // Woken by every new ranking; the timeout only notices a worker
            // that ended without saying why.
            shelf = self
                .shelf
                .ready
                .wait_timeout(shelf, std::time::Duration::from_millis(500))
                .expect("ranking shelf")
                .0;
        }
    }

    fn target_of(&self, m: &Measurement) -> f64 {
        match self.settings.target {
            DklTarget::Novelty => f64::NAN,
            DklTarget::HysteresisArea => m.hysteresis_area,
            // No onset within the sweep: later than any onset seen.
            DklTarget::OnsetV => m.onset_v.unwrap_or(f64::INFINITY),
            DklTarget::MaxCurrentA => m.max_current_a,
        }
    }
}

impl Drop for DnDkl {
    fn drop(&mut self) {
        self.to_worker.take();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl Policy for DnDkl {
    fn kind(&self) -> PolicyKind {
        self.settings.kind
    }

    fn observe(&mut self, candidate: Option<usize>, m: &Measurement) {
        let patch = patches::patch_at(&self.image, m.row, m.col, self.side);
        let obs = Observation {
            patch,
            candidate,
            current_a: m.current_a.clone(),
            target: self.target_of(m),
            catching_up: self.catching_up,
        };
        self.observed += 1;
        if let Some(tx) = &self.to_worker {
            let _ = tx.send(obs);
        }
    }

    fn observe_history(&mut self, history: &[(Option<usize>, &Measurement)]) {
        for (k, (candidate, m)) in history.iter().enumerate() {
            self.catching_up = k + 1 < history.len();
            self.observe(*candidate, m);
        }
        self.catching_up = false;
    }

    fn decide(&mut self, ctx: &DecideContext<'_>) -> Option<Choice> {
        let t0 = Instant::now();
        let version = if self.settings.pipelined {
            self.observed.saturating_sub(1)
        } else {
            self.observed
        };
        let ranking = match self.ranking(version) {
            Ok(r) => r,
            Err(e) => {
                // The engine reads `failure()`, says so in the events and
                // continues with a simpler policy.
                tracing::error!(error = %e, "DN-DKL worker failed");
                self.failed = Some(e);
                return None;
            }
        };
        let by_score = |&a: &usize, &b: &usize| ranking.score[a].total_cmp(&ranking.score[b]).then(b.cmp(&a));
        let best_any = ctx.open().max_by(by_score)?;
        let best = ctx
            .open()
            .filter(|&k| ranking.exact[k])
            .max_by(by_score)
            .unwrap_or(best_any);
        if !ranking.exact[best_any] && ranking.score[best_any] > ranking.score[best] {
            // Only possible if every exactly scored candidate was taken meanwhile.
            tracing::warn!(
                version = ranking.version,
                "no exactly scored open candidate beats the bounds"
            );
        }
        let waited_ms = t0.elapsed().as_secs_f64() * 1e3;
        tracing::debug!(version = ranking.version, waited_ms, "decision");
        let decision = Choice {
            candidate: best,
            source: Source::Policy,
            score: Some(ranking.score[best]),
            mean: ranking.mean.as_ref().map(|m| m[best]),
            std: ranking.std.as_ref().map(|s| s[best]),
            structure_novelty: Some(ranking.structure[best]),
            spectral_novelty: ranking.ucb.as_ref().map(|u| u[best]),
            fit_ms: ranking.fit_ms,
            score_ms: ranking.score_ms,
        };
        self.last = Some(ranking);
        Some(decision)
    }

    fn failure(&self) -> Option<String> {
        self.failed.as_ref().map(|e| e.to_string())
    }

    fn rank_now(&mut self) {
        if self.observed == 0 || self.failed.is_some() {
            return;
        }
        match self.ranking(self.observed) {
            Ok(r) => self.last = Some(r),
            Err(e) => self.failed = Some(e),
        }
    }

    fn queue(&self, taken: &[bool]) -> Vec<Ranked> {
        let Some(r) = &self.last else {
            return Vec::new();
        };
        let mut open: Vec<usize> = (0..r.score.len()).filter(|&k| !taken[k] && r.exact[k]).collect();
        let n = self.settings.queue_len.min(open.len());
        if n == 0 {
            return Vec::new();
        }
        open.select_nth_unstable_by(n - 1, |&a, &b| r.score[b].total_cmp(&r.score[a]).then(a.cmp(&b)));
        open.truncate(n);
        open.sort_by(|&a, &b| r.score[b].total_cmp(&r.score[a]).then(a.cmp(&b)));
        open.into_iter()
            .map(|k| Ranked {
                candidate: k,
                score: r.score[k],
                mean: r.mean.as_ref().map(|m| m[k]),
                std: r.std.as_ref().map(|s| s[k]),
                structure_novelty: Some(r.structure[k]),
                spectral_novelty: r.ucb.as_ref().map(|u| u[k]),
            })
            .collect()
    }
}
