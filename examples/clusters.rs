//! Do the dual VAE's clusters find the film's motifs? For several simulated
//! films, a DN-DKL session (10 seeds + 200 steps) runs through the real engine;
//! then the dual VAE (published settings unless overridden) is trained, its
//! joint latent map clustered, and the clusters compared with the simulator's
//! ground truth: adjusted Rand index, training time, and the paper's two
//! findings — the triple-junction cluster has the largest hysteresis, the
//! asymmetric-boundary cluster the lowest current.
//!
//! Beside the dual VAE's ARI, two references clustered the same way (Gaussian
//! mixture, BIC): the three physical quantities measured on every curve (log
//! max current, log loop area, onset), and the simulator's own noise-free
//! response parameters at each measured point (log current scale, onset, log
//! hysteresis, trap bias). The second is what the curves are made of, so no
//! clustering of the electrical response can be expected to beat it by much:
//! it tells how far the motifs, as this policy samples them, separate at all.
//!
//! `cargo run --release --example clusters [-- --films 5 --first 1 --policy dn-dkl --epochs 1000 --lr 3e-3 --ensemble 8]`

use dualscope::analysis;
use dualscope::analysis::Sample;
use dualscope::engine;
use dualscope::instrument::sim::film::Film;
use dualscope::instrument::sim::iv::Response;
use dualscope::ml::cluster;
use dualscope::plan::{PolicyKind, SessionPlan};
use dualscope::record::Motif;
use dualscope::store::SessionLog;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|k| args.get(k + 1))
        .cloned()
}

/// ARI of a BIC-chosen Gaussian mixture on `features` against the true motifs.
fn reference_ari(features: &[Vec<f64>], samples: &[Sample], max_clusters: usize, seed: u64) -> f64 {
    let truth: Vec<usize> = samples
        .iter()
        .map(|s| Motif::ALL.iter().position(|m| Some(*m) == s.truth).unwrap_or(0))
        .collect();
    let mut rng = dualscope::seed::rng(seed, "reference-mixture", &[]);
    cluster::choose(features, 2..=max_clusters, &mut rng)
        .map(|m| cluster::adjusted_rand_index(&m.labels, &truth))
        .unwrap_or(f64::NAN)
}

/// The three quantities every curve's row carries.
fn measured_features(samples: &[Sample]) -> Vec<Vec<f64>> {
    samples
        .iter()
        .map(|s| {
            let top_v = s.bias_v.iter().copied().fold(0.0, f64::max);
            vec![
                s.max_current_a.abs().max(1e-15).ln(),
                s.hysteresis_area.abs().max(1e-18).ln(),
                s.onset_v.unwrap_or(top_v),
            ]
        })
        .collect()
}

/// The simulator's noise-free response parameters at every measured point.
fn physics_features(samples: &[Sample], plan: &SessionPlan, film: &Film) -> Vec<Vec<f64>> {
    samples
        .iter()
        .map(|s| {
            let r = Response::at(
                &film.site(s.x_nm, s.y_nm),
                plan.film.groove_width_nm,
                plan.film.pit_radius_nm,
            );
            vec![r.scale_a.ln(), r.onset_v, r.hysteresis.ln(), r.trap_v]
        })
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn list(v: &[f64]) -> String {
    v.iter().map(|a| format!("{a:.3}")).collect::<Vec<_>>().join(", ")
}

fn main() {
    let films: u64 = arg("--films").and_then(|v| v.parse().ok()).unwrap_or(5);
    // Films are numbered by their seed: `--first 11 --films 10` is films 11–20.
    let first: u64 = arg("--first").and_then(|v| v.parse().ok()).unwrap_or(1);
    let policy = arg("--policy")
        .and_then(|p| PolicyKind::parse(&p))
        .unwrap_or(PolicyKind::DnDkl);
    let out = tempfile::tempdir().expect("temp dir");
    let mut aris = Vec::new();
    let (mut measured_aris, mut physics_aris) = (Vec::new(), Vec::new());
    let mut times = Vec::new();
    // Per finding: films where it held, films with a cluster to judge it on.
    let (mut held, mut judged) = ([0u32; 2], [0u32; 2]);
    for seed in first..first + films {
        let mut plan = SessionPlan {
            seed,
            ..SessionPlan::default()
        };
        plan.sim.time_scale = 0.0;
        plan.analysis.retrain_every = 0;
        plan.policy.name = policy;
        if let Some(e) = arg("--epochs").and_then(|v| v.parse().ok()) {
            plan.analysis.vae_epochs = e;
        }
        if let Some(lr) = arg("--lr").and_then(|v| v.parse().ok()) {
            plan.analysis.vae_learning_rate = lr;
        }
        if let Some(k) = arg("--clusters").and_then(|v| v.parse().ok()) {
            plan.analysis.clusters = k;
        }
        if let Some(n) = arg("--ensemble").and_then(|v| v.parse().ok()) {
            plan.analysis.vae_ensemble = n;
        }
        plan.output.dir = out.path().to_string_lossy().to_string();
        let eng = engine::prepare_new(plan.clone()).expect("start session");
        let dir = eng.session_dir().to_path_buf();
        // The caller's ends stay held until the run is over (a dropped
        // command channel is a console that went away: the run would pause).
        let running = eng.spawn().expect("start the engine");
        running.handle.join().expect("the run ends");
        let log = SessionLog::load(&dir).expect("read session");
        let survey = log.survey.clone().expect("survey");
        let truth = dualscope::instrument::ground_truth(&plan, &survey);
        let samples = analysis::samples(0, &plan, &survey, &log.measurements, truth.as_deref());
        let a = analysis::analyze(&samples, &plan.analysis, seed).expect("analysis");
        let counts: Vec<String> = Motif::ALL
            .iter()
            .map(|m| {
                format!(
                    "{} {}",
                    m.label(),
                    samples.iter().filter(|s| s.truth == Some(*m)).count()
                )
            })
            .collect();
        println!("film {seed}: measured motifs: {}", counts.join(", "));
        let ari = a.ari.unwrap_or(f64::NAN);
        aris.push(ari);
        let max_k = plan.analysis.clusters_max as usize;
        let film = Film::new(&plan.film, plan.seed, survey.width_nm, survey.height_nm);
        measured_aris.push(reference_ari(&measured_features(&samples), &samples, max_k, seed));
        physics_aris.push(reference_ari(
            &physics_features(&samples, &plan, &film),
            &samples,
            max_k,
            seed,
        ));
        println!(
            "film {seed}: references (mixture + BIC): measured max current, loop area, onset ARI {:.3}; \
             simulator's noise-free response parameters ARI {:.3}",
            measured_aris.last().unwrap(),
            physics_aris.last().unwrap()
        );
        times.push(a.train_s);
        println!(
            "film {seed}: {} measurements ({}), {} clusters, ARI {ari:.3}, dual VAE {:.1} s",
            samples.len(),
            policy,
            a.summaries.len(),
            a.train_s
        );
        print!("{}", analysis::summary::table(&a.summaries));
        let checks = [
            (
                analysis::findings::junctions_loop_most(&a.summaries),
                "triple-junction cluster",
                "has the largest mean hysteresis area",
                "triple junctions",
            ),
            (
                analysis::findings::asymmetric_conducts_least(&a.summaries),
                "asymmetric-boundary cluster",
                "has the lowest mean max current",
                "asymmetric boundaries",
            ),
        ];
        for (k, (finding, who, claim, motif)) in checks.into_iter().enumerate() {
            match finding {
                Some(f) => {
                    judged[k] += 1;
                    held[k] += f.holds as u32;
                    println!("  {who} {} {claim}: {}", f.cluster, f.holds);
                }
                None => println!("  no cluster is dominated by {motif}"),
            }
        }
        println!();
    }
    println!(
        "mean ARI {:.3} over {films} films (per film: {}); dual VAE training {:.1}–{:.1} s",
        mean(&aris),
        list(&aris),
        times.iter().copied().fold(f64::INFINITY, f64::min),
        times.iter().copied().fold(0.0, f64::max)
    );
    println!(
        "references: measured quantities mean ARI {:.3} ({}); noise-free response parameters mean ARI {:.3} ({})",
        mean(&measured_aris),
        list(&measured_aris),
        mean(&physics_aris),
        list(&physics_aris)
    );
    println!(
        "finding 1 (junctions loop most) held in {}/{} films with a junction cluster",
        held[0], judged[0]
    );
    println!(
        "finding 2 (asymmetric boundaries conduct least) held in {}/{} films with an asymmetric cluster",
        held[1], judged[1]
    );
}
