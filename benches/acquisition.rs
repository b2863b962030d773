//! What the acquisition loop costs the computer: one simulated sweep, and
//! journaling + part-writing one measurement.

use criterion::{Criterion, criterion_group, criterion_main};
use dualscope::instrument::Instrument;
use dualscope::instrument::sim::{SimConfig, SimInstrument};
use dualscope::plan::SessionPlan;
use dualscope::record::{Identity, Limits};
use dualscope::record::{Measurement, Source};
use dualscope::store::{Entry, SessionWriter};
use std::hint::black_box;

fn plan() -> SessionPlan {
    let mut plan = SessionPlan::default();
    plan.sim.time_scale = 0.0;
    plan
}

fn sim_sweep(c: &mut Criterion) {
    let plan = plan();
    let mut sim = SimInstrument::new(SimConfig::from_plan(&plan)).unwrap();
    sim.engage().unwrap();
    let mut k = 0u64;
    c.bench_function("sim_sweep_251_points", |b| {
        b.iter(|| {
            k += 1;
            let x = (k * 37 % 1999) as f64 + 0.5;
            let y = (k * 91 % 1999) as f64 + 0.5;
            sim.move_to(x, y).unwrap();
            black_box(sim.sweep(&plan.sweep.first()).unwrap())
        })
    });
}

fn store_write(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut plan = plan();
    plan.output.dir = dir.path().to_string_lossy().to_string();
    let idn = Identity {
        vendor: "bench".into(),
        model: "b".into(),
        serial: "0".into(),
        firmware: "0".into(),
    };
    let limits = Limits {
        bias_max_v: 2.0,
        current_max_a: 5e-9,
        x_max_nm: 2000.0,
        y_max_nm: 2000.0,
    };
    let mut writer = SessionWriter::create(dir.path(), &plan, &idn, limits).unwrap();
    let sim = SimInstrument::new(SimConfig::from_plan(&plan)).unwrap();
    let sweep = sim.sweep_at(500.0, 500.0, &plan.sweep.first(), 0);
    let mut step = 0u32;
    c.bench_function("store_measurement_journal_and_parts", |b| {
        b.iter(|| {
            step += 1;
            writer
                .append(Entry::Measurement(Measurement::of_sweep(
                    step,
                    0,
                    (1, 2),
                    (500.0, 500.0),
                    Source::Random,
                    sweep.clone(),
                    2e-11,
                )))
                .unwrap();
        })
    });
    writer.sync().unwrap();
}

criterion_group! {
    name = benches;
    // Plots need a system font this build does not load; the numbers are what we report.
    config = Criterion::default().without_plots();
    targets = sim_sweep, store_write
}
criterion_main!(benches);
