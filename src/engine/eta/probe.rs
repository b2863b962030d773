//! Short timings taken before the first curve, so that an ETA (the running
//! session's, or a dry run's) prices the work before any of it is measured:
//! the dual VAE's epochs and clustering, and the policy's decisions.

use super::{Line, TrainingCost};
use crate::plan::SessionPlan;
use crate::record::{Candidates, Survey};

/// Dual-VAE epochs of the session's shapes on a few and on all the budget's
/// curves, and the clustering (~0.1 s in a release build at the demo's 210
/// curves); `None` when nothing trains live.
pub fn training_cost(plan: &SessionPlan, survey: &Survey) -> Option<TrainingCost> {
    if plan.analysis.retrain_every == 0 {
        return None;
    }
    // Two sizes far enough apart for a slope, the larger where the session
    // ends (a budget of 32 or less timed 32 twice: no line, no wait).
    let large = (plan.policy.budget as usize).clamp(128, 512);
    let timed = crate::analysis::time_epochs(
        &plan.analysis,
        plan.policy.patch_px as usize,
        plan.sweep.points as usize,
        &[32, large],
    );
    let epoch = Line::through(timed[0], timed[1]);
    let clustered = crate::analysis::time_clustering(&plan.analysis, &[32, 96], plan.seed);
    let clustering = Line::through(clustered[0], clustered[1]);
    let mapping_s = crate::analysis::property_map::time_property_map(plan, survey).unwrap_or(0.0);
    let cost = epoch.zip(clustering).map(|(epoch, clustering)| TrainingCost {
        epoch,
        clustering,
        contention_s: 0.0,
        mapping_s,
    });
    tracing::info!(?timed, ?clustered, ?cost, "dual-VAE training cost");
    cost
}

/// The plan's decisions timed on a throw-away copy of the policy, at 16
/// curves and a quarter of the budget, where the fit's growth shows (~0.3 s
/// on the demo plan); `None` for a policy that decides in no time.
pub fn decision_cost(plan: &SessionPlan, survey: &Survey, candidates: &Candidates) -> Option<Line> {
    let quarter = (plan.policy.budget as usize / 4).clamp(32, 128);
    let t0 = std::time::Instant::now();
    let timed = crate::policy::time_decisions(plan.policy.name, plan, survey, candidates, &[16, quarter]);
    let line = match timed[..] {
        [a, b] => Line::through(a, b),
        _ => None,
    };
    tracing::info!(probe_s = t0.elapsed().as_secs_f64(), ?timed, ?line, "decision cost");
    line
}
