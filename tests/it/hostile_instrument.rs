//! A deliberately broken instrument on a pseudo-terminal: the simulator behind
//! `dualscope-wire/1`, with chosen replies rewritten into what an instrument
//! written elsewhere might send — a short curve, NaN currents, 60 V, 1 mA
//! marked complete, `LIM?` of NaN, a `TOPO?` band of no rows, a cached reply
//! of another conversation. The real binary must record none of it as data,
//! never panic or hang, and leave the tip withdrawn.

use crate::common::*;
use dualscope::instrument::sim::{SimConfig, SimInstrument};
use dualscope::instrument::wire::frame;
use dualscope::instrument::wire::server::WireServer;
use dualscope::plan::SessionPlan;
use dualscope::store::{SessionLog, SessionStatus};
use serialport::{SerialPort, TTYPort};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Rewrites the reply body of a request body, or leaves it (`None`).
type Mutate = Box<dyn FnMut(&str, &str) -> Option<String> + Send>;

struct Hostile {
    path: String,
    /// Every request body the instrument received, in order.
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hostile {
    fn start(plan: &SessionPlan, mut mutate: Mutate) -> Self {
        let (mut master, slave) = TTYPort::pair().unwrap();
        let path = slave.name().unwrap();
        master.set_timeout(Duration::from_millis(20)).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut server = WireServer::new(SimInstrument::new(SimConfig::from_plan(plan)).unwrap());
        let (log, halt) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            // The slave end stays open here, so the pty lives between sessions.
            let _slave = slave;
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !halt.load(Ordering::Relaxed) {
                match master.read(&mut chunk) {
                    Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                    _ => {}
                }
                while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    let Ok((seq, body)) = frame::decode(&line) else {
                        continue;
                    };
                    log.lock().unwrap().push(body.clone());
                    let reply = server.handle_line(&line);
                    let (_, reply_body) = frame::decode(reply.trim_end().as_bytes()).unwrap();
                    let out = match mutate(&body, &reply_body) {
                        Some(changed) => frame::encode(seq, &changed),
                        None => reply,
                    };
                    let _ = master.write_all(out.as_bytes());
                }
            }
        });
        Self {
            path,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// The command words of the requests after the last `IV`.
    fn after_last_sweep(&self) -> Vec<String> {
        let all = self.requests();
        let from = all
            .iter()
            .rposition(|r| r.starts_with("IV "))
            .map(|k| k + 1)
            .unwrap_or(0);
        all[from..]
            .iter()
            .map(|r| r.split(' ').next().unwrap().to_string())
            .collect()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn plan_for(dir: &Path) -> (PathBuf, SessionPlan) {
    let path = fast_plan(
        dir,
        "[serial]\ntimeout_ms = 200\nsweep_margin_ms = 300\nretries = 2\nreconnect_s = 1\n",
    );
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("budget = 40", "budget = 8");
    std::fs::write(&path, &text).unwrap();
    let plan = SessionPlan::load(&path).unwrap();
    (path, plan)
}

/// Runs a headless session against the instrument; returns exit code, stdout
/// and stderr, and how long it took.
fn run_against(dir: &Path, plan: &Path, port: &str) -> (i32, String, String, Duration) {
    let t0 = Instant::now();
    let out = bin()
        .args([
            "run",
            plan.to_str().unwrap(),
            "--headless",
            "--instrument",
            &format!("serial:{port}"),
            "--out",
            dir.join("runs").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        t0.elapsed(),
    )
}

fn sessions_in(runs: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(runs)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.join("session.toml").exists())
                .collect()
        })
        .unwrap_or_default()
}

/// An IV payload: `n end bias current`, with the simulator's own encoding.
fn iv_payload(end: &str, bias: &[f64], current: &[f64]) -> String {
    use dualscope::instrument::wire::array;
    format!(
        "OK {} {end} {} {}",
        bias.len(),
        array::encode_f64(bias),
        array::encode_f64(current)
    )
}

/// The simulator's IV reply with its samples rewritten by `f`.
fn rewrite_iv(reply: &str, f: impl Fn(&mut Vec<f64>, &mut Vec<f64>, &mut String)) -> String {
    use dualscope::instrument::wire::array;
    let p = reply.strip_prefix("OK ").unwrap();
    let w: Vec<&str> = p.split(' ').collect();
    let mut end = w[1].to_string();
    let mut bias: Vec<f64> = array::decode(w[2]).unwrap().into_iter().map(f64::from).collect();
    let mut current: Vec<f64> = array::decode(w[3]).unwrap().into_iter().map(f64::from).collect();
    f(&mut bias, &mut current, &mut end);
    iv_payload(&end, &bias, &current)
}

/// A session where every sweep reply is rewritten by `f`: nothing of it is
/// recorded, the run stops on its own (no hang), with the tip withdrawn.
fn every_sweep_refused(name: &str, f: fn(&mut Vec<f64>, &mut Vec<f64>, &mut String), why: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (path, plan) = plan_for(dir.path());
    let inst = Hostile::start(
        &plan,
        Box::new(move |req, reply| req.starts_with("IV ").then(|| rewrite_iv(reply, f))),
    );
    let (code, stdout, stderr, took) = run_against(dir.path(), &path, &inst.path);
    assert_eq!(code, 1, "{name}: {stdout}\n{stderr}");
    assert!(took < Duration::from_secs(60), "{name}: {took:?}");
    let session = only_session(&dir.path().join("runs"));
    let log = SessionLog::load(&session).unwrap();
    assert!(log.measurements.is_empty(), "{name}: a bad curve was recorded");
    assert_eq!(log.meta.status, SessionStatus::Failed, "{name}");
    let bad: Vec<_> = log.events.iter().filter(|e| e.kind.label() == "bad_reply").collect();
    assert!(bad.len() >= 5, "{name}: {:?}", log.events);
    assert!(bad.iter().all(|e| e.detail.contains(why)), "{name}: {bad:?}");
    assert!(
        log.events
            .iter()
            .any(|e| e.kind.label() == "error" && e.detail.contains("in a row")),
        "{name}: {:?}",
        log.events
    );
    // The last word to the instrument: bias to 0 V and the tip off the surface.
    let tail = inst.after_last_sweep();
    assert!(
        tail.contains(&"ABORT".to_string()) && tail.last().map(String::as_str) == Some("WITHDRAW"),
        "{name}: {tail:?}"
    );
}

#[test]
fn a_short_curve_is_not_recorded() {
    every_sweep_refused(
        "3 of 251 points",
        |b, i, _| {
            b.truncate(3);
            i.truncate(3);
        },
        "3 points",
    );
}

#[test]
fn nan_and_infinite_currents_are_not_recorded() {
    every_sweep_refused("NaN", |_, i, _| i[7] = f64::NAN, "not a number");
    every_sweep_refused("inf", |_, i, _| i[9] = f64::INFINITY, "not a number");
}

#[test]
fn a_bias_beyond_the_request_is_not_recorded() {
    every_sweep_refused("60 V", |b, _, _| b[20] = 60.0, "60 V");
}

#[test]
fn a_milliamp_marked_complete_is_not_recorded() {
    every_sweep_refused("1 mA", |_, i, _| i[100] = 1e-3, "compliance");
}

#[test]
fn an_empty_curve_is_not_recorded() {
    every_sweep_refused(
        "n = 0",
        |b, i, e| {
            b.clear();
            i.clear();
            *e = "compliance".into();
        },
        "points",
    );
}

#[test]
fn one_bad_curve_is_retried_and_the_session_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let (path, plan) = plan_for(dir.path());
    let mut left = 1;
    let inst = Hostile::start(
        &plan,
        Box::new(move |req, reply| {
            if req.starts_with("IV ") && left > 0 {
                left -= 1;
                Some(rewrite_iv(reply, |_, i, _| i[3] = f64::NAN))
            } else {
                None
            }
        }),
    );
    let (code, stdout, stderr, _) = run_against(dir.path(), &path, &inst.path);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let log = SessionLog::load(&only_session(&dir.path().join("runs"))).unwrap();
    assert_eq!(log.measurements.len(), 8);
    assert!(
        log.measurements
            .iter()
            .all(|m| m.current_a.iter().all(|v| v.is_finite()))
    );
    assert_eq!(
        log.events.iter().filter(|e| e.kind.label() == "bad_reply").count(),
        1,
        "{:?}",
        log.events
    );
    assert_eq!(log.decisions.len(), 8, "one decision row per step");
}

/// A connection that is refused before any session exists.
fn refused_at_connect(mutate: Mutate, why: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (path, plan) = plan_for(dir.path());
    let inst = Hostile::start(&plan, mutate);
    let (code, stdout, stderr, took) = run_against(dir.path(), &path, &inst.path);
    assert_ne!(code, 0, "{stdout}");
    assert!(stderr.contains(why), "{why}: {stderr}");
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert!(
        sessions_in(&dir.path().join("runs")).is_empty(),
        "no session for a refused instrument"
    );
}

#[test]
fn limits_that_are_not_numbers_are_refused() {
    for bad in ["NaN", "inf", "-1", "0"] {
        refused_at_connect(
            Box::new(move |req, _| {
                (req == "LIM?").then(|| format!("OK bias_max_v=2 current_max_a={bad} x_max_nm=500 y_max_nm=500"))
            }),
            "current_max_a",
        );
    }
}

/// A session whose survey is refused: it fails quickly, resumable, tip safe.
fn survey_refused(mutate: Mutate, why: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (path, plan) = plan_for(dir.path());
    let inst = Hostile::start(&plan, mutate);
    let (code, stdout, stderr, took) = run_against(dir.path(), &path, &inst.path);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(why) || stderr.contains(why),
        "{why}: {stdout}\n{stderr}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
    // Bounded: a handful of tries, not hundreds of thousands of requests.
    let topo = inst.requests().iter().filter(|r| r.starts_with("TOPO?")).count();
    assert!(topo <= 40, "{topo} TOPO? requests");
    let log = SessionLog::load(&only_session(&dir.path().join("runs"))).unwrap();
    assert_eq!(log.meta.status, SessionStatus::Failed);
    assert!(log.survey.is_none());
    let sent = inst.requests();
    assert!(
        sent.iter().any(|r| r == "ABORT") && sent.last().map(String::as_str) == Some("WITHDRAW"),
        "{sent:?}"
    );
}

fn topo_reply(rows: u32, cols: u32, row0: u32, nrows: u32, heights: &[f32]) -> String {
    use dualscope::instrument::wire::array;
    format!("OK {rows} {cols} 500 500 {row0} {nrows} {}", array::encode(heights))
}

#[test]
fn a_survey_band_of_no_rows_does_not_loop() {
    survey_refused(
        Box::new(|req, _| req.starts_with("TOPO?").then(|| topo_reply(64, 64, 0, 0, &[]))),
        "0+0",
    );
}

#[test]
fn a_survey_band_past_the_image_is_refused() {
    survey_refused(
        Box::new(|req, _| {
            req.starts_with("TOPO?")
                .then(|| topo_reply(64, 64, 0, 70, &vec![0.0; 70 * 64]))
        }),
        "band",
    );
}

#[test]
fn a_survey_of_a_hundred_thousand_squared_pixels_is_refused_unallocated() {
    survey_refused(
        Box::new(|req, _| {
            req.starts_with("TOPO?")
                .then(|| topo_reply(100_000, 100_000, 0, 0, &[]))
        }),
        "100000×100000",
    );
}

#[test]
fn a_survey_of_nan_heights_is_refused() {
    survey_refused(
        Box::new(|req, reply| {
            req.starts_with("TOPO?").then(|| {
                use dualscope::instrument::wire::array;
                let w: Vec<&str> = reply.split(' ').collect();
                let mut h = array::decode(w[7]).unwrap();
                h[5] = f32::NAN;
                format!("{} {}", w[..7].join(" "), array::encode(&h))
            })
        }),
        "is NaN",
    );
}

#[test]
fn where_the_tip_settled_is_recorded_even_at_the_origin() {
    let dir = tempfile::tempdir().unwrap();
    let (path, plan) = plan_for(dir.path());
    let inst = Hostile::start(
        &plan,
        Box::new(|req, _| req.starts_with("MOVE ").then(|| "OK 0 0".to_string())),
    );
    let (code, stdout, stderr, _) = run_against(dir.path(), &path, &inst.path);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let log = SessionLog::load(&only_session(&dir.path().join("runs"))).unwrap();
    assert_eq!(log.measurements.len(), 8);
    for m in &log.measurements {
        assert_eq!((m.x_nm, m.y_nm, m.row, m.col), (0.0, 0.0, 0, 0), "step {}", m.step);
    }
    // The requested pixel stays in `decisions`; the difference is an event.
    assert!(log.decisions.iter().any(|d| (d.row, d.col) != (0, 0)));
    assert!(log.events.iter().any(|e| e.kind.label() == "settled_off_target"));
}

#[test]
fn a_reply_from_another_conversation_is_not_believed() {
    // Every first WITHDRAW is answered with a cached MOVE reply of an earlier
    // host: the driver must ask again (under a new seq) until the tip is off.
    let dir = tempfile::tempdir().unwrap();
    let (path, plan) = plan_for(dir.path());
    let mut fooled = false;
    let inst = Hostile::start(
        &plan,
        Box::new(move |req, _| {
            if req == "WITHDRAW" && !fooled {
                fooled = true;
                Some("OK 120 240".to_string())
            } else {
                None
            }
        }),
    );
    let (code, stdout, stderr, _) = run_against(dir.path(), &path, &inst.path);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let sent = inst.requests();
    assert_eq!(sent.iter().filter(|r| *r == "WITHDRAW").count(), 2, "{sent:?}");
    let log = SessionLog::load(&only_session(&dir.path().join("runs"))).unwrap();
    assert!(
        log.events
            .iter()
            .any(|e| e.kind.label() == "bad_reply" && e.detail.contains("WITHDRAW")),
        "{:?}",
        log.events
    );
}

#[test]
fn a_panic_in_the_run_loop_withdraws_the_tip_and_leaves_a_resumable_session() {
    let dir = tempfile::tempdir().unwrap();
    let (path, plan) = plan_for(dir.path());
    let inst = Hostile::start(&plan, Box::new(|_, _| None));
    let out = bin()
        .args([
            "run",
            path.to_str().unwrap(),
            "--headless",
            "--instrument",
            &format!("serial:{}", inst.path),
            "--out",
            dir.path().join("runs").to_str().unwrap(),
        ])
        .env("DUALSCOPE_FAULT_ENGINE_PANIC_AT_STEP", "3")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("panicked"), "{stdout}");
    let tail = inst.after_last_sweep();
    assert_eq!(tail, ["ABORT", "WITHDRAW"], "{:?}", inst.requests());
    let session = only_session(&dir.path().join("runs"));
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(log.meta.status, SessionStatus::Failed);
    assert_eq!(log.next_step(), 3, "the curve of the panicking step is not kept");
    // Resumable: the same step is taken again and the session finishes.
    run_ok(bin().args(["resume", session.to_str().unwrap(), "--headless"]));
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(log.next_step(), 8);
    assert_eq!(log.meta.status, SessionStatus::Finished);
}
