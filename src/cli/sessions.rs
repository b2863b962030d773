//! `dualscope sessions` and `dualscope export`.

use crate::store::{SessionLog, SessionStatus, export, lock::SessionLock, reader::find_sessions};
use color_eyre::eyre::WrapErr;
use std::path::Path;

pub fn list(root: &Path) -> color_eyre::Result<i32> {
    let dirs = find_sessions(root).wrap_err_with(|| format!("cannot list sessions in {}", root.display()))?;
    if dirs.is_empty() {
        println!("no sessions in {}", root.display());
        return Ok(0);
    }
    println!(
        "{:<28} {:<12} {:>11} {:<9} {:>6} {:>7} {:>7}  instrument",
        "session", "status", "steps", "policy", "seed", "events", "compl."
    );
    for dir in dirs {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        match SessionLog::load(&dir) {
            Ok(log) => {
                let mut status = log.meta.status.label().to_string();
                // "running" with nobody holding the lock: the writer died.
                if log.meta.status == SessionStatus::Running && !SessionLock::is_held(&dir) {
                    status = "interrupted".into();
                }
                let compliance = log
                    .measurements
                    .iter()
                    .filter(|m| m.sweep_end == crate::record::SweepEnd::Compliance)
                    .count();
                println!(
                    "{:<28} {:<12} {:>11} {:<9} {:>6} {:>7} {:>7}  {}",
                    name,
                    status,
                    format!("{}/{}", log.next_step(), log.plan.policy.budget),
                    log.plan.policy.name.label(),
                    log.meta.seed,
                    log.events.len(),
                    compliance,
                    log.meta.instrument_idn
                );
                for d in &log.damage {
                    println!("  damaged: {d}");
                }
            }
            Err(e) => println!("{name:<28} unreadable: {e}"),
        }
    }
    Ok(0)
}

pub fn export(session: &Path, out: &Path) -> color_eyre::Result<i32> {
    let rows = export::export(session, out)
        .wrap_err_with(|| format!("cannot export {} to {}", session.display(), out.display()))?;
    println!("wrote {rows} rows to {}", out.display());
    Ok(0)
}
