//! A session log on a disk that is not kind to it: a flipped byte in the
//! journal or in a part file, a deleted part, a planted symbolic link, a hand
//! edited `session.toml`. And the readers (`sessions`, `export`, `report`,
//! `analyze`) on a session they must not change.

use crate::common::*;
use dualscope::store::{SessionLog, SessionStatus};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A finished session of `budget` curves.
fn session_of(dir: &Path, budget: u32, extra: &str) -> PathBuf {
    let plan = fast_plan(dir, extra);
    run_ok(bin().args([
        "run",
        plan.to_str().unwrap(),
        "--headless",
        "--budget",
        &budget.to_string(),
    ]));
    only_session(&dir.join("runs"))
}

/// Makes a finished session resumable with a larger budget (as a user who
/// wants more curves would).
fn extend(session: &Path, from: u32, to: u32) {
    let meta = session.join("session.toml");
    let text = std::fs::read_to_string(&meta).unwrap();
    let text = text
        .replace(&format!("budget = {from}\n"), &format!("budget = {to}\n"))
        .replace("status = \"finished\"", "status = \"paused\"");
    std::fs::write(&meta, text).unwrap();
}

/// Offsets and lengths of the journal's frames, read by the documented layout
/// (`len u32 | crc u32 | seq u64 | payload`), and whether each payload names `what`.
fn frames(session: &Path) -> Vec<(usize, usize, Vec<u8>)> {
    let bytes = std::fs::read(session.join("journal.bin")).unwrap();
    let mut out = Vec::new();
    let mut at = 0;
    while at + 16 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        out.push((at, 16 + len, bytes[at + 16..at + 16 + len].to_vec()));
        at += 16 + len;
    }
    out
}

fn flip(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x5a;
    std::fs::write(path, bytes).unwrap();
}

/// Every file under a folder with its bytes and modification time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, SystemTime)> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(snapshot(&p));
        } else {
            let meta = std::fs::metadata(&p).unwrap();
            out.insert(p.clone(), (std::fs::read(&p).unwrap(), meta.modified().unwrap()));
        }
    }
    out
}

fn steps(log: &SessionLog) -> Vec<u32> {
    log.measurements.iter().map(|m| m.step).collect()
}

#[test]
fn a_flipped_byte_in_the_middle_of_the_journal_costs_one_frame_and_resume_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let session = session_of(dir.path(), 20, "");
    let before = SessionLog::load(&session).unwrap();
    // An event frame in the middle (the events are also in part files).
    let all = frames(&session);
    let (at, len, _) = all
        .iter()
        .skip(all.len() / 2)
        .find(|(_, _, p)| p.windows(5).any(|w| w == b"Event"))
        .cloned()
        .unwrap();
    let journal = session.join("journal.bin");
    flip(&journal, at + len / 2);
    let damaged = std::fs::read(&journal).unwrap();
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(steps(&log), (0..20).collect::<Vec<_>>());
    assert_eq!(log.measurements, before.measurements);
    assert!(log.damage.iter().any(|d| d.contains("journal.bin")), "{:?}", log.damage);
    // `sessions` says so, and changes nothing.
    let out = run_ok(bin().args(["sessions", session.to_str().unwrap()]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("20/20") && text.contains("damaged"), "{text}");
    assert_eq!(std::fs::read(&journal).unwrap(), damaged);
    // Resuming keeps every frame after the damage and goes on to the end.
    extend(&session, 20, 30);
    run_ok(bin().args(["resume", session.to_str().unwrap(), "--headless"]));
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(steps(&log), (0..30).collect::<Vec<_>>());
    assert!(
        std::fs::read(&journal).unwrap().starts_with(&damaged),
        "nothing was cut"
    );
    assert!(
        log.events.iter().any(|e| e.kind.label() == "log_repaired"),
        "{:?}",
        log.events
    );
}

#[test]
fn a_journal_that_lost_its_survey_frame_still_resumes_on_the_same_survey() {
    let dir = tempfile::tempdir().unwrap();
    let session = session_of(dir.path(), 10, "");
    let (at, len, _) = frames(&session)
        .into_iter()
        .find(|(_, _, p)| p.windows(6).any(|w| w == b"Survey"))
        .unwrap();
    flip(&session.join("journal.bin"), at + len - 3);
    let log = SessionLog::load(&session).unwrap();
    assert!(log.survey.is_some(), "the survey's extent is in session.toml too");
    extend(&session, 10, 16);
    run_ok(bin().args(["resume", session.to_str().unwrap(), "--headless"]));
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(steps(&log), (0..16).collect::<Vec<_>>());
    let surveys = log.events.iter().filter(|e| e.kind.label() == "survey").count();
    assert_eq!(surveys, 1, "the survey was taken again: {:?}", log.events);
    // And the path is the one an uninterrupted 16-curve session takes.
    let clean = tempfile::tempdir().unwrap();
    let other = session_of(clean.path(), 16, "");
    assert_eq!(positions(&session), positions(&other));
}

#[test]
fn a_flipped_byte_in_a_part_file_is_caught_and_its_rows_come_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    // Uncompacted, so that there are small parts to damage.
    let session = session_of(dir.path(), 20, "compact = false");
    let before = SessionLog::load(&session).unwrap();
    let part = session.join("measurements/part-000002.parquet");
    let size = std::fs::metadata(&part).unwrap().len() as usize;
    flip(&part, size / 2);
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(log.measurements, before.measurements, "no current changed");
    assert!(
        log.damage.iter().any(|d| d.contains("part-000002.parquet is damaged")),
        "{:?}",
        log.damage
    );
    // A resume sets the damaged part aside and writes its rows again, so the
    // folder alone (what pyarrow or polars read) is whole.
    extend(&session, 20, 22);
    run_ok(bin().args(["resume", session.to_str().unwrap(), "--headless"]));
    assert!(!part.exists());
    let df = dualscope::store::reader::table_frame(&session, "measurements")
        .unwrap()
        .unwrap();
    let mut raw = dualscope::store::frame::get_u32(&df, "step").unwrap();
    raw.sort_unstable();
    assert_eq!(raw, (0..22).collect::<Vec<_>>());
    assert!(SessionLog::load(&session).unwrap().damage.is_empty());
}

#[test]
fn a_deleted_part_is_reported_and_nothing_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let session = session_of(dir.path(), 40, "compact = false");
    std::fs::remove_file(session.join("measurements/part-000003.parquet")).unwrap();
    let out = run_ok(bin().args(["sessions", session.to_str().unwrap()]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("40/40") && text.contains("missing"), "{text}");
    let file = dir.path().join("all.parquet");
    let out = run_ok(bin().args(["export", session.to_str().unwrap(), "--out", file.to_str().unwrap()]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("wrote 40 rows"));
}

#[test]
fn the_readers_change_no_byte_of_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let session = session_of(dir.path(), 12, "");
    let before = snapshot(&session);
    run_ok(bin().args(["sessions", session.to_str().unwrap()]));
    run_ok(bin().args([
        "export",
        session.to_str().unwrap(),
        "--out",
        dir.path().join("x.parquet").to_str().unwrap(),
    ]));
    run_ok(bin().args([
        "report",
        session.to_str().unwrap(),
        "--out",
        dir.path().join("figures").to_str().unwrap(),
        "--epochs",
        "5",
    ]));
    assert_eq!(snapshot(&session), before, "a reader wrote under the session");
    // `analyze` adds its own part and nothing else, once however often it runs.
    for _ in 0..2 {
        run_ok(bin().args(["analyze", session.to_str().unwrap(), "--epochs", "5"]));
    }
    let after = snapshot(&session);
    let added: Vec<_> = after.keys().filter(|p| !before.contains_key(*p)).collect();
    assert_eq!(
        added,
        vec![
            &session.join("embeddings/part-900000.parquet"),
            &session.join("property_map/part-900000.parquet")
        ]
    );
    for (p, v) in &before {
        assert_eq!(after.get(p), Some(v), "{} changed", p.display());
    }
    let df = dualscope::store::reader::table_frame(&session, "embeddings")
        .unwrap()
        .unwrap();
    assert_eq!(df.height(), 12, "one copy of analyze's embeddings");
}

#[test]
fn analyze_reads_a_session_under_a_path_with_brackets() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("runs[1]");
    std::fs::create_dir(&odd).unwrap();
    let session = session_of(&odd, 8, "");
    let out = run_ok(bin().args(["analyze", session.to_str().unwrap(), "--epochs", "5"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("clusters"));
}

#[test]
fn a_session_another_user_owns_is_read_and_analysed_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let session = session_of(dir.path(), 8, "");
    let setpriv = Path::new("/usr/bin/setpriv");
    let root = unsafe { libc::geteuid() } == 0;
    if !root || !setpriv.exists() {
        eprintln!("skipped: needs root and setpriv to act as another user");
        return;
    }
    // Let `nobody` reach the binary and the session (read-only, as a colleague would).
    let mut p = Path::new(env!("CARGO_BIN_EXE_dualscope")).to_path_buf();
    while let Some(parent) = p.parent() {
        let _ = std::process::Command::new("chmod")
            .args(["o+rx", parent.to_str().unwrap()])
            .status();
        p = parent.to_path_buf();
    }
    std::process::Command::new("chmod")
        .args(["-R", "o+rX", dir.path().to_str().unwrap()])
        .status()
        .unwrap();
    let before = snapshot(&session);
    let as_nobody = |args: &[&str]| {
        std::process::Command::new(setpriv)
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                env!("CARGO_BIN_EXE_dualscope"),
            ])
            .args(args)
            .env("HOME", "/tmp")
            .output()
            .unwrap()
    };
    let s = session.to_str().unwrap();
    for args in [vec!["sessions", s], vec!["analyze", s, "--epochs", "5"]] {
        let out = as_nobody(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if args[0] == "analyze" {
            assert!(String::from_utf8_lossy(&out.stderr).contains("not saved"));
        }
    }
    assert_eq!(snapshot(&session), before);
}

#[test]
fn export_and_analyze_during_a_live_run_succeed_and_the_run_finishes_whole() {
    let dir = tempfile::tempdir().unwrap();
    let plan = timed_plan(dir.path(), 0.05, "");
    let mut run = spawn_run(&plan, &[]);
    let session = wait_for_session(&dir.path().join("runs"), 30);
    let t0 = std::time::Instant::now();
    while SessionLog::load(&session).map(|l| l.next_step() < 8).unwrap_or(true) {
        assert!(t0.elapsed().as_secs() < 60, "the run never got going");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let file = dir.path().join("live.parquet");
    run_ok(bin().args(["export", session.to_str().unwrap(), "--out", file.to_str().unwrap()]));
    run_ok(bin().args(["analyze", session.to_str().unwrap(), "--epochs", "5"]));
    assert!(run.wait().unwrap().success());
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(log.meta.status, SessionStatus::Finished);
    let df = dualscope::store::reader::table_frame(&session, "measurements")
        .unwrap()
        .unwrap();
    let mut raw = dualscope::store::frame::get_u32(&df, "step").unwrap();
    raw.sort_unstable();
    assert_eq!(raw, (0..40).collect::<Vec<_>>(), "every step once in the part files");
}

#[test]
fn planted_links_are_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let session = session_of(dir.path(), 6, "");
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    // Where `export` stages its file, and the console's log file.
    let out = dir.path().join("out.parquet");
    std::os::unix::fs::symlink(&victim, dir.path().join(".out.parquet.tmp")).unwrap();
    let runs = dir.path().join("runs");
    std::fs::remove_file(runs.join("dualscope.log")).unwrap();
    std::os::unix::fs::symlink(&victim, runs.join("dualscope.log")).unwrap();
    run_ok(bin().args(["export", session.to_str().unwrap(), "--out", out.to_str().unwrap()]));
    // And inside the session, wherever the next part files will be staged.
    for table in ["measurements", "decisions", "events"] {
        for n in 0..30 {
            let tmp = session.join(format!("{table}/.part-{n:06}.parquet.tmp"));
            std::os::unix::fs::symlink(&victim, tmp).unwrap();
        }
    }
    extend(&session, 6, 9);
    run_ok(bin().args(["resume", session.to_str().unwrap(), "--headless"]));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(SessionLog::load(&session).unwrap().next_step(), 9);
}

#[test]
fn a_tampered_session_toml_is_checked_again_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let session = session_of(dir.path(), 6, "");
    extend(&session, 6, 9);
    let meta = session.join("session.toml");
    let text = std::fs::read_to_string(&meta).unwrap();
    let text = text
        .replace("v_max = 1.5", "v_max = 500.0")
        .replace("bias_max_v = 2.0", "bias_max_v = 1000.0");
    std::fs::write(&meta, text).unwrap();
    let out = bin()
        .args(["resume", session.to_str().unwrap(), "--headless"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("safety.bias_max_v = 1000"), "{err}");
    assert_eq!(
        SessionLog::load(&session).unwrap().next_step(),
        6,
        "nothing was measured"
    );
}

#[test]
fn every_table_is_a_readable_folder_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let session = session_of(dir.path(), 3, "");
    for table in ["topography", "measurements", "decisions", "events", "embeddings"] {
        let df = dualscope::store::reader::table_frame(&session, table).unwrap();
        assert!(df.is_some(), "{table} has no part");
    }
    let emb = dualscope::store::reader::table_frame(&session, "embeddings")
        .unwrap()
        .unwrap();
    assert_eq!(emb.height(), 0);
    assert!(emb.column("z_image").is_ok(), "an empty part still has the schema");
}

fn parts(folder: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    v.sort();
    v
}

/// A finished session is one part per journaled table; a kill before or
/// after the folders' swap loses no row and never reads one twice, and the
/// next writer clears what the kill left.
#[test]
fn a_finished_session_is_compacted_and_a_kill_during_it_loses_nothing() {
    use dualscope::store::SessionWriter;
    let dir = tempfile::tempdir().unwrap();
    let session = session_of(dir.path(), 20, "compact = false");
    let before = SessionLog::load(&session).unwrap();
    let old = parts(&session.join("measurements"));
    assert!(old.len() > 3, "{old:?}");
    let saved: Vec<(PathBuf, Vec<u8>)> = old.iter().map(|p| (p.clone(), std::fs::read(p).unwrap())).collect();

    let (mut writer, _) = SessionWriter::reopen(&session).unwrap();
    assert!(writer.compact().unwrap() > 6, "three tables of several parts");
    drop(writer);
    for table in ["measurements", "decisions", "events"] {
        assert_eq!(parts(&session.join(table)).len(), 1, "{table}");
    }
    let new = parts(&session.join("measurements")).remove(0);
    let same = |log: &SessionLog, when: &str| {
        assert_eq!(log.measurements, before.measurements, "{when}");
        assert_eq!(log.decisions, before.decisions, "{when}");
        assert_eq!(log.events.len(), before.events.len(), "{when}: no event twice");
        assert!(log.damage.is_empty(), "{when}: {:?}", log.damage);
    };
    same(&SessionLog::load(&session).unwrap(), "compacted");
    let df = dualscope::store::reader::table_frame(&session, "measurements")
        .unwrap()
        .unwrap();
    assert_eq!(df.height(), 20);

    // Killed after the swap: the old parts wait in the staging folder.
    let stage = session.join(".measurements.compacting");
    std::fs::create_dir(&stage).unwrap();
    for (path, bytes) in &saved {
        std::fs::write(stage.join(path.file_name().unwrap()), bytes).unwrap();
    }
    same(&SessionLog::load(&session).unwrap(), "killed after the swap");
    drop(SessionWriter::reopen(&session).unwrap());
    assert!(!stage.exists(), "the next writer clears it");

    // Killed before the swap: the old parts are the table, the new one waits.
    std::fs::create_dir(&stage).unwrap();
    std::fs::rename(&new, stage.join(new.file_name().unwrap())).unwrap();
    for (path, bytes) in &saved {
        std::fs::write(path, bytes).unwrap();
    }
    same(&SessionLog::load(&session).unwrap(), "killed before the swap");
    drop(SessionWriter::reopen(&session).unwrap());
    assert!(!stage.exists());
    same(&SessionLog::load(&session).unwrap(), "reopened");
    assert_eq!(parts(&session.join("measurements")).len(), old.len());
}

/// Copies a session folder whole (files and folders, no links).
fn copy_session(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_session(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A compaction notes its new part in the journal before the part is in its
/// staging folder and before `Compacted` is journaled: killed between the
/// two, the note names a part no folder holds, yet every row it would hold
/// is still in the old parts. Nothing is lost, so nothing is reported
/// missing, now or after the next writer.
#[test]
fn a_kill_between_a_compacted_parts_note_and_its_compaction_reports_nothing_missing() {
    use dualscope::store::SessionWriter;
    let dir = tempfile::tempdir().unwrap();
    let session = session_of(dir.path(), 12, "compact = false");
    let before = SessionLog::load(&session).unwrap();
    let kept = dir.path().join("kept");
    copy_session(&session, &kept);
    let journal = |s: &Path| std::fs::read(s.join("journal.bin")).unwrap();
    let old_journal = journal(&session);

    let (mut writer, _) = SessionWriter::reopen(&session).unwrap();
    assert!(writer.compact().unwrap() > 3);
    drop(writer);
    // The first frame the compaction appended is the note of its first part
    // (`len u32 | crc32 u32 | seq u64 | payload`, see src/store/journal.rs).
    let grown = journal(&session);
    let tail = &grown[old_journal.len()..];
    let len = u32::from_le_bytes(tail[..4].try_into().unwrap()) as usize;
    let note = &tail[..16 + len];

    let mut killed = old_journal.clone();
    killed.extend_from_slice(note);
    std::fs::write(kept.join("journal.bin"), &killed).unwrap();
    for when in ["killed after the note", "reopened"] {
        let log = SessionLog::load(&kept).unwrap();
        assert!(log.damage.is_empty(), "{when}: {:?}", log.damage);
        assert_eq!(log.measurements, before.measurements, "{when}");
        assert_eq!(log.decisions, before.decisions, "{when}");
        assert_eq!(log.events.len(), before.events.len(), "{when}");
        if when == "killed after the note" {
            let (_, _) = SessionWriter::reopen(&kept).unwrap();
        }
    }
}

/// A running session compacts a table whose parts pile up (`[output]
/// max_parts`) between curves; killed (SIGKILL) at moments that fall among
/// those compactions and resumed, it ends with every step once in every
/// table and a handful of files a table.
#[test]
fn a_running_session_keeps_its_parts_few_and_a_kill_among_compactions_loses_nothing() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let plan = timed_plan(dir.path(), 0.02, "");
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("flush_rows = 4", "flush_rows = 1\nmax_parts = 4\ncompact = false")
        .replace("budget = 40", "budget = 60");
    std::fs::write(&plan, text).unwrap();
    let runs = dir.path().join("runs");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20261206);
    let mut session: Option<PathBuf> = None;
    for round in 0.. {
        let mut cmd = bin();
        match &session {
            None => cmd.args(["run", plan.to_str().unwrap(), "--headless"]),
            Some(s) => cmd.args(["resume", s.to_str().unwrap(), "--headless"]),
        };
        let mut child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(rng.random_range(150..600)));
        let finished = child.try_wait().unwrap().is_some() || round >= 6;
        if !finished {
            child.kill().unwrap();
        }
        assert!(child.wait().is_ok());
        let s = session.get_or_insert_with(|| wait_for_session(&runs, 10)).clone();
        let log = SessionLog::load(&s).unwrap();
        let steps: Vec<u32> = log.measurements.iter().map(|m| m.step).collect();
        assert_eq!(steps, (0..steps.len() as u32).collect::<Vec<_>>(), "round {round}");
        if finished {
            if log.meta.status != dualscope::store::SessionStatus::Finished {
                run_ok(bin().args(["resume", s.to_str().unwrap(), "--headless"]));
            }
            break;
        }
    }
    let session = session.unwrap();
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(log.meta.status, dualscope::store::SessionStatus::Finished);
    assert!(log.damage.is_empty(), "{:?}", log.damage);
    for table in ["measurements", "decisions"] {
        let df = dualscope::store::reader::table_frame(&session, table).unwrap().unwrap();
        let mut steps = dualscope::store::frame::get_u32(&df, "step").unwrap();
        steps.sort_unstable();
        assert_eq!(steps, (0..60).collect::<Vec<_>>(), "{table}: every step once");
        let files = parts(&session.join(table)).len();
        assert!(files <= 6, "{table}: {files} part files with max_parts = 4");
    }
}
