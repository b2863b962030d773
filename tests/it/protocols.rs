//! Several sweeps per location (`[[sweep.protocol]]`): a curve per protocol
//! at each location, each its own step and row; the replay dataset of
//! several sweeps served curve for curve; a run killed between two curves of
//! a location's set goes on with the next one, losing and repeating nothing.

use crate::common::*;
use dualscope::store::SessionLog;
use dualscope::store::grid::GridDataset;
use std::path::{Path, PathBuf};

const THREE: &str =
    "[[sweep.protocol]]\nv_max = 1.0\n[[sweep.protocol]]\nv_max = 1.5\n[[sweep.protocol]]\nv_max = 2.0\n";

/// The fast plan with three protocols (1.0, 1.5, 2.0 V) and `budget` locations.
fn three_protocols(dir: &Path, budget: u32, extra: &str) -> PathBuf {
    let plan = fast_plan(dir, &format!("{extra}\n{THREE}"));
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("budget = 40", &format!("budget = {budget}"));
    std::fs::write(&plan, text).unwrap();
    plan
}

/// Every location has its three curves, in order, at one place, each
/// sweeping to its protocol's bias; steps never repeat; one decision a
/// location, made at its first curve.
fn sets_are_whole(log: &SessionLog, locations: usize) {
    let tops = [1.0, 1.5, 2.0];
    assert_eq!(log.measurements.len(), 3 * locations);
    for (k, m) in log.measurements.iter().enumerate() {
        assert_eq!(m.step, k as u32);
        assert_eq!(m.location, Some(k as u32 / 3), "step {k}");
        assert_eq!(m.protocol, Some(k as u32 % 3), "step {k}");
        let top = m.bias_v.iter().copied().fold(0.0, f64::max);
        assert!((top - tops[k % 3]).abs() < 1e-9, "step {k}: swept to {top} V");
        let first = &log.measurements[k - k % 3];
        assert_eq!((m.row, m.col), (first.row, first.col), "step {k}: the location's place");
    }
    let decided: Vec<u32> = log.decisions.iter().map(|d| d.step).collect();
    assert_eq!(decided, (0..locations as u32).map(|l| 3 * l).collect::<Vec<_>>());
}

#[test]
fn three_protocols_give_three_curves_at_every_location() {
    let dir = tempfile::tempdir().unwrap();
    let plan = three_protocols(dir.path(), 12, "");
    let out = run_ok(bin().args(["run", plan.to_str().unwrap(), "--headless"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("36/36 measurements"), "{stdout}");
    let session = only_session(&dir.path().join("runs"));
    let log = SessionLog::load(&session).unwrap();
    sets_are_whole(&log, 12);
    // The columns as an outside reader sees them.
    let Some(py) = python::python() else { return };
    let read = python::run(
        &py,
        "import sys, pyarrow.parquet as pq\n\
         t = pq.read_table(sys.argv[1], columns=['step', 'protocol', 'location'])\n\
         print(t.schema.field('protocol').type, t.schema.field('location').type, \
               t.column('protocol').to_pylist()[:6], t.column('location').to_pylist()[:6])",
        &[session.join("measurements").to_str().unwrap()],
    );
    assert_eq!(read.trim(), "uint32 uint32 [0, 1, 2, 0, 1, 2] [0, 0, 0, 1, 1, 1]");
}

#[test]
fn a_replay_dataset_of_three_protocols_serves_each_curve_and_refuses_a_sweep_it_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let plan = three_protocols(dir.path(), 10, "");
    let data = dir.path().join("film");
    run_ok(bin().args([
        "sim",
        "export",
        "--plan",
        plan.to_str().unwrap(),
        "--protocols",
        "1.0,1.5,2.0",
        "--out",
        data.to_str().unwrap(),
    ]));
    let dataset = GridDataset::read(&data, 1 << 24).unwrap();
    assert_eq!(dataset.protocols.len(), 3);
    assert_eq!(dataset.sweep.unwrap().v_max, 1.0, "[sweep] is the first protocol");
    // The dataset as an outside reader sees it: a uint32 `protocol` column,
    // every location three times, and `[[protocol]]` tables in dataset.toml.
    if let Some(py) = python::python() {
        let read = python::run(
            &py,
            "import sys, tomllib, collections, pyarrow.parquet as pq\n\
             t = pq.read_table(sys.argv[1] + '/spectra.parquet')\n\
             c = collections.Counter(t.column('protocol').to_pylist())\n\
             head = tomllib.load(open(sys.argv[1] + '/dataset.toml', 'rb'))\n\
             print(t.schema.field('protocol').type, c[0] == c[1] == c[2] > 0, \
                   [p['v_max'] for p in head['protocol']], head['sweep']['v_max'])",
            &[data.to_str().unwrap()],
        );
        assert_eq!(read.trim(), "uint32 True [1.0, 1.5, 2.0] 1.0", "{read}");
    }
    let runs = dir.path().join("replayed");
    run_ok(bin().args([
        "run",
        plan.to_str().unwrap(),
        "--headless",
        "--instrument",
        &format!("replay:{}", data.display()),
        "--out",
        runs.to_str().unwrap(),
    ]));
    let log = SessionLog::load(&only_session(&runs)).unwrap();
    sets_are_whole(&log, 10);
    for m in &log.measurements {
        let p = m.protocol.unwrap();
        let stored = if p == 0 {
            &dataset.spectra[&(m.row, m.col)]
        } else {
            &dataset.more[&(m.row, m.col, p)]
        };
        assert_eq!(m.current_a, stored.current_a, "step {}", m.step);
    }
    // The live simulator gives the same curves as its export, set for set.
    let live = dir.path().join("live");
    run_ok(bin().args([
        "run",
        plan.to_str().unwrap(),
        "--headless",
        "--out",
        live.to_str().unwrap(),
    ]));
    let first = SessionLog::load(&only_session(&live)).unwrap().measurements[..3].to_vec();
    for m in &first {
        let stored = match m.protocol.unwrap() {
            0 => &dataset.spectra[&(m.row, m.col)],
            p => &dataset.more[&(m.row, m.col, p)],
        };
        assert_eq!(m.current_a, stored.current_a, "live step {}", m.step);
    }
    // A plan whose second sweep the dataset does not hold.
    let other = dir.path().join("other.toml");
    std::fs::write(
        &other,
        std::fs::read_to_string(&plan)
            .unwrap()
            .replace("v_max = 1.5", "v_max = 1.7"),
    )
    .unwrap();
    let (code, _) = stderr_of(bin().args([
        "run",
        other.to_str().unwrap(),
        "--headless",
        "--instrument",
        &format!("replay:{}", data.display()),
        "--out",
        dir.path().join("refused").to_str().unwrap(),
    ]));
    assert_ne!(code, 0, "no usable curve, the run ends failed");
    // Refused before anything moved, saying which sweep and why.
    let refused = SessionLog::load(&only_session(&dir.path().join("refused"))).unwrap();
    assert!(
        refused
            .events
            .iter()
            .any(|e| e.detail.contains("sweep.protocol[1] asks 0→1.7→0 V in 251 points")),
        "{:?}",
        refused.events
    );
    assert!(refused.measurements.is_empty());
}

/// Killed (SIGKILL) between two curves of a location's set, then resumed:
/// the set is finished where it was cut, nothing lost or taken twice.
#[test]
fn a_kill_inside_a_set_and_a_resume_lose_and_repeat_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let plan = three_protocols(dir.path(), 10, "");
    // ~60 ms a curve, so the kill lands where it was aimed.
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("time_scale = 0.0", "time_scale = 0.1");
    std::fs::write(&plan, text).unwrap();
    let runs = dir.path().join("runs");
    let mut child = spawn_run(&plan, &[]);
    let session = wait_for_session(&runs, 60);
    let t0 = std::time::Instant::now();
    loop {
        let n = SessionLog::load(&session).map(|l| l.measurements.len()).unwrap_or(0);
        if (n >= 4 && !n.is_multiple_of(3)) || t0.elapsed().as_secs() >= 60 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(3));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let cut = SessionLog::load(&session).unwrap().measurements.len();
    assert!(!cut.is_multiple_of(3), "killed inside a set ({cut} curves)");
    run_ok(bin().args(["resume", session.to_str().unwrap(), "--headless"]));
    let log = SessionLog::load(&session).unwrap();
    sets_are_whole(&log, 10);
}

/// `analyze` on a session of three protocols learns from each location's
/// set as one curve (one embedding a location, at its first curve's step)
/// and prints the loop area per protocol per cluster.
#[test]
fn analyze_learns_each_locations_set_and_prints_the_loop_per_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let plan = three_protocols(dir.path(), 16, "");
    run_ok(bin().args(["run", plan.to_str().unwrap(), "--headless"]));
    let session = only_session(&dir.path().join("runs"));
    let out = run_ok(bin().args(["analyze", session.to_str().unwrap(), "--epochs", "5"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Loop area per protocol (V·pA):"), "{stdout}");
    assert!(
        stdout.contains("| cluster | 0→1→0 V | 0→1.5→0 V | 0→2→0 V |"),
        "{stdout}"
    );
    let df = dualscope::store::reader::table_frame(&session, "embeddings")
        .unwrap()
        .unwrap();
    let steps = dualscope::store::frame::get_u32(&df, "step").unwrap();
    assert_eq!(steps, (0..16).map(|l| 3 * l).collect::<Vec<u32>>());
    // The report: the protocols in words, the loop per protocol, and the
    // loop against the bias drawn.
    let figures = dir.path().join("figures");
    run_ok(bin().args(["report", session.to_str().unwrap(), "--out", figures.to_str().unwrap()]));
    let md = std::fs::read_to_string(figures.join("report.md")).unwrap();
    assert!(md.contains("Each location was swept 3 times"), "{md}");
    assert!(md.contains("Loop area per protocol"), "{md}");
    assert!(md.contains("loop_against_bias.png"), "{md}");
    assert!(figures.join("loop_against_bias.png").metadata().unwrap().len() > 10_000);
    // The export: every curve carries its location's decision and cluster.
    let out = dir.path().join("all.parquet");
    run_ok(bin().args(["export", session.to_str().unwrap(), "--out", out.to_str().unwrap()]));
    let Some(py) = python::python() else { return };
    let read = python::run(
        &py,
        "import sys, pyarrow.parquet as pq\n\
         t = pq.read_table(sys.argv[1])\n\
         print(t.num_rows, t.column('policy').null_count, t.column('cluster').null_count, \
               'decided_at' in t.column_names, t.column('location').to_pylist()[:4])",
        &[out.to_str().unwrap()],
    );
    assert_eq!(read.trim(), "48 0 0 False [0, 0, 0, 1]", "{read}");
}
