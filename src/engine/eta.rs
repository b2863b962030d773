//! How long the rest of a session takes: the curves still to measure at the
//! pace measured so far, and the dual-VAE trainings the session waits for
//! before it closes. One model for the progress line, the console and the
//! final phase, so the ETA does not say 0:00 while a minute of training is
//! still to come.

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
}

impl TrainingCost {
    pub fn member_s(&self, curves: usize, epochs: usize, beside_acquisition: bool) -> f64 {
        let contention = if beside_acquisition { self.contention_s } else { 0.0 };
        (self.epoch.at(curves) + contention) * epochs as f64 + self.clustering.at(curves)
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

/// The rest of the session, in two parts.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Forecast {
    pub acquisition: Duration,
    /// After the last curve: the training under way then, and the last one on
    /// every curve.
    pub final_training: Duration,
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
    let acquisition_s: f64 = (now.measured..now.budget).map(|n| now.step.at(n)).sum();
    let acquisition = Duration::from_secs_f64(acquisition_s.max(0.0));
    let (Some(cost), true) = (cost, now.retrain_every > 0) else {
        return Forecast {
            acquisition,
            final_training: Duration::ZERO,
        };
    };
    let training_s = |curves: usize, beside: bool| cost.member_s(curves, now.epochs, beside) * now.members as f64;
    // (curves, seconds still to run) of the training under way.
    let mut running = now.in_flight.map(|f| {
        (
            f.curves,
            f.seconds_to_go(now.epochs * now.members, training_s(f.curves, true)),
        )
    });
    let mut last_started = now.last_started;
    for n in now.measured + 1..=now.budget {
        if let Some((_, to_go)) = running.as_mut() {
            *to_go -= now.step.at(n - 1);
            if *to_go <= 0.0 {
                running = None;
            }
        }
        if running.is_none() && n >= last_started + now.retrain_every && n >= 4 {
            running = Some((n, training_s(n, n < now.budget)));
            last_started = n;
        }
    }
    // At the close a training on fewer curves gives way to the last one.
    let after_s = match running {
        Some((curves, to_go)) if curves >= now.budget => to_go.max(0.0),
        _ if last_started < now.budget || running.is_some() => training_s(now.budget, false),
        _ => 0.0,
    };
    Forecast {
        acquisition,
        final_training: Duration::from_secs_f64(after_s),
    }
}

/// Steps the step line is fitted to: enough curves spanned for a slope to
/// stand out of the noise of single steps.
const STEPS_KEPT: usize = 120;

/// The measurements the forecast stands on, gathered during the run.
#[derive(Debug, Clone, Default)]
pub struct Pace {
    /// (curves before it, seconds) of the latest steps.
    recent_steps: VecDeque<(usize, f64)>,
    /// The same, of the latest steps the policy chose: the ones whose time
    /// grows with the curves (seeds and manual points take no fit).
    recent_policy_steps: VecDeque<(usize, f64)>,
    /// From short timings at the start of the run (no contention in them).
    probe: Option<TrainingCost>,
    /// Per epoch, what the last landed training beside acquisition took more
    /// than the probe says.
    contention_s: Option<f64>,
}

impl Pace {
    pub fn with_probe(probe: Option<TrainingCost>) -> Self {
        Self {
            probe,
            ..Self::default()
        }
    }

    /// The step taken after `curves` curves took `took`; `chosen_by_policy`
    /// when the policy's fit went into it.
    pub fn step_taken(&mut self, curves: usize, took: Duration, chosen_by_policy: bool) {
        let keep = |q: &mut VecDeque<(usize, f64)>| {
            q.push_back((curves, took.as_secs_f64()));
            if q.len() > STEPS_KEPT {
                q.pop_front();
            }
        };
        keep(&mut self.recent_steps);
        if chosen_by_policy {
            keep(&mut self.recent_policy_steps);
        }
    }

    /// A step's time against the curves: the least-squares line through the
    /// latest policy steps, its slope taken down by twice its standard error
    /// and never below zero (a slope the steps show beyond their noise: on
    /// the twenty steps after the seeds, where the first training starts
    /// beside acquisition, the plain slope put the ETA 30-60 % high); the
    /// mean of any steps while there are fewer than three policy steps.
    pub fn step_line(&self) -> Line {
        let steps = if self.recent_policy_steps.len() >= 3 {
            &self.recent_policy_steps
        } else {
            &self.recent_steps
        };
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
        let slope = if std::ptr::eq(steps, &self.recent_policy_steps) && sxx > 0.0 {
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
mod tests {
    use super::*;

    /// The demo session as measured on 2026-12-01 (release, 2 cores): trainings
    /// ×8 × 1000 epochs took 13.3 s on 25 curves, 42.2 s on 124, 68.3 s on 210
    /// (put all on the epochs here; the clustering's share is a test of its own).
    fn demo_cost() -> TrainingCost {
        TrainingCost {
            epoch: Line::through((25, 13.3 / 8000.0), (210, 68.3 / 8000.0)).unwrap(),
            clustering: Line {
                fixed_s: 0.0,
                per_curve_s: 0.0,
            },
            contention_s: 0.0,
        }
    }

    fn demo_now(measured: usize) -> Now {
        Now {
            measured,
            budget: 210,
            step: Line {
                fixed_s: 0.14,
                per_curve_s: 0.0,
            },
            retrain_every: 25,
            epochs: 1000,
            members: 8,
            in_flight: None,
            last_started: 0,
        }
    }

    #[test]
    fn a_training_costs_its_epochs_and_its_clustering() {
        let c = demo_cost();
        // The line through two trainings predicts the third within 2 %.
        let on_124 = c.member_s(124, 1000, true) * 8.0;
        assert!((on_124 - 42.2).abs() < 0.02 * 42.2, "{on_124}");
        assert_eq!(Line::through((10, 1.0), (10, 1.0)), None);
        let with_mixture = TrainingCost {
            clustering: Line {
                fixed_s: 0.5,
                per_curve_s: 0.01,
            },
            ..c
        };
        let more = with_mixture.member_s(100, 1000, false) - c.member_s(100, 1000, false);
        assert!((more - 1.5).abs() < 1e-9, "{more}");
        let beside = TrainingCost {
            contention_s: 1e-3,
            ..c
        };
        let more = beside.member_s(100, 1000, true) - beside.member_s(100, 1000, false);
        assert!((more - 1.0).abs() < 1e-9, "{more}");
    }

    #[test]
    fn without_live_training_only_the_curves_are_left() {
        let mut now = demo_now(10);
        now.retrain_every = 0;
        let f = forecast(&now, Some(demo_cost()));
        assert_eq!(f.final_training, Duration::ZERO);
        assert!((f.acquisition.as_secs_f64() - 200.0 * 0.14).abs() < 1e-9);
        assert_eq!(forecast(&demo_now(10), None).final_training, Duration::ZERO);
    }

    /// At the demo's pace the session waits, after its last curve, for one
    /// training on all 210 curves and nothing else.
    #[test]
    fn the_close_waits_for_one_training_on_every_curve() {
        let f = forecast(&demo_now(1), Some(demo_cost()));
        let last = demo_cost().member_s(210, 1000, false) * 8.0;
        assert!((f.final_training.as_secs_f64() - last).abs() < 1e-6, "{f:?}");
        assert!((f.acquisition.as_secs_f64() - 209.0 * 0.14).abs() < 1e-6, "{f:?}");
    }

    #[test]
    fn at_the_close_only_the_training_on_every_curve_is_waited_for() {
        let cost = demo_cost();
        let mut now = demo_now(209);
        now.last_started = 124;
        now.in_flight = Some(InFlight {
            curves: 124,
            elapsed: Duration::from_secs(12),
            epochs_done: 0,
        });
        // The one on 124 curves gives way to the last one on all 210.
        let f = forecast(&now, Some(cost));
        let want = cost.member_s(210, 1000, false) * 8.0;
        assert!(
            (f.final_training.as_secs_f64() - want).abs() < 1e-6,
            "{f:?} against {want}"
        );
        // The last one under way, slower than modelled, is judged by its own
        // progress: a quarter done in 30 s, 90 s to go.
        now.measured = 210;
        now.last_started = 210;
        now.in_flight = Some(InFlight {
            curves: 210,
            elapsed: Duration::from_secs(30),
            epochs_done: 2000,
        });
        let f = forecast(&now, Some(cost));
        assert!((f.total().as_secs_f64() - 90.0).abs() < 1e-6, "{f:?}");
        // Everything learnt from and landed: nothing to wait for.
        now.in_flight = None;
        assert_eq!(forecast(&now, Some(cost)).total(), Duration::ZERO);
    }

    #[test]
    fn a_landed_training_measures_the_contention() {
        let probe = TrainingCost {
            epoch: Line {
                fixed_s: 1e-4,
                per_curve_s: 1e-5,
            },
            clustering: Line {
                fixed_s: 0.1,
                per_curve_s: 0.0,
            },
            contention_s: 0.0,
        };
        let mut pace = Pace::with_probe(Some(probe));
        assert_eq!(pace.cost(), Some(probe));
        // 0.5 ms an epoch more than alone, for each of 8 members.
        let took = (probe.member_s(100, 1000, false) + 0.5) * 8.0;
        pace.training_landed(100, 1000, 8, Duration::from_secs_f64(took));
        let c = pace.cost().unwrap();
        assert!((c.contention_s - 5e-4).abs() < 1e-12, "{c:?}");
        assert_eq!(c.member_s(100, 1000, false), probe.member_s(100, 1000, false));
    }

    #[test]
    fn steps_that_grow_with_the_curves_are_forecast_growing() {
        let mut pace = Pace::default();
        pace.step_taken(0, Duration::from_millis(100), false);
        pace.step_taken(1, Duration::from_millis(300), false);
        // Too few for a slope: the mean.
        assert_eq!(
            pace.step_line(),
            Line {
                fixed_s: 0.2,
                per_curve_s: 0.0
            }
        );
        // Seeds are quick and take no fit: they do not make a trend.
        let mut pace = Pace::default();
        for n in 0..10 {
            pace.step_taken(n, Duration::from_secs_f64(0.01), false);
        }
        assert_eq!(pace.step_line().per_curve_s, 0.0);
        for n in 10..13 {
            pace.step_taken(n, Duration::from_secs_f64(0.05 + 0.001 * n as f64), true);
        }
        // Three policy steps without noise: their line, the seeds left out
        // (they take no fit).
        let early = pace.step_line();
        assert!(
            (early.at(0) - 0.05).abs() < 1e-9 && (early.per_curve_s - 0.001).abs() < 1e-9,
            "{early:?}"
        );
        // A level shift in noisy steps is no trend worth extrapolating.
        let mut noisy = Pace::default();
        for n in 10..30 {
            let jitter = if n % 2 == 0 { 0.02 } else { -0.02 };
            let shift = if n >= 25 { 0.02 } else { 0.0 };
            noisy.step_taken(n, Duration::from_secs_f64(0.1 + jitter + shift), true);
        }
        assert_eq!(noisy.step_line().per_curve_s, 0.0, "{:?}", noisy.step_line());
        for n in 13..40 {
            pace.step_taken(n, Duration::from_secs_f64(0.05 + 0.001 * n as f64), true);
        }
        let line = pace.step_line();
        assert!((line.per_curve_s - 0.001).abs() < 1e-4, "{line:?}");
        let mut now = demo_now(40);
        now.retrain_every = 0;
        now.step = line;
        let f = forecast(&now, None);
        let want: f64 = (40..210).map(|n| 0.05 + 0.001 * n as f64).sum();
        assert!(
            (f.acquisition.as_secs_f64() - want).abs() < 0.02 * want,
            "{f:?} against {want}"
        );
        // Faster steps later are noise, not a trend to extrapolate.
        let mut falling = Pace::default();
        for n in 0..20 {
            falling.step_taken(n, Duration::from_secs_f64(0.3 - 0.01 * n as f64), true);
        }
        assert_eq!(falling.step_line().per_curve_s, 0.0);
    }
}
