//! One ranking: novelty re-scored, the kernel refitted warm beside the new
//! SSIM columns, and every candidate scored — exact variances only where a
//! bound could still win.

use super::shelf::{DnDklError, Ranking};
use super::worker::{DecisionCore, MIN_FIT_POINTS, PREDICT_BATCH};
use crate::plan::PolicyKind;
use std::time::Instant;

impl DecisionCore {
    /// Re-scores novelty, refits warm, and scores every candidate.
    pub fn rank(&mut self) -> Result<Ranking, DnDklError> {
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
        let t_fit = Instant::now();
        let large_now = n > self.settings.exact_max_points;
        let adopted = match self.large.as_mut() {
            Some(l) if large_now => l.adopt_due(n, &mut self.model)?,
            _ => None,
        };
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
            large,
            ..
        } = self;
        let settings = &*settings;
        let mut fitted = None;
        rayon::scope(|scope| {
            let patches = &*patches;
            let train = &*train_patches;
            scope.spawn(move |_| Self::settle_structure(settings.kind, structure, patches, train));
            fitted = Some(if large_now {
                Self::fit_large(
                    adopted,
                    settings,
                    patches.width(),
                    model,
                    large,
                    train_patches,
                    reduced,
                    targets,
                )
            } else {
                Self::fit(settings, patches.width(), model, train_patches, reduced, targets)
            });
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
