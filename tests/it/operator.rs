//! The operator's tools: `run PLAN --dry-run` (the checks a run makes before
//! the first move, the plan in words and an estimate, and nothing created),
//! and the word at the end (`[notify] on_end`).

use crate::common::*;

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

/// `[notify] on_end` runs once the session is closed, with the session in
/// its environment; one that never ends is killed at its limit and the run
/// still ends.
#[test]
fn a_word_when_the_session_ends() {
    let dir = tempfile::tempdir().unwrap();
    let said = dir.path().join("said.txt");
    let plan = fast_plan(
        dir.path(),
        &format!(
            "[notify]\non_end = [\"sh\", \"-c\", \"echo $DUALSCOPE_STATUS $DUALSCOPE_STEPS > {}; cat $DUALSCOPE_SESSION_DIR/session.toml >> {}\"]\n",
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

    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(
        dir.path(),
        "[notify]\non_end = [\"sleep\", \"1000\"]\ntimeout_s = 0.5\n",
    );
    let t0 = std::time::Instant::now();
    let out = run_ok(bin().args(["run", plan.to_str().unwrap(), "--headless", "--budget", "3"]));
    assert!(t0.elapsed().as_secs_f64() < 20.0, "{:?}", t0.elapsed());
    assert!(String::from_utf8_lossy(&out.stdout).contains("finished"));
    let log = std::fs::read_to_string(dir.path().join("runs/dualscope.log")).unwrap();
    assert!(log.contains("was still running after 0.5 s and was killed"), "{log}");

    // A plan whose command is an empty string is refused before anything starts.
    let bad = fast_plan(dir.path(), "[notify]\non_end = [\"\"]\n");
    let (code, err) = stderr_of(bin().args(["run", bad.to_str().unwrap(), "--headless"]));
    assert!(code != 0);
    assert!(err.contains("notify.on_end"), "{err}");
}
