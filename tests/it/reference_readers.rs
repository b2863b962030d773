//! The session log read by readers written elsewhere: pyarrow's dataset
//! reader and DuckDB, on a finished session and on one being written.

use crate::common::*;
use dualscope::store::SessionLog;

const READ_ALL: &str = r#"
import sys, pyarrow.dataset as ds
session = sys.argv[1]
for table in ["topography", "measurements", "decisions", "events", "flags", "embeddings"]:
    t = ds.dataset(f"{session}/{table}", format="parquet").to_table()
    print(table, t.num_rows)
"#;

#[test]
fn pyarrow_and_duckdb_read_every_table_of_a_finished_session() {
    let Some(py) = python::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "");
    run_ok(bin().args(["run", plan.to_str().unwrap(), "--headless", "--budget", "12"]));
    let session = only_session(&dir.path().join("runs"));
    let log = SessionLog::load(&session).unwrap();
    let out = python::run(&py, READ_ALL, &[session.to_str().unwrap()]);
    let rows: std::collections::HashMap<&str, usize> = out
        .lines()
        .map(|l| {
            let (t, n) = l.split_once(' ').unwrap();
            (t, n.parse().unwrap())
        })
        .collect();
    assert_eq!(rows["topography"], 64 * 64);
    assert_eq!(rows["measurements"], 12);
    assert_eq!(rows["decisions"], 12, "one decision row per step");
    assert_eq!(rows["events"], log.events.len());
    assert_eq!(rows["embeddings"], 0);
    assert_eq!(rows["flags"], 0, "an empty table with its schema");
    // DuckDB, as the README says a user would.
    let duck = python::run(
        &py,
        r#"
import sys, duckdb
s = sys.argv[1]
print(duckdb.sql(f"select count(*), count(distinct step), min(x_nm) >= 0 from read_parquet('{s}/measurements/*.parquet')").fetchall()[0])
print(duckdb.sql(f"select count(*) from read_parquet('{s}/decisions/*.parquet') where fit_ms is null").fetchall()[0][0])
"#,
        &[session.to_str().unwrap()],
    );
    assert!(duck.starts_with("(12, 12, True)"), "{duck}");
    // A random policy fits nothing: the fit times are null, not zero.
    assert_eq!(duck.lines().nth(1), Some("12"), "{duck}");
}

#[test]
fn pyarrow_reads_a_session_while_it_is_written() {
    let Some(py) = python::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let plan = timed_plan(dir.path(), 0.1, "");
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("flush_rows = 4", "flush_rows = 1");
    std::fs::write(&plan, text).unwrap();
    let mut run = spawn_run(&plan, &["--budget", "60"]);
    let session = wait_for_session(&dir.path().join("runs"), 30);
    // One Python process reading every table over and over while parts
    // are staged and renamed beside it: never a half-written or temporary file.
    let stop = dir.path().join("stop");
    let reader = std::process::Command::new(&py)
        .arg("-c")
        .arg(
            r#"
import sys, os, pyarrow.dataset as ds
session, stop = sys.argv[1], sys.argv[2]
reads = gone = 0
while not os.path.exists(stop):
    for table in ["measurements", "decisions", "events", "embeddings"]:
        try:
            ds.dataset(f"{session}/{table}", format="parquet").to_table()
        except FileNotFoundError:
            # A compaction swapped the folder (a crowded table while the
            # run goes, every table at its end) between the listing and the
            # read: read again (README).
            gone += 1
            continue
        reads += 1
steps = ds.dataset(f"{session}/measurements", format="parquet").to_table(columns=["step"])["step"].to_pylist()
print(reads, gone, len(steps), len(set(steps)))
"#,
        )
        .args([session.to_str().unwrap(), stop.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(run.wait().unwrap().success());
    std::fs::write(&stop, "").unwrap();
    let out = reader.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "pyarrow failed while the session was written:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    let numbers: Vec<u64> = printed.split_whitespace().map(|n| n.parse().unwrap()).collect();
    let [reads, gone, rows, distinct] = numbers[..] else {
        panic!("{printed}")
    };
    assert!(reads > 40, "{reads} reads");
    // Only compactions swap a folder: at 60 rows a part each, `measurements`
    // and `decisions` pass `[output] max_parts` (48) once while the run
    // goes, and three tables are compacted at the end; a reader can trip
    // over each swap a few times.
    assert!(
        gone <= 20,
        "a part vanished {gone} times: only the compactions may swap a folder"
    );
    assert_eq!((rows, distinct), (60, 60), "every curve once, in the compacted table");
    assert_eq!(SessionLog::load(&session).unwrap().next_step(), 60);
}

const READ_PROPERTY_MAP: &str = r#"
import sys, pyarrow.compute as pc, pyarrow.dataset as ds, pyarrow.parquet as pq
t = ds.dataset(f"{sys.argv[1]}/property_map", format="parquet").to_table()
print("schema", ",".join(f"{f.name}:{f.type}" for f in t.schema))
# pyarrow 26 takes rows of no string_view column (polars writes utf8 so).
t = t.drop_columns(["model"])
steps = sorted(set(t.column("model_step").to_pylist()))
print("steps", ",".join(map(str, steps)))
for s in steps:
    rows = t.filter(pc.equal(t.column("model_step"), s))
    sites = set(zip(rows.column("row").to_pylist(), rows.column("col").to_pylist()))
    area = [a for a in rows.column("hysteresis_area").to_pylist() if a is not None]
    spread = [a for a in rows.column("max_current_a_std").to_pylist() if a is not None]
    print("step", s, rows.num_rows, len(sites), min(area) >= 0, len(spread))
e = pq.read_table(sys.argv[2])
print("export", e.num_rows, sorted(set(e.column("session_id").to_pylist())))
"#;

/// The live dual VAE predicts the response at every candidate after each
/// training; pyarrow reads the table as the session holds it and as
/// `export --table property_map` writes it, polars reads it too.
#[test]
fn the_property_map_is_written_live_one_row_per_candidate() {
    let Some(py) = python::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "");
    let text = std::fs::read_to_string(&plan).unwrap().replace(
        "retrain_every = 0",
        "retrain_every = 10\nvae_epochs = 20\nvae_hidden = 16\nvae_ensemble = 2",
    );
    std::fs::write(&plan, text).unwrap();
    run_ok(bin().args(["run", plan.to_str().unwrap(), "--headless", "--budget", "20"]));
    let session = only_session(&dir.path().join("runs"));
    let out = dir.path().join("map.parquet");
    let printed = run_ok(bin().args([
        "export",
        session.to_str().unwrap(),
        "--table",
        "property_map",
        "--out",
        out.to_str().unwrap(),
    ]));
    let got = python::run(
        &py,
        READ_PROPERTY_MAP,
        &[session.to_str().unwrap(), out.to_str().unwrap()],
    );
    let schema = got.lines().next().unwrap();
    for column in [
        "model_step:uint32",
        "row:uint32",
        "col:uint32",
        "x_nm:double",
        "y_nm:double",
        "hysteresis_area:double",
        "max_current_a:double",
        "onset_v:double",
        "cluster:uint32",
        "hysteresis_area_std:double",
        "max_current_a_std:double",
        "onset_v_std:double",
    ] {
        assert!(schema.contains(column), "{column} missing: {schema}");
    }
    // The last model has seen all 20 curves (the one on 10 lands only if it
    // finished before the close let it go).
    let models: Vec<&str> = got.lines().filter(|l| l.starts_with("step ")).collect();
    assert!(got.contains("steps 10,20") || got.contains("steps 20"), "{got}");
    // Every candidate of the 64×64 px frame (16 px patches every 2 px: 25 ×
    // 25) once per model, each with a spread over the two members.
    let candidates = 625;
    for m in &models {
        assert!(
            m.ends_with(&format!(" {candidates} {candidates} True {candidates}")),
            "{got}"
        );
    }
    let all = candidates * models.len();
    assert!(
        String::from_utf8_lossy(&printed.stdout).contains(&format!("wrote {all} property_map rows")),
        "{}",
        String::from_utf8_lossy(&printed.stdout)
    );
    let id = SessionLog::load(&session).unwrap().meta.session_id;
    assert!(got.contains(&format!("export {all} ['{id}']")), "{got}");
    let df = dualscope::store::reader::table_frame(&session, "property_map")
        .unwrap()
        .unwrap();
    assert_eq!(df.height(), all);
}

/// The `flags` table as DuckDB reads it: its columns and types, and the
/// newest flag of a step as its standing.
#[test]
fn duckdb_reads_the_flags_table() {
    use dualscope::record::Flag;
    use dualscope::store::{Entry, SessionWriter};
    let Some(py) = python::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "");
    run_ok(bin().args(["run", plan.to_str().unwrap(), "--headless", "--budget", "6"]));
    let session = only_session(&dir.path().join("runs"));
    {
        let (mut writer, _) = SessionWriter::reopen(&session).unwrap();
        for (t_ms, step, flag) in [(1, 2, "rejected"), (2, 4, "rejected"), (3, 2, "restored")] {
            writer
                .append(Entry::Flag(Flag {
                    step,
                    t_ms,
                    flag: flag.into(),
                    reason: "by hand".into(),
                }))
                .unwrap();
        }
        writer.sync().unwrap();
    }
    let out = python::run(
        &py,
        r#"
import sys, duckdb
s = sys.argv[1]
q = f"read_parquet('{s}/flags/*.parquet')"
print([(c[0], c[1]) for c in duckdb.sql(f"describe select * from {q}").fetchall()])
print(duckdb.sql(f"select step from (select step, arg_max(flag, t_ms) f from {q} group by step) where f = 'rejected'").fetchall())
"#,
        &[session.to_str().unwrap()],
    );
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("[('step', 'UINTEGER'), ('t_ms', 'BIGINT'), ('flag', 'VARCHAR'), ('reason', 'VARCHAR')]"),
        "{out}"
    );
    assert_eq!(lines.next(), Some("[(4,)]"), "{out}");
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(
        dualscope::record::flag::rejected(&log.flags)
            .into_iter()
            .collect::<Vec<_>>(),
        [4]
    );
}
