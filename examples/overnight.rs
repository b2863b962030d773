//! A night's session in minutes: a replay session of `--curves` curves (default
//! 10 000, a night at ~3 s a curve) with `time_scale = 0` and the demo plan's
//! settings otherwise (DN-DKL, dual VAE ×8 retrained every 25 curves), through
//! the real engine and store. Then what it cost: decisions (`fit_ms + score_ms`
//! as logged) by stretch of the session, each retraining as the events tell it,
//! the part files per table, how long the log takes to read back, and the
//! process's resident memory as the session grew.
//!
//! ```text
//! dualscope sim export --plan sessions/demo.toml --stride 2 --out /tmp/film
//! cargo run --release --example overnight -- --dataset /tmp/film [--curves 10000] [--out DIR]
//! ```

use dualscope::engine;
use dualscope::plan::SessionPlan;
use dualscope::store::SessionLog;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "common/args.rs"]
mod args;
use args::arg;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// This process's resident set, kB (Linux; 0 elsewhere).
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let Some(dataset) = arg("--dataset") else {
        eprintln!("usage: overnight --dataset DIR [--curves N] [--out DIR]  (DIR from `dualscope sim export`)");
        std::process::exit(2);
    };
    let curves: u32 = arg("--curves").and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let out = arg("--out").unwrap_or_else(|| std::env::temp_dir().join("dualscope-overnight").display().to_string());
    let mut plan = SessionPlan::load(std::path::Path::new("sessions/demo.toml")).expect("sessions/demo.toml");
    plan.instrument = format!("replay:{dataset}");
    plan.sim.time_scale = 0.0;
    plan.policy.budget = curves;
    plan.output.dir = out.clone();

    // Resident memory once a second, with the wall clock the log's rows carry.
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !done.load(Ordering::Relaxed) {
                samples.push((now_ms(), rss_kb()));
                std::thread::sleep(Duration::from_secs(1));
            }
            samples
        })
    };
    let t0 = Instant::now();
    let eng = engine::prepare_new(plan).expect("start the session");
    let dir = eng.session_dir().to_path_buf();
    eprintln!("session {} …", dir.display());
    let running = eng.spawn().expect("start the engine");
    let outcome = running.handle.join().expect("the run ends");
    let wall_s = t0.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let samples = sampler.join().expect("sampler");

    let t_load = Instant::now();
    let log = SessionLog::load(&dir).expect("read the session back");
    let load_s = t_load.elapsed().as_secs_f64();
    println!(
        "{} curves in {:.0} s ({:?}); log read back in {:.2} s",
        log.measurements.len(),
        wall_s,
        outcome.status,
        load_s
    );
    let mut decisions: Vec<_> = log.decisions.iter().collect();
    decisions.sort_by_key(|d| d.step);
    let cost: Vec<Option<f64>> = decisions
        .iter()
        .map(|d| Some(d.fit_ms? + d.score_ms.unwrap_or(0.0)))
        .collect();
    let n = cost.len();
    let mut edges = vec![0, 210, 500, 1000, 2000, 5000, 10_000];
    edges.retain(|&e| e < n);
    edges.push(n);
    for w in edges.windows(2) {
        let stretch: Vec<f64> = cost[w[0]..w[1]].iter().flatten().copied().collect();
        println!(
            "decisions {:>5}–{:<5} median fit+score {:>6.1} ms (max {:.1})",
            w[0],
            w[1] - 1,
            median(stretch.clone()),
            stretch.iter().copied().fold(0.0, f64::max)
        );
    }
    let last: Vec<f64> = cost[n.saturating_sub(500)..].iter().flatten().copied().collect();
    println!("last 500 decisions: median fit+score {:.1} ms", median(last));
    for e in log.events.iter().filter(|e| e.detail.starts_with("dual VAE")) {
        println!("retraining: {}", e.detail);
    }
    for table in ["measurements", "decisions", "events", "embeddings", "property_map"] {
        let parts = std::fs::read_dir(dir.join(table))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
                    .count()
            })
            .unwrap_or(0);
        println!("{table}: {parts} part file(s)");
    }
    for at in [1000usize, 5000, 10_000] {
        let Some(m) = log.measurements.get(at - 1) else {
            continue;
        };
        let peak = samples.iter().filter(|s| s.0 <= m.t_ms).map(|s| s.1).max().unwrap_or(0);
        println!(
            "resident memory up to curve {at}: {:.0} MB at most",
            peak as f64 / 1024.0
        );
    }
    let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
    println!("resident memory, whole run: {:.0} MB at most", peak as f64 / 1024.0);
}
