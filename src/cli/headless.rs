//! Headless mode: the engine on its own thread, one progress line per step on
//! stdout, notable events on stderr, and Ctrl-C / SIGHUP / SIGTERM turned into
//! "pause at the next checkpoint and leave a resumable session".

use crate::engine::{Command, Engine, EngineEvent, RunOutcome, Running, StepReport};
use crate::fmt;
use crate::record::EventKind;
use crate::store::SessionStatus;
use std::io::Write;
use tokio::signal::unix::{SignalKind, signal};

pub fn progress_line(r: &StepReport) -> String {
    let onset = r.onset_v.map(|v| format!("{v:.2} V")).unwrap_or_else(|| "—".into());
    format!(
        "[{:>4}/{}] {:<7} ({:>4},{:>4}) {:>7.1},{:>7.1} nm  {:<10} {:>4} pts  Imax {:>9}  loop {:>12}  onset {:>7}  {:>5.2} s  elapsed {}  ETA {}",
        r.step + 1,
        r.budget,
        r.source.label(),
        r.row,
        r.col,
        r.x_nm,
        r.y_nm,
        r.sweep_end.label(),
        r.points,
        fmt::current(r.max_current_a),
        fmt::loop_area(r.hysteresis_area),
        onset,
        r.took.as_secs_f64(),
        fmt::duration(r.elapsed),
        fmt::duration(r.eta),
    )
}

fn print_event(event: &EngineEvent) {
    let mut out = std::io::stdout().lock();
    match event {
        EngineEvent::Step(r) => {
            let _ = writeln!(out, "{}", progress_line(r));
        }
        EngineEvent::Connected { idn, link } => {
            let _ = writeln!(out, "instrument  {idn}  ({link})");
        }
        EngineEvent::Survey {
            rows,
            cols,
            width_nm,
            height_nm,
            reused,
        } => {
            let what = if *reused { "survey (from the log)" } else { "survey" };
            let _ = writeln!(out, "{what}  {rows}×{cols} px over {width_nm}×{height_nm} nm");
        }
        EngineEvent::Logged(e) => {
            if !matches!(e.kind, EventKind::Start | EventKind::Survey) {
                let _ = writeln!(out, "event  {:<14} {}", e.kind, e.detail);
            }
        }
        EngineEvent::PolicyChanged { policy, beta } => {
            let _ = writeln!(out, "policy  {policy} (β = {beta})");
        }
        // For the console: images, whole curves, the queue, cluster maps.
        EngineEvent::State(_)
        | EngineEvent::SurveyImage(_)
        | EngineEvent::History(_)
        | EngineEvent::Decided { .. }
        | EngineEvent::Measured(_)
        | EngineEvent::Queue(_)
        | EngineEvent::Clusters(_) => {}
    }
    let _ = out.flush();
}

pub fn summary(outcome: &RunOutcome, dir: &std::path::Path) -> String {
    let mut s = format!(
        "session {}: {} — {}/{} measurements ({} this run)",
        dir.display(),
        outcome.status.label(),
        outcome.steps_total,
        outcome.budget,
        outcome.steps_this_run
    );
    if let Some(d) = &outcome.detail {
        s.push_str(&format!("\n  reason: {d}"));
    }
    if outcome.status != SessionStatus::Finished {
        s.push_str(&format!(
            "\n  continue with: dualscope resume {} --headless",
            dir.display()
        ));
    }
    s
}

/// Runs the engine to its end, printing progress; returns the exit code
/// (0 finished or paused by the user, 1 failed, 2 aborted).
pub fn drive(engine: Engine) -> color_eyre::Result<i32> {
    let dir = engine.session_dir().to_path_buf();
    println!("session {}", dir.display());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let Running {
        commands,
        mut events,
        handle,
    } = engine.spawn()?;
    runtime.block_on(async {
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut hangup = signal(SignalKind::hangup())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupts = 0;
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(e) => print_event(&e),
                    None => break,
                },
                _ = interrupt.recv() => {
                    interrupts += 1;
                    match interrupts {
                        1 => {
                            eprintln!("\npausing after the current curve (Ctrl-C twice more to leave at once; the log stays resumable)");
                            let _ = commands.send(Command::Quit);
                        }
                        2 => eprintln!("still finishing the current curve; Ctrl-C once more to leave now"),
                        _ => {
                            eprintln!("leaving now; resume with: dualscope resume {} --headless", dir.display());
                            std::process::exit(130);
                        }
                    }
                }
                _ = hangup.recv() => { let _ = commands.send(Command::Quit); }
                _ = terminate.recv() => { let _ = commands.send(Command::Quit); }
            }
        }
        Ok::<(), std::io::Error>(())
    })?;
    let outcome = handle.join()?;
    println!("{}", summary(&outcome, &dir));
    Ok(exit_code(&outcome))
}

/// 0 finished or paused by the user, 1 failed, 2 aborted.
pub fn exit_code(outcome: &RunOutcome) -> i32 {
    match outcome.status {
        SessionStatus::Finished | SessionStatus::Paused | SessionStatus::Running => 0,
        SessionStatus::Aborted => 2,
        SessionStatus::Failed => 1,
    }
}
