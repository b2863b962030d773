//! DN-DKL decisions are reproducible; the dual VAE's analysis and report work
//! on a real session.

use crate::common::*;
use dualscope::store::SessionLog;

fn decisions(session: &std::path::Path) -> Vec<(u32, u32, u32, Option<f64>)> {
    let log = SessionLog::load(session).unwrap();
    log.decisions.iter().map(|d| (d.step, d.row, d.col, d.score)).collect()
}

fn run(dir: &std::path::Path, name: &str, extra: &[&str]) -> std::path::PathBuf {
    let plan = fast_plan(dir, "");
    let runs = dir.join(name);
    let mut args = vec![
        "run",
        plan.to_str().unwrap(),
        "--headless",
        "--policy",
        "dn-dkl",
        "--out",
        runs.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run_ok(bin().args(&args));
    only_session(&runs)
}

#[test]
fn the_same_seed_gives_the_same_dn_dkl_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let a = decisions(&run(dir.path(), "a", &[]));
    let b = decisions(&run(dir.path(), "b", &[]));
    assert_eq!(a.len(), 40);
    assert_eq!(a, b);
    // Policy steps are scored; the seeds are not.
    assert!(a.iter().skip(5).all(|d| d.3.is_some()), "{a:?}");
    let c = decisions(&run(dir.path(), "c", &["--seed", "2"]));
    assert_ne!(a, c);
}

#[test]
fn a_pipelined_session_finishes_with_scored_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "");
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("name = \"random\"", "name = \"dn-dkl\"\npipelined = true");
    std::fs::write(&plan, text).unwrap();
    let runs = dir.path().join("p");
    run_ok(bin().args([
        "run",
        plan.to_str().unwrap(),
        "--headless",
        "--out",
        runs.to_str().unwrap(),
    ]));
    let d = decisions(&only_session(&runs));
    assert_eq!(d.len(), 40);
    let mut places: Vec<(u32, u32)> = d.iter().map(|x| (x.1, x.2)).collect();
    places.sort_unstable();
    places.dedup();
    assert_eq!(places.len(), 40, "a pipelined decision measured a point twice");
}

#[test]
fn analyze_and_report_on_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let session = run(dir.path(), "s", &["--budget", "30"]);
    let out = run_ok(bin().args(["analyze", session.to_str().unwrap(), "--epochs", "60"]));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        printed.contains("| cluster | size |") && printed.contains("adjusted Rand index"),
        "{printed}"
    );
    let emb = dualscope::store::reader::table_frame(&session, "embeddings")
        .unwrap()
        .unwrap();
    assert_eq!(emb.height(), 30);
    for c in ["model_step", "row", "col", "z_image", "z_spectrum", "cluster"] {
        assert!(emb.column(c).is_ok(), "{c}");
    }
    // And the predicted response at each of the 25 × 25 candidates.
    let map = dualscope::store::reader::table_frame(&session, "property_map")
        .unwrap()
        .unwrap();
    assert_eq!(map.height(), 625);
    let steps = map.column("model_step").unwrap().u32().unwrap();
    assert!(
        steps.into_no_null_iter().all(|s| s == 30),
        "analyze's model has seen the 30 curves"
    );
    assert_eq!(map.column("cluster").unwrap().u32().unwrap().null_count(), 0);

    let figures = dir.path().join("figures");
    let out = run_ok(bin().args(["report", session.to_str().unwrap(), "--out", figures.to_str().unwrap()]));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    // Drawn from the model `analyze` saved, not trained again.
    assert!(
        printed.contains("by the saved `analyze` model of 30 curves (no training now)"),
        "{printed}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("training"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(figures.join("report.md")).unwrap();
    // The table in report.md is the table that was printed.
    let table: String = printed
        .lines()
        .filter(|l| l.starts_with('|'))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!table.is_empty() && md.contains(&table), "{printed}\n---\n{md}");
    // Where the data came from, a caption under every figure, what the words mean.
    for part in [
        "Sweep 0 V → 1.5 V → 0 V in 251 points",
        "policy dn-dkl (budget 30",
        "Survey 64×64 px over 500×500 nm",
        "*The survey topography with every measured location coloured by its cluster.*",
        "## Definitions",
        "**onset**",
    ] {
        assert!(md.contains(part), "{part} missing from report.md:\n{md}");
    }
    for stem in [
        "latent_map",
        "cluster_iv",
        "cluster_iv_semilog",
        "cluster_examples",
        "topography_clusters",
        "hysteresis_by_cluster",
        "acquisition_path",
        "discovery",
        "predicted_loop_area",
        "predicted_max_current",
        "predicted_onset",
    ] {
        let png = std::fs::read(figures.join(format!("{stem}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{stem}.png");
        let svg = std::fs::read_to_string(figures.join(format!("{stem}.svg"))).unwrap();
        assert!(svg.contains("<svg"), "{stem}.svg");
    }
}

/// A session too short to cluster still gets its path and curves; `--retrain`
/// trains even where a model was saved, and says so.
#[test]
fn every_session_with_a_curve_gets_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let short = run(dir.path(), "short", &["--budget", "3"]);
    let figures = dir.path().join("short-figures");
    let out = run_ok(bin().args(["report", short.to_str().unwrap(), "--out", figures.to_str().unwrap()]));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(printed.contains("too few to cluster"), "{printed}");
    for stem in ["acquisition_path", "measured_iv"] {
        let png = std::fs::read(figures.join(format!("{stem}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{stem}.png");
    }
    assert!(!figures.join("latent_map.png").exists());
    let md = std::fs::read_to_string(figures.join("report.md")).unwrap();
    assert!(md.contains("3 measured locations; no clusters."), "{md}");

    // --retrain trains, with the options given.
    let session = run(dir.path(), "eight", &["--budget", "8"]);
    let figures = dir.path().join("eight-figures");
    let out = run_ok(bin().args([
        "report",
        session.to_str().unwrap(),
        "--out",
        figures.to_str().unwrap(),
        "--retrain",
        "--epochs",
        "40",
        "--clusters",
        "2",
    ]));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        printed.contains("2 clusters") && printed.contains("(trained in"),
        "{printed}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("training the dual VAE on 8 locations"));
}

/// A quit while the session waits for its last dual VAE ends the run at once:
/// every curve is already saved, only the map is given up (and the ensemble
/// stops training). 64 small trainings would otherwise take many seconds.
#[test]
fn a_quit_while_the_last_model_trains_ends_the_session_at_once() {
    use dualscope::engine::{self, Command, EngineEvent};
    let dir = tempfile::tempdir().unwrap();
    let plan_path = fast_plan(dir.path(), "");
    let mut plan = dualscope::plan::SessionPlan::from_toml(&std::fs::read_to_string(plan_path).unwrap()).unwrap();
    plan.policy.budget = 8;
    plan.analysis.retrain_every = 4;
    plan.analysis.vae_epochs = 2000;
    plan.analysis.vae_hidden = 8;
    plan.analysis.vae_ensemble = 64;
    let eng = engine::prepare_new(plan).unwrap();
    let session = eng.session_dir().to_path_buf();
    let mut controls = eng.spawn().unwrap();
    let quit_at = loop {
        match controls.events.blocking_recv() {
            Some(EngineEvent::Logged(row))
                if row.kind.label() == "retrain" && row.detail.contains("before the session closes") =>
            {
                controls.commands.send(Command::Quit).unwrap();
                break std::time::Instant::now();
            }
            Some(_) => {}
            None => panic!("the run ended without waiting for a model"),
        }
    };
    controls.handle.join().unwrap();
    let waited = quit_at.elapsed().as_secs_f64();
    assert!(waited < 10.0, "the run went on {waited:.1} s after the quit");
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(log.measurements.len(), 8);
    let events: Vec<String> = log.events.iter().map(|e| format!("{} {}", e.kind, e.detail)).collect();
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("retrain stopped waiting for the dual VAE ×64")),
        "{events:#?}"
    );
    assert!(events.last().unwrap().starts_with("finish budget spent"), "{events:#?}");
}

/// While paused the queue is what the policy would choose now: ranked on
/// every curve so far (never the point just measured), ranked again after a
/// policy switch, and an entry moved up keeps its scores.
#[test]
fn a_paused_queue_is_ranked_afresh_and_keeps_its_scores() {
    use dualscope::engine::{self, Command, EngineEvent, QueueEntry, QueueKind, RunState};
    use dualscope::plan::PolicyKind;
    let dir = tempfile::tempdir().unwrap();
    let plan_path = fast_plan(dir.path(), "");
    let mut plan = dualscope::plan::SessionPlan::from_toml(&std::fs::read_to_string(plan_path).unwrap()).unwrap();
    plan.policy.name = PolicyKind::DnDkl;
    plan.policy.budget = 30;
    let mut controls = engine::prepare_new(plan).unwrap().spawn().unwrap();
    let mut measured: Vec<(u32, u32)> = Vec::new();
    // Pause once the policy has chosen a few points.
    while measured.len() < 12 {
        if let EngineEvent::Measured(m) = controls.events.blocking_recv().unwrap() {
            measured.push((m.row, m.col));
        }
    }
    controls.commands.send(Command::Pause).unwrap();
    // The first queue the engine publishes once paused (each command
    // publishes one).
    let mut next_queue = |measured: &mut Vec<(u32, u32)>, paused_first: bool| -> Vec<QueueEntry> {
        let mut paused = !paused_first;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            assert!(std::time::Instant::now() < deadline, "no queue within 60 s");
            let event = match controls.events.try_recv() {
                Ok(e) => e,
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    continue;
                }
                Err(e) => panic!("the run ended: {e}"),
            };
            match event {
                EngineEvent::Measured(m) => measured.push((m.row, m.col)),
                EngineEvent::State(RunState::Paused) => paused = true,
                EngineEvent::Queue(q) if paused => return q,
                _ => {}
            }
        }
    };
    // Once paused the queue is ranked on every curve so far.
    let queue = next_queue(&mut measured, true);
    assert!(queue.len() >= 3, "{queue:?}");
    for e in &queue {
        assert!(e.score.is_some() && e.kind == QueueKind::Policy, "{e:?}");
        assert!(
            !measured.contains(&(e.row, e.col)),
            "{e:?} was measured already: {measured:?}"
        );
    }
    // Another policy while paused: it ranks at once.
    controls.commands.send(Command::SetPolicy(PolicyKind::DklUcb)).unwrap();
    let switched = next_queue(&mut measured, false);
    assert!(switched.len() >= 2, "the new policy ranks nothing: {switched:?}");
    assert!(switched.iter().all(|e| e.score.is_some()), "{switched:?}");
    // Moving the second entry up pins it first, with its scores.
    let (row, col) = (switched[1].row, switched[1].col);
    controls.commands.send(Command::MoveUp { row, col }).unwrap();
    let moved = next_queue(&mut measured, false);
    assert_eq!(
        (moved[0].row, moved[0].col, moved[0].kind),
        (row, col, QueueKind::Pinned),
        "{moved:?}"
    );
    assert_eq!(moved[0].score, switched[1].score, "{moved:?}");
    assert!(moved[0].mean.is_some() && moved[0].std.is_some(), "{moved:?}");
    controls.commands.send(Command::Quit).unwrap();
    controls.handle.join().unwrap();
}
