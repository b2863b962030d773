//! Short timings taken before the first curve, so that an ETA (the running
//! session's, or a dry run's) prices the work before any of it is measured:
//! the dual VAE's epochs and clustering, and the policy's decisions.

use super::{DecisionCost, Line, TrainingCost};
use crate::plan::SessionPlan;
use crate::record::{Candidates, Survey};

/// Times the work before the first curve: the dual VAE's epochs and
/// clustering (`None` when nothing trains live) and the policy's decisions
/// (`None` for a policy that decides in no time). The epochs are timed twice,
/// before and after the rest, and the two tries averaged: on 2 cores a
/// machine's pace holds for seconds and then changes by up to a third (one
/// dry run read 7 ms an epoch, the run started 2 s later 10 ms, its final
/// training 9.2), and a whole training averages over many such spells.
pub fn time_the_work(
    plan: &SessionPlan,
    survey: &Survey,
    candidates: Option<&Candidates>,
) -> (Option<TrainingCost>, Option<DecisionCost>) {
    let (training, decision, _) = time_the_work_with(plan, survey, candidates, 2);
    (training, decision)
}

/// [`time_the_work`] with the epochs timed `epoch_tries` times (at least 2:
/// once before the other probes, the rest after) and the median of the tries
/// taken; also returns the seconds the tries past two cost. A dry run, which
/// no instrument waits on, samples more of the machine's spells than a
/// session's start can afford (one dry run's two tries read 30 % above the
/// three runs around it); with two tries the median is their mean.
pub fn time_the_work_with(
    plan: &SessionPlan,
    survey: &Survey,
    candidates: Option<&Candidates>,
    epoch_tries: usize,
) -> (Option<TrainingCost>, Option<DecisionCost>, f64) {
    let trains = plan.analysis.retrain_every > 0;
    // Two sizes far enough apart for a slope, the larger where the session
    // ends (a budget of 32 or less timed 32 twice: no line, no wait).
    let large = (plan.policy.budget as usize).clamp(128, 512);
    let time_epochs = || {
        crate::analysis::time_epochs(
            &plan.analysis,
            plan.policy.patch_px as usize,
            plan.sweep.points as usize,
            &[32, large],
        )
    };
    let first = if trains { time_epochs() } else { Vec::new() };
    let decision = candidates.and_then(|c| decision_cost(plan, survey, c));
    if !trains {
        return (None, decision, 0.0);
    }
    let clustered = crate::analysis::time_clustering(&plan.analysis, &[32, 96], plan.seed);
    let mapping_s = crate::analysis::property_map::time_property_map(plan, survey).unwrap_or(0.0);
    let mut tries = vec![first, time_epochs()];
    let t_extra = std::time::Instant::now();
    while tries.len() < epoch_tries {
        tries.push(time_epochs());
    }
    let extra_s = t_extra.elapsed().as_secs_f64();
    let timed: Vec<(usize, f64)> = (0..tries[0].len())
        .map(|k| {
            let mut s: Vec<f64> = tries.iter().map(|t| t[k].1).collect();
            (tries[0][k].0, median(&mut s))
        })
        .collect();
    let epoch = Line::through(timed[0], timed[1]);
    let clustering = Line::through(clustered[0], clustered[1]);
    let cost = epoch.zip(clustering).map(|(epoch, clustering)| TrainingCost {
        epoch,
        clustering,
        contention_s: 0.0,
        mapping_s,
        batch: Some((plan.analysis.vae_batch_above as usize, plan.analysis.vae_batch as usize)),
    });
    tracing::info!(?tries, ?timed, ?clustered, ?cost, "dual-VAE training cost");
    (cost, decision, extra_s)
}

/// The middle value (the mean of the middle two for an even count).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The plan's decisions timed on a throw-away copy of the policy, at 16
/// curves and at half the budget (up to 128), where the fit's growth shows
/// (the demo's decisions took 32 ms at 10-25 curves and 112 ms at 150-210,
/// beside trainings; each curve on the way costs its SSIM column, ~10 ms, so
/// the whole budget would cost 2 s), and there again beside a training of as
/// many made-up curves (~1.3 s in all on the demo plan); `None` for a policy
/// that decides in no time.
fn decision_cost(plan: &SessionPlan, survey: &Survey, candidates: &Candidates) -> Option<DecisionCost> {
    let large = (plan.policy.budget as usize / 2).clamp(32, 128);
    let t0 = std::time::Instant::now();
    let beside = |work: &mut dyn FnMut()| {
        if plan.analysis.retrain_every == 0 {
            return work();
        }
        crate::analysis::beside_a_training(
            &plan.analysis,
            plan.policy.patch_px as usize,
            plan.sweep.points as usize,
            large,
            work,
        )
    };
    let timed = crate::policy::time_decisions(plan.policy.name, plan, survey, candidates, &[16, large], beside);
    let alone = match timed.alone[..] {
        [a, b] => Line::through(a, b),
        _ => None,
    };
    let cost = alone.map(|alone| {
        // Beside a training only where one runs live; never below alone.
        let beside_factor = match timed.beside {
            Some((n, s)) if plan.analysis.retrain_every > 0 && alone.at(n) > 0.0 => (s / alone.at(n)).clamp(1.0, 8.0),
            _ => 1.0,
        };
        DecisionCost { alone, beside_factor }
    });
    tracing::info!(probe_s = t0.elapsed().as_secs_f64(), ?timed, ?cost, "decision cost");
    cost
}
