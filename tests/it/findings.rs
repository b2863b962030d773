//! The science the console is for, end to end on the simulator: measure one
//! film at 40 locations of each motif, train the dual VAE with demo.toml's
//! settings, cluster its latent map, and read the paper's two findings off
//! the cluster summary — the triple-junction cluster has the largest mean
//! hysteresis, the asymmetric-boundary cluster the lowest mean current.
//!
//! Film 3 (ARI 0.64). With 40 locations of each motif and one training, both
//! findings held on films 3, 5, 7 and 10 of 1–10 (the mixture's bends fitted
//! within 2.5 px): on the others the 40 junctions share a cluster with the
//! grooves (both loop), which then leads by grooves. DN-DKL measures 44–114 junctions of 210 and gives them their
//! own cluster on 19 of the 20 tuning films of the family (examples/clusters.rs,
//! docs/RESULTS.md).

use dualscope::analysis;
use dualscope::instrument::Instrument;
use dualscope::instrument::sim::film::Film;
use dualscope::instrument::sim::{SimConfig, SimInstrument};
use dualscope::plan::SessionPlan;
use dualscope::record::Motif;
use dualscope::record::{Measurement, Source};
use rand::SeedableRng;
use rand::seq::SliceRandom;

const PER_MOTIF: usize = 40;

#[test]
fn the_clusters_show_the_papers_two_findings() {
    let mut plan = SessionPlan {
        seed: 3,
        ..SessionPlan::default()
    };
    plan.sim.time_scale = 0.0;
    plan.analysis.vae_learning_rate = 3e-3;
    let mut sim = SimInstrument::new(SimConfig::from_plan(&plan)).unwrap();
    sim.engage().unwrap();
    let survey = sim.survey(plan.survey.rows, plan.survey.cols).unwrap();
    let film = Film::new(&plan.film, plan.seed, survey.width_nm, survey.height_nm);

    // Pixels in a seeded random order, away from the frame's edge, until every
    // motif has PER_MOTIF locations.
    let margin = 8;
    let mut pixels: Vec<(u32, u32)> = (margin..plan.survey.rows - margin)
        .flat_map(|r| (margin..plan.survey.cols - margin).map(move |c| (r, c)))
        .collect();
    pixels.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(9));
    let mut taken = [0usize; 4];
    let mut rows = Vec::new();
    for (row, col) in pixels {
        let (x_nm, y_nm) = survey.pixel_to_nm(row, col);
        let motif = Motif::ALL
            .iter()
            .position(|m| *m == film.site(x_nm, y_nm).motif)
            .unwrap();
        if taken[motif] == PER_MOTIF {
            continue;
        }
        taken[motif] += 1;
        sim.move_to(x_nm, y_nm).unwrap();
        let sweep = sim.sweep(&plan.sweep.first()).unwrap();
        rows.push(Measurement::of_sweep(
            rows.len() as u32,
            0,
            (row, col),
            (x_nm, y_nm),
            Source::Manual,
            sweep,
            plan.analysis.onset_current_a,
        ));
        if taken.iter().all(|t| *t == PER_MOTIF) {
            break;
        }
    }
    assert_eq!(rows.len(), 4 * PER_MOTIF, "the film lacks a motif: {taken:?}");

    let samples = analysis::samples(0, &plan, &survey, &rows, Some(&film));
    let a = analysis::analyze(&samples, &plan.analysis, plan.seed).expect("analysis");
    let table = analysis::summary::table(&a.summaries);
    let junction = analysis::findings::junctions_loop_most(&a.summaries)
        .unwrap_or_else(|| panic!("no cluster is led by triple junctions:\n{table}"));
    assert!(
        junction.holds,
        "the junction cluster {} does not loop most:\n{table}",
        junction.cluster
    );
    let asymmetric = analysis::findings::asymmetric_conducts_least(&a.summaries)
        .unwrap_or_else(|| panic!("no cluster is led by asymmetric boundaries:\n{table}"));
    assert!(
        asymmetric.holds,
        "the asymmetric cluster {} does not conduct least:\n{table}",
        asymmetric.cluster
    );
    // And the clusters follow the motifs far better than chance (0).
    let ari = a.ari.unwrap();
    assert!(ari > 0.2, "ARI {ari}\n{table}");
    println!("ARI {ari:.3}\n{table}");
}
