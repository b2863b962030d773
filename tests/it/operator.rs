//! The operator's tools: `run PLAN --dry-run` (the checks a run makes before
//! the first move, the plan in words and an estimate, and nothing created),
//! the plan's hooks (`[notify]`) and the lab notebook.

use crate::common::*;
use dualscope::record::EventKind;
use dualscope::store::{SessionLog, SessionStatus};

fn du(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                du(&p)
            } else {
                std::fs::metadata(&p).unwrap().len()
            }
        })
        .sum()
}

#[test]
fn a_dry_run_checks_estimates_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "");
    let runs = dir.path().join("runs");
    let out = run_ok(bin().args(["run", plan.to_str().unwrap(), "--dry-run"]));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    for part in [
        "checked: ranges, instrument limits",
        "survey      64×64 px",
        "estimate    ~",
        "writable",
    ] {
        assert!(text.contains(part), "{part} missing:\n{text}");
    }
    assert!(!runs.exists(), "a dry run creates no folder");

    let out = run_ok(bin().args(["run", plan.to_str().unwrap(), "--dry-run", "--json", "--budget", "20"]));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let estimated_s = json["estimated_s"].as_f64().unwrap();
    let estimated_bytes = json["estimated_bytes"].as_u64().unwrap();
    assert!(estimated_s > 0.0 && estimated_s < 60.0, "{json}");
    assert_eq!(json["budget"], 20);
    assert_eq!(json["disk_ok"], true);
    assert!(!runs.exists());

    // The disk estimate against the session it estimates.
    run_ok(bin().args(["run", plan.to_str().unwrap(), "--headless", "--budget", "20"]));
    let used = du(&only_session(&runs));
    let ratio = estimated_bytes as f64 / used as f64;
    assert!(
        (0.5..2.0).contains(&ratio),
        "estimated {estimated_bytes} B, used {used} B"
    );
}

#[test]
fn a_dry_run_refuses_what_a_run_would_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "");
    let (code, err) = stderr_of(bin().args(["run", plan.to_str().unwrap(), "--json"]));
    assert!(code != 0, "--json needs --dry-run");
    assert!(err.contains("--dry-run"), "{err}");
    // An output folder under a file cannot be written.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let (code, err) = stderr_of(
        bin()
            .args(["run", plan.to_str().unwrap(), "--dry-run", "--out"])
            .arg(file.join("runs")),
    );
    assert!(code != 0);
    assert!(err.contains("output.dir") && err.contains("is not a folder"), "{err}");
    // A sweep beyond the safety limit is refused as a run refuses it.
    let bad = fast_plan(dir.path(), "[sweep]\nv_max = 5.0\n");
    let (code, err) = stderr_of(bin().args(["run", bad.to_str().unwrap(), "--dry-run"]));
    assert!(code != 0);
    assert!(err.contains("v_max"), "{err}");
}

/// `[notify] on_finish` runs once the session is closed, with the session in
/// its environment, and its exit status and output are an `events` row; one
/// that never ends is killed at its limit and the run still ends.
#[test]
fn a_word_when_the_session_ends() {
    let dir = tempfile::tempdir().unwrap();
    let said = dir.path().join("said.txt");
    let plan = fast_plan(
        dir.path(),
        &format!(
            "[notify]\non_finish = [\"sh\", \"-c\", \"echo $DUALSCOPE_STATUS $DUALSCOPE_MEASUREMENTS > {}; cat $DUALSCOPE_SESSION/session.toml >> {}; echo told\"]\non_fail = [\"false\"]\n",
            said.display(),
            said.display()
        ),
    );
    run_ok(bin().args(["run", plan.to_str().unwrap(), "--headless", "--budget", "5"]));
    let text = std::fs::read_to_string(&said).unwrap();
    assert!(text.starts_with("finished 5\n"), "{text}");
    assert!(
        text.contains("status = \"finished\""),
        "the status was on disk first: {text}"
    );
    let log = SessionLog::load(&only_session(&dir.path().join("runs"))).unwrap();
    let hooks: Vec<_> = log
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Notify | EventKind::NotifyFailed))
        .collect();
    assert_eq!(hooks.len(), 1, "only on_finish ran: {hooks:?}");
    assert_eq!(hooks[0].kind, EventKind::Notify);
    assert!(
        hooks[0].detail.contains("exit status: 0") && hooks[0].detail.ends_with("output: told"),
        "{}",
        hooks[0].detail
    );

    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(
        dir.path(),
        "[notify]\non_end = [\"sh\", \"-c\", \"sleep 1000\"]\ntimeout_s = 0.5\n",
    );
    let t0 = std::time::Instant::now();
    let out = run_ok(bin().args(["run", plan.to_str().unwrap(), "--headless", "--budget", "3"]));
    assert!(t0.elapsed().as_secs_f64() < 20.0, "{:?}", t0.elapsed());
    assert!(String::from_utf8_lossy(&out.stdout).contains("finished"));
    let log = SessionLog::load(&only_session(&dir.path().join("runs"))).unwrap();
    assert_eq!(log.meta.status, SessionStatus::Finished);
    let killed = log
        .events
        .iter()
        .find(|e| e.kind == EventKind::NotifyFailed)
        .expect("a row");
    assert!(
        killed.detail.contains("was still running after 0.5 s and was killed"),
        "{}",
        killed.detail
    );

    // A plan whose command is an empty string is refused before anything starts.
    let bad = fast_plan(dir.path(), "[notify]\non_pause = [\"\"]\n");
    let (code, err) = stderr_of(bin().args(["run", bad.to_str().unwrap(), "--headless"]));
    assert!(code != 0);
    assert!(err.contains("notify.on_pause"), "{err}");
}

/// A run asked to stop (SIGTERM) ends resumable and runs `on_pause` with the
/// curves so far; its row is in the log.
#[test]
fn a_paused_session_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let said = dir.path().join("paused.txt");
    let plan = timed_plan(
        dir.path(),
        0.05,
        &format!(
            "[notify]\non_pause = [\"sh\", \"-c\", \"echo $DUALSCOPE_STATUS $DUALSCOPE_MEASUREMENTS > {}\"]\n",
            said.display()
        ),
    );
    let mut child = spawn_run(&plan, &["--budget", "400"]);
    let session = wait_for_session(&dir.path().join("runs"), 60);
    wait_for_curves(&session, 3, 60);
    // SAFETY: a signal to the child this test started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert!(child.wait().unwrap().success());
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(log.meta.status, SessionStatus::Paused);
    let text = std::fs::read_to_string(&said).unwrap();
    assert_eq!(text, format!("paused {}\n", log.measurements.len()));
    assert!(
        log.events
            .iter()
            .any(|e| e.kind == EventKind::Notify && e.detail.starts_with("on_pause"))
    );
}

/// The lab notebook from another login: a running session logs the note
/// between two curves, without the lock changing hands; a session nobody
/// runs takes it at once, and a finished one stays compacted.
#[test]
fn a_note_from_outside_lands_in_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let plan = timed_plan(dir.path(), 0.05, "");
    let mut child = spawn_run(&plan, &["--budget", "400"]);
    let session = wait_for_session(&dir.path().join("runs"), 60);
    wait_for_curves(&session, 2, 60);
    let out = run_ok(bin().args(["note", session.to_str().unwrap(), "tip", "looks dull"]));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("noted by the running session"), "{said}");
    // SAFETY: a signal to the child this test started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert!(child.wait().unwrap().success());

    let out = run_ok(bin().args(["note", session.to_str().unwrap(), "after the run"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("noted in"));
    let log = SessionLog::load(&session).unwrap();
    let notes: Vec<_> = log
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Note)
        .map(|e| e.detail.as_str())
        .collect();
    assert_eq!(notes, ["tip looks dull", "after the run"]);
    assert!(std::fs::read_dir(session.join("inbox")).unwrap().next().is_none());

    // A finished session: the note is in, the events are still one part.
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "");
    run_ok(bin().args(["run", plan.to_str().unwrap(), "--headless", "--budget", "4"]));
    let session = only_session(&dir.path().join("runs"));
    run_ok(bin().args(["note", session.to_str().unwrap(), "checked by hand"]));
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(log.events.last().unwrap().detail, "checked by hand");
    assert_eq!(std::fs::read_dir(session.join("events")).unwrap().count(), 1);

    // Nothing to say, or nowhere to say it: refused, nothing written.
    let (code, err) = stderr_of(bin().args(["note", session.to_str().unwrap(), "  "]));
    assert!(code != 0 && err.contains("empty"), "{err}");
    let (code, err) = stderr_of(bin().args(["note", dir.path().to_str().unwrap(), "x"]));
    assert!(code != 0 && err.contains("not a dualscope session"), "{err}");
}
