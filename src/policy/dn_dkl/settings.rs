//! What the DN-DKL worker is told: its settings from the plan, and each new
//! curve as it comes in.

use crate::plan::{DklTarget, PolicyKind, SessionPlan};

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
    pub exact_max_points: usize,
    pub inducing_points: usize,
    pub sparse_refit_every: usize,
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
            exact_max_points: p.dkl_exact_max_points as usize,
            inducing_points: p.dkl_inducing_points as usize,
            sparse_refit_every: p.dkl_sparse_refit_every as usize,
            // A location's curves end to end (see `record::learned::combined`).
            sweep_points: plan.sweep.set_points(),
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
