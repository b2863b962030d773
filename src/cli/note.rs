//! `dualscope note SESSION_DIR TEXT…`: the lab notebook from another login.
//! The note is left in the session's inbox without the session's lock; a
//! running session logs it between two curves (or at once while paused), and
//! a session nobody runs is opened here to log it.

use crate::store::{SessionStatus, SessionWriter, StoreError, inbox, now_ms};
use color_eyre::eyre::{WrapErr, eyre};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long to wait for a running session to take the note before saying
/// it will.
const WAIT_FOR_RUN: Duration = Duration::from_secs(5);

pub fn note(session: &Path, words: &[String]) -> color_eyre::Result<i32> {
    if !session.join(crate::store::meta::SESSION_FILE).exists() {
        return Err(eyre!(
            "{} is not a dualscope session (no session.toml)",
            session.display()
        ));
    }
    let text = inbox::clean(&words.join(" ")).ok_or_else(|| eyre!("the note is empty: say what to note"))?;
    let posted = inbox::post(session, now_ms(), &text)
        .wrap_err_with(|| format!("could not leave the note in {}", session.display()))?;
    match SessionWriter::reopen(session) {
        Ok((mut writer, _)) => {
            writer.take_inbox()?;
            let done = matches!(writer.meta().status, SessionStatus::Finished | SessionStatus::Aborted);
            if done && writer.plan().output.compact {
                writer.compact()?;
            }
            writer.sync()?;
            println!("noted in {}", session.display());
        }
        Err(StoreError::Locked { holder, .. }) => {
            let t0 = Instant::now();
            while posted.exists() && t0.elapsed() < WAIT_FOR_RUN {
                std::thread::sleep(Duration::from_millis(50));
            }
            if posted.exists() {
                println!("left for the running session ({holder}): it logs the note after the curve it is taking");
            } else {
                println!("noted by the running session ({holder})");
            }
        }
        Err(e) => {
            return Err(eyre!(e).wrap_err(format!(
                "the note waits in {} for the next run of the session",
                posted.display()
            )));
        }
    }
    Ok(0)
}
