//! Headless mode: the engine on its own thread, one progress line per step on
//! stdout, notable events on stderr, and Ctrl-C / SIGHUP / SIGTERM turned into
//! "pause at the next checkpoint and leave a resumable session".

use crate::engine::{Command, Engine, EngineEvent, RunOutcome, Running, StepReport};
use crate::fmt;
use crate::record::EventKind;
use crate::store::SessionStatus;
use std::io::Write;
use tokio::signal::unix::{SignalKind, signal};

/// One progress column: its heading (with the unit), its width, and whether
/// it is right-aligned. The line and its heading are built from the same table
/// so they cannot drift apart.
struct Column {
    heading: &'static str,
    width: usize,
    right: bool,
}

const COLUMNS: [Column; 12] = [
    Column {
        heading: "curve",
        width: 10,
        right: false,
    },
    Column {
        heading: "source",
        width: 7,
        right: false,
    },
    Column {
        heading: "px (row,col)",
        width: 12,
        right: true,
    },
    Column {
        heading: "x_nm, y_nm",
        width: 15,
        right: true,
    },
    Column {
        heading: "sweep end",
        width: 10,
        right: false,
    },
    Column {
        heading: "points",
        width: 6,
        right: true,
    },
    Column {
        heading: "max |I|",
        width: 9,
        right: true,
    },
    Column {
        heading: "loop area",
        width: 12,
        right: true,
    },
    Column {
        heading: "onset",
        width: 7,
        right: true,
    },
    Column {
        heading: "took",
        width: 7,
        right: true,
    },
    Column {
        heading: "elapsed",
        width: 7,
        right: true,
    },
    Column {
        heading: "ETA",
        width: 7,
        right: true,
    },
];

fn lay_out(cells: [String; 12]) -> String {
    let mut line = String::new();
    for (column, cell) in COLUMNS.iter().zip(cells) {
        if !line.is_empty() {
            line.push_str("  ");
        }
        if column.right {
            line.push_str(&format!("{cell:>w$}", w = column.width));
        } else {
            line.push_str(&format!("{cell:<w$}", w = column.width));
        }
    }
    line.trim_end().to_string()
}

/// The headings of [`progress_line`]'s columns, printed above the first line.
pub fn progress_header() -> String {
    lay_out(COLUMNS.map(|c| c.heading.to_string()))
}

/// One line per curve; curves are counted from 1, as everywhere a person reads.
pub fn progress_line(r: &StepReport) -> String {
    let onset = r.onset_v.map(|v| format!("{v:.2} V")).unwrap_or_else(|| "—".into());
    lay_out([
        format!("[{}/{}]", r.step + 1, r.budget),
        r.source.label().to_string(),
        format!("({},{})", r.row, r.col),
        format!("{:.1}, {:.1}", r.x_nm, r.y_nm),
        r.sweep_end.label().to_string(),
        r.points.to_string(),
        fmt::current(r.max_current_a),
        fmt::loop_area(r.hysteresis_area),
        onset,
        format!("{:.2} s", r.took.as_secs_f64()),
        fmt::duration(r.elapsed),
        fmt::duration(r.eta),
    ])
}

fn print_event(event: &EngineEvent, header_printed: &mut bool, finishing_told: &mut u64) {
    let mut out = std::io::stdout().lock();
    match event {
        EngineEvent::Step(r) => {
            if !*header_printed {
                *header_printed = true;
                let _ = writeln!(out, "{}", progress_header());
            }
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
                let _ = writeln!(out, "event  {:<15} {}", e.kind, e.detail);
            }
        }
        EngineEvent::Finishing(f) => {
            // Every 10 s of the wait (the engine tells every second).
            if f.elapsed.as_secs() / 10 != *finishing_told {
                *finishing_told = f.elapsed.as_secs() / 10;
                let _ = writeln!(
                    out,
                    "finishing  the final map: dual VAE {}/{} on {} curves  elapsed {}  ETA {}",
                    f.member,
                    f.members,
                    f.curves,
                    fmt::duration(f.elapsed),
                    fmt::duration(f.eta)
                );
            }
        }
        EngineEvent::PolicyChanged { policy, beta } => {
            let _ = writeln!(out, "policy  {policy} (β = {beta})");
        }
        EngineEvent::Regions(regions) => {
            for (k, r) in regions.iter().enumerate() {
                let _ = writeln!(out, "excluded  region {}: {r}", k + 1);
            }
        }
        // For the console: images, whole curves, the queue, cluster maps (the
        // drift is in its own `drift` event line).
        EngineEvent::State(_)
        | EngineEvent::Drift(_)
        | EngineEvent::SurveyImage(_)
        | EngineEvent::History(_)
        | EngineEvent::Decided { .. }
        | EngineEvent::Measured(_)
        | EngineEvent::Queue(_)
        | EngineEvent::Rejected(_)
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
        let mut header_printed = false;
        let mut finishing_told = u64::MAX;
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(e) => print_event(&e, &mut header_printed, &mut finishing_told),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every heading starts where its column's values start, whatever their length.
    #[test]
    fn headings_sit_over_their_columns() {
        let header = progress_header();
        let line = lay_out(std::array::from_fn(|i| "9".repeat(COLUMNS[i].width)));
        let starts = |s: &str| -> Vec<usize> {
            let mut at = 0;
            COLUMNS
                .iter()
                .map(|c| {
                    let start = at;
                    at += c.width + 2;
                    start
                })
                .filter(|&i| i < s.chars().count())
                .collect()
        };
        assert_eq!(starts(&header), starts(&line));
        for (column, start) in COLUMNS.iter().zip(starts(&line)) {
            let under: String = header.chars().skip(start).take(column.width).collect();
            assert_eq!(under.trim(), column.heading, "{header}");
        }
    }
}
