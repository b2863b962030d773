//! DN-DKL, dual-novelty deep kernel learning, and its two halves as policies of
//! their own: `dkl-ucb` (spectral novelty only) and `structure` (SSIM only).
//!
//! The heavy work (novelty scoring, the warm-started fit, scoring every
//! candidate) runs on a worker thread that produces a *ranking* of all
//! candidates after each new curve. `decide` picks the best open candidate from
//! the ranking of the right version: the one that includes every curve so far,
//! or — pipelined — the one computed while the last curve was being measured,
//! so the next sweep starts without waiting for a fit.

use super::{Candidates, DecideContext, Decision, Policy, Ranked};
use crate::ml::dkl::{DklModel, FitReport, FitSettings};
use crate::ml::gp::Posterior;
use crate::ml::patches::{self, PatchSet};
use crate::ml::ssim::StructuralNovelty;
use crate::ml::{iforest, spectra};
use crate::plan::{DklTarget, PolicyKind, SessionPlan};
use crate::seed;
use crate::store::{MeasurementRow, Source};
use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// Scores of every candidate after `version` curves.
#[derive(Debug)]
pub struct Ranking {
    pub version: usize,
    pub score: Vec<f64>,
    pub mean: Option<Vec<f64>>,
    pub std: Option<Vec<f64>>,
    pub structure: Vec<f64>,
    /// μ + √β·σ, the spectral half of the score.
    pub ucb: Option<Vec<f64>>,
    /// Whether `score`, `std` and `ucb` of a candidate are exact; the others
    /// hold upper bounds that no exact score can beat (see `rank`).
    pub exact: Vec<bool>,
    /// Time of the fit and of scoring every candidate; `None` when the
    /// ranking fitted nothing (structure alone, or too few curves).
    pub fit_ms: Option<f64>,
    pub score_ms: Option<f64>,
    pub fit_steps: usize,
    /// Where the time went (ms): novelty targets, fit, conditioning, embedding
    /// the candidates, predicting them.
    pub stages_ms: [f64; 5],
}

/// Settings the worker needs.
#[derive(Debug, Clone)]
pub struct DnDklSettings {
    pub kind: PolicyKind,
    pub master_seed: u64,
    pub beta: f64,
    pub target: DklTarget,
    pub pipelined: bool,
    pub hidden: Vec<usize>,
    pub embedding: usize,
    pub learning_rate: f64,
    pub first_fit_steps: usize,
    pub refit_steps: usize,
    pub restart_every: usize,
    pub sweep_points: usize,
    pub queue_len: usize,
}

impl DnDklSettings {
    pub fn from_plan(kind: PolicyKind, plan: &SessionPlan) -> Self {
        let p = &plan.policy;
        Self {
            kind,
            master_seed: plan.seed,
            beta: p.beta,
            target: p.target,
            pipelined: p.pipelined,
            hidden: p.dkl_hidden.iter().map(|&h| h as usize).collect(),
            embedding: p.dkl_embedding as usize,
            learning_rate: p.dkl_learning_rate,
            first_fit_steps: p.dkl_first_fit_steps as usize,
            refit_steps: p.dkl_refit_steps as usize,
            restart_every: p.dkl_restart_every as usize,
            sweep_points: plan.sweep.points as usize,
            queue_len: p.queue_len as usize,
        }
    }
}

/// One new curve, as the decision core takes it.
#[derive(Debug, Clone)]
pub struct Observation {
    /// The topography patch where the curve was taken (normalised like the candidates').
    pub patch: Vec<f32>,
    /// The candidate it was taken at, if it was one.
    pub candidate: Option<usize>,
    pub current_a: Vec<f64>,
    /// The physics scalar the kernel learns when the plan's target is not novelty.
    pub target: f64,
    /// History replayed at resume: no ranking is needed after it.
    pub catching_up: bool,
}

/// Rankings the worker has produced, newest last, and a signal for waiters.
#[derive(Default)]
struct Shelf {
    rankings: Mutex<VecDeque<Arc<Ranking>>>,
    ready: Condvar,
    failed: Mutex<Option<String>>,
}

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
    failed: Option<String>,
}

impl DnDkl {
    pub fn new(settings: DnDklSettings, survey: &crate::instrument::Survey, candidates: &Candidates) -> Self {
        let image = patches::normalise(&survey.heights_nm);
        let patches = patches::extract(&image, candidates);
        let (tx, rx) = channel();
        let shelf = Arc::new(Shelf::default());
        let worker = {
            let settings = settings.clone();
            let shelf = shelf.clone();
            std::thread::Builder::new()
                .name("dn-dkl".into())
                .spawn(move || DecisionCore::new(settings, patches).run(rx, &shelf))
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
    fn ranking(&self, version: usize) -> Result<Arc<Ranking>, String> {
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
                return Err("the worker thread has stopped".into());
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

    fn target_of(&self, m: &MeasurementRow) -> f64 {
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

    fn observe(&mut self, candidate: Option<usize>, m: &MeasurementRow) {
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

    fn observe_history(&mut self, history: &[(Option<usize>, &MeasurementRow)]) {
        for (k, (candidate, m)) in history.iter().enumerate() {
            self.catching_up = k + 1 < history.len();
            self.observe(*candidate, m);
        }
        self.catching_up = false;
    }

    fn decide(&mut self, ctx: &DecideContext<'_>) -> Option<Decision> {
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
        let decision = Decision {
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
        self.failed.clone()
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

/// Everything one decision needs, owned by the worker thread: the candidates'
/// patches, the structural novelty, the training set and the deep kernel.
#[derive(Clone)]
pub struct DecisionCore {
    settings: DnDklSettings,
    patches: PatchSet,
    structure: StructuralNovelty,
    model: Option<DklModel>,
    train_patches: Vec<f32>,
    /// Each curve resampled, pooled and smoothed (before the global min–max):
    /// computed once when the curve comes in, not at every decision.
    reduced: Vec<Vec<f64>>,
    targets: Vec<f64>,
    /// Candidates already measured: never worth an exact variance.
    taken: Vec<bool>,
    /// Buffers of the candidates' embedding, reused every decision.
    workspace: crate::ml::infer::Workspace,
}

/// Curves below this count are too few for a kernel fit; structure alone ranks.
const MIN_FIT_POINTS: usize = 3;
/// Candidates scored per batch (bounds memory to batch × measured points).
const PREDICT_BATCH: usize = 128;

impl DecisionCore {
    pub fn new(settings: DnDklSettings, patches: PatchSet) -> Self {
        let structure = StructuralNovelty::new(&patches);
        let taken = vec![false; patches.len()];
        Self {
            settings,
            patches,
            structure,
            model: None,
            train_patches: Vec::new(),
            reduced: Vec::new(),
            targets: Vec::new(),
            taken,
            workspace: Default::default(),
        }
    }

    fn run(mut self, rx: Receiver<Observation>, shelf: &Shelf) {
        for obs in rx {
            let catching_up = obs.catching_up;
            self.absorb(obs);
            if catching_up {
                continue;
            }
            // A panic in the fit must not leave `decide` waiting for a
            // ranking that never comes: it is a failure like any other.
            let ranked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.rank())).unwrap_or_else(|p| {
                Err(format!(
                    "the worker panicked: {}",
                    p.downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_default()
                ))
            });
            match ranked {
                Ok(r) => {
                    let mut s = shelf.rankings.lock().expect("ranking shelf");
                    s.push_back(Arc::new(r));
                    while s.len() > 3 {
                        s.pop_front();
                    }
                    shelf.ready.notify_all();
                }
                Err(e) => {
                    *shelf.failed.lock().expect("failure slot") = Some(e);
                    shelf.ready.notify_all();
                    return;
                }
            }
        }
    }

    /// Takes a new curve in: one more training point (its SSIM column is added
    /// by `rank`, on the second core while the first one fits).
    pub fn absorb(&mut self, obs: Observation) {
        if let Some(k) = obs.candidate
            && k < self.taken.len()
        {
            self.taken[k] = true;
        }
        self.train_patches.extend_from_slice(&obs.patch);
        self.reduced
            .push(spectra::reduce_one(&obs.current_a, self.settings.sweep_points));
        self.targets.push(obs.target);
    }

    /// What the kernel learns: novelty of every curve among all of them,
    /// re-scored now, or a min–max scaled physics scalar.
    fn learning_targets(settings: &DnDklSettings, reduced: &[Vec<f64>], targets: &[f64]) -> Vec<f64> {
        let n = reduced.len();
        match settings.target {
            DklTarget::Novelty => {
                let mut features = reduced.to_vec();
                spectra::min_max_global(&mut features);
                let mut rng = seed::rng(settings.master_seed, "isolation-forest", &[n as u64]);
                iforest::novelty(&features, &mut rng)
            }
            _ => {
                let finite: Vec<f64> = targets.iter().copied().filter(|v| v.is_finite()).collect();
                let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let span = if hi > lo { hi - lo } else { 1.0 };
                targets
                    .iter()
                    .map(|v| if v.is_finite() { (v - lo) / span } else { 1.0 })
                    .collect()
            }
        }
    }

    /// Re-scores the learning targets, refits the deep kernel warm (from its
    /// seeded initialisation the first time) and conditions the GP on the
    /// training set. Times in ms: targets, fit, conditioning.
    fn fit(
        settings: &DnDklSettings,
        width: usize,
        model: &mut Option<DklModel>,
        train_patches: &[f32],
        reduced: &[Vec<f64>],
        targets: &[f64],
    ) -> Result<(FitReport, Posterior, [f64; 3]), String> {
        let t_stage = Instant::now();
        let y = Self::learning_targets(settings, reduced, targets);
        let targets_ms = t_stage.elapsed().as_secs_f64() * 1e3;
        let n = y.len();
        let fresh = |salt: &[u64]| {
            DklModel::new_seeded(
                width,
                &settings.hidden,
                settings.embedding,
                burn::prelude::Device::flex().autodiff(),
                seed::derive(settings.master_seed, "dkl-init", salt),
            )
        };
        let steps = |max_steps: usize| FitSettings {
            learning_rate: settings.learning_rate,
            max_steps,
            tolerance: 1e-4,
            patience: 3,
        };
        let t_stage = Instant::now();
        let (warm, max_steps, first) = match model.take() {
            Some(m) => (m, settings.refit_steps, false),
            None => (fresh(&[]), settings.first_fit_steps, true),
        };
        let model = model.insert(warm);
        let mut report = model
            .fit(train_patches, &y, steps(max_steps))
            .map_err(|e| e.to_string())?;
        let mut train_ms = t_stage.elapsed().as_secs_f64() * 1e3;
        let t_stage = Instant::now();
        let mut posterior = model.posterior(train_patches, &y).map_err(|e| e.to_string())?;
        let posterior_ms = t_stage.elapsed().as_secs_f64() * 1e3;
        if settings.restart_every > 0 && n.is_multiple_of(settings.restart_every) && !first {
            // A fresh start competes with the warm fit on the marginal
            // likelihood; a failed fresh fit just loses.
            let t_stage = Instant::now();
            let mut challenger = fresh(&[n as u64]);
            if let Ok(r) = challenger.fit(train_patches, &y, steps(settings.first_fit_steps))
                && let Ok(p) = challenger.posterior(train_patches, &y)
                && p.nll < posterior.nll
            {
                *model = challenger;
                report = r;
                posterior = p;
            }
            train_ms += t_stage.elapsed().as_secs_f64() * 1e3;
        }
        Ok((report, posterior, [targets_ms, train_ms, posterior_ms]))
    }

    /// Adds the SSIM columns of the training patches absorbed since the last
    /// ranking (none for `dkl-ucb`, which has no structural half).
    fn settle_structure(kind: PolicyKind, structure: &mut StructuralNovelty, patches: &PatchSet, train: &[f32]) {
        if kind == PolicyKind::DklUcb {
            return;
        }
        let done = structure.measured();
        for patch in train.chunks(patches.width()).skip(done) {
            structure.add(patches, patch);
        }
    }

    /// Re-scores novelty, refits warm, and scores every candidate.
    pub fn rank(&mut self) -> Result<Ranking, String> {
        let n = self.reduced.len();
        let m = self.patches.len();
        if self.settings.kind == PolicyKind::Structure || n < MIN_FIT_POINTS {
            Self::settle_structure(
                self.settings.kind,
                &mut self.structure,
                &self.patches,
                &self.train_patches,
            );
            let structure: Vec<f64> = (0..m).map(|k| self.structure.novelty(k)).collect();
            return Ok(Ranking {
                version: n,
                score: structure.clone(),
                mean: None,
                std: None,
                structure,
                ucb: None,
                exact: vec![true; m],
                fit_ms: None,
                score_ms: None,
                fit_steps: 0,
                stages_ms: [0.0; 5],
            });
        }
        #[cfg(feature = "test-hooks")]
        crate::hooks::panic_at("DKL_PANIC_AT_CURVES", n as u64);
        // The SSIM columns and the fit need each other's results only when
        // scoring: the fit (burn, one core) and the columns (the rest of the
        // pool) run side by side.
        let Self {
            settings,
            patches,
            structure,
            model,
            train_patches,
            reduced,
            targets,
            ..
        } = self;
        let settings = &*settings;
        let mut fitted = None;
        let t_fit = Instant::now();
        rayon::scope(|scope| {
            let patches = &*patches;
            let train = &*train_patches;
            scope.spawn(move |_| Self::settle_structure(settings.kind, structure, patches, train));
            fitted = Some(Self::fit(
                settings,
                patches.width(),
                model,
                train_patches,
                reduced,
                targets,
            ));
        });
        let (report, posterior, [targets_ms, train_ms, posterior_ms]) = fitted.expect("the fit ran")?;
        let fit_ms = t_fit.elapsed().as_secs_f64() * 1e3;
        let structure: Vec<f64> = (0..m).map(|k| self.structure.novelty(k)).collect();
        let model = self.model.as_ref().expect("fitted above");

        let t_score = Instant::now();
        let z = crate::ml::infer::forward_with(&self.patches.data, &model.dense_layers(), &mut self.workspace);
        let embed_ms = t_score.elapsed().as_secs_f64() * 1e3;
        let sqrt_beta = self.settings.beta.sqrt();
        let weight = |k: usize| {
            if self.settings.kind == PolicyKind::DnDkl {
                structure[k]
            } else {
                1.0
            }
        };
        // Every candidate's mean, and an upper bound on its score from an upper
        // bound on its variance (structural novelty ≥ 0 keeps the order).
        let (mean, var_bound) = posterior.mean_and_variance_bound(&z);
        let mut ucb: Vec<f64> = mean
            .iter()
            .zip(&var_bound)
            .map(|(mu, v)| mu + sqrt_beta * v.sqrt())
            .collect();
        let mut score: Vec<f64> = (0..m).map(|k| ucb[k] * weight(k)).collect();
        let mut std = vec![f64::NAN; m];
        let mut exact = vec![false; m];
        // Exact variances (a triangular solve each) best bound first, until the
        // queue's worth of exact scores beats every remaining bound: the same
        // decision and queue as solving for all 14k candidates.
        let mut order: Vec<usize> = (0..m).filter(|&k| !self.taken[k]).collect();
        order.sort_by(|&a, &b| score[b].total_cmp(&score[a]).then(a.cmp(&b)));
        let need = self.settings.queue_len + 3;
        let mut best: Vec<f64> = Vec::with_capacity(need + PREDICT_BATCH);
        let d = model.embedding_dim();
        // One batch per core each round; the stopping test runs between rounds.
        let round = PREDICT_BATCH * rayon::current_num_threads().max(1);
        for chunk in order.chunks(round) {
            if best.len() >= need && best[need - 1] >= score[chunk[0]] {
                break;
            }
            let zc: Vec<f64> = chunk
                .iter()
                .flat_map(|&k| z[k * d..(k + 1) * d].iter().copied())
                .collect();
            let (_, var) = posterior.predict_par(&zc, PREDICT_BATCH);
            for (&k, v) in chunk.iter().zip(var) {
                std[k] = v.sqrt();
                ucb[k] = mean[k] + sqrt_beta * std[k];
                score[k] = ucb[k] * weight(k);
                exact[k] = true;
                best.push(score[k]);
            }
            best.sort_by(|a, b| b.total_cmp(a));
            best.truncate(need);
        }
        let predict_ms = t_score.elapsed().as_secs_f64() * 1e3 - embed_ms;
        let score_ms = t_score.elapsed().as_secs_f64() * 1e3;
        Ok(Ranking {
            version: n,
            score,
            mean: Some(mean),
            std: Some(std),
            structure,
            ucb: Some(ucb),
            exact,
            fit_ms: Some(fit_ms),
            score_ms: Some(score_ms),
            fit_steps: report.steps,
            stages_ms: [targets_ms, train_ms, posterior_ms, embed_ms, predict_ms],
        })
    }
}
