//! A session opened elsewhere: the `.gwy` by the `gwyfile` package (and by
//! Gwyddion itself where it is installed), the `.ibw` waves by `igor2`, the
//! Hive dataset of several sessions by DuckDB — on a finished session and on
//! one still being written, without changing a byte of either.

use crate::common::*;
use dualscope::store::SessionLog;
use std::path::{Path, PathBuf};

fn finished(dir: &Path, seed: &str, budget: &str) -> PathBuf {
    let plan = fast_plan(dir, "");
    let runs = dir.join(format!("runs-{seed}"));
    run_ok(bin().args([
        "run",
        plan.to_str().unwrap(),
        "--headless",
        "--seed",
        seed,
        "--budget",
        budget,
        "--out",
        runs.to_str().unwrap(),
    ]));
    only_session(&runs)
}

fn files_of(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_of(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out.sort();
    out
}

const READ_GWY: &str = r#"
import sys, math
import gwyfile
import pyarrow.parquet as pq
path, session = sys.argv[1], sys.argv[2]
obj = gwyfile.load(path)
fields = gwyfile.util.get_datafields(obj)
topo = fields["Topography"]
rows, cols = topo.data.shape
t = pq.read_table(f"{session}/topography").to_pydict()
assert len(t["row"]) == rows * cols, (len(t["row"]), rows, cols)
worst = max(abs(topo.data[r, c] - h * 1e-9) for r, c, h in zip(t["row"], t["col"], t["height_nm"]))
assert worst < 1e-18, worst
assert topo.si_unit_xy.unitstr == "m" and topo.si_unit_z.unitstr == "m"
assert abs(topo.xreal - 500e-9) < 1e-15 and abs(topo.yreal - 500e-9) < 1e-15
meta = obj["/0/meta"]
assert "dualscope" in meta["Software"] and "SimAFM" in meta["Instrument"], dict(meta)
m = pq.read_table(f"{session}/measurements").to_pydict()
order = sorted(range(len(m["step"])), key=lambda k: m["step"][k])
up, down = obj["/sps/0"], obj["/sps/1"]
assert up["title"] == "I-V up" and down["title"] == "I-V down"
assert len(up["data"]) == len(order) and len(up["coords"]) == 2 * len(order)
for i, k in enumerate(order):
    assert abs(up["coords"][2 * i] - m["x_nm"][k] * 1e-9) < 1e-18
    assert abs(up["coords"][2 * i + 1] - m["y_nm"][k] * 1e-9) < 1e-18
    line = up["data"][i]
    bias, cur = m["bias_v"][k], m["current_a"][k]
    turn = max(range(len(bias)), key=lambda j: abs(bias[j] - bias[0]))
    assert line["res"] == turn + 1
    assert line["si_unit_x"]["unitstr"] == "V" and line["si_unit_y"]["unitstr"] == "A"
    assert abs(line["off"] - bias[0]) < 1e-12
    step = line["real"] / line["res"]
    assert abs(line["off"] + turn * step - bias[turn]) < 1e-9
    assert max(abs(a - b) for a, b in zip(line["data"], cur[: turn + 1])) < 1e-24
    dl = down["data"][i]
    back = cur[turn:][::-1]
    assert dl["res"] == len(back) and max(abs(a - b) for a, b in zip(dl["data"], back)) < 1e-24
print("gwy ok", len(order))
"#;

const READ_IBW: &str = r#"
import sys, csv
import numpy as np
from igor2 import binarywave
import pyarrow.parquet as pq
out, session = sys.argv[1], sys.argv[2]
m = pq.read_table(f"{session}/measurements").to_pydict()
rows = list(csv.DictReader(open(f"{out}/index.csv")))
assert len(rows) == len(m["step"]), (len(rows), len(m["step"]))
for k, step in enumerate(m["step"]):
    w = binarywave.load(f"{out}/iv{step:04d}.ibw")["wave"]
    data = w["wData"]
    n = len(m["bias_v"][k])
    assert data.shape == (n, 2), data.shape
    assert [l.decode() for l in w["labels"][1]] == ["", "Bias", "Current"], w["labels"]
    assert np.allclose(data[:, 0], np.array(m["bias_v"][k], dtype=np.float32))
    assert np.allclose(data[:, 1], np.array(m["current_a"][k], dtype=np.float32), rtol=1e-6, atol=0)
    note = w["note"].decode()
    assert f"Step:{step}\r" in note and "CurrentUnit:A" in note, note
    row = [r for r in rows if int(r["step"]) == step][0]
    assert abs(float(row["x_nm"]) - m["x_nm"][k]) < 1e-9
t = binarywave.load(f"{out}/topography.ibw")["wave"]
topo = pq.read_table(f"{session}/topography").to_pydict()
nr, nc = max(topo["row"]) + 1, max(topo["col"]) + 1
img = t["wData"]
assert img.shape == (nc, nr), img.shape
for r, c, h in zip(topo["row"], topo["col"], topo["height_nm"]):
    # Igor's y is up: the survey's last row is the wave's first column.
    assert abs(img[c, nr - 1 - r] - np.float32(h * 1e-9)) <= 1e-6 * abs(h * 1e-9) + 1e-15
wh = t["wave_header"]
assert b"".join(wh["dataUnits"]).strip(b"\0") == b"m"
assert abs(wh["sfA"][0] - 500e-9 / nc) < 1e-18
print("ibw ok", len(rows))
"#;

const READ_DATASET: &str = r#"
import sys, duckdb
d = sys.argv[1]
rows = duckdb.sql(f"select session, count(*), count(distinct step) from read_parquet('{d}/measurements/*/*.parquet', hive_partitioning = true) group by session order by session").fetchall()
print(rows)
one = duckdb.sql(f"select count(*) from read_parquet('{d}/decisions/*/*.parquet', hive_partitioning = true) where session = '{sys.argv[2]}'").fetchall()[0][0]
print(one)
"#;

#[test]
fn gwyfile_igor2_and_duckdb_read_the_exports_of_a_finished_session() {
    let Some(py) = python::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let a = finished(dir.path(), "1", "12");
    let b = finished(dir.path(), "2", "7");
    let before = files_of(&a);
    let gwy = dir.path().join("a.gwy");
    run_ok(bin().args([
        "export",
        a.to_str().unwrap(),
        "--format",
        "gwy",
        "--out",
        gwy.to_str().unwrap(),
    ]));
    let out = python::run(&py, READ_GWY, &[gwy.to_str().unwrap(), a.to_str().unwrap()]);
    assert!(out.contains("gwy ok 12"), "{out}");
    let ibw = dir.path().join("waves");
    run_ok(bin().args([
        "export",
        a.to_str().unwrap(),
        "--format",
        "ibw",
        "--out",
        ibw.to_str().unwrap(),
    ]));
    let out = python::run(&py, READ_IBW, &[ibw.to_str().unwrap(), a.to_str().unwrap()]);
    assert!(out.contains("ibw ok 12"), "{out}");
    // Two sessions, exported one after the other, into one dataset.
    let data = dir.path().join("lab");
    run_ok(bin().args(["export", a.to_str().unwrap(), "--dataset", data.to_str().unwrap()]));
    let first = files_of(&data);
    run_ok(bin().args(["export", b.to_str().unwrap(), "--dataset", data.to_str().unwrap()]));
    for (p, bytes) in &first {
        assert_eq!(
            &std::fs::read(p).unwrap(),
            bytes,
            "{} changed when another session was added",
            p.display()
        );
    }
    let (ia, ib) = (
        SessionLog::load(&a).unwrap().meta.session_id,
        SessionLog::load(&b).unwrap().meta.session_id,
    );
    let out = python::run(&py, READ_DATASET, &[data.to_str().unwrap(), &ib]);
    let mut want = [(ia.clone(), 12), (ib.clone(), 7)];
    want.sort();
    let expect = format!(
        "[('{}', {}, {}), ('{}', {}, {})]",
        want[0].0, want[0].1, want[0].1, want[1].0, want[1].1, want[1].1
    );
    assert!(out.starts_with(&expect), "{out}\nwanted {expect}");
    assert_eq!(out.lines().nth(1), Some("7"), "{out}");
    assert_eq!(files_of(&a), before, "an export wrote under the session");
}

#[test]
fn gwyddion_itself_opens_the_gwy_export_where_it_is_installed() {
    let gwyddion = Path::new("/usr/bin/gwyddion");
    if !gwyddion.exists() {
        eprintln!("skipped: Gwyddion is not installed (Debian: apt-get install gwyddion)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = finished(dir.path(), "3", "6");
    let gwy = dir.path().join("a.gwy");
    run_ok(bin().args([
        "export",
        a.to_str().unwrap(),
        "--format",
        "gwy",
        "--out",
        gwy.to_str().unwrap(),
    ]));
    // `--check` exits 0 even when it cannot load a file: silence is the pass.
    let out = std::process::Command::new(gwyddion)
        .arg("--check")
        .arg(&gwy)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "gwyddion --check: {:?}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let png = dir.path().join("thumb.png");
    let thumb = std::process::Command::new("/usr/bin/gwyddion-thumbnailer")
        .args(["gnome2", "128"])
        .arg(&gwy)
        .arg(&png)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert!(
        thumb.status.success() && png.exists(),
        "{}",
        String::from_utf8_lossy(&thumb.stderr)
    );
}

#[test]
fn a_running_session_exports_in_every_form_without_being_touched() {
    let Some(py) = python::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let plan = timed_plan(dir.path(), 0.1, "");
    let mut run = spawn_run(&plan, &["--budget", "60"]);
    let session = wait_for_session(&dir.path().join("runs"), 30);
    let t0 = std::time::Instant::now();
    while SessionLog::load(&session).map(|l| l.next_step() < 6).unwrap_or(true) {
        assert!(t0.elapsed().as_secs() < 60);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let lock_before = std::fs::read(session.join("session.lock")).unwrap();
    let gwy = dir.path().join("live.gwy");
    run_ok(bin().args([
        "export",
        session.to_str().unwrap(),
        "--format",
        "gwy",
        "--out",
        gwy.to_str().unwrap(),
    ]));
    let ibw = dir.path().join("live-waves");
    run_ok(bin().args([
        "export",
        session.to_str().unwrap(),
        "--format",
        "ibw",
        "--out",
        ibw.to_str().unwrap(),
    ]));
    run_ok(bin().args([
        "export",
        session.to_str().unwrap(),
        "--dataset",
        dir.path().join("lab").to_str().unwrap(),
    ]));
    assert!(run.wait().unwrap().success(), "the run goes on to its end");
    assert_eq!(
        std::fs::read(session.join("session.lock")).unwrap(),
        lock_before,
        "no lock was taken"
    );
    let _ = py;
    assert_eq!(SessionLog::load(&session).unwrap().next_step(), 60);
}

const READ_CONSOLIDATED: &str = r#"
import sys
import pyarrow.parquet as pq
out, session, sid = sys.argv[1], sys.argv[2], sys.argv[3]
t = pq.read_table(out)
kv = {k.decode(): v.decode() for k, v in pq.read_metadata(out).metadata.items()}
assert kv["dualscope.session_id"] == sid, kv
assert kv["dualscope.unit.x_nm"] == "nm" and kv["dualscope.unit.current_a"] == "A", kv
assert kv["dualscope.unit.hysteresis_area_va"] == "V·A" and kv["dualscope.unit.fit_ms"] == "ms", kv
d = t.to_pydict()
assert d["hysteresis_area_va"] == d["hysteresis_area"]
e = pq.read_table(f"{session}/embeddings").to_pydict()
newest = max(e["model_step"])
want = {s: c for s, c, m in zip(e["step"], e["cluster"], e["model_step"]) if m == newest}
assert len(want) == len(d["step"]), (len(want), len(d["step"]))
assert all(want[s] == c for s, c in zip(d["step"], d["cluster"])), (want, d["cluster"])
# A part file of the session itself says its units and its session too.
import glob
part = pq.read_metadata(sorted(glob.glob(f"{session}/measurements/part-*.parquet"))[-1]).metadata
assert part[b"dualscope.session_id"].decode() == sid and part[b"dualscope.unit.bias_v"] == b"V", part
print("parquet ok", len(d["step"]), len(set(d["cluster"])))
"#;

#[test]
fn the_consolidated_table_carries_clusters_units_and_the_session() {
    let Some(py) = python::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let a = finished(dir.path(), "3", "12");
    let out = dir.path().join("all.parquet");
    // Before any map: the cluster column is there, and null.
    run_ok(bin().args(["export", a.to_str().unwrap(), "--out", out.to_str().unwrap()]));
    let nulls = python::run(
        &py,
        "import sys, pyarrow.parquet as pq\nprint(pq.read_table(sys.argv[1]).column('cluster').null_count)",
        &[out.to_str().unwrap()],
    );
    assert_eq!(nulls.trim(), "12", "{nulls}");
    run_ok(bin().args(["analyze", a.to_str().unwrap(), "--epochs", "5"]));
    run_ok(bin().args(["export", a.to_str().unwrap(), "--out", out.to_str().unwrap()]));
    let id = SessionLog::load(&a).unwrap().meta.session_id;
    let got = python::run(
        &py,
        READ_CONSOLIDATED,
        &[out.to_str().unwrap(), a.to_str().unwrap(), &id],
    );
    assert!(got.contains("parquet ok 12"), "{got}");
}
