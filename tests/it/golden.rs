//! A seeded session, step for step: the positions, curves and decisions of a
//! DN-DKL and a random session on the simulator are kept as snapshots, so a
//! restructuring of the code that changes a single point shows here.

use crate::common::*;
use dualscope::store::SessionLog;

fn session_text(policy: &str, seed: u64, budget: u32) -> String {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "");
    run_ok(bin().args([
        "run",
        plan.to_str().unwrap(),
        "--headless",
        "--policy",
        policy,
        "--seed",
        &seed.to_string(),
        "--budget",
        &budget.to_string(),
    ]));
    let log = SessionLog::load(&only_session(&dir.path().join("runs"))).unwrap();
    let mut out = String::new();
    for (m, d) in log.measurements.iter().zip(&log.decisions) {
        let sum: f64 = m.current_a.iter().sum();
        let opt = |v: Option<f64>| v.map(|v| format!("{v:.4e}")).unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "{:>3} ({:>2},{:>2}) {:.4},{:.4} {} {} n={} sum={:.9e} loop={:.9e} onset={} | {} score={} mean={} std={}\n",
            m.step,
            m.row,
            m.col,
            m.x_nm,
            m.y_nm,
            m.source.label(),
            m.sweep_end.label(),
            m.current_a.len(),
            sum,
            m.hysteresis_area,
            opt(m.onset_v),
            d.policy,
            opt(d.score),
            opt(d.mean),
            opt(d.std),
        ));
    }
    out
}

#[test]
fn a_seeded_dn_dkl_session_is_point_for_point_what_it_was() {
    insta::assert_snapshot!("golden_dn_dkl_seed5", session_text("dn-dkl", 5, 24));
}

#[test]
fn a_seeded_random_session_is_point_for_point_what_it_was() {
    insta::assert_snapshot!("golden_random_seed2", session_text("random", 2, 30));
}
