//! The plan's word when something happens (`[notify]`): a command for the
//! session's end (`on_finish`, `on_fail`, `on_end`) runs once the last status
//! is on disk, so whatever it reads of the session is complete; `on_pause`
//! runs beside a paused run. Each is killed, with anything it started, at
//! `timeout_s`, and what it did becomes an `events` row: a hook can fail or
//! hang, the run goes on and closes all the same.

use crate::plan::NotifyPlan;
use crate::record::EventKind;
use crate::store::SessionStatus;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Most of a hook's output kept in its event (the end of it).
const OUTPUT_KEPT: usize = 400;

/// What a hook is told about the session.
#[derive(Debug, Clone)]
pub struct Told {
    pub dir: PathBuf,
    pub status: SessionStatus,
    /// Curves in the log.
    pub measurements: u32,
    pub detail: Option<String>,
}

/// How a hook went: the `events` row it leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub kind: EventKind,
    pub detail: String,
}

/// The commands the plan sets for a run that ends with `status`, by name.
pub fn at_end(plan: &NotifyPlan, status: SessionStatus) -> Vec<(&'static str, &[String])> {
    let own = match status {
        SessionStatus::Finished => Some(("on_finish", &plan.on_finish)),
        SessionStatus::Failed => Some(("on_fail", &plan.on_fail)),
        SessionStatus::Paused => Some(("on_pause", &plan.on_pause)),
        SessionStatus::Aborted | SessionStatus::Running => None,
    };
    own.into_iter()
        .chain([("on_end", &plan.on_end)])
        .filter(|(_, argv)| !argv.is_empty())
        .map(|(name, argv)| (name, argv.as_slice()))
        .collect()
}

/// Runs one hook to its end or its limit.
pub fn run(name: &str, argv: &[String], told: &Told, timeout_s: f64) -> Outcome {
    let Some((program, args)) = argv.split_first() else {
        return Outcome {
            kind: EventKind::Notify,
            detail: format!("{name}: nothing to run"),
        };
    };
    let t0 = Instant::now();
    let child = Command::new(program)
        .args(args)
        .env("DUALSCOPE_SESSION", &told.dir)
        .env("DUALSCOPE_STATUS", told.status.label())
        .env("DUALSCOPE_MEASUREMENTS", told.measurements.to_string())
        .env("DUALSCOPE_DETAIL", told.detail.as_deref().unwrap_or(""))
        // The names of the first version, kept for the hooks written for it.
        .env("DUALSCOPE_SESSION_DIR", &told.dir)
        .env("DUALSCOPE_STEPS", told.measurements.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so the limit reaches what it started too.
        .process_group(0)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                kind: EventKind::NotifyFailed,
                detail: format!("{name} `{program}` did not start: {e}"),
            };
        }
    };
    let output = Arc::new(Mutex::new(Vec::new()));
    let readers: Vec<JoinHandle<()>> = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut pipe| {
        let output = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut out = output.lock().unwrap_or_else(|p| p.into_inner());
                out.extend_from_slice(&buf[..n]);
                // Only the end is kept: a chatty hook cannot fill memory.
                if out.len() > 16 * OUTPUT_KEPT {
                    let cut = out.len() - OUTPUT_KEPT;
                    out.drain(..cut);
                }
            }
        })
    })
    .collect();
    let limit = Duration::from_secs_f64(timeout_s);
    let ended = loop {
        match child.try_wait() {
            Ok(Some(exit)) => break Ok(exit),
            Ok(None) if t0.elapsed() >= limit => {
                kill_group(child.id());
                let _ = child.wait();
                break Err(format!("was still running after {timeout_s} s and was killed"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => break Err(e.to_string()),
        }
    };
    // A grandchild that left the group may hold a pipe open: wait a little,
    // never for ever.
    let t_read = Instant::now();
    while readers.iter().any(|r| !r.is_finished()) && t_read.elapsed() < Duration::from_millis(500) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let said = said(&output.lock().unwrap_or_else(|p| p.into_inner()));
    let took = t0.elapsed().as_secs_f64();
    let (kind, how) = match ended {
        Ok(exit) if exit.success() => (EventKind::Notify, format!("ended: {exit}")),
        Ok(exit) => (EventKind::NotifyFailed, format!("ended: {exit}")),
        Err(why) => (EventKind::NotifyFailed, why),
    };
    let mut detail = format!("{name} `{program}` {how} ({took:.2} s)");
    if !said.is_empty() {
        detail.push_str("; output: ");
        detail.push_str(&said);
    }
    Outcome { kind, detail }
}

#[allow(unsafe_code)] // kill(2), see its SAFETY note
fn kill_group(leader: u32) {
    // SAFETY: a signal to the process group the child leads; no memory is touched.
    unsafe {
        libc::kill(-(leader as i32), libc::SIGKILL);
    }
}

/// The end of a hook's output on one line.
fn said(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let n = line.chars().count();
    if n <= OUTPUT_KEPT {
        line
    } else {
        let tail: String = line.chars().skip(n - OUTPUT_KEPT).collect();
        format!("…{tail}")
    }
}

/// Runs a hook on its own thread (a paused run keeps taking commands).
pub fn spawn(name: &'static str, argv: Vec<String>, told: Told, timeout_s: f64) -> JoinHandle<Outcome> {
    std::thread::spawn(move || run(name, &argv, &told, timeout_s))
}

/// The session folder's path as a hook sees it.
pub fn told(dir: &Path, status: SessionStatus, measurements: u32, detail: Option<&str>) -> Told {
    Told {
        dir: dir.to_path_buf(),
        status,
        measurements,
        detail: detail.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn told_finished() -> Told {
        told(Path::new("/tmp/s"), SessionStatus::Finished, 7, None)
    }

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn a_hook_sees_the_session_and_its_output_is_kept() {
        let out = run(
            "on_finish",
            &argv(&[
                "sh",
                "-c",
                "echo $DUALSCOPE_STATUS $DUALSCOPE_MEASUREMENTS $DUALSCOPE_SESSION",
            ]),
            &told_finished(),
            10.0,
        );
        assert_eq!(out.kind, EventKind::Notify, "{out:?}");
        assert!(out.detail.ends_with("output: finished 7 /tmp/s"), "{}", out.detail);
    }

    #[test]
    fn a_failing_hook_says_so_and_a_hanging_one_is_killed_with_its_children() {
        let out = run(
            "on_fail",
            &argv(&["sh", "-c", "echo no >&2; exit 3"]),
            &told_finished(),
            10.0,
        );
        assert_eq!(out.kind, EventKind::NotifyFailed);
        assert!(
            out.detail.contains("exit status: 3") && out.detail.ends_with("output: no"),
            "{}",
            out.detail
        );

        // The shell's child holds the pipe; killing only the shell would leave it.
        let t0 = Instant::now();
        let out = run(
            "on_pause",
            &argv(&["sh", "-c", "sleep 1000; true"]),
            &told_finished(),
            0.3,
        );
        assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
        assert_eq!(out.kind, EventKind::NotifyFailed);
        assert!(out.detail.contains("killed"), "{}", out.detail);

        let out = run("on_end", &argv(&["/no/such/program"]), &told_finished(), 1.0);
        assert!(out.detail.contains("did not start"), "{}", out.detail);
    }

    #[test]
    fn the_end_runs_its_own_hook_then_on_end() {
        let plan = NotifyPlan {
            on_finish: argv(&["a"]),
            on_fail: argv(&["b"]),
            on_end: argv(&["c"]),
            ..NotifyPlan::default()
        };
        let names = |s| at_end(&plan, s).into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert_eq!(names(SessionStatus::Finished), ["on_finish", "on_end"]);
        assert_eq!(names(SessionStatus::Failed), ["on_fail", "on_end"]);
        assert_eq!(names(SessionStatus::Paused), ["on_end"]);
        assert_eq!(names(SessionStatus::Aborted), ["on_end"]);
    }

    #[test]
    fn long_output_keeps_its_end() {
        let s = said("x".repeat(1000).as_bytes());
        assert_eq!(s.chars().count(), OUTPUT_KEPT + 1);
        assert_eq!(said(b"a\n b\tc\n"), "a b c");
    }
}
