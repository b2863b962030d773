//! DN-DKL past `exact_max_points` curves, where the exact GP's O(n³) fit and
//! O(M·n) scoring would outgrow the instrument's seconds per curve.
//!
//! - The GP conditions on every curve through inducing points chosen from the
//!   measured set (`gp::Sparse`, DTC): a new curve is one rank-one update of an
//!   m × m Cholesky factor, the re-scored novelty targets one O(n·m) pass.
//! - The deep kernel is not refitted on the decision's path. Every
//!   `sparse_refit_every` curves a refit starts on its own thread, from a copy
//!   of the model and of the curves so far: a warm fit (and, as in the exact
//!   regime, a fresh seeded challenger) on the inducing subset — the points
//!   spread widest over the embedding, so the subset sees every kind of patch
//!   the session has seen — then the sparse GP rebuilt on every curve with the
//!   new weights. The decision `sparse_refit_every` curves later adopts it and
//!   conditions on the curves that came in meanwhile. Adopting at a fixed
//!   count rather than "when done" keeps a seeded session reproducible; a
//!   refit gets the instrument's time of those curves (75 s at 3 s a curve)
//!   and only waits, on that one decision, where it has not finished.
//!
//! Why DTC with inducing points and not a local GP of the nearest measured
//! points: the candidates' variance bound, which saves exact variances for all
//! but a few hundred candidates, holds for DTC over its (measured) inducing
//! points; a local GP has a different training set per candidate and no such
//! bound, and needs a neighbour search per candidate.

use super::settings::DnDklSettings;
use super::shelf::DnDklError;
use super::worker::DecisionCore;
use crate::ml::dkl::{DklModel, FitReport};
use crate::ml::gp::{self, Posterior, Sparse};
use crate::ml::infer::Dense;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// The sparse regime's state: the posterior, the weights its embedding was
/// made with, and the refit running beside the acquisition.
#[derive(Clone)]
pub(crate) struct Large {
    sparse: Sparse,
    layers: Vec<Dense>,
    pending: Option<Pending>,
    next_refit_at: usize,
}

/// What a refit hands back.
struct Refit {
    model: DklModel,
    sparse: Sparse,
    layers: Vec<Dense>,
    report: FitReport,
}

type Slot = Arc<(Mutex<Option<Result<Arc<Refit>, DnDklError>>>, Condvar)>;

/// A refit on its own thread, adopted by the decision at `adopt_at` curves.
/// Clones of a core share it (the bench clones cores).
#[derive(Clone)]
struct Pending {
    adopt_at: usize,
    slot: Slot,
}

impl Pending {
    fn spawn(adopt_at: usize, job: impl FnOnce() -> Result<Refit, DnDklError> + Send + 'static) -> Self {
        let slot: Slot = Arc::new((Mutex::new(None), Condvar::new()));
        let filled = slot.clone();
        std::thread::Builder::new()
            .name("dn-dkl-refit".into())
            .spawn(move || {
                // A panic must still fill the slot, or the adopting decision
                // would wait for ever.
                let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).unwrap_or_else(|p| {
                    Err(DnDklError::Panicked(
                        p.downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| p.downcast_ref::<String>().cloned())
                            .unwrap_or_default(),
                    ))
                });
                *filled.0.lock().expect("refit slot") = Some(done.map(Arc::new));
                filled.1.notify_all();
            })
            .expect("spawn a DN-DKL refit");
        Self { adopt_at, slot }
    }

    fn wait(&self) -> Result<Arc<Refit>, DnDklError> {
        let mut done = self.slot.0.lock().expect("refit slot");
        loop {
            if let Some(r) = done.as_ref() {
                return r.clone();
            }
            done = self.slot.1.wait(done).expect("refit slot");
        }
    }
}

impl Large {
    /// Waits for the refit due at `n` curves, if one is, and takes it over
    /// (model, weights, sparse GP); its report and the ms it took. To be called
    /// on the worker's own thread, outside the thread pool: a pool thread
    /// waiting here starves the refit, which runs its products on that pool
    /// (a 2000-curve session hung at 926 curves so).
    pub(super) fn adopt_due(
        &mut self,
        n: usize,
        model: &mut Option<DklModel>,
    ) -> Result<Option<(FitReport, f64)>, DnDklError> {
        let Some(pending) = self.pending.as_ref().filter(|p| n >= p.adopt_at) else {
            return Ok(None);
        };
        let t0 = Instant::now();
        let refit = pending.wait()?;
        *model = Some(refit.model.clone());
        self.sparse = refit.sparse.clone();
        self.layers = refit.layers.clone();
        self.pending = None;
        Ok(Some((refit.report, t0.elapsed().as_secs_f64() * 1e3)))
    }
}

impl DecisionCore {
    /// [`DecisionCore::fit`] past `exact_max_points` curves: targets re-scored,
    /// new curves conditioned on, the next refit started. `adopted`: what
    /// [`Large::adopt_due`] took over just before, and the ms it waited. Times
    /// in ms: targets, refit (waiting for or, the first time, running one),
    /// conditioning.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fit_large(
        adopted: Option<(FitReport, f64)>,
        settings: &DnDklSettings,
        width: usize,
        model: &mut Option<DklModel>,
        large: &mut Option<Large>,
        train_patches: &[f32],
        reduced: &[Vec<f64>],
        targets: &[f64],
    ) -> Result<(FitReport, Posterior, [f64; 3]), DnDklError> {
        let (y, targets_ms) = Self::timed_targets(settings, reduced, targets);
        let n = y.len();

        let t_stage = Instant::now();
        let (mut report, adopt_ms) = adopted.unwrap_or((
            FitReport {
                steps: 0,
                nll: f64::NAN,
            },
            0.0,
        ));
        let state = match large {
            Some(state) => state,
            None => {
                // The first decision past the line refits here, once.
                let warm = model.take().unwrap_or_else(|| Self::fresh_model(settings, width, &[]));
                let refit = refit(settings, width, warm, train_patches, &y)?;
                *model = Some(refit.model);
                report = refit.report;
                large.insert(Large {
                    sparse: refit.sparse,
                    layers: refit.layers,
                    pending: None,
                    next_refit_at: n + settings.sparse_refit_every,
                })
            }
        };
        let train_ms = adopt_ms + t_stage.elapsed().as_secs_f64() * 1e3;

        let t_stage = Instant::now();
        for i in state.sparse.len()..n {
            let z = crate::ml::infer::forward(&train_patches[i * width..(i + 1) * width], &state.layers);
            state.sparse.add(&z)?;
        }
        state.sparse.condition(&y);
        if n >= state.next_refit_at && state.pending.is_none() {
            let warm = model.clone().expect("a model past the first refit");
            let every = settings.sparse_refit_every;
            let (settings, patches, y) = (settings.clone(), train_patches.to_vec(), y.clone());
            state.pending = Some(Pending::spawn(n + every, move || {
                refit(&settings, width, warm, &patches, &y)
            }));
            state.next_refit_at = n + every;
        }
        let posterior_ms = t_stage.elapsed().as_secs_f64() * 1e3;
        Ok((
            report,
            state.sparse.posterior().clone(),
            [targets_ms, train_ms, posterior_ms],
        ))
    }
}

/// Refits the deep kernel on the inducing subset of `patches` (warm, and a
/// fresh challenger when restarts are on), then builds the sparse GP of every
/// curve with the new weights.
fn refit(
    settings: &DnDklSettings,
    width: usize,
    mut model: DklModel,
    patches: &[f32],
    y: &[f64],
) -> Result<Refit, DnDklError> {
    let n = y.len();
    let d = model.embedding_dim();
    let m = settings.inducing_points;
    let spread = |model: &DklModel| -> (Vec<f64>, Vec<usize>) {
        let z = model.embed_fast(patches);
        let inv_l: Vec<f64> = model.kernel().hyper().lengthscale.iter().map(|l| 1.0 / l).collect();
        let chosen = gp::farthest_points(&z, d, &inv_l, m);
        (z, chosen)
    };
    let (_, subset) = spread(&model);
    let x_sub: Vec<f32> = subset
        .iter()
        .flat_map(|&i| patches[i * width..(i + 1) * width].iter().copied())
        .collect();
    let y_sub: Vec<f64> = subset.iter().map(|&i| y[i]).collect();
    let steps = DecisionCore::fit_settings(settings, settings.first_fit_steps);
    let mut report = model.fit(&x_sub, &y_sub, steps)?;
    if settings.restart_every > 0 {
        let warm_nll = model.posterior(&x_sub, &y_sub)?.nll;
        let mut challenger = DecisionCore::fresh_model(settings, width, &[n as u64]);
        if let Ok(r) = challenger.fit(&x_sub, &y_sub, steps)
            && let Ok(p) = challenger.posterior(&x_sub, &y_sub)
            && p.nll < warm_nll
        {
            model = challenger;
            report = r;
        }
    }
    let (z, inducing) = spread(&model);
    let sparse = Sparse::build(&z, d, &inducing, &model.kernel().hyper())?;
    let layers = model.dense_layers();
    Ok(Refit {
        model,
        sparse,
        layers,
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::super::settings::Observation;
    use super::*;
    use crate::ml::patches;
    use crate::plan::{PolicyKind, SessionPlan};
    use crate::record::Candidates;

    /// A core on a 64×64 relief (169 candidates) that leaves the exact GP
    /// after 20 curves, refits every 5 on 8 inducing points.
    fn core() -> (DecisionCore, impl Fn(usize) -> Observation) {
        let heights_nm = ndarray::Array2::from_shape_fn((64, 64), |(r, c)| {
            ((r as f64) * 0.31).sin() * 3.0 + (c as f64 * 0.17).cos() * 2.0 + ((r * c) as f64 * 0.01).sin()
        });
        let image = patches::normalise(&heights_nm);
        let candidates = Candidates::new(64, 64, 16, 4, None);
        let mut plan = SessionPlan::default();
        plan.policy.dkl_exact_max_points = 20;
        plan.policy.dkl_inducing_points = 8;
        plan.policy.dkl_sparse_refit_every = 5;
        plan.policy.dkl_first_fit_steps = 30;
        let mut settings = DnDklSettings::from_plan(PolicyKind::DnDkl, &plan);
        settings.sweep_points = 40;
        let core = DecisionCore::new(settings, patches::extract(&image, &candidates));
        let made_up = move |k: usize| {
            let site = (k * 53) % candidates.len();
            let (row, col) = candidates.site(site);
            let onset = 0.3 + 0.05 * (k % 7) as f64;
            Observation {
                patch: patches::patch_at(&image, row, col, 16),
                candidate: Some(site),
                current_a: (0..40)
                    .map(|p| {
                        let v = 1.5 * (1.0 - (2.0 * p as f64 / 39.0 - 1.0).abs());
                        1e-10 / (1.0 + (-(v - onset) * 8.0).exp()) * (1.0 + 0.2 * (k % 3) as f64)
                    })
                    .collect(),
                target: f64::NAN,
                catching_up: false,
            }
        };
        (core, made_up)
    }

    #[test]
    fn past_the_line_refits_are_adopted_at_fixed_counts_and_the_session_is_reproducible() {
        let run = || {
            let (mut core, made_up) = core();
            let mut rankings = Vec::new();
            for k in 0..42 {
                core.absorb(made_up(k));
                if k + 1 >= 18 {
                    rankings.push(core.rank().unwrap());
                }
            }
            (core, rankings)
        };
        let (core, first) = run();
        let (_, second) = run();
        // 18–20 exact (a warm refit each), 21 the sparse GP's first build, then a
        // refit started at 26 is adopted at 31, one started at 31 at 36, …
        let refitted: Vec<usize> = first.iter().filter(|r| r.fit_steps > 0).map(|r| r.version).collect();
        assert_eq!(refitted, vec![18, 19, 20, 21, 31, 36, 41]);
        let large = core.large.as_ref().expect("past the line");
        assert_eq!(large.sparse.len(), 42);
        assert!(large.sparse.inducing().len() <= 8);
        for (a, b) in first.iter().zip(&second) {
            assert_eq!(a.version, b.version);
            assert_eq!(
                a.score, b.score,
                "the same curves give the same ranking at {}",
                a.version
            );
            assert_eq!(a.exact, b.exact);
        }
        for r in &first {
            let open_exact = (0..r.score.len()).filter(|&k| r.exact[k]).count();
            assert!(open_exact >= 15, "a queue's worth of exact scores at {}", r.version);
            assert!(r.score.iter().all(|s| s.is_finite()));
            // No bound left unsolved beats the best exact score.
            let best_exact = (0..r.score.len())
                .filter(|&k| r.exact[k])
                .map(|k| r.score[k])
                .fold(f64::MIN, f64::max);
            let best_bound = (0..r.score.len())
                .filter(|&k| !r.exact[k])
                .map(|k| r.score[k])
                .fold(f64::MIN, f64::max);
            assert!(
                best_bound <= best_exact,
                "a bound beats every exact score at {}",
                r.version
            );
        }
    }
}
