//! The cost of the instrument links: dualscope-wire/1's codec work per I–V
//! curve and curves per second through a real pseudo-terminal (full speed and
//! 115200 baud); the Nanonis codec on one `BiasSpectr.Start` reply of 251
//! points, and curves per second against the Nanonis emulator on loopback.

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
    let sweep = sim.sweep_at(700.0, 900.0, &plan.sweep.first(), 0);
    let s = plan.sweep.first();
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
        let sweep = plan().sweep.first();
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

/// Encode and decode of one `BiasSpectr.Start` reply of 251 points (126
/// forward, 126 backward on the same biases), both ends' work.
fn nanonis_codec(c: &mut Criterion) {
    use dualscope::instrument::nanonis::codec::{self, Body, Cursor, HEADER};
    use dualscope::instrument::nanonis::command::Spectrum;
    let plan = plan();
    let sim = SimInstrument::new(SimConfig::from_plan(&plan)).unwrap();
    let sweep = sim.sweep_at(700.0, 900.0, &plan.sweep.first(), 0);
    let n = 126;
    let mut data: Vec<f32> = sweep.bias_v[..n].iter().map(|v| *v as f32).collect();
    data.extend(sweep.current_a[..n].iter().map(|v| *v as f32));
    data.extend((0..n).map(|j| sweep.current_a[250 - j] as f32));
    let sp = Spectrum {
        names: vec!["Bias calc (V)".into(), "Current (A)".into(), "Current [bwd] (A)".into()],
        rows: 3,
        cols: n,
        data,
        parameters: vec![0.0; 4],
    };
    c.bench_function("nanonis_codec_bias_spectr_start_reply_251_points", |b| {
        b.iter(|| {
            let bytes = codec::reply("BiasSpectr.Start", &sp.write(Body::new()).error_section(None)).unwrap();
            let header = codec::parse_header(bytes[..HEADER].try_into().unwrap()).unwrap();
            let mut cur = Cursor::new(&bytes[HEADER..HEADER + header.body_len]);
            let back = Spectrum::read(&mut cur).unwrap();
            black_box((back, cur.error_section().unwrap()))
        })
    });
}

/// Move and sweep against the Nanonis emulator serving the simulator on a
/// loopback TCP port, through the real driver.
fn nanonis_loopback(c: &mut Criterion) {
    use dualscope::instrument::nanonis::emulator::Emulator;
    use dualscope::instrument::nanonis::serve::{self, NanonisFaults};
    use dualscope::instrument::nanonis::{NanonisInstrument, NanonisSettings};
    let host_plan = plan();
    let (listener, address) = serve::bind("127.0.0.1:0").unwrap();
    std::thread::spawn(move || {
        let mut served = plan();
        served.safety.current_max_a = 1e-3;
        let sim = SimInstrument::new(SimConfig::from_plan(&served)).unwrap();
        let mut emulator = Emulator::new(sim, 256, 256, (3.2e-6, -1.7e-6)).unwrap();
        let _ = serve::serve(&listener, &mut emulator, &NanonisFaults::default(), None, |_| {});
    });
    let mut inst = NanonisInstrument::open(&address.to_string(), NanonisSettings::from_plan(&host_plan)).unwrap();
    inst.engage().unwrap();
    let sweep = host_plan.sweep.first();
    let mut k = 0u32;
    let mut group = c.benchmark_group("nanonis_loopback");
    group.sample_size(20);
    group.bench_function("move_and_iv_curve", |b| {
        b.iter(|| {
            k += 1;
            inst.move_to(100.0 + (k % 1000) as f64, 500.0).unwrap();
            black_box(inst.sweep(&sweep).unwrap())
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Plots need a system font this build does not load; the numbers are what we report.
    config = Criterion::default().without_plots();
    targets = codec, over_pty, nanonis_codec, nanonis_loopback
}
criterion_main!(benches);
