//! The offline analysis from sessions to saved results: read the sessions
//! (read-only), turn their measurements into samples with whatever truth the
//! sessions' instruments knew, train with progress a caller can show, and save
//! each session's embeddings as `analyze`'s own part.

use super::{Analysis, AnalysisError, Sample};
use crate::plan::AnalysisPlan;
use crate::store::{SessionLog, StoreError};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Sessions read and ready for training.
pub struct Gathered {
    pub logs: Vec<SessionLog>,
    pub samples: Vec<Sample>,
    /// The first session's `[analysis]` settings, with the caller's overrides.
    pub settings: AnalysisPlan,
    pub seed: u64,
}

impl Gathered {
    /// The curves of session `k` no model learns from whose max current the
    /// property map still takes ([`crate::record::learned::max_current_only`]),
    /// its rejected curves left out.
    pub fn max_current_only(&self, k: usize) -> Vec<crate::record::Measurement> {
        self.logs.get(k).map_or_else(Vec::new, |log| {
            crate::record::learned::max_current_only(&log.measurements, &crate::record::flag::rejected(&log.flags))
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cannot read {dir}: {source}")]
    Read { dir: PathBuf, source: StoreError },
    #[error(transparent)]
    Analysis(#[from] AnalysisError),
}

/// Reads the sessions, read-only: no lock is taken and nothing under a
/// session changes, so a running session can be analysed as it goes, and one
/// someone else owns can be read. `adjust` applies the caller's overrides to
/// the first session's settings.
pub fn gather(dirs: &[PathBuf], adjust: impl FnOnce(&mut AnalysisPlan)) -> Result<Gathered, PipelineError> {
    let mut logs = Vec::new();
    for dir in dirs {
        let log = SessionLog::load(dir).map_err(|source| PipelineError::Read {
            dir: dir.clone(),
            source,
        })?;
        logs.push(log);
    }
    let mut samples = Vec::new();
    for (k, log) in logs.iter().enumerate() {
        let Some(survey) = &log.survey else { continue };
        let truth = crate::instrument::ground_truth(&log.plan, survey);
        // As the live models did: no rejected curve, none the gate failed.
        let rejected = crate::record::flag::rejected(&log.flags);
        let protocols = log.plan.sweep.protocols().len();
        let learned = crate::record::learned::learned_from(&log.measurements, &rejected, protocols);
        samples.extend(super::samples(k, &log.plan, survey, &learned, truth.as_deref()));
    }
    let mut settings = logs.first().map(|l| l.plan.analysis.clone()).unwrap_or_default();
    adjust(&mut settings);
    let seed = logs.first().map(|l| l.meta.seed).unwrap_or(1);
    Ok(Gathered {
        logs,
        samples,
        settings,
        seed,
    })
}

/// How far a training has got, for whoever shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Which training of an ensemble (1-based), and how many there are.
    pub member: usize,
    pub members: usize,
    pub epoch: usize,
    pub epochs: usize,
    pub elapsed_s: f64,
    pub left_s: f64,
}

/// Trains on the gathered samples; `on_progress` hears every `every` once
/// the training has run that long (a spatial decoder or several sessions
/// take minutes, not seconds).
pub fn train(g: &Gathered, every: Duration, on_progress: impl Fn(Progress) + Sync) -> Result<Analysis, AnalysisError> {
    let members = g.settings.vae_ensemble.max(1) as usize;
    let per = g.settings.vae_epochs as usize;
    let epochs = per * members;
    let done = AtomicUsize::new(0);
    let finished = AtomicBool::new(false);
    let started = Instant::now();
    /// Stops the progress however training ends, a panic included.
    struct Finish<'a>(&'a AtomicBool);
    impl Drop for Finish<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut next = every;
            while !finished.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let elapsed = started.elapsed();
                let k = done.load(Ordering::Relaxed);
                if elapsed >= next && k > 0 && k < epochs {
                    on_progress(Progress {
                        member: k / per.max(1) + 1,
                        members,
                        epoch: k % per.max(1),
                        epochs: per,
                        elapsed_s: elapsed.as_secs_f64(),
                        left_s: elapsed.as_secs_f64() * (epochs - k) as f64 / k as f64,
                    });
                    next = elapsed + every;
                }
            }
        });
        let _finish = Finish(&finished);
        let never = AtomicBool::new(false);
        super::analyze_watched(&g.samples, &g.settings, g.seed, &done, &never)
    })
}

/// What saving one session's rows of one table came to.
pub struct Saved {
    pub session: PathBuf,
    pub table: &'static str,
    pub rows: usize,
    /// Where they went, or why not (a session this user cannot write to
    /// keeps its files; the printed summary is all there is then).
    pub result: Result<PathBuf, StoreError>,
}

/// Writes each session's rows of `embeddings` (its measured locations in the
/// map) and of `property_map` (the predicted response at every candidate of
/// its survey) as `analyze`'s own parts, replacing those an earlier
/// `analyze` wrote.
pub fn save(g: &Gathered, a: &Analysis) -> Vec<Saved> {
    let mut saved = Vec::new();
    for (k, log) in g.logs.iter().enumerate() {
        let model_step = g.samples.iter().filter(|t| t.session == k).count() as u32;
        let rows = a.embedding_rows(&g.samples, k, model_step, "analyze");
        let mut put = |table, rows, df: Result<polars::prelude::DataFrame, StoreError>| {
            let result = df.and_then(|mut df| crate::store::derived::save_analyze_part(&log.dir, table, &mut df));
            saved.push(Saved {
                session: log.dir.clone(),
                table,
                rows,
                result,
            });
        };
        put("embeddings", rows.len(), crate::store::schema::embeddings_frame(&rows));
        if let Some(survey) = &log.survey {
            let own: Vec<Sample> = g.samples.iter().filter(|t| t.session == k).cloned().collect();
            let points = super::property_map::of_frame(
                a,
                &own,
                &g.max_current_only(k),
                &log.plan,
                survey,
                model_step,
                "analyze",
            );
            if !points.is_empty() {
                put(
                    "property_map",
                    points.len(),
                    crate::store::schema::property_map_frame(&points),
                );
            }
        }
    }
    saved
}
