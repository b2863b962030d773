//! Background retraining of the dual VAE during a session: every K new curves
//! a training starts on its own thread; the engine picks the result up at a
//! checkpoint, so acquisition never waits for it.

use crate::analysis::{self, Analysis, AnalysisError};
use crate::plan::SessionPlan;
use crate::record::Survey;
use crate::record::{LatentPoint, Measurement, PropertyPoint};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::thread::JoinHandle;
use std::time::Instant;

use super::eta::InFlight;

/// A finished training and the rows it produced.
pub struct Trained {
    pub model_step: u32,
    pub analysis: Analysis,
    pub rows: Vec<LatentPoint>,
    /// The predicted response at every candidate (`property_map`).
    pub properties: Vec<PropertyPoint>,
}

/// A training's result, or the curve count of one that gave no map and why.
type Outcome = Result<Trained, (u32, AnalysisError)>;

#[derive(Default)]
pub struct Retrainer {
    running: Option<(Receiver<Outcome>, JoinHandle<()>, Arc<AtomicBool>)>,
    /// Measurements the last started training used.
    pub last_started: usize,
    /// When the running training started, and its finished epochs (every
    /// member's, counted on).
    since: Option<(Instant, Arc<AtomicUsize>)>,
}

impl Retrainer {
    pub fn busy(&self) -> bool {
        self.running.is_some()
    }

    /// The training under way: its curves and how long it has run.
    pub fn in_flight(&self) -> Option<InFlight> {
        let (since, epochs) = self.since.as_ref().filter(|_| self.busy())?;
        Some(InFlight {
            curves: self.last_started,
            elapsed: since.elapsed(),
            epochs_done: epochs.load(Ordering::Relaxed),
        })
    }

    /// Epochs the running training has finished, every member's together.
    pub fn epochs_done(&self) -> usize {
        self.since.as_ref().map_or(0, |(_, e)| e.load(Ordering::Relaxed))
    }

    /// Whether `every` new curves have come in since the last training.
    pub fn due(&self, plan: &SessionPlan, measured: usize) -> bool {
        let every = plan.analysis.retrain_every as usize;
        every > 0 && !self.busy() && measured >= self.last_started + every && measured >= 4
    }

    /// Starts a training on `history`; its model then predicts the response
    /// at every candidate of the frame.
    pub fn start(
        &mut self,
        plan: &SessionPlan,
        survey: &Arc<Survey>,
        history: &[Measurement],
        max_only: Vec<Measurement>,
    ) {
        if self.busy() {
            return;
        }
        // The truth, where the plan's instrument knows it, scores the live map.
        let truth = crate::instrument::ground_truth(plan, survey);
        let samples = analysis::samples(0, plan, survey, history, truth.as_deref());
        let settings = plan.analysis.clone();
        let (plan, survey) = (plan.clone(), survey.clone());
        let seed = plan.seed;
        let model_step = history.len() as u32;
        self.last_started = history.len();
        let (tx, rx) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_here = stop.clone();
        let epochs = Arc::new(AtomicUsize::new(0));
        self.since = Some((Instant::now(), epochs.clone()));
        let handle = std::thread::Builder::new()
            .name("dual-vae".into())
            .spawn(move || {
                let trained = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    #[cfg(feature = "test-hooks")]
                    crate::hooks::panic_at("RETRAIN_PANIC_AT_CURVES", model_step as u64);
                    analysis::analyze_watched(&samples, &settings, seed, &epochs, &stop_here)
                }));
                let result = match trained {
                    Ok(r) => r,
                    Err(p) => Err(AnalysisError::Crashed(format!(
                        "it panicked: {}",
                        p.downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| p.downcast_ref::<String>().cloned())
                            .unwrap_or_default()
                    ))),
                };
                let result = result
                    .map(|a| {
                        let rows = a.embedding_rows(&samples, 0, model_step, "live");
                        let properties = analysis::property_map::of_frame(
                            &a, &samples, &max_only, &plan, &survey, model_step, "live",
                        );
                        Trained {
                            model_step,
                            analysis: a,
                            rows,
                            properties,
                        }
                    })
                    .map_err(|e| (model_step, e));
                let _ = tx.send(result);
            })
            .expect("spawn the dual-VAE thread");
        self.running = Some((rx, handle, stop));
    }

    /// Lets the running training go: it stops at its next chance (between
    /// two trainings of an ensemble) and its result is dropped.
    pub fn abandon(&mut self) {
        if let Some((_, _, stop)) = self.running.take() {
            stop.store(true, Ordering::Relaxed);
        }
    }

    /// A finished training, if one is ready.
    pub fn collect(&mut self) -> Option<Outcome> {
        let (rx, _, _) = self.running.as_ref()?;
        let got = match rx.try_recv() {
            Ok(r) => Some(r),
            Err(TryRecvError::Empty) => return None,
            // The thread ended without sending: nothing is dropped silently.
            Err(TryRecvError::Disconnected) => Some(Err((
                self.last_started as u32,
                AnalysisError::Crashed("the training thread ended without a result".into()),
            ))),
        };
        if let Some((_, h, _)) = self.running.take() {
            let _ = h.join();
        }
        got
    }
}
