//! How long the rest of a session takes: the curves still to measure at the
//! pace measured so far, and the dual-VAE trainings the session waits for
//! before it closes. One model for the progress line, the console and the
//! final phase, so the ETA does not say 0:00 while a minute of training is
//! still to come.

pub mod probe;

use std::collections::VecDeque;
use std::time::Duration;

/// A time that grows with the curves: `fixed_s + per_curve_s · n`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    pub fixed_s: f64,
    pub per_curve_s: f64,
}

impl Line {
    pub fn at(&self, curves: usize) -> f64 {
        self.fixed_s + self.per_curve_s * curves as f64
    }

    /// The line through two timings: (curves, seconds).
    pub fn through(a: (usize, f64), b: (usize, f64)) -> Option<Self> {
        let (na, ta) = (a.0 as f64, a.1);
        let (nb, tb) = (b.0 as f64, b.1);
        if nb <= na || !ta.is_finite() || !tb.is_finite() {
            return None;
        }
        let per_curve_s = ((tb - ta) / (nb - na)).max(0.0);
        let fixed_s = (ta - per_curve_s * na).max(0.0);
        (per_curve_s > 0.0 || fixed_s > 0.0).then_some(Self { fixed_s, per_curve_s })
    }
}

/// What one member of a dual-VAE training costs on `n` curves: its epochs
/// (one full-batch pass each, so they grow with the curves) and the mixture
/// fitted to its map (12 restarts for every k the plan allows). Beside
/// acquisition each epoch costs `contention_s` more: the two halves of the
/// dual VAE meet once an epoch, and with the policy's fit on a core one
/// always waits (measured on the demo: +0.7 to +1.0 ms an epoch, against
/// 1–8 ms alone).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainingCost {
    pub epoch: Line,
    pub clustering: Line,
    pub contention_s: f64,
    /// The property map every training ends with, once per training.
    pub mapping_s: f64,
    /// (`vae_batch_above`, `vae_batch`): past the first, an epoch is one
    /// mini-batch of the second and costs what a full pass over that many does.
    pub batch: Option<(usize, usize)>,
}

impl TrainingCost {
    pub fn member_s(&self, curves: usize, epochs: usize, beside_acquisition: bool) -> f64 {
        let contention = if beside_acquisition { self.contention_s } else { 0.0 };
        let a_step = match self.batch {
            Some((above, batch)) if above > 0 && curves > above => curves.min(batch),
            _ => curves,
        };
        (self.epoch.at(a_step) + contention) * epochs as f64 + self.clustering.at(curves)
    }
}

/// A training under way: the curves it learns from, how long it has run and
/// the epochs it has done (every member's together).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InFlight {
    pub curves: usize,
    pub elapsed: Duration,
    pub epochs_done: usize,
}

impl InFlight {
    /// Seconds it still runs: from its own progress once it has some (it may
    /// run slower than the model, beside acquisition), else from the model.
    fn seconds_to_go(&self, epochs: usize, modelled_s: f64) -> f64 {
        let elapsed = self.elapsed.as_secs_f64();
        if self.epochs_done >= epochs.div_ceil(20).max(1) && self.epochs_done < epochs {
            elapsed * (epochs - self.epochs_done) as f64 / self.epochs_done as f64
        } else {
            (modelled_s - elapsed).max(0.0)
        }
    }
}

/// What the forecast needs to know about the session now.
#[derive(Debug, Clone, PartialEq)]
pub struct Now {
    pub measured: usize,
    pub budget: usize,
    /// Seconds the curve after `n` curves takes (decision, move, sweep), as
    /// measured lately: the policy's fit grows with the curves it learns from.
    pub step: Line,
    /// The same while a dual-VAE training runs beside the step.
    pub step_beside: Line,
    /// `analysis.retrain_every`; 0 = no live training, nothing to wait for.
    pub retrain_every: usize,
    /// Epochs each member trains.
    pub epochs: usize,
    /// Members of the ensemble (1 for a single training).
    pub members: usize,
    pub in_flight: Option<InFlight>,
    /// Curves the last started training learnt from.
    pub last_started: usize,
}

impl Now {
    /// The session as `plan` sets it, `measured` of `budget` curves in, the
    /// steps priced by `pace`, and no training started yet.
    pub fn at(plan: &crate::plan::SessionPlan, measured: usize, budget: usize, pace: &Pace) -> Self {
        let a = &plan.analysis;
        Self {
            measured,
            budget,
            step: pace.step_line(),
            step_beside: pace.step_beside_line(),
            retrain_every: a.retrain_every as usize,
            epochs: a.vae_epochs as usize,
            members: a.vae_ensemble.max(1) as usize,
            in_flight: None,
            last_started: 0,
        }
    }
}

/// The rest of the session, in two parts.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Forecast {
    pub acquisition: Duration,
    /// After the last curve: the training under way then, and the last one on
    /// every curve.
    pub final_training: Duration,
    /// Trainings still to land, the last one included (each writes a map).
    pub trainings: usize,
}

impl Forecast {
    pub fn total(&self) -> Duration {
        self.acquisition + self.final_training
    }
}

/// Plays the rest of the session forward, curve by curve, with the retrainer's
/// own rule (a new training when the last one has landed and `retrain_every`
/// curves have come in since it started), then adds what the close waits for:
/// the last training on every curve (one under way on fewer is let go).
pub fn forecast(now: &Now, cost: Option<TrainingCost>) -> Forecast {
    let (Some(cost), true) = (cost, now.retrain_every > 0) else {
        let acquisition_s: f64 = (now.measured..now.budget).map(|n| now.step.at(n)).sum();
        return Forecast {
            acquisition: Duration::from_secs_f64(acquisition_s.max(0.0)),
            final_training: Duration::ZERO,
            trainings: 0,
        };
    };
    let training_s =
        |curves: usize, beside: bool| cost.member_s(curves, now.epochs, beside) * now.members as f64 + cost.mapping_s;
    // (curves, seconds still to run) of the training under way.
    let mut running = now.in_flight.map(|f| {
        (
            f.curves,
            f.seconds_to_go(now.epochs * now.members, training_s(f.curves, true)),
        )
    });
    let mut acquisition_s = 0.0;
    let mut last_started = now.last_started;
    let mut trainings = 0;
    for n in now.measured + 1..=now.budget {
        // A step with a training beside takes longer: the two share the cores.
        let step_s = if running.is_some() {
            now.step_beside.at(n - 1)
        } else {
            now.step.at(n - 1)
        };
        acquisition_s += step_s;
        if let Some((_, to_go)) = running.as_mut() {
            *to_go -= step_s;
            if *to_go <= 0.0 {
                running = None;
            }
        }
        if running.is_none() && n >= last_started + now.retrain_every && n >= 4 {
            running = Some((n, training_s(n, n < now.budget)));
            last_started = n;
            trainings += 1;
        }
    }
    // At the close a training on fewer curves gives way to the last one.
    let after_s = match running {
        Some((curves, to_go)) if curves >= now.budget => to_go.max(0.0),
        _ if last_started < now.budget || running.is_some() => {
            // One under way on fewer curves is let go and writes no map: the
            // last one takes its place in the count.
            if running.is_none_or(|(curves, _)| curves <= now.measured) {
                trainings += 1;
            }
            training_s(now.budget, false)
        }
        _ => 0.0,
    };
    Forecast {
        acquisition: Duration::from_secs_f64(acquisition_s.max(0.0)),
        final_training: Duration::from_secs_f64(after_s),
        trainings,
    }
}

/// Steps the step line is fitted to: enough curves spanned for a slope to
/// stand out of the noise of single steps.
const STEPS_KEPT: usize = 120;

/// What a policy's decision costs: its seconds against the curves, alone,
/// and how many times that it takes while a training runs beside it (on 2
/// cores the dual VAE's two threads take both: measured on the demo, 65-112
/// ms a decision beside a training against 29 ms alone).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecisionCost {
    pub alone: Line,
    pub beside_factor: f64,
}

impl DecisionCost {
    /// What a training beside adds to a decision.
    fn extra(&self) -> Line {
        let more = (self.beside_factor - 1.0).max(0.0);
        Line {
            fixed_s: self.alone.fixed_s * more,
            per_curve_s: self.alone.per_curve_s * more,
        }
    }
}

/// The measurements the forecast stands on, gathered during the run.
#[derive(Debug, Clone, Default)]
pub struct Pace {
    /// (curves before it, seconds) of the latest steps.
    recent_steps: VecDeque<(usize, f64)>,
    /// The same, of the latest steps the policy chose with no training
    /// beside: the ones whose time grows with the curves (seeds and manual
    /// points take no fit).
    recent_policy_steps: VecDeque<(usize, f64)>,
    /// The policy's steps while a training ran beside them.
    recent_beside_steps: VecDeque<(usize, f64)>,
    /// From short timings at the start of the run (no contention in them).
    probe: Option<TrainingCost>,
    /// Per epoch, what the last landed training beside acquisition took more
    /// than the probe says.
    contention_s: Option<f64>,
    /// The decisions, timed at the start: what a policy step costs beyond a
    /// seed's, until policy steps are measured.
    decision: Option<DecisionCost>,
}

/// The least-squares line through `steps`; with `trend`, its slope taken
/// down by twice its standard error and never below zero (a slope the steps
/// show beyond their noise: on the twenty steps after the seeds, where the
/// first training starts beside acquisition, the plain slope put the ETA
/// 30-60 % high); without, their mean.
fn fitted(steps: &VecDeque<(usize, f64)>, trend: bool) -> Line {
    let k = steps.len() as f64;
    if k == 0.0 {
        return Line {
            fixed_s: 0.0,
            per_curve_s: 0.0,
        };
    }
    let mean_n = steps.iter().map(|(n, _)| *n as f64).sum::<f64>() / k;
    let mean_s = steps.iter().map(|(_, s)| s).sum::<f64>() / k;
    let sxx: f64 = steps.iter().map(|(n, _)| (*n as f64 - mean_n).powi(2)).sum();
    let sxy: f64 = steps.iter().map(|(n, s)| (*n as f64 - mean_n) * (s - mean_s)).sum();
    let slope = if trend && sxx > 0.0 && k > 2.0 {
        let fitted = sxy / sxx;
        let residual: f64 = steps
            .iter()
            .map(|(n, s)| (s - mean_s - fitted * (*n as f64 - mean_n)).powi(2))
            .sum();
        let standard_error = (residual / (k - 2.0) / sxx).sqrt();
        (fitted - 2.0 * standard_error).max(0.0)
    } else {
        0.0
    };
    Line {
        fixed_s: mean_s - slope * mean_n,
        per_curve_s: slope,
    }
}

fn plus(a: Line, b: Line, sign: f64) -> Line {
    Line {
        fixed_s: (a.fixed_s + sign * b.fixed_s).max(0.0),
        per_curve_s: (a.per_curve_s + sign * b.per_curve_s).max(0.0),
    }
}

impl Pace {
    pub fn with_probe(probe: Option<TrainingCost>) -> Self {
        Self {
            probe,
            ..Self::default()
        }
    }

    /// The policy's decisions, timed at the start on a throw-away copy.
    pub fn decisions_timed(&mut self, decision: Option<DecisionCost>) {
        self.decision = decision;
    }

    /// The step taken after `curves` curves took `took`; `chosen_by_policy`
    /// when the policy's fit went into it, `beside_training` when a dual-VAE
    /// training ran meanwhile.
    pub fn step_taken(&mut self, curves: usize, took: Duration, chosen_by_policy: bool, beside_training: bool) {
        let keep = |q: &mut VecDeque<(usize, f64)>| {
            q.push_back((curves, took.as_secs_f64()));
            if q.len() > STEPS_KEPT {
                q.pop_front();
            }
        };
        keep(&mut self.recent_steps);
        match (chosen_by_policy, beside_training) {
            (true, false) => keep(&mut self.recent_policy_steps),
            (true, true) => keep(&mut self.recent_beside_steps),
            (false, _) => {}
        }
    }

    /// A step's time against the curves with no training beside: the line
    /// through the latest such policy steps (see [`fitted`]) from three of
    /// them on; else the steps beside trainings less what a training adds to
    /// a decision; else, while there are fewer than three policy steps, the
    /// instrument's part of the steps so far plus the timed decision (a seed
    /// takes no decision); the mean of any steps without a timed decision.
    pub fn step_line(&self) -> Line {
        if self.recent_policy_steps.len() >= 3 {
            return fitted(&self.recent_policy_steps, true);
        }
        let Some(decision) = self.decision else {
            return fitted(&self.recent_steps, false);
        };
        if self.recent_beside_steps.len() >= 3 {
            return plus(fitted(&self.recent_beside_steps, true), decision.extra(), -1.0);
        }
        // The instrument's part of a step: a seed's whole time, or a policy
        // step's less its decision.
        let policy: Vec<f64> = (self.recent_policy_steps.iter().map(|(n, s)| s - decision.alone.at(*n)))
            .chain(
                self.recent_beside_steps
                    .iter()
                    .map(|(n, s)| s - decision.alone.at(*n) * decision.beside_factor.max(1.0)),
            )
            .collect();
        let instrument_s = if policy.is_empty() {
            fitted(&self.recent_steps, false).fixed_s
        } else {
            (policy.iter().sum::<f64>() / policy.len() as f64).max(0.0)
        };
        Line {
            fixed_s: instrument_s + decision.alone.fixed_s,
            per_curve_s: decision.alone.per_curve_s,
        }
    }

    /// The same while a training runs beside: the latest such policy steps'
    /// line from three of them on, else [`Pace::step_line`] and what a
    /// training adds to the timed decision.
    pub fn step_beside_line(&self) -> Line {
        if self.recent_beside_steps.len() >= 3 {
            return fitted(&self.recent_beside_steps, true);
        }
        match self.decision {
            Some(decision) => plus(self.step_line(), decision.extra(), 1.0),
            None => self.step_line(),
        }
    }

    /// A training of `members` × `epochs` epochs on `curves` curves, run
    /// beside acquisition, took `took`.
    pub fn training_landed(&mut self, curves: usize, epochs: usize, members: usize, took: Duration) {
        if let Some(probe) = self.probe
            && epochs > 0
            && members > 0
        {
            let alone = probe.member_s(curves, epochs, false);
            let more = took.as_secs_f64() / members as f64 - alone;
            self.contention_s = Some((more / epochs as f64).max(0.0));
        }
    }

    pub fn cost(&self) -> Option<TrainingCost> {
        let mut cost = self.probe?;
        cost.contention_s = self.contention_s.unwrap_or(cost.contention_s);
        Some(cost)
    }
}

#[cfg(test)]
mod tests;
