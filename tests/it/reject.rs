//! Reject and repeat a curve in the console (tmux): the rejected curve stays
//! in the log, flagged, shows as rejected, and the models leave it out from
//! the next decision on; a repeat is measured at the same location; both
//! hold after the run is quit and resumed by another process.

use crate::common::*;
use crate::console_tmux::{Tmux, wait_exit};
use dualscope::record::{EventKind, Source};
use dualscope::store::{SessionLog, SessionStatus};

#[test]
fn a_rejected_curve_is_left_out_and_a_repeat_is_measured_there() {
    let dir = tempfile::tempdir().unwrap();
    // Only the last training runs (at the close), small and quick.
    let plan = timed_plan(dir.path(), 0.15, "");
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("budget = 40", "budget = 60")
        .replace(
            "retrain_every = 0",
            "retrain_every = 1000\nvae_epochs = 3\nvae_ensemble = 1",
        );
    std::fs::write(&plan, text).unwrap();
    let runs = dir.path().join("runs");
    let exit = dir.path().join("exit.txt");
    let cmd = format!(
        "{} run {}; echo $? > {}",
        env!("CARGO_BIN_EXE_dualscope"),
        plan.display(),
        exit.display()
    );
    let tmux = Tmux::start("reject", 120, 40, &cmd);
    tmux.wait_for("RUNNING", 30);
    let session = wait_for_session(&runs, 30);
    wait_for_curves(&session, 3, 30);
    tmux.keys(&["p"]);
    tmux.wait_for("PAUSED", 30);
    tmux.keys(&["2", "[", "x"]);
    tmux.wait_for("Reject this curve?", 10);
    tmux.keys(&["y"]);
    let screen = tmux.wait_for("REJECTED · step", 10);
    let at = screen.find("REJECTED · step ").unwrap() + "REJECTED · step ".len();
    let step: u32 = screen[at..].split(' ').next().unwrap().parse().unwrap();
    tmux.keys(&["R"]);
    tmux.wait_for(&format!("a repeat of step {step}"), 10);
    tmux.keys(&["p"]);
    tmux.wait_for("RUNNING", 10);
    std::thread::sleep(std::time::Duration::from_millis(800));
    tmux.keys(&["q"]);
    tmux.wait_for("Quit?", 10);
    tmux.keys(&["y"]);
    // A quit leaves with the run, resumable.
    assert_eq!(wait_exit(&exit, 30).trim(), "0");

    let check = |log: &SessionLog| {
        assert_eq!(log.flags.len(), 1, "{:?}", log.flags);
        assert_eq!((log.flags[0].step, log.flags[0].flag.as_str()), (step, "rejected"));
        let rejected = log
            .measurements
            .iter()
            .find(|m| m.step == step)
            .expect("kept in the log");
        let repeat = log
            .decisions
            .iter()
            .find(|d| d.policy == format!("manual: repeat of step {step}"))
            .expect("the repeat was measured");
        let again = log.measurements.iter().find(|m| m.step == repeat.step).unwrap();
        assert_eq!(again.source, Source::Manual);
        assert_eq!(
            (again.row, again.col),
            (rejected.row, rejected.col),
            "at the same location"
        );
        let said = log
            .events
            .iter()
            .find(|e| e.kind == EventKind::Rejected)
            .expect("an event");
        assert!(
            said.detail.contains(&format!("curve of step {step} rejected")),
            "{}",
            said.detail
        );
    };
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(log.meta.status, SessionStatus::Paused);
    check(&log);

    // Resumed by another process: the flag holds, and the last model has no
    // row for the rejected curve.
    run_ok(bin().args(["resume", session.to_str().unwrap(), "--headless"]));
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(log.meta.status, SessionStatus::Finished);
    check(&log);
    let model = dualscope::store::saved::newest_model(&session)
        .unwrap()
        .expect("the last model");
    assert_eq!(model.latent.len(), log.measurements.len() - 1);
    assert!(
        model.latent.iter().all(|p| p.step != step),
        "the model learned from the rejected curve"
    );
}
