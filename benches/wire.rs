//! The cost of dualscope-wire/1: codec work per I–V curve, and curves per
//! second through a real pseudo-terminal, at full speed and at 115200 baud.

use criterion::{Criterion, criterion_group, criterion_main};
use dualscope::instrument::Instrument;
use dualscope::instrument::serial::{SerialInstrument, SerialSettings};
use dualscope::instrument::sim::{SimConfig, SimInstrument};
use dualscope::instrument::wire::frame;
use dualscope::instrument::wire::message::{Reply, Request, payload};
use dualscope::instrument::wire::serve::{ServeOptions, serve_pty};
use dualscope::instrument::wire::server::WireServer;
use dualscope::plan::SessionPlan;
use dualscope::record::SweepEnd;
use std::hint::black_box;
use std::sync::mpsc;
use std::time::Duration;

fn plan() -> SessionPlan {
    let mut plan = SessionPlan::default();
    plan.sim.time_scale = 0.0;
    plan
}

/// Both ends' work for one curve: request out and in, reply out and in.
fn codec(c: &mut Criterion) {
    let plan = plan();
    let sim = SimInstrument::new(SimConfig::from_plan(&plan)).unwrap();
    let sweep = sim.sweep_at(700.0, 900.0, &plan.sweep, 0);
    let s = plan.sweep;
    c.bench_function("wire_codec_per_iv_curve_251_points", |b| {
        b.iter(|| {
            let request = Request::from(&s);
            let out = frame::encode(17, &request.body());
            let (seq, body) = frame::decode(out.as_bytes()).unwrap();
            let parsed = Request::parse(&body).unwrap();
            let reply = frame::encode(
                seq,
                &Reply::Ok(payload::iv_body(SweepEnd::Complete, &sweep.bias_v, &sweep.current_a)).body(),
            );
            let (_, body) = frame::decode(reply.as_bytes()).unwrap();
            let Some(Reply::Ok(p)) = Reply::parse(&body) else {
                panic!()
            };
            let (_, bias, current) = payload::iv(&p).unwrap();
            let bias: Vec<f64> = bias
                .iter()
                .map(|v| dualscope::instrument::serial::decimal(*v))
                .collect();
            let current: Vec<f64> = current
                .iter()
                .map(|v| dualscope::instrument::serial::decimal(*v))
                .collect();
            black_box((parsed, bias, current))
        })
    });
}

/// A simulator served on a pty in a thread; returns the path to open.
fn served(line_baud: Option<u32>) -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let sim = SimInstrument::new(SimConfig::from_plan(&plan())).unwrap();
        let mut server = WireServer::new(sim);
        let options = ServeOptions {
            line_baud,
            ..ServeOptions::default()
        };
        let _ = serve_pty(&mut server, &options, |path| {
            let _ = tx.send(path.to_string());
        });
    });
    rx.recv().unwrap()
}

fn over_pty(c: &mut Criterion) {
    let mut group = c.benchmark_group("wire_pty");
    group.sample_size(10).measurement_time(Duration::from_secs(12));
    for (name, baud) in [("full_speed", None), ("115200_baud", Some(115_200))] {
        let path = served(baud);
        let settings = SerialSettings {
            timeout: Duration::from_secs(2),
            sweep_margin: Duration::from_secs(5),
            retries: 3,
            reconnect_for: Duration::from_secs(5),
            band_rows: 32,
            max_survey_pixels: 1 << 24,
            first_seq: None,
        };
        let mut inst = SerialInstrument::open(&path, 115_200, settings).unwrap();
        inst.engage().unwrap();
        let sweep = plan().sweep;
        let mut k = 0u32;
        group.bench_function(format!("move_and_iv_curve_{name}"), |b| {
            b.iter(|| {
                k += 1;
                inst.move_to(100.0 + (k % 1000) as f64, 500.0).unwrap();
                black_box(inst.sweep(&sweep).unwrap())
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Plots need a system font this build does not load; the numbers are what we report.
    config = Criterion::default().without_plots();
    targets = codec, over_pty
}
criterion_main!(benches);
