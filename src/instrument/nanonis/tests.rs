//! The Nanonis driver against the emulator, in process: the same bytes as on
//! TCP, fed straight to the emulator, so every conversion (frame centre, y up,
//! scan order, backward rows, compliance) is checked against the simulator
//! behind it.

use super::codec::{self, HEADER};
use super::command::Command;
use super::emulator::Emulator;
use super::transport::Transport;
use super::*;
use crate::instrument::sim::{SimConfig, SimInstrument};
use crate::plan::SessionPlan;
use proptest::prelude::*;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A transport that hands each request to an emulator and queues its reply;
/// it can drop the reply of the Nth request of a kind, as a dying link does.
struct Direct {
    emulator: Emulator<SimInstrument>,
    replies: VecDeque<u8>,
    written: Arc<Mutex<Vec<Command>>>,
    drop_reply_of: Option<(&'static str, usize)>,
    seen: std::collections::HashMap<String, usize>,
}

impl Transport for Direct {
    fn open(&mut self) -> std::io::Result<()> {
        self.replies.clear();
        Ok(())
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let header = codec::parse_header(bytes[..HEADER].try_into().unwrap()).unwrap();
        let body = &bytes[HEADER..];
        assert_eq!(body.len(), header.body_len, "one whole request a write");
        let cmd = Command::parse(&header.name, body)
            .unwrap()
            .expect("a command of the subset");
        self.written.lock().unwrap().push(cmd);
        let reply = self.emulator.handle(&header.name, body);
        let n = self.seen.entry(header.name.clone()).or_insert(0);
        *n += 1;
        if self
            .drop_reply_of
            .is_some_and(|(name, k)| name == header.name && k == *n)
        {
            return Ok(());
        }
        self.replies.extend(reply);
        Ok(())
    }

    fn read_exact(&mut self, buf: &mut [u8], _deadline: Instant) -> std::io::Result<()> {
        if self.replies.len() < buf.len() {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no reply"));
        }
        for b in buf.iter_mut() {
            *b = self.replies.pop_front().unwrap();
        }
        Ok(())
    }

    fn close(&mut self) {}

    fn label(&self) -> String {
        "in-process emulator".into()
    }
}

fn plan() -> SessionPlan {
    let mut plan = SessionPlan::default();
    plan.sim.time_scale = 0.0;
    plan.survey.rows = 64;
    plan.survey.cols = 64;
    plan.survey.width_nm = 500.0;
    plan.survey.height_nm = 500.0;
    plan.film.grains = 6;
    plan
}

/// The simulator as an emulated controller sees it: no compliance of its own.
fn sim_of(plan: &SessionPlan) -> SimInstrument {
    let mut served = plan.clone();
    served.safety.current_max_a = 1e-3;
    SimInstrument::new(SimConfig::from_plan(&served)).unwrap()
}

fn settings(plan: &SessionPlan) -> NanonisSettings {
    NanonisSettings {
        timeout: Duration::from_millis(100),
        sweep_margin: Duration::from_millis(100),
        retries: 2,
        reconnect_for: Duration::from_millis(500),
        z_channel: None,
        bias_max_v: plan.safety.bias_max_v,
        current_max_a: plan.safety.current_max_a,
        max_survey_pixels: 1 << 24,
    }
}

fn connect(
    plan: &SessionPlan,
    drop_reply_of: Option<(&'static str, usize)>,
) -> (NanonisInstrument, Arc<Mutex<Vec<Command>>>) {
    let emulator = Emulator::new(sim_of(plan), plan.survey.rows, plan.survey.cols, (3.2e-6, -1.7e-6)).unwrap();
    let written = Arc::new(Mutex::new(Vec::new()));
    let t = Direct {
        emulator,
        replies: VecDeque::new(),
        written: written.clone(),
        drop_reply_of,
        seen: Default::default(),
    };
    (NanonisInstrument::over(Box::new(t), settings(plan)).unwrap(), written)
}

#[test]
fn the_frame_the_survey_and_the_identity_come_through() {
    let plan = plan();
    let (mut n, _) = connect(&plan, None);
    assert!(n.identity().unwrap().model.contains("dualscope emulator"));
    let l = n.limits().unwrap();
    assert!(
        (l.x_max_nm - 500.0).abs() < 1e-3 && (l.y_max_nm - 500.0).abs() < 1e-3,
        "{l:?}"
    );
    let s = n.survey(64, 64).unwrap();
    let want = sim_of(&plan).film().render(64, 64).heights_nm;
    assert_eq!(s.heights_nm.dim(), want.dim());
    for (a, b) in s.heights_nm.iter().zip(want.iter()) {
        assert!(
            (a - b).abs() < 1e-4 * b.abs().max(1.0),
            "{a} vs {b}: row order or units"
        );
    }
}

#[test]
fn a_move_lands_where_the_simulator_says_and_the_sweep_is_its_curve() {
    let mut plan = plan();
    plan.sim.settle_grid_nm = 20.0;
    let (mut n, _) = connect(&plan, None);
    n.engage().unwrap();
    let (x, y) = n.move_to(123.0, 321.0).unwrap();
    assert!(
        (x - 120.0).abs() < 1e-6 && (y - 320.0).abs() < 1e-6,
        "settled at ({x}, {y})"
    );
    let s = n.sweep(&plan.sweep.first()).unwrap();
    let want = sim_of(&plan).sweep_at(120.0, 320.0, &plan.sweep.first(), 0);
    assert_eq!(s.end, SweepEnd::Complete);
    assert_eq!(s.bias_v.len(), want.bias_v.len());
    for (k, (a, b)) in s.bias_v.iter().zip(&want.bias_v).enumerate() {
        assert!((a - b).abs() < 1e-6, "bias {k}: {a} vs {b}");
    }
    for (k, (a, b)) in s.current_a.iter().zip(&want.current_a).enumerate() {
        assert!((a - b).abs() <= 1e-6 * b.abs().max(1e-15), "current {k}: {a} vs {b}");
    }
}

#[test]
fn a_current_above_compliance_ends_the_curve_and_ramps_the_bias_down() {
    let mut plan = plan();
    plan.safety.current_max_a = 2e-11;
    let (mut n, written) = connect(&plan, None);
    n.engage().unwrap();
    n.move_to(250.0, 250.0).unwrap();
    let s = n.sweep(&plan.sweep.first()).unwrap();
    assert_eq!(s.end, SweepEnd::Compliance);
    assert!(s.current_a.len() < 251);
    assert!(s.current_a[..s.current_a.len() - 1].iter().all(|i| i.abs() <= 2e-11));
    assert_eq!(written.lock().unwrap().last(), Some(&Command::BiasSet { bias_v: 0.0 }));
}

#[test]
fn a_sweep_whose_reply_was_lost_is_asked_again_only_once_none_runs() {
    let plan = plan();
    let (mut n, written) = connect(&plan, Some(("BiasSpectr.Start", 1)));
    n.engage().unwrap();
    n.move_to(250.0, 250.0).unwrap();
    let s = n.sweep(&plan.sweep.first()).unwrap();
    assert_eq!(s.current_a.len(), 251);
    let names: Vec<&str> = written.lock().unwrap().iter().map(|c| c.name()).collect();
    let at = names
        .iter()
        .position(|c| *c == "BiasSpectr.StatusGet")
        .expect("the status was asked");
    assert_eq!(
        &names[at - 1..at + 2],
        ["BiasSpectr.Start", "BiasSpectr.StatusGet", "BiasSpectr.Start"]
    );
    let kinds: Vec<String> = n
        .drain_link_events()
        .iter()
        .map(|e| e.kind.label().to_string())
        .collect();
    for k in ["link_lost", "reconnect", "retry"] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
}

#[test]
fn a_controller_error_is_a_refusal_with_its_text() {
    let plan = plan();
    let (mut n, _) = connect(&plan, None);
    // Not engaged: the simulator refuses to sweep, the emulator says so.
    let err = n.sweep(&plan.sweep.first()).unwrap_err();
    assert!(matches!(err, InstrumentError::Refused { .. }), "{err}");
    assert!(err.to_string().contains("not on the surface"), "{err}");
}

fn written_within_limits(cmds: &[Command], plan: &SessionPlan) -> Result<(), String> {
    let max = plan.safety.bias_max_v as f32;
    let p = Placement {
        centre_x_m: 3.2e-6,
        centre_y_m: -1.7e-6,
        width_m: 500e-9,
        height_m: 500e-9,
        angle_rad: 0.0,
    };
    for c in cmds {
        match *c {
            Command::BiasSet { bias_v } if bias_v.abs() > max => return Err(format!("{c:?}")),
            Command::BiasSpectrLimitsSet { start_v, end_v } if start_v.abs() > max || end_v.abs() > max => {
                return Err(format!("{c:?}"));
            }
            Command::FolMeXyPosSet { x_m, y_m, .. } => {
                let (x, y) = p.to_frame(x_m, y_m);
                if !(-1e-3..=500.001).contains(&x) || !(-1e-3..=500.001).contains(&y) {
                    return Err(format!("{c:?} is ({x}, {y}) nm of the frame"));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever the plan or a policy asks, no out-of-limit bias and no move
    /// outside the frame is ever written to the controller.
    #[test]
    fn no_request_outside_the_limits_is_ever_written(
        moves in proptest::collection::vec((-300.0f64..800.0, -300.0f64..800.0), 1..6),
        v_max in -6.0f64..6.0,
        v_start in -3.0f64..3.0,
    ) {
        let plan = plan();
        let (mut n, written) = connect(&plan, None);
        let _ = n.engage();
        for (x, y) in moves {
            let _ = n.move_to(x, y);
            let s = SweepRequest { v_start, v_max, v_end: v_start, ..plan.sweep.first() };
            let _ = n.sweep(&s);
        }
        let _ = n.abort();
        let cmds = written.lock().unwrap().clone();
        prop_assert!(written_within_limits(&cmds, &plan).is_ok(), "{:?}", written_within_limits(&cmds, &plan));
    }
}
