//! The Nanonis path: `sim serve --nanonis` judged by the vendor's own Python
//! client (`nanonis-spm`), and headless sessions driving it through
//! `--instrument nanonis:HOST:PORT`, cleanly and through a dropped
//! connection, controller errors and held-back replies.

use crate::common::*;
use dualscope::store::SessionLog;
use dualscope::store::grid::GridDataset;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

struct Served {
    child: Child,
    address: String,
    faults: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `dualscope sim serve --nanonis` on a free loopback port.
fn serve(plan: &Path, extra: &[&str]) -> Served {
    let mut child = bin()
        .args([
            "sim",
            "serve",
            "--nanonis",
            "--listen",
            "127.0.0.1:0",
            "--plan",
            plan.to_str().unwrap(),
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let address = first
        .split(" on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in `{first}`"))
        .to_string();
    let faults = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = faults.clone();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            seen.lock().unwrap().push(line);
        }
    });
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Served { child, address, faults }
}

const VENDOR: &str = r#"
import socket, sys, math
import numpy as np
import pyarrow.parquet as pq
from nanonis_spm import Nanonis

address, data = sys.argv[1], sys.argv[2]
host, port = address.rsplit(":", 1)
s = socket.socket()
s.connect((host, int(port)))
n = Nanonis(s)
n.returnDebugInfo(0)

err, _, frame = n.Scan_FrameGet()
assert err == "", err
cx, cy, w, h, angle = frame
assert abs(cx - 3.2e-6) < 1e-12 and abs(cy + 1.7e-6) < 1e-12, frame

err, _, buf = n.Scan_BufferGet()
assert err == "", err
nch, channels, pixels, lines = buf
assert [c[0] for c in channels] == [0, 30], channels

# The Z channel, flipped as its scan direction says, against `sim export`.
err, _, grab = n.Scan_FrameDataGrab(30, 1)
assert err == "", err
_, name, rows, cols, img, up = grab
assert name == "Z (m)" and (rows, cols) == (lines, pixels), (name, rows, cols)
if up == 1:
    img = np.flipud(img)
t = pq.read_table(f"{data}/topography.parquet").to_pydict()
want = np.zeros((rows, cols))
for r, c, v in zip(t["row"], t["col"], t["height_nm"]):
    want[r, c] = v * 1e-9
worst = float(np.max(np.abs(img - want)))
assert worst < 1e-15 + 1e-6 * float(np.max(np.abs(want))), worst

# A point, moved to by Follow Me, swept by the Bias Spectroscopy module.
row, col = 20, 30
x = (col + 0.5) * w / cols
y = (row + 0.5) * h / rows
X, Y = cx - w / 2 + x, cy + h / 2 - y
assert n.ZCtrl_OnOffSet(1)[0] == ""
assert n.FolMe_XYPosSet(X, Y, 1)[0] == ""
err, _, pos = n.FolMe_XYPosGet(1)
assert err == "" and abs(pos[0] - X) < 1e-12 and abs(pos[1] - Y) < 1e-12, pos
assert n.BiasSpectr_LimitsSet(0.0, 1.5)[0] == ""
assert n.BiasSpectr_PropsSet(2, 1, 1, 126, float("nan"), 2, 2)[0] == ""
assert n.BiasSpectr_TimingSet(*([float("nan")] * 4), 0.001, 0.001, float("nan"), float("nan"))[0] == ""
err, _, sp = n.BiasSpectr_Start(1, "")
assert err == "", err
names, data2d = sp[2], sp[5]
fwd = data2d[names.index("Current (A)")]
bwd = data2d[names.index("Current [bwd] (A)")]
curve = list(fwd) + list(bwd[::-1][1:])
spectra = pq.read_table(f"{data}/spectra.parquet").to_pydict()
k = [i for i, (r, c) in enumerate(zip(spectra["row"], spectra["col"])) if (r, c) == (row, col)][0]
want_i = spectra["current_a"][k]
assert len(curve) == len(want_i) == 251, (len(curve), len(want_i))
worst = max(abs(a - b) / max(abs(b), 1e-15) for a, b in zip(curve, want_i))
assert worst < 1e-6, worst

# A bias beyond the controller's limit is refused with a Nanonis error.
err = n.BiasSpectr_LimitsSet(0.0, 50.0)[0]
assert "out of range" in err, err
print("vendor client: ok")
"#;

#[test]
fn the_vendors_client_reads_the_emulator_as_a_nanonis_controller() {
    let Some(py) = python::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "");
    let data = dir.path().join("film");
    run_ok(bin().args([
        "sim",
        "export",
        "--plan",
        plan.to_str().unwrap(),
        "--out",
        data.to_str().unwrap(),
        "--stride",
        "1",
    ]));
    let server = serve(&plan, &[]);
    let out = python::run(&py, VENDOR, &[&server.address, data.to_str().unwrap()]);
    assert!(out.contains("vendor client: ok"), "{out}");
}

/// A replay dataset of the fast plan's film, and a plan that runs on it
/// through a Nanonis controller.
fn replay_setup(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let plan = fast_plan(
        dir,
        "[nanonis]\ntimeout_ms = 500\nsweep_margin_ms = 500\nretries = 4\nreconnect_s = 10\n",
    );
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("budget = 40", "budget = 30");
    std::fs::write(&plan, text).unwrap();
    let data = dir.join("film");
    run_ok(bin().args([
        "sim",
        "export",
        "--plan",
        plan.to_str().unwrap(),
        "--out",
        data.to_str().unwrap(),
    ]));
    (plan, data)
}

/// A headless session through the emulator; every curve is checked against
/// the dataset's curve at the pixel where the tip settled.
fn session_through(dir: &Path, faults: &[&str]) -> (SessionLog, Vec<String>) {
    let (plan, data) = replay_setup(dir);
    let mut args = vec!["--replay", data.to_str().unwrap()];
    args.extend_from_slice(faults);
    let server = serve(&plan, &args);
    let runs = dir.join("runs");
    run_ok(bin().args([
        "run",
        plan.to_str().unwrap(),
        "--headless",
        "--instrument",
        &format!("nanonis:{}", server.address),
        "--out",
        runs.to_str().unwrap(),
    ]));
    let log = SessionLog::load(&only_session(&runs)).unwrap();
    let dataset = GridDataset::read(&data, 1 << 24).unwrap();
    assert_eq!(log.measurements.len(), 30, "30 curves");
    let steps: Vec<u32> = log.measurements.iter().map(|m| m.step).collect();
    assert_eq!(steps, (0..30).collect::<Vec<_>>(), "nothing lost, nothing twice");
    for m in &log.measurements {
        // The settled position is a stored pixel's centre, recorded exactly.
        let (x, y) = dualscope::record::pixel_to_nm(m.row, m.col, 64, 64, 500.0, 500.0);
        assert!(
            (m.x_nm - x).abs() < 1e-3 && (m.y_nm - y).abs() < 1e-3,
            "step {}",
            m.step
        );
        let stored = &dataset.spectra[&(m.row, m.col)];
        assert_eq!(m.current_a.len(), stored.current_a.len(), "step {}", m.step);
        for (a, b) in m.current_a.iter().zip(&stored.current_a) {
            assert!(
                (a - b).abs() <= 1e-6 * b.abs().max(1e-15),
                "step {}: {a} vs {b}",
                m.step
            );
        }
    }
    let faults = server.faults.lock().unwrap().clone();
    (log, faults)
}

#[test]
fn a_session_through_the_nanonis_emulator_measures_the_datasets_curves() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = session_through(dir.path(), &[]);
    assert!(
        log.meta
            .instrument_idn
            .starts_with("SPECS,Nanonis SPM Control Software"),
        "{}",
        log.meta.instrument_idn
    );
}

#[test]
fn a_dropped_connection_controller_errors_and_delays_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (log, faults) = session_through(
        dir.path(),
        &[
            "--drop-at",
            "60",
            "--drop-at",
            "95",
            "--error",
            "0.05",
            "--delay",
            "0.05",
            "--delay-ms",
            "100",
            "--fault-seed",
            "4",
        ],
    );
    let count = |what: &str| faults.iter().filter(|l| l.contains(what)).count();
    assert_eq!(count("connection dropped"), 2, "{faults:?}");
    assert!(
        count("controller error") >= 2 && count("reply delayed") >= 1,
        "{faults:?}"
    );
    let kinds = |k: &str| log.events.iter().filter(|e| e.kind.label() == k).count();
    assert!(kinds("link_lost") >= 2 && kinds("reconnect") >= 2, "{:?}", log.events);
    assert!(
        kinds("instrument_error") >= count("controller error"),
        "{:?}",
        log.events
    );
}

/// A headless session of `plan` with `budget` locations through the
/// emulator `server`, into `runs`, read back.
fn headless_through(plan: &Path, server: &Served, budget: u32, runs: &Path) -> SessionLog {
    run_ok(bin().args([
        "run",
        plan.to_str().unwrap(),
        "--headless",
        "--budget",
        &budget.to_string(),
        "--instrument",
        &format!("nanonis:{}", server.address),
        "--out",
        runs.to_str().unwrap(),
    ]));
    SessionLog::load(&only_session(runs)).unwrap()
}

/// The same microscope artefacts through the Nanonis path: the emulator
/// serves the simulator with lost contact and noisy sweeps, and every
/// curve's verdict is what its instrument drew.
#[test]
fn through_the_nanonis_emulator_the_gate_judges_each_curve_as_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.txt");
    let plan = fast_plan(
        dir.path(),
        "[nanonis]\ntimeout_ms = 500\nsweep_margin_ms = 500\n[quality]\npause_after = 0\n",
    );
    let served = dir.path().join("served.toml");
    std::fs::write(
        &served,
        std::fs::read_to_string(&plan).unwrap().replace(
            "[sim]\ntime_scale = 0.0",
            &format!(
                "[sim]\ntime_scale = 0.0\naudit_log = \"{}\"\n\
                 [sim.artefacts]\ncontact_loss = 0.15\nnoisy_share = 0.15\nnoisy_factor = 5.0\n",
                audit.display()
            ),
        ),
    )
    .unwrap();
    let server = serve(&served, &[]);
    let log = headless_through(&plan, &server, 30, &dir.path().join("runs"));
    assert_eq!(log.measurements.len(), 30);
    let (lost, noisy) = gate::verdicts_as_drawn(&log, &gate::audit_draws(&audit));
    assert!(lost >= 1 && noisy >= 1, "{lost} without contact, {noisy} noisy");
}

/// Three sweeps a location through the Nanonis path: the driver sets each
/// protocol's range before its sweep, and every curve sweeps to its own
/// top bias, at one place per location.
#[test]
fn through_the_nanonis_emulator_each_location_gets_every_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(
        dir.path(),
        "[nanonis]\ntimeout_ms = 500\nsweep_margin_ms = 500\n\
         [[sweep.protocol]]\nv_max = 1.0\n[[sweep.protocol]]\nv_max = -1.5\n[[sweep.protocol]]\nv_max = 2.0\n",
    );
    let server = serve(&plan, &[]);
    let log = headless_through(&plan, &server, 6, &dir.path().join("runs"));
    assert_eq!(log.measurements.len(), 18);
    for (k, m) in log.measurements.iter().enumerate() {
        let want = [1.0, -1.5, 2.0][k % 3];
        let top = m
            .bias_v
            .iter()
            .copied()
            .max_by(|a, b| a.abs().total_cmp(&b.abs()))
            .unwrap();
        assert!((top - want).abs() < 1e-6, "step {k}: swept to {top} V, not {want} V");
        assert_eq!((m.protocol, m.location), (Some(k as u32 % 3), Some(k as u32 / 3)));
        let first = &log.measurements[k - k % 3];
        assert_eq!((m.row, m.col), (first.row, first.col));
    }
}
