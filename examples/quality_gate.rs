//! Where the quality gate draws its lines, chosen on the tuning draws 1–10
//! of the simulator's family and reported on the validation draws 101–110
//! (and on the demo film, draw 0):
//!
//! - between contact and none (`[quality] min_contact_score`): the contact
//!   score of every curve at 300 random places on each film, once as
//!   measured and once with the tip out of contact (only noise comes back);
//! - between an ordinary curve and a noisy one (`[quality]
//!   max_noise_ratio`): each curve's noise over the median of a session's
//!   first 32 curves' on the same film, as measured and with 3× the film's
//!   noise (the least excess the gate is meant to catch), then reported
//!   for 2×, 3×, 5× and 10×.
//!
//! `cargo run --release --example quality_gate [-- --places 300]`

use dualscope::instrument::sim::artefacts::{contact_scores, noise_ratios};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn quantile(v: &[f64], q: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[((s.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let places = arg("--places", 300);
    let gather = |draws: &[u32]| {
        let (mut on, mut off) = (Vec::new(), Vec::new());
        for &d in draws {
            let (a, b) = contact_scores(d, places);
            on.extend(a);
            off.extend(b);
        }
        (on, off)
    };
    let tuning: Vec<u32> = (1..=10).collect();
    let validation: Vec<u32> = (101..=110).collect();
    let (on, off) = gather(&tuning);
    println!(
        "tuning draws 1–10, {} curves each way: in contact min {:.1}, 1st percentile {:.1}; out of contact max {:.2}, 99th percentile {:.2}",
        on.len(),
        quantile(&on, 0.0),
        quantile(&on, 0.01),
        quantile(&off, 1.0),
        quantile(&off, 0.99)
    );
    // A score at the line passes: it is above it.
    let line = line_between(&off, &on, |score, t| score >= t);
    println!(
        "line chosen on the tuning films: {line:.2} (the plan's default `[quality] min_contact_score`: {})",
        dualscope::plan::QualityPlan::default().min_contact_score
    );
    for (what, draws) in [
        ("validation draws 101–110", validation.clone()),
        ("the demo film (draw 0)", vec![0]),
    ] {
        let (on, off) = gather(&draws);
        let missed = on.iter().filter(|s| **s < line).count();
        let passed = off.iter().filter(|s| **s >= line).count();
        println!(
            "{what}: {missed} of {} curves in contact judged no_contact, {passed} of {} out of contact judged ok \
             (in contact min {:.1}; out of contact max {:.2})",
            on.len(),
            off.len(),
            quantile(&on, 0.0),
            quantile(&off, 1.0)
        );
    }

    noise_line(places, &tuning, &validation);
}

/// The line between the values that should fall `below` it and those that
/// should be `above` it (as `is_above` judges a value against a line): the
/// geometric middle of the gap between the two sets where there is one,
/// else the value where it errs least on them.
fn line_between(below: &[f64], above: &[f64], is_above: impl Fn(f64, f64) -> bool) -> f64 {
    let (hi, lo) = (quantile(below, 1.0), quantile(above, 0.0));
    if lo > hi {
        return (lo * hi).sqrt();
    }
    let mut candidates: Vec<f64> = below.iter().chain(above).copied().collect();
    candidates.sort_by(f64::total_cmp);
    let errors =
        |t: f64| below.iter().filter(|v| is_above(**v, t)).count() + above.iter().filter(|v| !is_above(**v, t)).count();
    candidates.into_iter().min_by_key(|t| errors(*t)).expect("curves")
}

/// The noise line: the geometric middle of the gap between the noisiest
/// ordinary curve and the quietest curve at 3× on the tuning films (or
/// where it errs least, if they overlap).
fn noise_line(places: usize, tuning: &[u32], validation: &[u32]) {
    let gather = |draws: &[u32], factor: f64| {
        let (mut steady, mut loud) = (Vec::new(), Vec::new());
        for &d in draws {
            let (a, b) = noise_ratios(d, places, factor);
            steady.extend(a);
            loud.extend(b);
        }
        (steady, loud)
    };
    let (steady, loud) = gather(tuning, 3.0);
    println!(
        "noise, tuning draws 1–10, {} curves each way: ordinary ratio max {:.2}, 99.9th percentile {:.2}; \
         at 3× min {:.2}, 1st percentile {:.2}",
        steady.len(),
        quantile(&steady, 1.0),
        quantile(&steady, 0.999),
        quantile(&loud, 0.0),
        quantile(&loud, 0.01)
    );
    // A ratio at the line is not noisy: only one past it is above.
    let line = line_between(&steady, &loud, |ratio, t| ratio > t);
    println!(
        "noise line chosen on the tuning films: {line:.2} (the plan's default `[quality] max_noise_ratio`: {})",
        dualscope::plan::QualityPlan::default().max_noise_ratio
    );
    for (what, draws) in [
        ("validation draws 101–110", validation.to_vec()),
        ("the demo film (draw 0)", vec![0]),
    ] {
        for factor in [2.0, 3.0, 5.0, 10.0] {
            let (steady, loud) = gather(&draws, factor);
            let flagged = steady.iter().filter(|r| **r > line).count();
            let caught = loud.iter().filter(|r| **r > line).count();
            println!(
                "{what}, noise ×{factor}: {caught} of {} noisy curves judged noisy (min ratio {:.2}); \
                 {flagged} of {} ordinary curves judged noisy (max ratio {:.2})",
                loud.len(),
                quantile(&loud, 0.0),
                steady.len(),
                quantile(&steady, 1.0)
            );
        }
    }
}
