//! The serial driver against the simulator served on a pseudo-terminal: the
//! same session as in-process, the same session through line faults, and a
//! second console refused.

mod common;
use common::*;
use dualscope::store::SessionLog;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    link: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `dualscope sim serve --pty` with a stable link path; waits until it serves.
fn serve(dir: &Path, plan: &Path, extra: &[&str]) -> Server {
    let link = dir.join("scope");
    let mut child = bin()
        .args([
            "sim",
            "serve",
            "--pty",
            "--link",
            link.to_str().unwrap(),
            "--plan",
            plan.to_str().unwrap(),
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.starts_with("serving"), "{first}");
    // Keep reading: the server announces every new pty after a reconnect.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Server { child, link }
}

fn measurements(runs: &Path) -> Vec<dualscope::store::MeasurementRow> {
    SessionLog::load(&only_session(runs)).unwrap().measurements
}

fn same_session(a: &[dualscope::store::MeasurementRow], b: &[dualscope::store::MeasurementRow]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!((x.step, x.row, x.col, x.source), (y.step, y.row, y.col, y.source));
        assert_eq!(x.sweep_end, y.sweep_end, "step {}", x.step);
        assert_eq!(x.current_a.len(), y.current_a.len(), "step {}", x.step);
        // The wire carries float32: equal to f32 precision.
        for (i, j) in x.current_a.iter().zip(&y.current_a) {
            assert!(
                (i - j).abs() <= 1e-6 * i.abs().max(1e-15),
                "step {}: {i} vs {j}",
                x.step
            );
        }
    }
}

#[test]
fn a_session_over_a_pty_matches_the_in_process_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "");
    let server = serve(dir.path(), &plan, &[]);
    let serial_runs = dir.path().join("serial");
    run_ok(bin().args([
        "run",
        plan.to_str().unwrap(),
        "--headless",
        "--instrument",
        &format!("serial:{}", server.link.display()),
        "--out",
        serial_runs.to_str().unwrap(),
    ]));
    let local_runs = dir.path().join("local");
    run_ok(bin().args([
        "run",
        plan.to_str().unwrap(),
        "--headless",
        "--out",
        local_runs.to_str().unwrap(),
    ]));
    same_session(&measurements(&serial_runs), &measurements(&local_runs));
    let meta = std::fs::read_to_string(only_session(&serial_runs).join("session.toml")).unwrap();
    assert!(
        meta.contains("instrument_idn = \"dualscope,SimAFM,") && meta.contains("[instrument_limits]"),
        "{meta}"
    );
}

#[test]
fn line_faults_lose_nothing_and_every_fault_is_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "[serial]\ntimeout_ms = 300\nsweep_margin_ms = 300\n");
    let mut server = serve(
        dir.path(),
        &plan,
        &[
            "--garble",
            "0.04",
            "--drop",
            "0.04",
            "--delay",
            "0.02",
            "--delay-ms",
            "100",
            "--disconnect-after",
            "45",
            "--reset-after",
            "80",
            "--fault-seed",
            "3",
        ],
    );
    let runs = dir.path().join("serial");
    let out = run_ok(bin().args([
        "run",
        plan.to_str().unwrap(),
        "--headless",
        "--instrument",
        &format!("serial:{}", server.link.display()),
        "--out",
        runs.to_str().unwrap(),
    ]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let _ = server.child.kill();
    let mut faults = String::new();
    std::io::Read::read_to_string(&mut server.child.stderr.take().unwrap(), &mut faults).unwrap();
    let count = |what: &str| faults.lines().filter(|l| l.contains(what)).count();
    let (garbled, dropped) = (count("garbled"), count("dropped"));
    assert!(
        garbled >= 2 && dropped >= 2 && count("disconnect") == 1 && count("instrument reset") == 1,
        "{faults}"
    );

    let local = dir.path().join("local");
    run_ok(bin().args([
        "run",
        plan.to_str().unwrap(),
        "--headless",
        "--out",
        local.to_str().unwrap(),
    ]));
    same_session(&measurements(&runs), &measurements(&local));

    let log = SessionLog::load(&only_session(&runs)).unwrap();
    let kinds = |k: &str| log.events.iter().filter(|e| e.kind == k).count();
    // Each garbled or dropped line costs one resend; the disconnect, a lost
    // link and a reconnect; the reset, a re-engagement.
    assert!(
        kinds("retry") >= garbled + dropped - 1,
        "{} retries for {garbled} garbled + {dropped} dropped\n{faults}",
        kinds("retry")
    );
    assert!(kinds("link_lost") >= 1 && kinds("reconnect") >= 1, "{:?}", log.events);
    assert!(kinds("instrument_reset") == 1, "{:?}", log.events);
    assert!(
        stdout.contains("event  retry") && stdout.contains("event  reconnect"),
        "{stdout}"
    );
}

#[test]
fn a_second_console_on_the_same_port_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "");
    // A served instrument that takes its time, so the first console is busy.
    let slow = dir.path().join("slow.toml");
    std::fs::write(
        &slow,
        std::fs::read_to_string(&plan)
            .unwrap()
            .replace("time_scale = 0.0", "time_scale = 0.1"),
    )
    .unwrap();
    let server = serve(dir.path(), &slow, &[]);
    let port = format!("serial:{}", server.link.display());
    let runs = dir.path().join("first");
    let mut first = bin()
        .args([
            "run",
            plan.to_str().unwrap(),
            "--headless",
            "--instrument",
            &port,
            "--out",
            runs.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !(runs.exists()
        && std::fs::read_dir(&runs)
            .unwrap()
            .flatten()
            .any(|e| e.path().join("session.toml").exists()))
    {
        assert!(t0.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = bin()
        .args([
            "run",
            plan.to_str().unwrap(),
            "--headless",
            "--instrument",
            &port,
            "--out",
            dir.path().join("second").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    assert!(err.contains("in use by another program"), "{err}");
    let status = first.wait().unwrap();
    assert!(status.success());
    assert_eq!(measurements(&runs).len(), 40);
}
