//! The worker thread's side of DN-DKL: the candidates' patches and structural
//! novelty, the training set, the deep kernel and its warm fit.

use super::settings::{DnDklSettings, Observation};
use super::shelf::{DnDklError, Shelf};
use crate::ml::dkl::{DklModel, FitReport, FitSettings};
use crate::ml::gp::Posterior;
use crate::ml::patches::PatchSet;
use crate::ml::ssim::StructuralNovelty;
use crate::ml::{iforest, spectra};
use crate::plan::{DklTarget, PolicyKind};
use crate::seed;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Instant;

/// Everything one decision needs, owned by the worker thread: the candidates'
/// patches, the structural novelty, the training set and the deep kernel.
#[derive(Clone)]
pub struct DecisionCore {
    pub(super) settings: DnDklSettings,
    pub(super) patches: PatchSet,
    pub(super) structure: StructuralNovelty,
    pub(super) model: Option<DklModel>,
    pub(super) train_patches: Vec<f32>,
    /// Each curve resampled, pooled and smoothed (before the global min–max):
    /// computed once when the curve comes in, not at every decision.
    pub(super) reduced: Vec<Vec<f64>>,
    pub(super) targets: Vec<f64>,
    /// Candidates already measured: never worth an exact variance.
    pub(super) taken: Vec<bool>,
    /// Buffers of the candidates' embedding, reused every decision.
    pub(super) workspace: crate::ml::infer::Workspace,
    /// The sparse GP and its refits beside the acquisition, once the session
    /// is past `exact_max_points` curves (see `large`).
    pub(super) large: Option<super::large::Large>,
}

/// Curves below this count are too few for a kernel fit; structure alone ranks.
pub(super) const MIN_FIT_POINTS: usize = 3;
/// Candidates scored per batch (bounds memory to batch × measured points).
pub(super) const PREDICT_BATCH: usize = 128;

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
            large: None,
        }
    }

    /// Treats the `barred` candidates as taken: no exact score is spent on them.
    pub(super) fn barring(mut self, barred: &[bool]) -> Self {
        for (t, &b) in self.taken.iter_mut().zip(barred) {
            *t |= b;
        }
        self
    }

    pub(super) fn run(mut self, rx: Receiver<Observation>, shelf: &Shelf) {
        for obs in rx {
            let catching_up = obs.catching_up;
            self.absorb(obs);
            if catching_up {
                continue;
            }
            // A panic in the fit must not leave `decide` waiting for a
            // ranking that never comes: it is a failure like any other.
            let ranked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.rank())).unwrap_or_else(|p| {
                Err(DnDklError::Panicked(
                    p.downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_default(),
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
    pub(super) fn learning_targets(settings: &DnDklSettings, reduced: &[Vec<f64>], targets: &[f64]) -> Vec<f64> {
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

    /// [`DecisionCore::learning_targets`], and the ms they took.
    pub(super) fn timed_targets(settings: &DnDklSettings, reduced: &[Vec<f64>], targets: &[f64]) -> (Vec<f64>, f64) {
        let t0 = Instant::now();
        let y = Self::learning_targets(settings, reduced, targets);
        (y, t0.elapsed().as_secs_f64() * 1e3)
    }

    /// The deep kernel from its seeded start (`salt` tells restarts apart).
    pub(super) fn fresh_model(settings: &DnDklSettings, width: usize, salt: &[u64]) -> DklModel {
        DklModel::new_seeded(
            width,
            &settings.hidden,
            settings.embedding,
            burn::prelude::Device::flex().autodiff(),
            seed::derive(settings.master_seed, "dkl-init", salt),
        )
    }

    pub(super) fn fit_settings(settings: &DnDklSettings, max_steps: usize) -> FitSettings {
        FitSettings {
            learning_rate: settings.learning_rate,
            max_steps,
            tolerance: 1e-4,
            patience: 3,
        }
    }

    /// Re-scores the learning targets, refits the deep kernel warm (from its
    /// seeded initialisation the first time) and conditions the GP on the
    /// training set. Times in ms: targets, fit, conditioning.
    pub(super) fn fit(
        settings: &DnDklSettings,
        width: usize,
        model: &mut Option<DklModel>,
        train_patches: &[f32],
        reduced: &[Vec<f64>],
        targets: &[f64],
    ) -> Result<(FitReport, Posterior, [f64; 3]), DnDklError> {
        let (y, targets_ms) = Self::timed_targets(settings, reduced, targets);
        let n = y.len();
        let fresh = |salt: &[u64]| Self::fresh_model(settings, width, salt);
        let steps = |max_steps: usize| Self::fit_settings(settings, max_steps);
        let t_stage = Instant::now();
        let (warm, max_steps, first) = match model.take() {
            Some(m) => (m, settings.refit_steps, false),
            None => (fresh(&[]), settings.first_fit_steps, true),
        };
        let model = model.insert(warm);
        let mut report = model.fit(train_patches, &y, steps(max_steps))?;
        let mut train_ms = t_stage.elapsed().as_secs_f64() * 1e3;
        let t_stage = Instant::now();
        let mut posterior = model.posterior(train_patches, &y)?;
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
    pub(super) fn settle_structure(
        kind: PolicyKind,
        structure: &mut StructuralNovelty,
        patches: &PatchSet,
        train: &[f32],
    ) {
        if kind == PolicyKind::DklUcb {
            return;
        }
        let done = structure.measured();
        for patch in train.chunks(patches.width()).skip(done) {
            structure.add(patches, patch);
        }
    }
}
