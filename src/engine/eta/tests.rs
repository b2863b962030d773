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
        mapping_s: 0.0,
        contention_s: 0.0,
        batch: None,
    }
}

#[test]
fn past_the_batch_line_an_epoch_costs_a_mini_batch() {
    let full = demo_cost();
    let batched = TrainingCost {
        batch: Some((500, 200)),
        ..full
    };
    // Below the line nothing changes; past it an epoch costs 200 curves' worth.
    assert_eq!(batched.member_s(400, 1000, false), full.member_s(400, 1000, false));
    assert_eq!(batched.member_s(2000, 1000, false), full.member_s(200, 1000, false));
    assert!(full.member_s(2000, 1000, false) > 5.0 * batched.member_s(2000, 1000, false));
}

fn demo_now(measured: usize) -> Now {
    Now {
        measured,
        budget: 210,
        step: Line {
            fixed_s: 0.14,
            per_curve_s: 0.0,
        },
        step_beside: Line {
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
    // The one on 124 curves gives way to the last one on all 210: one map.
    let f = forecast(&now, Some(cost));
    assert_eq!(f.trainings, 1);
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
        mapping_s: 0.0,
        batch: None,
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
    pace.step_taken(0, Duration::from_millis(100), false, false);
    pace.step_taken(1, Duration::from_millis(300), false, false);
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
        pace.step_taken(n, Duration::from_secs_f64(0.01), false, false);
    }
    assert_eq!(pace.step_line().per_curve_s, 0.0);
    for n in 10..13 {
        pace.step_taken(n, Duration::from_secs_f64(0.05 + 0.001 * n as f64), true, false);
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
        noisy.step_taken(n, Duration::from_secs_f64(0.1 + jitter + shift), true, false);
    }
    assert_eq!(noisy.step_line().per_curve_s, 0.0, "{:?}", noisy.step_line());
    for n in 13..40 {
        pace.step_taken(n, Duration::from_secs_f64(0.05 + 0.001 * n as f64), true, false);
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
        falling.step_taken(n, Duration::from_secs_f64(0.3 - 0.01 * n as f64), true, false);
    }
    assert_eq!(falling.step_line().per_curve_s, 0.0);
}

/// Before the first policy step a step costs a seed's time plus the timed
/// decision; once policy steps come in, their own time (less the decision)
/// stands for the instrument; from three on, they alone set the line.
#[test]
fn the_timed_decision_prices_the_steps_until_policy_steps_are_measured() {
    let mut pace = Pace::with_probe(None);
    pace.decisions_timed(Some(DecisionCost {
        alone: Line {
            fixed_s: 0.02,
            per_curve_s: 0.001,
        },
        beside_factor: 1.0,
    }));
    for n in 0..8 {
        pace.step_taken(n, Duration::from_millis(70), false, false);
    }
    let line = pace.step_line();
    assert!((line.at(100) - (0.07 + 0.02 + 0.1)).abs() < 1e-9, "{line:?}");
    // A policy step after 8 curves took 0.15 s: 0.028 s of it the decision.
    pace.step_taken(8, Duration::from_millis(150), true, false);
    let line = pace.step_line();
    assert!((line.at(8) - 0.15).abs() < 1e-9, "{line:?}");
    assert!((line.per_curve_s - 0.001).abs() < 1e-12);
    for n in 9..12 {
        pace.step_taken(n, Duration::from_millis(150), true, false);
    }
    let line = pace.step_line();
    assert!((line.at(50) - 0.15).abs() < 1e-6, "measured steps take over: {line:?}");
}

#[test]
fn the_property_map_is_priced_once_per_training() {
    let plain = demo_cost();
    let mapped = TrainingCost {
        mapping_s: 2.5,
        ..plain
    };
    // After the last curve, nothing under way: only the last training is left.
    let now = demo_now(210);
    let (a, b) = (forecast(&now, Some(plain)), forecast(&now, Some(mapped)));
    let more = b.final_training.as_secs_f64() - a.final_training.as_secs_f64();
    assert!((more - 2.5).abs() < 1e-6, "{more}");
    assert_eq!(a.trainings, 1);
}

/// A decision beside a training takes `beside_factor` times its time alone:
/// until steps beside trainings are measured, they cost the instrument's
/// part plus the decision so scaled; then their own line, and the steps
/// alone are theirs less that.
#[test]
fn steps_beside_a_training_cost_more_until_measured() {
    let decision = DecisionCost {
        alone: Line {
            fixed_s: 0.03,
            per_curve_s: 0.0002,
        },
        beside_factor: 2.5,
    };
    let mut pace = Pace::with_probe(None);
    pace.decisions_timed(Some(decision));
    for n in 0..10 {
        pace.step_taken(n, Duration::from_millis(70), false, false);
    }
    let (alone, beside) = (pace.step_line(), pace.step_beside_line());
    assert!((alone.at(100) - (0.07 + 0.05)).abs() < 1e-9, "{alone:?}");
    assert!((beside.at(100) - (0.07 + 2.5 * 0.05)).abs() < 1e-9, "{beside:?}");
    // Measured beside trainings (0.2 s each): their own line, and alone
    // is that less what the training adds to a decision.
    for n in 10..14 {
        pace.step_taken(n, Duration::from_millis(200), true, true);
    }
    let (alone, beside) = (pace.step_line(), pace.step_beside_line());
    assert!((beside.at(50) - 0.2).abs() < 1e-9, "{beside:?}");
    assert!((alone.at(0) - (0.2 - 1.5 * 0.03)).abs() < 1e-9, "{alone:?}");
    // The forecast takes the dearer steps while a training runs: demo
    // trainings of ~7 s at 14 curves cover about 35 steps of 0.2 s.
    let mut now = demo_now(14);
    now.step = Line {
        fixed_s: 0.1,
        per_curve_s: 0.0,
    };
    now.step_beside = Line {
        fixed_s: 0.2,
        per_curve_s: 0.0,
    };
    now.last_started = 0;
    let contended = forecast(&now, Some(demo_cost()));
    let plain = forecast(
        &Now {
            step_beside: now.step,
            ..now.clone()
        },
        Some(demo_cost()),
    );
    let (c, p) = (contended.acquisition.as_secs_f64(), plain.acquisition.as_secs_f64());
    assert!((p - 196.0 * 0.1).abs() < 1e-6, "{p}");
    assert!(c > p + 0.1 * 100.0 && c <= 196.0 * 0.2 + 1e-6, "{c} against {p}");
    // Without any training live, no step is ever beside one.
    now.retrain_every = 0;
    assert!((forecast(&now, Some(demo_cost())).acquisition.as_secs_f64() - p).abs() < 1e-6);
}
