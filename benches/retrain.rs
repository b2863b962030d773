//! One retraining of the live map at 2000 curves, as the session makes it past
//! `vae_batch_above`: the demo plan's analysis (dual VAE at 3e-3, 1000 steps of
//! 200-curve mini-batches) on 2000 curves the simulator measured at random
//! candidates of the demo film, the mixtures chosen on 500 of them. Criterion
//! times one member (`vae_ensemble = 1`); the whole ensemble of 8, with its
//! consensus, is timed once and printed, and so is the property map that the
//! live retraining writes after it.

use criterion::{Criterion, criterion_group, criterion_main};
use dualscope::analysis;
use dualscope::instrument::Instrument;
use dualscope::instrument::sim::{SimConfig, SimInstrument};
use dualscope::plan::SessionPlan;
use dualscope::record::{Candidates, Measurement, Source};
use rand::{Rng, SeedableRng};
use std::time::Instant;

fn samples(n: usize) -> (SessionPlan, dualscope::record::Survey, Vec<analysis::Sample>) {
    let mut plan = SessionPlan::load(std::path::Path::new("sessions/demo.toml")).expect("sessions/demo.toml");
    plan.sim.time_scale = 0.0;
    let mut sim = SimInstrument::new(SimConfig::from_plan(&plan)).unwrap();
    let survey = sim.survey(256, 256).unwrap();
    let candidates = Candidates::new(256, 256, 16, 2, None);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let measurements: Vec<Measurement> = (0..n)
        .map(|step| {
            let (row, col) = candidates.site(rng.random_range(0..candidates.len()));
            let (x, y) = survey.pixel_to_nm(row, col);
            let s = sim.sweep_at(x, y, &plan.sweep.first(), 0);
            Measurement::of_sweep(step as u32, step as i64, (row, col), (x, y), Source::Policy, s, 2e-11)
        })
        .collect();
    let samples = analysis::samples(0, &plan, &survey, &measurements, None);
    (plan, survey, samples)
}

fn retrain(c: &mut Criterion) {
    let (plan, survey, samples) = samples(2000);
    eprintln!(
        "{} samples, patch {} px, curve {} points; batch above {} curves, {} a step",
        samples.len(),
        samples[0].patch01.len(),
        samples[0].current_a.len(),
        plan.analysis.vae_batch_above,
        plan.analysis.vae_batch
    );
    let t0 = Instant::now();
    let whole = analysis::analyze(&samples, &plan.analysis, plan.seed).expect("a map");
    eprintln!(
        "2000 curves, the demo's ensemble of {}: {:.1} s ({} clusters)",
        plan.analysis.vae_ensemble,
        t0.elapsed().as_secs_f64(),
        whole.summaries.len()
    );
    // The map the live retraining writes next: every member over the frame's
    // candidates, then the residual field (on an even 300 of the curves).
    let t1 = Instant::now();
    let map = analysis::property_map::of_frame(&whole, &samples, &[], &plan, &survey, 2000, "bench");
    eprintln!(
        "its property map: {} candidates in {:.1} s",
        map.len(),
        t1.elapsed().as_secs_f64()
    );
    let mut one = plan.analysis.clone();
    one.vae_ensemble = 1;
    let mut group = c.benchmark_group("retrain");
    group.sample_size(10);
    group.bench_function("dual_vae_2000_curves_one_member", |b| {
        b.iter(|| analysis::analyze(&samples, &one, plan.seed).expect("a map"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Plots need a system font this build does not load; the numbers are what we report.
    config = Criterion::default().without_plots();
    targets = retrain
}
criterion_main!(benches);
