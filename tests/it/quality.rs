//! The simulator's artefacts against the quality gate, the tip check and
//! drift tracking: every curve the instrument returned without contact is
//! judged `no_contact` (and no other is), each is measured again once,
//! failures in a row suspend the run, a changed tip is reported, a drifting
//! sample is followed, and with no artefact on, the gate changes nothing but
//! the new column.

use crate::common::*;
use dualscope::instrument::sim::artefacts::Artefacts;
use dualscope::plan::{ArtefactPlan, SessionPlan};
use dualscope::record::{EventKind, Quality, Source};
use dualscope::store::{SessionLog, SessionStatus};

#[test]
fn every_curve_without_contact_is_judged_so_and_measured_again_once() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(
        dir.path(),
        "[sim.artefacts]\ncontact_loss = 0.2\n[quality]\npause_after = 0\n",
    );
    run_ok(bin().args(["run", plan.to_str().unwrap(), "--headless", "--budget", "40"]));
    let session = only_session(&dir.path().join("runs"));
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(log.measurements.len(), 40);
    // Which sweeps had no contact, as the instrument drew it: keyed by the
    // place the tip was sent to and the visit there.
    let written = SessionPlan::from_toml(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    let artefacts = Artefacts::new(
        &ArtefactPlan {
            contact_loss: 0.2,
            ..ArtefactPlan::default()
        },
        written.seed,
    );
    let mut visits = std::collections::HashMap::new();
    let mut lost = 0;
    for m in &log.measurements {
        let key = (m.x_nm.to_bits(), m.y_nm.to_bits());
        let visit = visits.entry(key).or_insert(0u64);
        let without = artefacts.contact_lost(key, *visit);
        *visit += 1;
        lost += without as usize;
        let want = if without { Quality::NoContact } else { Quality::Ok };
        assert_eq!(m.quality, Some(want), "step {} at ({}, {})", m.step, m.row, m.col);
    }
    assert!(lost >= 3, "the test needs some lost contacts: {lost}");
    // Each failed curve's place is measured once more (a manual point), and
    // no place more than twice.
    for m in log.measurements.iter().filter(|m| m.failed_gate()) {
        let later: Vec<_> = log
            .measurements
            .iter()
            .filter(|n| n.step > m.step && (n.row, n.col) == (m.row, m.col))
            .collect();
        let first_at_place = !log
            .measurements
            .iter()
            .any(|n| n.step < m.step && (n.row, n.col) == (m.row, m.col));
        if first_at_place && m.step < 39 {
            assert_eq!(later.len(), 1, "step {} measured again once", m.step);
            assert_eq!(later[0].source, Source::Manual);
        } else {
            assert!(later.is_empty(), "step {}: a place is measured again only once", m.step);
        }
    }
    let failed_events = log.events.iter().filter(|e| e.kind == EventKind::QualityFailed).count();
    assert_eq!(failed_events, lost);
    assert!(log.events.iter().all(|e| e.kind != EventKind::Suspended));
    // The column as an outside reader sees it.
    let Some(py) = python::python() else { return };
    let counts = python::run(
        &py,
        "import sys, pyarrow.parquet as pq, collections\n\
         t = pq.read_table(sys.argv[1])\n\
         c = collections.Counter(t.column('quality').to_pylist())\n\
         print(c['ok'], c['no_contact'], t.schema.field('quality').type)",
        &[session.join("measurements").to_str().unwrap()],
    );
    // utf8, as polars writes every text column (`string` or `string_view`).
    let want = format!("{} {lost} string", 40 - lost);
    assert!(counts.trim().starts_with(&want), "{counts} against {want}");
}

#[test]
fn curves_failing_in_a_row_suspend_the_run_resumable() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "[sim.artefacts]\ncontact_loss = 1.0\n");
    let out = run_ok(bin().args(["run", plan.to_str().unwrap(), "--headless", "--budget", "40"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("suspended"), "{stdout}");
    let session = only_session(&dir.path().join("runs"));
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(log.measurements.len(), 3, "three failures, then the run ends");
    assert!(log.measurements.iter().all(|m| m.quality == Some(Quality::NoContact)));
    // The second curve is the first one's place again.
    assert_eq!(log.measurements[1].source, Source::Manual);
    assert_eq!(
        (log.measurements[0].row, log.measurements[0].col),
        (log.measurements[1].row, log.measurements[1].col)
    );
    assert!(log.events.iter().any(|e| e.kind == EventKind::Suspended));
    assert_eq!(log.meta.status, SessionStatus::Paused);
}

/// With no artefact on, the gate passes every curve of the simulated film:
/// the session is the same point for point with the gate on and off.
#[test]
fn without_artefacts_the_gate_changes_nothing_but_its_column() {
    let run = |extra: &str| {
        let dir = tempfile::tempdir().unwrap();
        let plan = fast_plan(dir.path(), extra);
        let text = std::fs::read_to_string(&plan)
            .unwrap()
            .replace("name = \"random\"", "name = \"dn-dkl\"");
        std::fs::write(&plan, text).unwrap();
        run_ok(bin().args(["run", plan.to_str().unwrap(), "--headless", "--budget", "25"]));
        let log = SessionLog::load(&only_session(&dir.path().join("runs"))).unwrap();
        (dir, log)
    };
    let ((_a, on), (_b, off)) = (run(""), run("[quality]\ngate = false\n"));
    assert!(on.measurements.iter().all(|m| m.quality == Some(Quality::Ok)));
    assert!(off.measurements.iter().all(|m| m.quality.is_none()));
    let places = |log: &SessionLog| -> Vec<_> {
        log.measurements
            .iter()
            .map(|m| (m.row, m.col, m.x_nm.to_bits(), m.current_a.clone()))
            .collect()
    };
    assert_eq!(places(&on), places(&off));
}

/// A tip that changes after 20 sweeps is reported by the next check of the
/// reference place (every 5 curves), once; an unchanged tip never is.
#[test]
fn a_changed_tip_is_reported_by_the_next_check() {
    let checks = |artefacts: &str, pauses: bool| {
        let dir = tempfile::tempdir().unwrap();
        let extra =
            format!("[sim.artefacts]\n{artefacts}\n[quality]\nreference_every = 5\ntip_change_pauses = {pauses}\n");
        let plan = fast_plan(dir.path(), &extra);
        run_ok(bin().args(["run", plan.to_str().unwrap(), "--headless", "--budget", "40"]));
        let log = SessionLog::load(&only_session(&dir.path().join("runs"))).unwrap();
        (dir, log)
    };
    let (_a, steady) = checks("", false);
    let looked = steady.events.iter().filter(|e| e.kind == EventKind::TipCheck).count();
    assert!(looked >= 6, "{looked} checks in 40 curves");
    assert!(steady.events.iter().all(|e| e.kind != EventKind::TipChanged));
    let at = |log: &SessionLog| {
        let first = &log.measurements[0];
        log.decisions
            .iter()
            .filter(|d| d.policy.starts_with("manual: tip check"))
            .map(|d| {
                assert_eq!((d.row, d.col), (first.row, first.col), "checked at the reference");
                d.step
            })
            .collect::<Vec<_>>()
    };
    assert!(at(&steady).len() >= 6);
    let (_b, worn) = checks("tip_change_after = 20\ntip_change_factor = 0.3", false);
    let changed: Vec<_> = worn.events.iter().filter(|e| e.kind == EventKind::TipChanged).collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    // The first check after the 20th sweep, within 10 curves of it.
    let first_after = at(&worn)
        .into_iter()
        .find(|s| *s >= 20)
        .expect("a check after the change");
    assert!(first_after < 30, "checked at step {first_after}");
    let (_c, stopped) = checks("tip_change_after = 20\ntip_change_factor = 0.3", true);
    assert!(stopped.events.iter().any(|e| e.kind == EventKind::Suspended));
    assert_eq!(stopped.meta.status, SessionStatus::Paused);
    assert!(stopped.measurements.len() < 31, "{}", stopped.measurements.len());
}

/// A sample drifting 60 nm/min under the tip (3.5 px over the session): with
/// a re-image every 5 curves every recorded position is within 1 px of the
/// film point the simulator says it measured; without, the later ones are
/// not.
#[test]
fn a_drifting_sample_is_followed() {
    let run = |every: u32| {
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("audit.txt");
        let extra = format!("[sim.artefacts]\ndrift_nm_per_min = [60.0, -40.0]\n[drift]\nevery = {every}\n");
        let plan = fast_plan(dir.path(), &extra);
        let text = std::fs::read_to_string(&plan).unwrap().replace(
            "time_scale = 0.0",
            &format!("time_scale = 0.0\naudit_log = \"{}\"", audit.display()),
        );
        std::fs::write(&plan, text).unwrap();
        run_ok(bin().args(["run", plan.to_str().unwrap(), "--headless", "--budget", "40"]));
        let log = SessionLog::load(&only_session(&dir.path().join("runs"))).unwrap();
        let measured: Vec<(f64, f64)> = std::fs::read_to_string(&audit)
            .unwrap()
            .lines()
            .map(|l| {
                let mut w = l.split_whitespace().map(|v| v.parse::<f64>().unwrap());
                (w.next().unwrap(), w.next().unwrap())
            })
            .collect();
        assert_eq!(measured.len(), log.measurements.len());
        let px_nm = 500.0 / 64.0;
        let off: Vec<f64> = log
            .measurements
            .iter()
            .zip(&measured)
            .map(|(m, (x, y))| (m.x_nm - x).hypot(m.y_nm - y) / px_nm)
            .collect();
        let drifts = log.events.iter().filter(|e| e.kind == EventKind::Drift).count();
        // One `drift` row per estimate, as the events say.
        assert_eq!(log.drift.len(), drifts);
        if let (Some(py), Some(last)) = (python::python(), log.drift.last()) {
            let read = python::run(
                &py,
                "import sys, pyarrow.dataset as ds\n\
                 t = ds.dataset(sys.argv[1]).to_table()\n\
                 print(t.num_rows, t.column_names, repr(t.column('dx_nm').to_pylist()[-1]))",
                &[only_session(&dir.path().join("runs")).join("drift").to_str().unwrap()],
            );
            let (head, dx) = read.trim().rsplit_once(' ').unwrap();
            assert_eq!(head, format!("{drifts} ['t_ms', 'dx_nm', 'dy_nm', 'score']"));
            assert!((dx.parse::<f64>().unwrap() - last.dx_nm).abs() < 1e-9, "{read}");
        }
        (off, drifts)
    };
    let (followed, drifts) = run(5);
    assert!(drifts >= 7, "{drifts} re-images");
    let worst = followed.iter().cloned().fold(0.0, f64::max);
    assert!(worst < 1.0, "{worst:.2} px off with drift tracking: {followed:?}");
    let (unfollowed, none) = run(0);
    assert_eq!(none, 0);
    let last = *unfollowed.last().unwrap();
    assert!(last > 2.0, "the drift is there to follow: {last:.2} px at the end");
}

/// A run the gate suspends right after a failed curve leaves that curve's
/// re-measure queued: `resume` takes it first (the queue is rebuilt from the
/// log), and, with drift tracked, images the frame again before its first
/// move (the sample drifted on while nobody measured).
#[test]
fn a_resumed_run_takes_the_queued_remeasure_first_and_looks_at_the_drift_again() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(
        dir.path(),
        "[sim.artefacts]\ncontact_loss = 0.25\n[quality]\npause_after = 1\ncheck_tip_before_pausing = false\n[drift]\nevery = 5\n",
    );
    run_ok(bin().args(["run", plan.to_str().unwrap(), "--headless", "--budget", "40"]));
    let session = only_session(&dir.path().join("runs"));
    let before = SessionLog::load(&session).unwrap();
    assert_eq!(before.meta.status, SessionStatus::Paused);
    let failed = before.measurements.last().unwrap().clone();
    assert!(failed.failed_gate(), "the run ended at a failed curve");
    let n = before.measurements.len();
    assert!((2..40).contains(&n), "{n} curves before the suspension");
    run_ok(bin().args(["resume", session.to_str().unwrap(), "--headless"]));
    let after = SessionLog::load(&session).unwrap();
    let next = &after.measurements[n];
    assert_eq!((next.row, next.col), (failed.row, failed.col), "the repeat comes first");
    assert_eq!(next.source, Source::Manual);
    assert_eq!(
        after.decisions[n].policy,
        format!("manual: repeat of step {}", failed.step)
    );
    let resumed_at = after
        .events
        .iter()
        .rposition(|e| e.kind == EventKind::Resume)
        .expect("a resume event");
    let since: Vec<_> = after.events[resumed_at..].iter().map(|e| e.kind.clone()).collect();
    assert!(
        after.events[resumed_at..]
            .iter()
            .any(|e| e.kind == EventKind::ManualAdded && e.detail.contains("before the run stopped")),
        "{since:?}"
    );
    assert!(
        since
            .iter()
            .any(|k| matches!(k, EventKind::Drift | EventKind::DriftRefused)),
        "a re-image at the resume: {since:?}"
    );
}

/// `[drift] every_min`: the frame is imaged again by the clock, not only by
/// the curve count (the sample drifts with time).
#[test]
fn the_drift_is_looked_at_by_the_clock_too() {
    let dir = tempfile::tempdir().unwrap();
    // ~70 ms a curve; a re-image every 0.3 s.
    let plan = timed_plan(dir.path(), 0.1, "[drift]\nevery_min = 0.005\n");
    run_ok(bin().args(["run", plan.to_str().unwrap(), "--headless", "--budget", "30"]));
    let log = SessionLog::load(&only_session(&dir.path().join("runs"))).unwrap();
    let looked = log
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Drift | EventKind::DriftRefused))
        .count();
    assert!((2..20).contains(&looked), "{looked} re-images in 30 curves");
}

/// `dualscope analyze` learns from what the live models learned from: no
/// curve the gate failed is in its embeddings, every one that passed is.
#[test]
fn analyze_leaves_out_the_curves_the_gate_failed() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(
        dir.path(),
        "[sim.artefacts]\ncontact_loss = 0.2\n[quality]\npause_after = 0\n",
    );
    run_ok(bin().args(["run", plan.to_str().unwrap(), "--headless", "--budget", "30"]));
    let session = only_session(&dir.path().join("runs"));
    run_ok(bin().args(["analyze", session.to_str().unwrap(), "--epochs", "5"]));
    let log = SessionLog::load(&session).unwrap();
    let failed: Vec<u32> = log
        .measurements
        .iter()
        .filter(|m| m.failed_gate())
        .map(|m| m.step)
        .collect();
    assert!(failed.len() >= 2, "{failed:?}");
    let df = dualscope::store::reader::table_frame(&session, "embeddings")
        .unwrap()
        .unwrap();
    let steps: std::collections::BTreeSet<u32> = dualscope::store::frame::get_u32(&df, "step")
        .unwrap()
        .into_iter()
        .collect();
    let passed: std::collections::BTreeSet<u32> = log
        .measurements
        .iter()
        .filter(|m| !m.failed_gate())
        .map(|m| m.step)
        .collect();
    assert_eq!(steps, passed);
}

/// Failed curves in a row first send the tip back to the place of the first
/// good curve: a check there that passes says the tip is sound and the run
/// goes on; one that fails too suspends the run. Without the check
/// (`check_tip_before_pausing = false`) the first such failures suspend it.
#[test]
fn failures_in_a_row_check_the_tip_before_they_suspend_the_run() {
    let run = |check: bool| {
        let dir = tempfile::tempdir().unwrap();
        let extra = format!(
            "[sim.artefacts]\ncontact_loss = 0.35\n[quality]\npause_after = 2\ncheck_tip_before_pausing = {check}\n"
        );
        let plan = fast_plan(dir.path(), &extra);
        run_ok(bin().args(["run", plan.to_str().unwrap(), "--headless", "--budget", "40"]));
        let log = SessionLog::load(&only_session(&dir.path().join("runs"))).unwrap();
        (dir, log)
    };
    let (_a, checked) = run(true);
    let reference = checked
        .measurements
        .iter()
        .find(|m| m.quality == Some(Quality::Ok))
        .expect("a good curve");
    let asked = checked
        .events
        .iter()
        .filter(|e| e.kind == EventKind::TipSuspected && e.detail.contains("before the run is suspended"))
        .count();
    let checks: Vec<_> = checked
        .decisions
        .iter()
        .filter(|d| d.policy == format!("manual: tip check at the place of step {}", reference.step))
        .collect();
    assert_eq!(checks.len(), asked, "one check per run of failures");
    let verdicts: Vec<Quality> = checks
        .iter()
        .map(|d| {
            assert_eq!(
                (d.row, d.col),
                (reference.row, reference.col),
                "checked at the reference"
            );
            checked.measurements[d.step as usize].quality.unwrap()
        })
        .collect();
    // Every check that passed let the run go on; the one that failed ended it.
    let passed = verdicts.iter().filter(|q| q.is_ok()).count();
    let went_on = checked
        .events
        .iter()
        .filter(|e| e.kind == EventKind::TipCheck && e.detail.contains("the run goes on"))
        .count();
    assert!(passed >= 1 && went_on == passed, "{verdicts:?}, {went_on} went on");
    let last_check = checks.last().unwrap().step as usize;
    assert!(last_check > checks[0].step as usize || passed == verdicts.len());
    let suspended: Vec<_> = checked
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Suspended)
        .collect();
    if verdicts.last().is_some_and(|q| !q.is_ok()) {
        assert_eq!(suspended.len(), 1);
        assert!(
            suspended[0].detail.contains("the check of the tip"),
            "{}",
            suspended[0].detail
        );
        assert_eq!(
            checked.measurements.len(),
            last_check + 1,
            "the run ends at the failed check"
        );
    } else {
        assert!(suspended.is_empty());
    }
    let (_b, unchecked) = run(false);
    assert!(unchecked.events.iter().all(|e| e.kind != EventKind::TipSuspected));
    assert!(unchecked.events.iter().any(|e| e.kind == EventKind::Suspended));
    let n = unchecked.measurements.len();
    assert!(
        n < checked.measurements.len() && unchecked.measurements[n - 2..].iter().all(|m| m.failed_gate()),
        "{n} curves, the last two failed, against {} with the check",
        checked.measurements.len()
    );
}
