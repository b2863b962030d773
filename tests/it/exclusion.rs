//! Excluded regions (`[[policy.exclude]]`): no seed and no policy point ever
//! lands in one, before or after a kill -9 and a resume.

use crate::common::*;
use dualscope::record::Source;
use dualscope::store::{SessionLog, SessionStatus};

/// The top-left quarter of fast_plan's 500 × 500 nm frame.
const QUARTER: &str = "[[policy.exclude]]\nx_nm = [0.0, 250.0]\ny_nm = [0.0, 250.0]\n";

fn inside(x_nm: f64, y_nm: f64) -> bool {
    x_nm <= 250.0 && y_nm <= 250.0
}

fn assert_outside(session: &std::path::Path) -> usize {
    let log = SessionLog::load(session).unwrap();
    for m in &log.measurements {
        assert!(
            !inside(m.x_nm, m.y_nm) || m.source == Source::Manual,
            "step {} ({:?}) at {:.1}, {:.1} nm is in the excluded quarter",
            m.step,
            m.source,
            m.x_nm,
            m.y_nm
        );
    }
    for d in &log.decisions {
        // Where the tip was sent: the centre of the chosen pixel.
        let (x_nm, y_nm) = ((d.col as f64 + 0.5) * 500.0 / 64.0, (d.row as f64 + 0.5) * 500.0 / 64.0);
        assert!(
            !inside(x_nm, y_nm),
            "decision at step {} ({}, {}) is inside",
            d.step,
            d.row,
            d.col
        );
    }
    log.measurements.len()
}

#[test]
fn no_seed_or_policy_point_lands_in_an_excluded_quarter() {
    for policy in ["random", "dn-dkl"] {
        let dir = tempfile::tempdir().unwrap();
        let plan = fast_plan(dir.path(), QUARTER);
        let text = std::fs::read_to_string(&plan)
            .unwrap()
            .replace("name = \"random\"", &format!("name = \"{policy}\""));
        std::fs::write(&plan, text).unwrap();
        let out = run_ok(bin().args(["run", plan.to_str().unwrap(), "--headless", "--budget", "30"]));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("excluded  region 1: x_nm = [0.0, 250.0]"),
            "the run says what it keeps out"
        );
        let session = only_session(&dir.path().join("runs"));
        assert_eq!(assert_outside(&session), 30, "{policy}");
        // Without the region the same plan does go there: the test can fail.
        let dir = tempfile::tempdir().unwrap();
        let open = fast_plan(dir.path(), "");
        let text = std::fs::read_to_string(&open)
            .unwrap()
            .replace("name = \"random\"", &format!("name = \"{policy}\""));
        std::fs::write(&open, text).unwrap();
        run_ok(bin().args(["run", open.to_str().unwrap(), "--headless", "--budget", "30"]));
        let log = SessionLog::load(&only_session(&dir.path().join("runs"))).unwrap();
        assert!(log.measurements.iter().any(|m| inside(m.x_nm, m.y_nm)), "{policy}");
    }
}

#[test]
fn an_excluded_region_holds_after_a_kill_and_a_resume() {
    let dir = tempfile::tempdir().unwrap();
    let plan = timed_plan(dir.path(), 0.05, QUARTER);
    let mut child = spawn_run(&plan, &["--budget", "30"]);
    let session = wait_for_session(&dir.path().join("runs"), 60);
    wait_for_curves(&session, 8, 60);
    child.kill().unwrap();
    child.wait().unwrap();
    let before = assert_outside(&session);
    assert!(before < 30, "killed before the end");
    run_ok(bin().args(["resume", session.to_str().unwrap(), "--headless"]));
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(log.meta.status, SessionStatus::Finished);
    assert_eq!(assert_outside(&session), 30);
}

#[test]
fn a_region_out_of_the_frame_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    for (region, key) in [
        ("x_nm = [0.0, 600.0]\ny_nm = [0.0, 10.0]", "policy.exclude[0].x_nm"),
        ("x_nm = [0.0, 10.0]\ny_nm = [30.0, 20.0]", "policy.exclude[0].y_nm"),
    ] {
        let plan = fast_plan(dir.path(), &format!("[[policy.exclude]]\n{region}\n"));
        let (code, err) = stderr_of(bin().args(["run", plan.to_str().unwrap(), "--headless"]));
        assert!(code != 0);
        assert!(err.contains(key) && err.contains("500 nm"), "{err}");
    }
    let runs = dir.path().join("runs");
    let sessions = std::fs::read_dir(&runs)
        .map(|d| d.flatten().filter(|e| e.path().join("session.toml").exists()).count())
        .unwrap_or(0);
    assert_eq!(sessions, 0, "nothing was started");
}
