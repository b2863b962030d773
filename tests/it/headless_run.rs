//! A whole headless session on the simulator, read back with polars.

use crate::common::*;
use polars::prelude::*;

fn run_session(dir: &std::path::Path, seed: u64, budget: u32) -> std::path::PathBuf {
    let plan = fast_plan(dir, "");
    let runs = dir.join("runs");
    let out = run_ok(bin().args([
        "run",
        plan.to_str().unwrap(),
        "--headless",
        "--budget",
        &budget.to_string(),
        "--seed",
        &seed.to_string(),
        "--out",
        runs.to_str().unwrap(),
    ]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("finished"), "{stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with('[')).count(),
        budget as usize,
        "{stdout}"
    );
    only_session(&runs)
}

#[test]
fn sixty_measurements_with_every_contract_column() {
    let dir = tempfile::tempdir().unwrap();
    let session = run_session(dir.path(), 1, 60);
    let df = LazyFrame::scan_parquet(
        PlRefPath::new(format!("{}/measurements/*.parquet", session.display())),
        Default::default(),
    )
    .unwrap()
    .collect()
    .unwrap();
    assert_eq!(df.height(), 60);
    let expect = [
        ("step", DataType::UInt32),
        ("t_ms", DataType::Int64),
        ("row", DataType::UInt32),
        ("col", DataType::UInt32),
        ("x_nm", DataType::Float64),
        ("y_nm", DataType::Float64),
        ("source", DataType::String),
        ("bias_v", DataType::List(Box::new(DataType::Float64))),
        ("current_a", DataType::List(Box::new(DataType::Float64))),
        ("sweep_end", DataType::String),
        ("hysteresis_area", DataType::Float64),
        ("onset_v", DataType::Float64),
        ("max_current_a", DataType::Float64),
    ];
    for (name, dtype) in expect {
        assert_eq!(df.column(name).unwrap().dtype(), &dtype, "{name}");
    }
    let steps: Vec<u32> = df.column("step").unwrap().u32().unwrap().into_no_null_iter().collect();
    let mut sorted = steps.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..60).collect::<Vec<_>>());
    // The other tables exist and carry their columns too.
    for (table, cols) in [
        (
            "decisions",
            vec![
                "step",
                "t_ms",
                "row",
                "col",
                "policy",
                "score",
                "mean",
                "std",
                "structure_novelty",
                "spectral_novelty",
                "n_candidates",
                "fit_ms",
                "score_ms",
            ],
        ),
        ("events", vec!["t_ms", "kind", "detail"]),
        ("topography", vec!["scan", "row", "col", "height_nm"]),
    ] {
        let df = dualscope::store::reader::table_frame(&session, table).unwrap().unwrap();
        for c in cols {
            assert!(df.column(c).is_ok(), "{table}.{c}");
        }
    }
    let meta = std::fs::read_to_string(session.join("session.toml")).unwrap();
    for key in [
        "format = \"dualscope-session/1\"",
        "session_id",
        "started_ms",
        "instrument_idn",
        "software_version",
        "status = \"finished\"",
    ] {
        assert!(meta.contains(key), "{key} missing in\n{meta}");
    }
}

#[test]
fn the_seed_decides_the_path() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    let pa = positions(&run_session(a.path(), 7, 25));
    let pb = positions(&run_session(b.path(), 7, 25));
    let pc = positions(&run_session(c.path(), 8, 25));
    assert_eq!(pa, pb);
    assert_ne!(pa, pc);
}

#[test]
fn export_joins_measurements_and_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let session = run_session(dir.path(), 3, 20);
    let out = dir.path().join("all.parquet");
    run_ok(bin().args(["export", session.to_str().unwrap(), "--out", out.to_str().unwrap()]));
    let df = ParquetReader::new(std::fs::File::open(&out).unwrap()).finish().unwrap();
    assert_eq!(df.height(), 20);
    for c in ["step", "bias_v", "current_a", "policy", "n_candidates", "session_id"] {
        assert!(df.column(c).is_ok(), "{c}");
    }
    let listing = run_ok(bin().args(["sessions", dir.path().join("runs").to_str().unwrap()]));
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(text.contains("finished") && text.contains("20/20"), "{text}");
}
