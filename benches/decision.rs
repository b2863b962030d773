//! One whole DN-DKL decision on the published problem size: a 256×256 survey
//! (14 641 candidates of 16×16 px), structural-novelty update and scoring of
//! every candidate, at 210 and 500 measured points (exact GP, warm-started fit
//! on the decision's path) and at 1000, 2000, 5000 and 10 000 (past
//! `dkl_exact_max_points`: the sparse GP grown by one curve, the kernel refitted
//! beside the acquisition). Set `DECISION_SIZES=210,2000` to run fewer.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use dualscope::instrument::Instrument;
use dualscope::instrument::sim::{SimConfig, SimInstrument};
use dualscope::ml::patches;
use dualscope::plan::{PolicyKind, SessionPlan};
use dualscope::policy::dn_dkl::{DecisionCore, DnDklSettings, Observation};
use dualscope::record::Candidates;
use rand::{Rng, SeedableRng};

/// A core that has absorbed `n - 1` curves and fitted once, and the n-th curve.
fn prepared(n: usize) -> (DecisionCore, Observation) {
    let mut plan = SessionPlan::default();
    plan.sim.time_scale = 0.0;
    // The warm decision, as the session makes 24 of every 25 times: in the
    // exact regime the fresh restart fit (`dkl_restart_every`) would land on
    // exactly 500 curves. Past `dkl_exact_max_points` it runs in the refit
    // beside the acquisition, as in a session, and stays on.
    if n <= plan.policy.dkl_exact_max_points as usize {
        plan.policy.dkl_restart_every = 0;
    }
    let mut sim = SimInstrument::new(SimConfig::from_plan(&plan)).unwrap();
    let survey = sim.survey(256, 256).unwrap();
    let candidates = Candidates::new(256, 256, 16, 2, None);
    let image = patches::normalise(&survey.heights_nm);
    let set = patches::extract(&image, &candidates);
    let mut core = DecisionCore::new(DnDklSettings::from_plan(PolicyKind::DnDkl, &plan), set.clone());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let mut observations = Vec::new();
    for _ in 0..n {
        let k = rng.random_range(0..candidates.len());
        let (row, col) = candidates.site(k);
        let (x, y) = survey.pixel_to_nm(row, col);
        let sweep = sim.sweep_at(x, y, &plan.sweep.first(), 0);
        observations.push(Observation {
            patch: set.patch(k).to_vec(),
            candidate: Some(k),
            current_a: sweep.current_a,
            target: f64::NAN,
            catching_up: false,
        });
    }
    let last = observations.pop().unwrap();
    for o in observations {
        core.absorb(o);
    }
    core.rank().unwrap();
    (core, last)
}

fn decision(c: &mut Criterion) {
    let mut group = c.benchmark_group("decision");
    let sizes: Vec<usize> = std::env::var("DECISION_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![210, 500, 1000, 2000, 5000, 10_000]);
    for n in sizes {
        let t = std::time::Instant::now();
        let (core, next) = prepared(n);
        eprintln!("{n} points prepared in {:.1} s", t.elapsed().as_secs_f64());
        {
            let (mut c, o) = (core.clone(), next.clone());
            let t = std::time::Instant::now();
            c.absorb(o);
            let absorb_ms = t.elapsed().as_secs_f64() * 1e3;
            let r = c.rank().unwrap();
            eprintln!(
                "{n} points: absorb {absorb_ms:.1} ms; targets {:.1}, fit {:.1} ({} steps), condition {:.1} (beside them: SSIM column), embed {:.1}, predict {:.1} ms ({} exact variances); whole {:.1} ms",
                r.stages_ms[0],
                r.stages_ms[1],
                r.fit_steps,
                r.stages_ms[2],
                r.stages_ms[3],
                r.stages_ms[4],
                r.exact.iter().filter(|e| **e).count(),
                r.fit_ms.unwrap_or(0.0) + r.score_ms.unwrap_or(0.0)
            );
        }
        if n > 500 {
            // The next 60 decisions on a copy (the next curve again, at random
            // candidates): a refit starts beside the 25th and is adopted at the 50th.
            let mut c = core.clone();
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(n as u64);
            let mut times: Vec<f64> = (0..60)
                .map(|_| {
                    let mut o = next.clone();
                    o.candidate = Some(rng.random_range(0..14_641));
                    let t = std::time::Instant::now();
                    c.absorb(o);
                    c.rank().unwrap();
                    t.elapsed().as_secs_f64() * 1e3
                })
                .collect();
            let (start, adoption) = (times[24], times[49]);
            times.sort_by(f64::total_cmp);
            eprintln!(
                "{n} points, the next 60 decisions: median {:.1} ms, max {:.1} ms; the refit's start {start:.1} ms, its adoption {adoption:.1} ms",
                times[30], times[59]
            );
        }
        group.sample_size(if n > 1000 { 10 } else { 20 });
        group.bench_function(format!("dn_dkl_{n}_points_14641_candidates"), |b| {
            b.iter_batched(
                || (core.clone(), next.clone()),
                // The core goes back out with the ranking, so freeing this
                // bench-only copy of it is not timed as part of the decision.
                |(mut core, next)| {
                    core.absorb(next);
                    let ranking = core.rank().unwrap();
                    (core, ranking)
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Plots need a system font this build does not load; the numbers are what we report.
    config = Criterion::default().without_plots();
    targets = decision
}
criterion_main!(benches);
