//! The serial driver against the simulator served on a pseudo-terminal: the
//! same session as in-process, the same session through line faults, and a
//! second console refused.

use crate::common::*;
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

fn measurements(runs: &Path) -> Vec<dualscope::record::Measurement> {
    SessionLog::load(&only_session(runs)).unwrap().measurements
}

fn same_session(a: &[dualscope::record::Measurement], b: &[dualscope::record::Measurement]) {
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

/// Runs `plan` headless over the pty (the simulator served by `sim serve`)
/// and in process, into `serial/` and `local/` under `dir`, and holds the
/// two sessions to each other curve for curve; returns the serial `runs`.
fn over_the_pty_and_in_process(dir: &Path, plan: &Path) -> PathBuf {
    let server = serve(dir, plan, &[]);
    let serial_runs = dir.join("serial");
    run_ok(bin().args([
        "run",
        plan.to_str().unwrap(),
        "--headless",
        "--instrument",
        &format!("serial:{}", server.link.display()),
        "--out",
        serial_runs.to_str().unwrap(),
    ]));
    let local_runs = dir.join("local");
    run_ok(bin().args([
        "run",
        plan.to_str().unwrap(),
        "--headless",
        "--out",
        local_runs.to_str().unwrap(),
    ]));
    same_session(&measurements(&serial_runs), &measurements(&local_runs));
    serial_runs
}

#[test]
fn a_session_over_a_pty_matches_the_in_process_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "");
    let serial_runs = over_the_pty_and_in_process(dir.path(), &plan);
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
    let kinds = |k: &str| log.events.iter().filter(|e| e.kind.label() == k).count();
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

/// One audit line per curve the served simulator took: `x y n sum`.
fn audit_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Whether a logged curve is the one an audit line says the instrument took:
/// the same place and length, and the same current sum to the float32
/// precision of the wire.
fn same_curve(m: &dualscope::record::Measurement, line: &str) -> bool {
    let w: Vec<f64> = line.split(' ').map(|v| v.parse().unwrap()).collect();
    let sum: f64 = m.current_a.iter().sum();
    (m.x_nm - w[0]).abs() < 1e-6
        && (m.y_nm - w[1]).abs() < 1e-6
        && m.current_a.len() == w[2] as usize
        && (sum - w[3]).abs() <= 1e-6 * w[3].abs().max(1e-15)
}

/// A served plan whose simulator writes an audit line per curve it takes.
fn served_plan(dir: &Path, sim_extra: &str) -> (PathBuf, PathBuf) {
    let plan = fast_plan(dir, "");
    let audit = dir.join("audit.txt");
    let served = dir.join("served.toml");
    std::fs::write(
        &served,
        std::fs::read_to_string(&plan).unwrap().replace(
            "[sim]\ntime_scale = 0.0",
            &format!(
                "[sim]\ntime_scale = 0.0\naudit_log = \"{}\"\n{sim_extra}",
                audit.display()
            ),
        ),
    )
    .unwrap();
    (served, audit)
}

#[test]
fn positions_are_where_the_tip_settled_not_where_it_was_sent() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "");
    // A stage that settles on its own 36 nm grid, 5 nm off in x and −3 nm in y.
    let (served, audit) = served_plan(dir.path(), "settle_grid_nm = 36.0\nsettle_offset_nm = [5.0, -3.0]");
    let server = serve(dir.path(), &served, &[]);
    let runs = dir.path().join("serial");
    run_ok(bin().args([
        "run",
        plan.to_str().unwrap(),
        "--headless",
        "--budget",
        "30",
        "--instrument",
        &format!("serial:{}", server.link.display()),
        "--out",
        runs.to_str().unwrap(),
    ]));
    let log = SessionLog::load(&only_session(&runs)).unwrap();
    assert_eq!(log.measurements.len(), 30);
    let taken = audit_lines(&audit);
    let mut moved = 0;
    for (m, line) in log.measurements.iter().zip(&taken) {
        // The curve was taken where the log says; the wire carries the
        // position exactly (it is printed as the decimal the stage holds).
        assert!(
            same_curve(m, line),
            "step {}: {line} vs ({}, {})",
            m.step,
            m.x_nm,
            m.y_nm
        );
        let x_grid = ((m.x_nm - 5.0) / 36.0).round() * 36.0 + 5.0;
        assert!((m.x_nm - x_grid).abs() < 1e-9, "step {}: x {}", m.step, m.x_nm);
        let (row, col) = (
            (m.y_nm / 500.0 * 64.0).floor() as u32,
            (m.x_nm / 500.0 * 64.0).floor() as u32,
        );
        assert_eq!(
            (m.row, m.col),
            (row, col),
            "step {}: the pixel holding the settled point",
            m.step
        );
        let d = &log.decisions[m.step as usize];
        if (d.row, d.col) != (m.row, m.col) {
            moved += 1;
        }
    }
    assert!(moved >= 20, "only {moved} of 30 settled off the requested pixel");
}

#[test]
fn two_sessions_in_a_row_on_one_served_instrument_each_get_their_own_curves() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "");
    let (served, audit) = served_plan(dir.path(), "");
    let server = serve(dir.path(), &served, &[]);
    let port = format!("serial:{}", server.link.display());
    for (k, seed) in ["1", "2"].iter().enumerate() {
        let runs = dir.path().join(format!("host{k}"));
        run_ok(bin().args([
            "run",
            plan.to_str().unwrap(),
            "--headless",
            "--budget",
            "10",
            "--seed",
            seed,
            "--instrument",
            &port,
            "--out",
            runs.to_str().unwrap(),
        ]));
    }
    let taken = audit_lines(&audit);
    assert_eq!(taken.len(), 20, "the instrument took every curve of both sessions");
    for (k, curves) in [&taken[..10], &taken[10..]].iter().enumerate() {
        let log = SessionLog::load(&only_session(&dir.path().join(format!("host{k}")))).unwrap();
        assert_eq!(log.measurements.len(), curves.len());
        for (m, line) in log.measurements.iter().zip(curves.iter()) {
            assert!(same_curve(m, line), "session {k} step {}: {line}", m.step);
        }
    }
}

#[test]
fn resuming_against_a_live_bridge_withdraws_the_tip() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "");
    let requests = dir.path().join("requests.txt");
    let server = serve(dir.path(), &plan, &["--log-requests", requests.to_str().unwrap()]);
    let runs = dir.path().join("serial");
    let port = format!("serial:{}", server.link.display());
    run_ok(bin().args([
        "run",
        plan.to_str().unwrap(),
        "--headless",
        "--budget",
        "6",
        "--instrument",
        &port,
        "--out",
        runs.to_str().unwrap(),
    ]));
    let session = only_session(&runs);
    // Give the session more to do, as a user resuming with a larger budget would.
    let meta = session.join("session.toml");
    let text = std::fs::read_to_string(&meta).unwrap();
    std::fs::write(
        &meta,
        text.replace("budget = 6", "budget = 9")
            .replace("status = \"finished\"", "status = \"paused\""),
    )
    .unwrap();
    let seqs = |lines: &[&str]| -> std::collections::BTreeSet<u32> {
        lines
            .iter()
            .map(|l| l.split_once(' ').unwrap().0.parse().unwrap())
            .collect()
    };
    let first = std::fs::read_to_string(&requests).unwrap();
    let first: Vec<&str> = first.lines().collect();
    run_ok(bin().args(["resume", session.to_str().unwrap(), "--headless"]));
    let all = std::fs::read_to_string(&requests).unwrap();
    let second: Vec<&str> = all.lines().skip(first.len()).collect();
    // The second host numbers its requests where the first never did: an
    // instrument that answers a repeated seq from its cache (as §1 says)
    // would otherwise answer the new requests with the old replies.
    assert!(seqs(&first).is_disjoint(&seqs(&second)), "{first:?}\n{second:?}");
    let acted: Vec<String> = second
        .iter()
        .map(|l| l.split_once(' ').unwrap().1.to_string())
        .collect();
    // Every request of the resumed host was acted on (none answered from the
    // first host's cache), down to the final withdrawal.
    assert_eq!(acted.first().map(String::as_str), Some("*IDN?"), "{acted:?}");
    assert_eq!(acted.iter().filter(|r| r.starts_with("IV ")).count(), 3, "{acted:?}");
    assert_eq!(acted.last().map(String::as_str), Some("WITHDRAW"), "{acted:?}");
    assert_eq!(SessionLog::load(&session).unwrap().next_step(), 9);
}

/// A microscope with artefacts over the wire (lost contact and noisy
/// sweeps, drawn by the served simulator, not the console): every curve's
/// verdict is what the instrument drew for it, each failed place is
/// measured again once, and the live dual VAE's last model learned from
/// exactly the curves that passed.
#[test]
fn over_the_wire_the_gate_judges_each_curve_as_the_instrument_drew_it() {
    let dir = tempfile::tempdir().unwrap();
    let (served, audit) = served_plan(
        dir.path(),
        "[sim.artefacts]\ncontact_loss = 0.15\nnoisy_share = 0.15\nnoisy_factor = 5.0\n",
    );
    let server = serve(dir.path(), &served, &[]);
    let plan = fast_plan(dir.path(), "[quality]\npause_after = 0\n");
    let text = std::fs::read_to_string(&plan).unwrap().replace(
        "retrain_every = 0",
        "retrain_every = 15\nvae_epochs = 5\nvae_hidden = 16\nvae_ensemble = 1",
    );
    std::fs::write(&plan, text).unwrap();
    let runs = dir.path().join("serial");
    run_ok(bin().args([
        "run",
        plan.to_str().unwrap(),
        "--headless",
        "--instrument",
        &format!("serial:{}", server.link.display()),
        "--out",
        runs.to_str().unwrap(),
    ]));
    let session = only_session(&runs);
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(log.measurements.len(), 40);
    let (lost, noisy) = gate::verdicts_as_drawn(&log, &gate::audit_draws(&audit));
    assert!(
        lost >= 2 && noisy >= 2,
        "the test needs both kinds: {lost} without contact, {noisy} noisy"
    );
    gate::failed_curves_measured_again_and_never_learned(&session, &log);
}

/// Three sweeps a location over the serial path: every `IV` request
/// carries its protocol's range, and the curves are the in-process
/// simulator's, set for set.
#[test]
fn over_the_wire_each_location_gets_every_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(
        dir.path(),
        "[[sweep.protocol]]\nv_max = 1.0\n[[sweep.protocol]]\nv_max = -1.5\n[[sweep.protocol]]\nv_max = 2.0\n",
    );
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("budget = 40", "budget = 6");
    std::fs::write(&plan, text).unwrap();
    let serial_runs = over_the_pty_and_in_process(dir.path(), &plan);
    let wire = measurements(&serial_runs);
    assert_eq!(wire.len(), 18);
    for (k, m) in wire.iter().enumerate() {
        assert_eq!((m.protocol, m.location), (Some(k as u32 % 3), Some(k as u32 / 3)));
    }
}
