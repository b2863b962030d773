//! SIGKILL at random moments, resume each time: no step lost or repeated, every
//! curve the instrument returned is in the log, and the path is the one an
//! uninterrupted session takes.

use crate::common::*;
use dualscope::store::SessionLog;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

const BUDGET: u32 = 45;

fn write_plan(dir: &Path, audit: &Path) -> std::path::PathBuf {
    // A little real time per step, so kills land in every phase of a step.
    fast_plan(dir, "");
    let text = std::fs::read_to_string(dir.join("plan.toml")).unwrap().replace(
        "[sim]\ntime_scale = 0.0",
        &format!("[sim]\ntime_scale = 0.02\naudit_log = \"{}\"", audit.display()),
    );
    let text = text.replace("budget = 40", &format!("budget = {BUDGET}"));
    std::fs::write(dir.join("plan.toml"), text).unwrap();
    dir.join("plan.toml")
}

/// Every row of a table's part files, duplicates included.
fn raw_steps(session: &Path, table: &str) -> Vec<u32> {
    let df = dualscope::store::reader::table_frame(session, table).unwrap().unwrap();
    dualscope::store::frame::get_u32(&df, "step").unwrap()
}

fn audit_key(x: f64, y: f64, n: usize, sum: f64) -> String {
    format!("{x:.6} {y:.6} {n} {sum:e}")
}

#[test]
fn twenty_plus_kills_lose_nothing() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20261127);
    let mut kills = 0;
    let mut sessions = 0;
    while kills < 24 {
        sessions += 1;
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("audit.txt");
        let plan = write_plan(dir.path(), &audit);
        let runs = dir.path().join("runs");
        let mut session: Option<std::path::PathBuf> = None;
        loop {
            let mut cmd = bin();
            match &session {
                None => cmd.args(["run", plan.to_str().unwrap(), "--headless"]),
                Some(s) => cmd.args(["resume", s.to_str().unwrap(), "--headless"]),
            };
            let mut child = cmd
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let delay = rng.random_range(40..500);
            std::thread::sleep(Duration::from_millis(delay));
            let finished = child.try_wait().unwrap().is_some();
            if !finished {
                child.kill().unwrap();
                kills += 1;
            }
            let status = child.wait().unwrap();
            if session.is_none() && runs.exists() {
                let found: Vec<_> = std::fs::read_dir(&runs)
                    .unwrap()
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.join("session.toml").exists())
                    .collect();
                session = found.into_iter().next();
            }
            if let Some(s) = &session {
                // After every kill the log reads whole, with no gap in the steps.
                let log = SessionLog::load(s).unwrap();
                let steps: Vec<u32> = log.measurements.iter().map(|m| m.step).collect();
                assert_eq!(steps, (0..steps.len() as u32).collect::<Vec<_>>());
                if finished {
                    assert!(status.success());
                    assert_eq!(log.meta.status, dualscope::store::SessionStatus::Finished);
                    break;
                }
            }
        }
        let session = session.unwrap();
        // Part files: each step exactly once, in measurements and in decisions.
        for table in ["measurements", "decisions"] {
            let mut steps = raw_steps(&session, table);
            steps.sort_unstable();
            assert_eq!(
                steps,
                (0..BUDGET).collect::<Vec<_>>(),
                "{table}: duplicated or missing steps"
            );
        }
        // Every curve the instrument handed over is in the log.
        let log = SessionLog::load(&session).unwrap();
        let logged: BTreeSet<String> = log
            .measurements
            .iter()
            .map(|m| audit_key(m.x_nm, m.y_nm, m.current_a.len(), m.current_a.iter().sum()))
            .collect();
        let returned = std::fs::read_to_string(&audit).unwrap();
        for line in returned.lines() {
            assert!(
                logged.contains(line),
                "curve returned by the instrument but not logged: {line}"
            );
        }
        // And the path is the one an uninterrupted session takes.
        let clean = tempfile::tempdir().unwrap();
        let clean_plan = write_plan(clean.path(), &clean.path().join("audit.txt"));
        run_ok(bin().args(["run", clean_plan.to_str().unwrap(), "--headless"]));
        assert_eq!(
            positions(&session),
            positions(&only_session(&clean.path().join("runs")))
        );
        assert!(
            sessions < 20,
            "kills are not landing: {kills} kills in {sessions} sessions"
        );
    }
    println!("{kills} kills over {sessions} sessions, each resumed to the end");
}
