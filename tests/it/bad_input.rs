//! Bad plans, a missing replay folder, a locked session and a full disk: each a
//! clear error, and the log that exists stays intact.

use crate::common::*;
use dualscope::store::SessionLog;

fn no_session_in(runs: &std::path::Path) -> bool {
    std::fs::read_dir(runs)
        .map(|d| d.flatten().all(|e| !e.path().join("session.toml").exists()))
        .unwrap_or(true)
}

#[test]
fn unknown_key_and_out_of_range_value_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "[sweep]\npoints = 3\n");
    let (code, err) = stderr_of(bin().args(["run", plan.to_str().unwrap(), "--headless"]));
    assert_ne!(code, 0);
    assert!(
        err.contains("sweep.points = 3") && err.contains("11 ..= 10001"),
        "{err}"
    );

    let plan = fast_plan(dir.path(), "[safety]\nbias_max_volts = 3\n");
    let (code, err) = stderr_of(bin().args(["run", plan.to_str().unwrap(), "--headless"]));
    assert_ne!(code, 0);
    assert!(err.contains("bias_max_volts"), "{err}");
    // Placed as an editor shows it, with its table and value, on one plain line.
    assert!(err.contains("safety.bias_max_volts (line "), "{err}");
    assert!(err.contains(", column 1) = 3: unknown field"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!err.contains("Location") && !err.contains('\x1b'), "{err}");
    assert!(
        !dir.path().join("runs").exists(),
        "a refused plan must not start a session"
    );
}

#[test]
fn missing_replay_folder_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "");
    let (code, err) = stderr_of(bin().args([
        "run",
        plan.to_str().unwrap(),
        "--headless",
        "--instrument",
        "replay:/no/such/dataset",
    ]));
    assert_ne!(code, 0);
    assert!(err.contains("/no/such/dataset"), "{err}");
    assert!(
        no_session_in(&dir.path().join("runs")),
        "a refused start must not leave a session"
    );
}

#[test]
fn a_locked_session_is_refused_and_the_writer_is_undisturbed() {
    let dir = tempfile::tempdir().unwrap();
    let plan = timed_plan(dir.path(), 0.05, "");
    let mut first = spawn_run(&plan, &[]);
    let session = wait_for_session(&dir.path().join("runs"), 20);
    let (code, err) = stderr_of(bin().args(["resume", session.to_str().unwrap(), "--headless"]));
    assert_ne!(code, 0);
    assert!(
        err.contains("being written by another process") && err.contains("pid"),
        "{err}"
    );
    assert!(first.wait().unwrap().success());
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(log.next_step(), 40);
    assert_eq!(log.meta.status, dualscope::store::SessionStatus::Finished);
}

#[test]
fn a_full_disk_stops_the_run_with_a_clear_error_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "");
    // Room for the session's start and some steps, not for all 40.
    let out = bin()
        .args(["run", plan.to_str().unwrap(), "--headless"])
        .env("DUALSCOPE_FAULT_DISK_BYTES", "200000")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("the disk is full") || stderr.contains("the disk is full"),
        "{stdout}\n{stderr}"
    );
    let session = only_session(&dir.path().join("runs"));
    let log = SessionLog::load(&session).unwrap();
    let taken = log.next_step();
    assert!(taken > 0 && taken < 40, "{taken}");
    let steps: Vec<u32> = log.measurements.iter().map(|m| m.step).collect();
    assert_eq!(steps, (0..taken).collect::<Vec<_>>());
    // With space again, the session finishes where it stopped.
    run_ok(bin().args(["resume", session.to_str().unwrap(), "--headless"]));
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(log.next_step(), 40);
}

/// An 8-curve session run to its end under `dir`; returns its folder.
fn finished_session(dir: &std::path::Path) -> std::path::PathBuf {
    let plan = fast_plan(dir, "");
    run_ok(bin().args(["run", plan.to_str().unwrap(), "--headless", "--budget", "8"]));
    only_session(&dir.join("runs"))
}

#[test]
fn resuming_a_finished_session_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let session = finished_session(dir.path());
    let out = run_ok(bin().args(["resume", session.to_str().unwrap(), "--headless"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("already finished"));
}

#[test]
fn out_of_range_training_options_are_named_before_the_session_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let session = finished_session(dir.path());
    let listing = || {
        let mut files: Vec<_> = walk(&session)
            .into_iter()
            .map(|p| {
                let meta = std::fs::metadata(&p).unwrap();
                (p, meta.len(), meta.modified().unwrap())
            })
            .collect();
        files.sort();
        files
    };
    let before = listing();
    for (option, value, named) in [
        ("--clusters", "65", "analysis.clusters = 65"),
        ("--epochs", "0", "analysis.vae_epochs = 0"),
    ] {
        let figures = dir.path().join("figures");
        for extra in [vec![], vec!["report", "--out", figures.to_str().unwrap()]] {
            let command = extra.first().copied().unwrap_or("analyze");
            let mut cmd = bin();
            cmd.args([command, session.to_str().unwrap(), option, value])
                .args(extra.iter().skip(1));
            let (code, err) = stderr_of(&mut cmd);
            assert_ne!(code, 0, "{command} {option} {value}");
            assert!(err.contains(named), "{command} {option} {value}: {err}");
        }
    }
    assert_eq!(listing(), before, "a refused option must not touch the session");
    assert!(!dir.path().join("figures").exists(), "nor write figures");
}

#[test]
fn a_plan_that_cannot_fit_in_memory_is_refused_with_the_key_and_the_figure() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "");
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("rows = 64\ncols = 64", "rows = 4096\ncols = 4096")
        .replace("[policy]\n", "[policy]\npatch_px = 64\nstride_px = 1\n");
    std::fs::write(&plan, text).unwrap();
    let (code, err) = stderr_of(bin().args(["run", plan.to_str().unwrap(), "--headless"]));
    assert_ne!(code, 0);
    assert!(
        err.contains("policy.stride_px = 1") && err.contains("16265089 candidates") && err.contains("GiB"),
        "{err}"
    );
    assert!(no_session_in(&dir.path().join("runs")));
    // The budget is a setting.
    let plan = fast_plan(dir.path(), "[host]\nmemory_budget_mb = 1\n");
    let (code, err) = stderr_of(bin().args(["run", plan.to_str().unwrap(), "--headless"]));
    assert_ne!(code, 0);
    assert!(err.contains("1 MiB (host.memory_budget_mb)"), "{err}");
}

#[test]
fn a_session_that_measures_nothing_fails_instead_of_finishing() {
    use dualscope::store::grid::{GridCurve, GridDataset};
    let dir = tempfile::tempdir().unwrap();
    // Curves only in the corner, where no 16-px patch fits: no candidate at all.
    let mut spectra = std::collections::BTreeMap::new();
    for k in 0..3u32 {
        spectra.insert(
            (k, k),
            GridCurve {
                bias_v: vec![0.0, 1.0, 0.0],
                current_a: vec![0.0, 1e-10, 0.0],
            },
        );
    }
    let data = dir.path().join("corner");
    GridDataset {
        width_nm: 500.0,
        height_nm: 500.0,
        description: None,
        sweep: None,
        protocols: Vec::new(),
        topography_nm: ndarray::Array2::zeros((64, 64)),
        spectra,
        more: Default::default(),
        labels: None,
        unusable: Vec::new(),
    }
    .write(&data)
    .unwrap();
    let plan = fast_plan(dir.path(), "");
    let out = bin()
        .args([
            "run",
            plan.to_str().unwrap(),
            "--headless",
            "--instrument",
            &format!("replay:{}", data.display()),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("no location could be measured"), "{stdout}");
    let log = SessionLog::load(&only_session(&dir.path().join("runs"))).unwrap();
    assert_eq!(log.meta.status, dualscope::store::SessionStatus::Failed);
}

#[test]
fn a_failing_policy_worker_is_an_event_and_the_run_goes_on_with_structure() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "");
    let out = bin()
        .args([
            "run",
            plan.to_str().unwrap(),
            "--headless",
            "--policy",
            "dn-dkl",
            "--budget",
            "16",
        ])
        .env("DUALSCOPE_FAULT_DKL_PANIC_AT_CURVES", "12")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let log = SessionLog::load(&only_session(&dir.path().join("runs"))).unwrap();
    assert_eq!(log.next_step(), 16);
    let failed = log
        .events
        .iter()
        .find(|e| e.kind.label() == "policy_failed")
        .expect("an event");
    assert!(
        failed.detail.contains("panicked") && failed.detail.contains("structure"),
        "{failed:?}"
    );
    // Before: DN-DKL's scored decisions; after: structural novelty's.
    let labels: Vec<&str> = log.decisions.iter().map(|d| d.policy.as_str()).collect();
    assert_eq!(labels[11], "dn-dkl", "{labels:?}");
    assert!(labels[12..].iter().all(|l| *l == "structure"), "{labels:?}");
    assert!(log.decisions[12..].iter().all(|d| d.structure_novelty.is_some()));
}

#[test]
fn a_panicking_retraining_is_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "");
    let text = std::fs::read_to_string(&plan).unwrap().replace(
        "retrain_every = 0",
        "retrain_every = 8\nvae_epochs = 5\nvae_hidden = 16",
    );
    std::fs::write(&plan, text).unwrap();
    let out = bin()
        .args(["run", plan.to_str().unwrap(), "--headless", "--budget", "20"])
        .env("DUALSCOPE_FAULT_RETRAIN_PANIC_AT_CURVES", "8")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let log = SessionLog::load(&only_session(&dir.path().join("runs"))).unwrap();
    let failed: Vec<_> = log
        .events
        .iter()
        .filter(|e| e.kind.label() == "retrain_failed")
        .collect();
    assert_eq!(failed.len(), 1, "{:?}", log.events);
    assert!(
        failed[0].detail.contains("8 curves") && failed[0].detail.contains("panicked"),
        "{failed:?}"
    );
    // The next trainings still land.
    assert!(
        log.events
            .iter()
            .any(|e| e.kind.label() == "retrain" && e.detail.contains("clusters"))
    );
}
