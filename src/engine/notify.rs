//! The plan's word at the end (`[notify] on_end`): run once the session's
//! last status is on disk, so whatever it reads of the session is complete;
//! killed at `timeout_s`, and never able to keep the session from closing.

use crate::plan::NotifyPlan;
use crate::store::SessionStatus;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How the command ended, in words (for the log); `None` when none is set.
pub fn on_end(
    plan: &NotifyPlan,
    dir: &Path,
    status: SessionStatus,
    steps: u32,
    detail: Option<&str>,
) -> Option<String> {
    let (program, args) = plan.on_end.split_first()?;
    let child = Command::new(program)
        .args(args)
        .env("DUALSCOPE_SESSION_DIR", dir)
        .env("DUALSCOPE_STATUS", status.label())
        .env("DUALSCOPE_STEPS", steps.to_string())
        .env("DUALSCOPE_DETAIL", detail.unwrap_or(""))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Some(format!("notify.on_end `{program}` did not start: {e}")),
    };
    let limit = Duration::from_secs_f64(plan.timeout_s);
    let t0 = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(exit)) => return Some(format!("notify.on_end `{program}` ended: {exit}")),
            Ok(None) if t0.elapsed() >= limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Some(format!(
                    "notify.on_end `{program}` was still running after {} s and was killed",
                    plan.timeout_s
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Some(format!("notify.on_end `{program}`: {e}")),
        }
    }
}
