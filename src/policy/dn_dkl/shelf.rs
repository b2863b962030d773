//! What the worker hands the policy: a ranking of every candidate after each
//! new curve, kept on a shelf the policy waits at.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

/// Why DN-DKL can no longer rank.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DnDklError {
    #[error("the deep kernel fit failed: {0}")]
    Fit(#[from] crate::ml::gp::NotPositiveDefinite),
    #[error("the worker panicked: {0}")]
    Panicked(String),
    #[error("the worker thread has stopped")]
    Stopped,
}

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

/// Rankings the worker has produced, newest last, and a signal for waiters.
#[derive(Default)]
pub(super) struct Shelf {
    pub(super) rankings: Mutex<VecDeque<Arc<Ranking>>>,
    pub(super) ready: Condvar,
    pub(super) failed: Mutex<Option<DnDklError>>,
}
