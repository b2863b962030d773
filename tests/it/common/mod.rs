//! Helpers for whole-program tests: run the real binary on small plans.
#![allow(dead_code)]

pub mod python;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dualscope"))
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
