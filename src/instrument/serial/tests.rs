//! Transcript tests in the style of PyMeasure's `expected_protocol`: the exact
//! lines the driver writes, and what it makes of the replies.

use super::link::LinkError;
use super::*;
use crate::instrument::sim::{SimConfig, SimInstrument};
use crate::instrument::wire::frame;
use crate::instrument::wire::server::WireServer;
use crate::plan::SessionPlan;
use proptest::prelude::*;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

fn settings() -> SerialSettings {
    SerialSettings {
        timeout: Duration::from_millis(50),
        sweep_margin: Duration::from_millis(50),
        retries: 3,
        reconnect_for: Duration::from_millis(300),
        band_rows: 8,
        max_survey_pixels: 1 << 24,
        first_seq: Some(1),
    }
}

/// What a scripted instrument does with the next line it receives.
enum Step {
    /// Expect exactly this request body with this seq, answer with this line.
    Answer(u32, &'static str, String),
    /// Expect this request, say nothing (the reply is lost).
    Silence(u32, &'static str),
}

struct Scripted {
    steps: VecDeque<Step>,
    pending: VecDeque<Vec<u8>>,
    written: Arc<Mutex<Vec<String>>>,
}

impl Link for Scripted {
    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        let text = String::from_utf8(line.to_vec()).unwrap();
        self.written.lock().unwrap().push(text.clone());
        let (seq, body) = frame::decode(line).expect("the driver writes valid frames");
        match self.steps.pop_front().expect("a request the transcript did not expect") {
            Step::Answer(s, b, reply) => {
                assert_eq!((seq, body.as_str()), (s, b), "unexpected request {text:?}");
                for line in reply.lines() {
                    self.pending.push_back(line.as_bytes().to_vec());
                }
            }
            Step::Silence(s, b) => {
                assert_eq!((seq, body.as_str()), (s, b), "unexpected request {text:?}")
            }
        }
        Ok(())
    }

    fn read_line(&mut self, _deadline: Instant) -> Result<Vec<u8>, LinkError> {
        self.pending.pop_front().ok_or(LinkError::Timeout)
    }

    fn reopen(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    fn label(&self) -> String {
        "transcript".into()
    }
}

fn ok(seq: u32, payload: &str) -> String {
    frame::encode(seq, &format!("OK {payload}")).trim_end().to_string()
}

const IDN: &str = "acme,C-AFM 9,SN7,2.1";
const LIM: &str = "bias_max_v=2 current_max_a=0.000000005 x_max_nm=2000 y_max_nm=2000";

fn connect(mut steps: Vec<Step>) -> (SerialInstrument, Arc<Mutex<Vec<String>>>) {
    let mut all = vec![
        Step::Answer(1, "*IDN?", ok(1, IDN)),
        Step::Answer(2, "LIM?", ok(2, LIM)),
    ];
    all.append(&mut steps);
    let written = Arc::new(Mutex::new(Vec::new()));
    let link = Scripted {
        steps: all.into(),
        pending: VecDeque::new(),
        written: written.clone(),
    };
    (SerialInstrument::over(Box::new(link), settings()).unwrap(), written)
}

#[test]
fn connect_reads_identity_and_limits() {
    let (mut inst, written) = connect(vec![]);
    assert_eq!(inst.identity().unwrap().idn(), IDN);
    assert_eq!(inst.limits().unwrap().current_max_a, 5e-9);
    assert_eq!(
        *written.lock().unwrap(),
        vec!["1 *IDN?*56b63e16\n".to_string(), frame::encode(2, "LIM?")]
    );
}

#[test]
fn a_lost_reply_resends_the_same_seq() {
    let (mut inst, written) = connect(vec![
        Step::Silence(3, "MOVE 100 200"),
        Step::Answer(3, "MOVE 100 200", ok(3, "100 200")),
    ]);
    assert_eq!(inst.move_to(100.0, 200.0).unwrap(), (100.0, 200.0));
    let w = written.lock().unwrap();
    assert_eq!(w[2], w[3], "the retry must be byte-identical");
    let events = inst.drain_link_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind.label(), "retry");
}

#[test]
fn a_garbled_reply_and_a_stale_reply_are_not_taken() {
    let mut garbled = ok(3, "5 6").into_bytes();
    garbled[4] = b'#';
    let (mut inst, _) = connect(vec![
        Step::Answer(3, "MOVE 5 6", String::from_utf8(garbled).unwrap()),
        Step::Answer(3, "MOVE 5 6", format!("{}\n{}", ok(2, LIM), ok(3, "5 6"))),
    ]);
    assert_eq!(inst.move_to(5.0, 6.0).unwrap(), (5.0, 6.0));
    let events = inst.drain_link_events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].detail.contains("garbled"), "{events:?}");
}

#[test]
fn instrument_errors_are_typed_and_logged() {
    let (mut inst, _) = connect(vec![Step::Answer(
        3,
        "ENGAGE",
        frame::encode(3, "ERR BUSY scanning").trim_end().to_string(),
    )]);
    match inst.engage() {
        Err(InstrumentError::Refused { code, message }) => {
            assert_eq!((code.as_str(), message.as_str()), ("BUSY", "scanning"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(inst.drain_link_events()[0].kind.label(), "instrument_error");
}

#[test]
fn a_reset_instrument_is_engaged_again_and_the_tip_put_back() {
    let iv = crate::instrument::wire::message::payload::iv_body(
        crate::record::SweepEnd::Complete,
        &[0.0, 1.0],
        &[0.0, 1e-10],
    );
    let (mut inst, _) = connect(vec![
        Step::Answer(3, "ENGAGE", frame::encode(3, "OK").trim_end().to_string()),
        Step::Answer(4, "MOVE 10 10", ok(4, "10 10")),
        Step::Answer(
            5,
            "IV 0 1 0 2 1",
            frame::encode(5, "ERR NOTENGAGED the tip is not on the surface")
                .trim_end()
                .to_string(),
        ),
        Step::Answer(6, "ENGAGE", frame::encode(6, "OK").trim_end().to_string()),
        Step::Answer(7, "MOVE 10 10", ok(7, "10 10")),
        Step::Answer(8, "IV 0 1 0 2 1", ok(8, &iv)),
    ]);
    inst.engage().unwrap();
    inst.move_to(10.0, 10.0).unwrap();
    let s = inst
        .sweep(&SweepRequest {
            v_start: 0.0,
            v_max: 1.0,
            v_end: 0.0,
            points: 2,
            dwell_ms: 1.0,
        })
        .unwrap();
    assert_eq!(s.current_a, vec![0.0, 1e-10]);
    assert!(
        inst.drain_link_events()
            .iter()
            .any(|e| e.kind.label() == "instrument_reset")
    );
}

/// A link straight into a simulated instrument's wire server, recording lines.
struct Loopback {
    server: WireServer<SimInstrument>,
    pending: VecDeque<Vec<u8>>,
    written: Vec<String>,
}

impl Link for Loopback {
    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.written.push(String::from_utf8_lossy(line).to_string());
        let reply = self.server.handle_line(line);
        self.pending.push_back(reply.trim_end().as_bytes().to_vec());
        Ok(())
    }
    fn read_line(&mut self, _deadline: Instant) -> Result<Vec<u8>, LinkError> {
        self.pending.pop_front().ok_or(LinkError::Timeout)
    }
    fn reopen(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn label(&self) -> String {
        "loopback".into()
    }
}

struct Shared(Arc<Mutex<Loopback>>);

impl Link for Shared {
    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.0.lock().unwrap().write_line(line)
    }
    fn read_line(&mut self, deadline: Instant) -> Result<Vec<u8>, LinkError> {
        self.0.lock().unwrap().read_line(deadline)
    }
    fn reopen(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn label(&self) -> String {
        "loopback".into()
    }
}

fn loopback() -> (SerialInstrument, Arc<Mutex<Loopback>>) {
    let mut plan = SessionPlan::default();
    plan.sim.time_scale = 0.0;
    plan.survey.rows = 32;
    plan.survey.cols = 32;
    let sim = SimInstrument::new(SimConfig::from_plan(&plan)).unwrap();
    let lb = Arc::new(Mutex::new(Loopback {
        server: WireServer::new(sim),
        pending: VecDeque::new(),
        written: Vec::new(),
    }));
    let inst = SerialInstrument::over(Box::new(Shared(lb.clone())), settings()).unwrap();
    (inst, lb)
}

#[test]
fn a_survey_comes_in_bands_and_matches_the_instrument() {
    let (mut inst, lb) = loopback();
    let s = inst.survey(32, 32).unwrap();
    assert_eq!(s.heights_nm.dim(), (32, 32));
    let topo = lb
        .lock()
        .unwrap()
        .written
        .iter()
        .filter(|l| l.contains("TOPO?"))
        .count();
    assert_eq!(topo, 4, "32 rows in bands of 8");
}

fn within(line: &str, l: &Limits) -> bool {
    let (_, body) = frame::decode(line.as_bytes()).unwrap();
    match Request::parse(&body).unwrap() {
        Request::Move { x_nm, y_nm } => (0.0..=l.x_max_nm).contains(&x_nm) && (0.0..=l.y_max_nm).contains(&y_nm),
        Request::Iv {
            v_start, v_max, v_end, ..
        } => [v_start, v_max, v_end].iter().all(|v| v.abs() <= l.bias_max_v),
        _ => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever a plan or a policy asks, nothing outside the limits is
    /// written; a move corrected for drift (whatever the estimate) is never
    /// refused.
    #[test]
    fn no_request_outside_the_limits_is_ever_written(
        moves in proptest::collection::vec((-3000.0f64..5000.0, -3000.0f64..5000.0), 1..6),
        sweeps in proptest::collection::vec((-5.0f64..5.0, -5.0f64..5.0, -5.0f64..5.0), 1..4),
        drift in (-3000.0f64..3000.0, -3000.0f64..3000.0),
    ) {
        let (mut inst, lb) = loopback();
        let limits = inst.limits().unwrap();
        inst.engage().unwrap();
        for (x, y) in moves {
            let inside = (0.0..=limits.x_max_nm).contains(&x) && (0.0..=limits.y_max_nm).contains(&y);
            let r = inst.move_to(x, y);
            prop_assert_eq!(r.is_ok(), inside, "move to ({}, {}) gave {:?}", x, y, r);
            let (cx, cy) = crate::instrument::check::drift_corrected((x, y), [drift.0, drift.1], &limits);
            let r = inst.move_to(cx, cy);
            prop_assert!(r.is_ok(), "corrected move to ({}, {}) gave {:?}", cx, cy, r);
        }
        for (a, b, c) in sweeps {
            let req = SweepRequest { v_start: a, v_max: b, v_end: c, points: 11, dwell_ms: 1.0 };
            let inside = [a, b, c].iter().all(|v| v.abs() <= limits.bias_max_v);
            let r = inst.sweep(&req);
            if !inside {
                prop_assert!(matches!(r, Err(InstrumentError::Limit(_))));
            }
        }
        for line in &lb.lock().unwrap().written {
            prop_assert!(within(line, &limits), "written outside the limits: {}", line);
        }
    }
}
