//! How well does each policy discover a film? For several simulated films and
//! every policy, a whole session (10 seeds + 200 steps) runs through the real
//! engine and store; then, against the simulator's ground truth:
//!
//! - steps until every motif (interior, groove, asymmetric boundary, triple
//!   junction) has at least 3 measurements;
//! - spectral coverage error: the mean, over every candidate location, of the
//!   RMS distance from its true (noise-free, globally min–max normalised) curve
//!   to the nearest measured curve.
//!
//! `--artefacts` runs every session on a microscope with the artefacts of
//! `sessions/realistic.toml` (drift, creep, 3 % lost contact, a tip change
//! after 150 curves); `--gate off` turns the quality gate off. Motifs are
//! counted at the film point each curve actually measured.
//!
//! `cargo run --release --example discovery [-- --films 5 --budget 210 --artefacts --gate off]`

use dualscope::engine;
use dualscope::instrument::sim::film::Film;
use dualscope::instrument::sim::iv::Response;
use dualscope::plan::{PolicyKind, SessionPlan};
use dualscope::record::Candidates;
use dualscope::record::Motif;
use dualscope::store::SessionLog;
use std::collections::HashMap;
use std::time::Instant;

struct Score {
    steps_to_all_motifs: Option<u32>,
    coverage_error: f64,
    seconds: f64,
}

fn arg(name: &str, default: u32) -> u32 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|k| args.get(k + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn true_curves(plan: &SessionPlan, film: &Film, sites: &[(u32, u32)]) -> Vec<Vec<f64>> {
    let biases = plan.sweep.first().biases_v();
    let turn = plan.sweep.first().turn_index();
    sites
        .iter()
        .map(|&(r, c)| {
            let (x, y) = dualscope::record::pixel_to_nm(
                r,
                c,
                plan.survey.rows,
                plan.survey.cols,
                plan.survey.width_nm,
                plan.survey.height_nm,
            );
            let resp = Response::at(&film.site(x, y), film.plan());
            biases
                .iter()
                .enumerate()
                .map(|(k, &v)| resp.current_a(v, k > turn))
                .collect()
        })
        .collect()
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// The artefacts of `sessions/realistic.toml`.
fn realistic_artefacts() -> dualscope::plan::ArtefactPlan {
    let text = include_str!("../sessions/realistic.toml");
    SessionPlan::from_toml(text)
        .expect("the shipped plan parses")
        .sim
        .artefacts
}

fn run_one(seed: u64, policy: PolicyKind, budget: u32, out: &std::path::Path) -> Score {
    let mut plan = SessionPlan {
        seed,
        ..SessionPlan::default()
    };
    if flag("--artefacts") {
        plan.sim.artefacts = realistic_artefacts();
    }
    let args: Vec<String> = std::env::args().collect();
    if args.windows(2).any(|w| w[0] == "--gate" && w[1] == "off") {
        plan.quality.gate = false;
    }
    plan.sim.time_scale = 0.0;
    // Acquisition only: no live dual VAE competing for the cores.
    plan.analysis.retrain_every = 0;
    plan.policy.name = policy;
    plan.policy.budget = budget;
    plan.output.dir = out.to_string_lossy().to_string();
    let audit_path = out.join(format!("audit-{seed}-{}.txt", policy.label()));
    let _ = std::fs::remove_file(&audit_path);
    plan.sim.audit_log = Some(audit_path.to_string_lossy().to_string());
    let t0 = Instant::now();
    let eng = engine::prepare_new(plan.clone()).expect("start session");
    let dir = eng.session_dir().to_path_buf();
    // The caller's ends stay held until the run is over (a dropped command
    // channel is a console that went away: the run would pause).
    let running = eng.spawn().expect("start the engine");
    let outcome = running.handle.join().expect("the run ends");
    let seconds = t0.elapsed().as_secs_f64();
    assert_eq!(outcome.steps_total, budget, "{outcome:?}");
    let log = SessionLog::load(&dir).expect("read session");

    let film = Film::new(&plan.film, seed, plan.survey.width_nm, plan.survey.height_nm);
    // Where each curve really measured: the simulator's audit log, one line
    // per sweep returned (the recorded position is where the tip was sent).
    let audit: Vec<(f64, f64)> = std::fs::read_to_string(&audit_path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
        })
        .collect();
    // Which sweeps had no contact, as the simulator drew them (keyed by the
    // place the tip was sent to and the visit there): they find no motif.
    let artefacts = dualscope::instrument::sim::artefacts::Artefacts::new(&plan.sim.artefacts, seed);
    let mut visits: HashMap<(u64, u64), u64> = HashMap::new();
    let mut counts: HashMap<Motif, u32> = HashMap::new();
    let mut steps_to_all_motifs = None;
    for (k, m) in log.measurements.iter().enumerate() {
        let key = (m.x_nm.to_bits(), m.y_nm.to_bits());
        let visit = visits.entry(key).or_insert(0);
        let lost = artefacts.contact_lost(key, *visit);
        *visit += 1;
        if lost {
            continue;
        }
        let (x, y) = audit.get(k).copied().unwrap_or((m.x_nm, m.y_nm));
        *counts.entry(film.site(x, y).motif).or_default() += 1;
        if steps_to_all_motifs.is_none() && Motif::ALL.iter().all(|k| counts.get(k).copied().unwrap_or(0) >= 3) {
            steps_to_all_motifs = Some(m.step + 1);
        }
    }

    let candidates = Candidates::new(plan.survey.rows, plan.survey.cols, 16, 2, None);
    let truth = true_curves(&plan, &film, candidates.sites());
    let (lo, hi) = truth
        .iter()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let span = hi - lo;
    let n_points = plan.sweep.points as usize;
    let measured: Vec<Vec<f64>> = log
        .measurements
        .iter()
        .map(|m| {
            dualscope::ml::spectra::to_length(&m.current_a, n_points)
                .iter()
                .map(|v| (v - lo) / span)
                .collect()
        })
        .collect();
    let coverage_error = truth
        .iter()
        .map(|t| {
            let t: Vec<f64> = t.iter().map(|v| (v - lo) / span).collect();
            measured
                .iter()
                .map(|m| (m.iter().zip(&t).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / n_points as f64).sqrt())
                .fold(f64::INFINITY, f64::min)
        })
        .sum::<f64>()
        / truth.len() as f64;
    Score {
        steps_to_all_motifs,
        coverage_error,
        seconds,
    }
}

fn main() {
    let films = arg("--films", 5);
    let budget = arg("--budget", 210);
    let out = tempfile::tempdir().expect("temp dir");
    println!("discovery on {films} simulated films, {budget} measurements each (10 seeds first)\n");
    println!(
        "{:<10} {:>6} {:>22} {:>18} {:>9}",
        "policy", "film", "steps to 3× each motif", "coverage error", "seconds"
    );
    // `--policies dn-dkl,random` runs only those.
    let only: Option<Vec<PolicyKind>> = std::env::args()
        .skip_while(|a| a != "--policies")
        .nth(1)
        .map(|v| v.split(',').filter_map(PolicyKind::parse).collect());
    let mut summary: Vec<(PolicyKind, Vec<Score>)> = Vec::new();
    for policy in PolicyKind::ALL {
        if only.as_ref().is_some_and(|o| !o.contains(&policy)) {
            continue;
        }
        let mut scores = Vec::new();
        for seed in 1..=films as u64 {
            let s = run_one(seed, policy, budget, out.path());
            let steps = s
                .steps_to_all_motifs
                .map(|v| v.to_string())
                .unwrap_or_else(|| format!(">{budget}"));
            println!(
                "{:<10} {:>6} {:>22} {:>18.5} {:>9.1}",
                policy.label(),
                seed,
                steps,
                s.coverage_error,
                s.seconds
            );
            scores.push(s);
        }
        summary.push((policy, scores));
    }
    println!(
        "\nmean over films (a film where some motif never reached 3 counts as {} steps):",
        budget + 1
    );
    println!(
        "{:<10} {:>22} {:>18} {:>14}",
        "policy", "steps to 3× each motif", "coverage error", "s / session"
    );
    for (policy, scores) in &summary {
        let n = scores.len() as f64;
        let steps = scores
            .iter()
            .map(|s| s.steps_to_all_motifs.unwrap_or(budget + 1) as f64)
            .sum::<f64>()
            / n;
        let cov = scores.iter().map(|s| s.coverage_error).sum::<f64>() / n;
        let secs = scores.iter().map(|s| s.seconds).sum::<f64>() / n;
        println!("{:<10} {:>22.1} {:>18.5} {:>14.1}", policy.label(), steps, cov, secs);
    }
}
