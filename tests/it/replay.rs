//! `sim export` and the replay instrument check each other: a replayed session
//! measures exactly the stored curves, which are the curves the live simulator
//! gives at the same points.

use crate::common::*;
use dualscope::store::SessionLog;
use dualscope::store::grid::GridDataset;

#[test]
fn replay_of_an_export_measures_the_stored_curves() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("film");
    let plan = fast_plan(dir.path(), "");
    run_ok(bin().args([
        "sim",
        "export",
        "--out",
        data.to_str().unwrap(),
        "--plan",
        plan.to_str().unwrap(),
        "--seed",
        "4",
    ]));
    let dataset = GridDataset::read(&data, 1 << 24).unwrap();
    assert_eq!((dataset.rows(), dataset.cols()), (64, 64));
    assert_eq!(dataset.spectra.len(), 32 * 32);
    assert_eq!(dataset.labels.as_ref().unwrap().len(), 64 * 64);

    let replay_runs = dir.path().join("replay");
    run_ok(bin().args([
        "run",
        plan.to_str().unwrap(),
        "--headless",
        "--seed",
        "4",
        "--instrument",
        &format!("replay:{}", data.display()),
        "--out",
        replay_runs.to_str().unwrap(),
    ]));
    let replayed = SessionLog::load(&only_session(&replay_runs)).unwrap();
    assert_eq!(replayed.measurements.len(), 40);
    for m in &replayed.measurements {
        let stored = &dataset.spectra[&(m.row, m.col)];
        assert_eq!(m.bias_v, stored.bias_v, "step {}", m.step);
        assert_eq!(m.current_a, stored.current_a, "step {}", m.step);
    }

    // The live simulator with the same seed walks the same path through the same curves.
    let live_runs = dir.path().join("live");
    run_ok(bin().args([
        "run",
        plan.to_str().unwrap(),
        "--headless",
        "--seed",
        "4",
        "--out",
        live_runs.to_str().unwrap(),
    ]));
    let live = SessionLog::load(&only_session(&live_runs)).unwrap();
    assert_eq!(live.measurements.len(), replayed.measurements.len());
    for (a, b) in live.measurements.iter().zip(&replayed.measurements) {
        assert_eq!((a.row, a.col), (b.row, b.col));
        assert_eq!(a.current_a, b.current_a);
    }
}
