//! `dualscope watch` on a headless run, in tmux as a second login would: the
//! step count follows the run within a second, the keys that would command
//! the run refuse, it follows a pause and a resume by another process and
//! leaves at the end; and the watched run's log is the log an unwatched run
//! of the same seeded plan writes.

use crate::common::*;
use crate::console_tmux::{Tmux, wait_exit};
use dualscope::store::{SessionLog, SessionStatus};
use std::path::Path;
use std::time::{Duration, Instant};

/// The step count the watch's screen shows (`step N/B`).
fn shown_step(screen: &str) -> Option<usize> {
    let at = screen.find(" step ")? + 6;
    screen[at..].split('/').next()?.trim().parse().ok()
}

fn curves(session: &Path) -> usize {
    SessionLog::load(session).map(|l| l.measurements.len()).unwrap_or(0)
}

/// Each curve (step, pixel, current bits), each decision (step, pixel), and
/// the session's file names.
type Content = (Vec<(u32, u32, u32, Vec<u64>)>, Vec<(u32, u32, u32)>, Vec<String>);

/// What a seeded session measured, times left out.
fn content(session: &Path) -> Content {
    let log = SessionLog::load(session).unwrap();
    let m = log
        .measurements
        .iter()
        .map(|m| (m.step, m.row, m.col, m.current_a.iter().map(|a| a.to_bits()).collect()))
        .collect();
    let d = log.decisions.iter().map(|d| (d.step, d.row, d.col)).collect();
    let mut files: Vec<String> = walk(session)
        .into_iter()
        .map(|p| p.strip_prefix(session).unwrap().display().to_string())
        .collect();
    files.sort();
    (m, d, files)
}

#[test]
fn a_watch_follows_a_run_it_never_touches() {
    let dir = tempfile::tempdir().unwrap();
    let plan = timed_plan(dir.path(), 0.3, "");
    let runs = dir.path().join("runs");
    let mut run = spawn_run(&plan, &["--budget", "30"]);
    let session = wait_for_session(&runs, 60);
    let exit = dir.path().join("watch-exit.txt");
    let cmd = format!(
        "{} watch {} --exit-at-end; echo $? > {}",
        env!("CARGO_BIN_EXE_dualscope"),
        session.display(),
        exit.display()
    );
    let tmux = Tmux::start("watch", 120, 40, &cmd);
    tmux.wait_for("WATCH: read-only", 30);
    // Within a second of a curve reaching the log, the watch shows it.
    let mut checked = 0;
    while checked < 5 {
        let n = curves(&session);
        if n == 0 || n >= 30 {
            std::thread::sleep(Duration::from_millis(50));
            if n >= 30 {
                break;
            }
            continue;
        }
        let t0 = Instant::now();
        loop {
            let screen = tmux.screen();
            if shown_step(&screen).is_some_and(|s| s >= n) {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(1),
                "{n} curves in the log, the watch shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        checked += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(checked >= 3, "the run went too fast to follow");
    tmux.keys(&["p"]);
    tmux.wait_for("read-only: this is a watch", 5);
    assert!(run.wait().unwrap().success());
    assert_eq!(wait_exit(&exit, 10).trim(), "0", "the watch leaves at the end");

    // The same seeded plan, unwatched and without the clock: the same log.
    let other = tempfile::tempdir().unwrap();
    let plan = fast_plan(other.path(), "");
    run_ok(bin().args(["run", plan.to_str().unwrap(), "--headless", "--budget", "30"]));
    let unwatched = only_session(&other.path().join("runs"));
    assert_eq!(content(&session), content(&unwatched));
}

#[test]
fn a_watch_follows_a_pause_and_a_resume_by_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let plan = timed_plan(dir.path(), 0.3, "");
    let runs = dir.path().join("runs");
    let mut run = spawn_run(&plan, &["--budget", "400"]);
    let session = wait_for_session(&runs, 60);
    let cmd = format!("{} watch {}", env!("CARGO_BIN_EXE_dualscope"), session.display());
    let tmux = Tmux::start("watch-resume", 120, 40, &cmd);
    tmux.wait_for("run by pid", 30);
    // SAFETY: a signal to the child this test started.
    unsafe {
        libc::kill(run.id() as i32, libc::SIGTERM);
    }
    assert!(run.wait().unwrap().success());
    tmux.wait_for("paused, no process runs it", 10);
    let mut again = bin()
        .args(["resume", session.to_str().unwrap(), "--headless"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = again.id();
    tmux.wait_for(&format!("running, run by pid {pid}"), 20);
    let _ = again.kill();
    again.wait().unwrap();
    tmux.wait_for("no process runs it: it stopped without closing", 10);
    tmux.keys(&["q"]);
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(
        log.meta.status,
        SessionStatus::Running,
        "killed: left running, resumable"
    );
}
