//! Helpers for whole-program tests: run the real binary on small plans.
#![allow(dead_code)]

pub mod gate;
pub mod python;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary as a user starts it: without a backtrace asked for, whatever
/// the shell running the tests has set.
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dualscope"));
    cmd.env_remove("RUST_BACKTRACE");
    cmd
}

/// Writes a small, fast plan into `dir` and returns its path.
pub fn fast_plan(dir: &Path, extra: &str) -> PathBuf {
    let text = format!(
        r#"
name = "test"
seed = 1
instrument = "sim"
[sim]
time_scale = 0.0
[survey]
rows = 64
cols = 64
width_nm = 500.0
height_nm = 500.0
[film]
grains = 6
[policy]
name = "random"
seeds = 5
budget = 40
[analysis]
retrain_every = 0
[output]
dir = "{}"
flush_rows = 4
{extra}
"#,
        dir.join("runs").display()
    );
    let path = dir.join("plan.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The exit code (-1 for a signal) and the stderr of a command expected to fail.
pub fn stderr_of(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run dualscope");
    assert!(
        out.status.success(),
        "dualscope failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The one session folder under `runs`.
pub fn only_session(runs: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(runs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("session.toml").exists())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap()
}

/// (step, row, col) of every measurement in a session, in step order.
pub fn positions(session: &Path) -> Vec<(u32, u32, u32)> {
    let log = dualscope::store::SessionLog::load(session).unwrap();
    log.measurements.iter().map(|m| (m.step, m.row, m.col)).collect()
}

/// [`fast_plan`] at a given real-time scale (0.05 ≈ 30 ms a curve), so a
/// test can act while the run goes on.
pub fn timed_plan(dir: &Path, time_scale: f64, extra: &str) -> PathBuf {
    let plan = fast_plan(dir, extra);
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("time_scale = 0.0", &format!("time_scale = {time_scale}"));
    std::fs::write(&plan, text).unwrap();
    plan
}

/// A headless run of `plan` in the background (stdout dropped).
pub fn spawn_run(plan: &Path, extra: &[&str]) -> std::process::Child {
    bin()
        .args(["run", plan.to_str().unwrap(), "--headless"])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until a session folder appears under `runs`.
pub fn wait_for_session(runs: &Path, secs: u64) -> PathBuf {
    let t0 = std::time::Instant::now();
    loop {
        if let Some(s) = std::fs::read_dir(runs)
            .ok()
            .and_then(|d| d.flatten().map(|e| e.path()).find(|p| p.join("session.toml").exists()))
        {
            return s;
        }
        assert!(
            t0.elapsed().as_secs() < secs,
            "no session appeared under {}",
            runs.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Every file under `dir`, in its subfolders too.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .flat_map(|e| {
            let p = e.path();
            if p.is_dir() { walk(&p) } else { vec![p] }
        })
        .collect()
}

/// Waits until the session holds at least `n` curves.
pub fn wait_for_curves(session: &Path, n: usize, secs: u64) {
    let t0 = std::time::Instant::now();
    while dualscope::store::SessionLog::load(session)
        .map(|l| l.measurements.len())
        .unwrap_or(0)
        < n
    {
        assert!(t0.elapsed().as_secs() < secs, "fewer than {n} curves after {secs} s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
