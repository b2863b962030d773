//! The real binary's console driven in tmux as a user would: start, pause,
//! resume, add a manual point, abort with confirmation, quit, then read the
//! Parquet log. And a hang-up (SIGHUP) mid-run leaves a resumable session.

use crate::common::*;
use dualscope::record::Source;
use dualscope::store::{SessionLog, SessionStatus};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub(crate) struct Tmux {
    socket: String,
}

impl Tmux {
    pub(crate) fn start(tag: &str, width: u16, height: u16, command: &str) -> Self {
        let socket = format!("dualscope-test-{tag}-{}", std::process::id());
        let ok = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
                command,
            ])
            .env("TERM", "xterm-256color")
            .status()
            .expect("tmux is installed")
            .success();
        assert!(ok, "tmux did not start");
        Self { socket }
    }

    pub(crate) fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "t"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    pub(crate) fn keys(&self, keys: &[&str]) {
        for k in keys {
            Command::new("tmux")
                .args(["-L", &self.socket, "send-keys", "-t", "t", k])
                .status()
                .unwrap();
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn pane_pid(&self) -> i32 {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "display-message", "-p", "-t", "t", "#{pane_pid}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }

    /// Waits until the screen shows `text`.
    pub(crate) fn wait_for(&self, text: &str, secs: u64) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "`{text}` never appeared; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// A plan slow enough to type into: about 0.1 s a curve.
fn slow_plan(dir: &Path) -> std::path::PathBuf {
    let plan = fast_plan(dir, "");
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("time_scale = 0.0", "time_scale = 0.15")
        .replace("budget = 40", "budget = 150");
    std::fs::write(&plan, text).unwrap();
    plan
}

pub(crate) fn wait_exit(path: &Path, secs: u64) -> String {
    let t0 = Instant::now();
    while !path.exists() {
        assert!(t0.elapsed() < Duration::from_secs(secs), "the console never exited");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(100));
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn a_user_session_in_tmux() {
    let dir = tempfile::tempdir().unwrap();
    let plan = slow_plan(dir.path());
    let runs = dir.path().join("runs");
    let exit = dir.path().join("exit.txt");
    let cmd = format!(
        "{} run {} --out {}; echo $? > {}",
        env!("CARGO_BIN_EXE_dualscope"),
        plan.display(),
        runs.display(),
        exit.display()
    );
    let tmux = Tmux::start("user", 120, 40, &cmd);
    tmux.wait_for("RUNNING", 30);
    tmux.keys(&["p"]);
    tmux.wait_for("PAUSED", 30);
    tmux.keys(&["m", "Enter"]);
    tmux.wait_for("goes next", 10);
    tmux.keys(&["p"]);
    tmux.wait_for("RUNNING", 10);
    std::thread::sleep(Duration::from_millis(800));
    tmux.keys(&["a"]);
    tmux.wait_for("Abort the run?", 10);
    tmux.keys(&["y"]);
    tmux.wait_for("run ended", 30);
    tmux.keys(&["q"]);
    assert_eq!(wait_exit(&exit, 30).trim(), "2", "abort exits with 2");

    let session = only_session(&runs);
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(log.meta.status, SessionStatus::Aborted);
    let manual: Vec<_> = log.measurements.iter().filter(|m| m.source == Source::Manual).collect();
    assert_eq!(manual.len(), 1, "the manual point is measured once");
    let steps: Vec<u32> = log.measurements.iter().map(|m| m.step).collect();
    assert_eq!(steps, (0..steps.len() as u32).collect::<Vec<_>>());
    let kinds: Vec<&str> = log.events.iter().map(|e| e.kind.label()).collect();
    for k in ["pause", "manual_added", "resume", "abort"] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
}

#[test]
fn a_hang_up_leaves_a_resumable_session_with_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    let plan = slow_plan(dir.path());
    let runs = dir.path().join("runs");
    let exit = dir.path().join("exit.txt");
    // `exec` so the pane's process is the console itself.
    let cmd = format!(
        "exec sh -c '{} run {} --out {}; echo $? > {}'",
        env!("CARGO_BIN_EXE_dualscope"),
        plan.display(),
        runs.display(),
        exit.display()
    );
    let tmux = Tmux::start("hup", 100, 30, &cmd);
    tmux.wait_for("RUNNING", 30);
    std::thread::sleep(Duration::from_millis(1500));
    // Hang it up as sshd would.
    signal_console(&tmux, libc::SIGHUP);
    assert_eq!(wait_exit(&exit, 30).trim(), "0", "a hang-up pauses cleanly");
    let session = only_session(&runs);
    let log = SessionLog::load(&session).unwrap();
    assert_eq!(log.meta.status, SessionStatus::Paused);
    let taken = log.next_step();
    assert!(taken > 0 && taken < 150, "{taken}");
    run_ok(bin().args(["resume", session.to_str().unwrap(), "--headless"]));
    let log = SessionLog::load(&session).unwrap();
    let steps: Vec<u32> = log.measurements.iter().map(|m| m.step).collect();
    assert_eq!(steps, (0..150).collect::<Vec<_>>());
    let raw = dualscope::store::frame::get_u32(
        &dualscope::store::reader::table_frame(&session, "measurements")
            .unwrap()
            .unwrap(),
        "step",
    )
    .unwrap();
    assert_eq!(raw.len(), 150, "a step was written twice");
}

/// Sends `signal` to the console the pane's shell (`exec sh -c '…'`) runs
/// as its child.
fn signal_console(tmux: &Tmux, signal: i32) {
    let shell = tmux.pane_pid();
    let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).unwrap_or_default();
    let console: i32 = children
        .split_whitespace()
        .next()
        .expect("the console runs")
        .parse()
        .unwrap();
    unsafe {
        libc::kill(console, signal);
    }
}

/// CPU time (user + system) of a process so far, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn a_finished_console_is_idle() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "");
    let runs = dir.path().join("runs");
    let cmd = format!(
        "exec {} run {} --budget 12 --out {}",
        env!("CARGO_BIN_EXE_dualscope"),
        plan.display(),
        runs.display()
    );
    let tmux = Tmux::start("idle", 120, 40, &cmd);
    tmux.wait_for("FINISHED", 60);
    // Let the last redraws land, then watch it do nothing for 10 s.
    std::thread::sleep(Duration::from_secs(2));
    let pid = tmux.pane_pid();
    let bytes = dir.path().join("tty.out");
    Command::new("tmux")
        .args([
            "-L",
            &tmux.socket,
            "pipe-pane",
            "-o",
            "-t",
            "t",
            &format!("cat >> {}", bytes.display()),
        ])
        .status()
        .unwrap();
    let ticks_per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(10));
    let used_s = (cpu_ticks(pid) - before) as f64 / ticks_per_s;
    let written = std::fs::metadata(&bytes).map(|m| m.len()).unwrap_or(0);
    assert!(used_s <= 0.1, "the finished console used {used_s:.2} s of CPU in 10 s");
    assert!(
        written < 512,
        "the finished console wrote {written} bytes to the terminal in 10 s"
    );
    tmux.keys(&["q"]);
}

/// A finished run's console whose terminal goes away (the tmux server
/// killed, the SSH link dropped) leaves, as does one asked to by SIGTERM:
/// found spinning 70 % of a core for an hour after `tmux kill-server`.
#[test]
fn a_finished_console_leaves_when_its_terminal_hangs_up_or_it_is_told_to() {
    for (name, signal) in [("hup-done", libc::SIGHUP), ("term-done", libc::SIGTERM)] {
        let dir = tempfile::tempdir().unwrap();
        let plan = fast_plan(dir.path(), "");
        let runs = dir.path().join("runs");
        let exit = dir.path().join("exit.txt");
        let cmd = format!(
            "exec sh -c '{} run {} --budget 12 --out {}; echo $? > {}'",
            env!("CARGO_BIN_EXE_dualscope"),
            plan.display(),
            runs.display(),
            exit.display()
        );
        let tmux = Tmux::start(name, 100, 30, &cmd);
        tmux.wait_for("FINISHED", 60);
        signal_console(&tmux, signal);
        assert_eq!(wait_exit(&exit, 15).trim(), "0", "{name}: the console stayed");
    }
}

#[test]
fn a_bad_theme_or_no_terminal_leaves_no_session_behind() {
    let dir = tempfile::tempdir().unwrap();
    let plan = fast_plan(dir.path(), "");
    let runs = dir.path().join("runs");
    // No terminal: refused before anything starts.
    let out = bin()
        .args(["run", plan.to_str().unwrap(), "--out", runs.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a terminal"));
    // A theme that does not exist, on a real terminal.
    let exit = dir.path().join("exit.txt");
    let cmd = format!(
        "{} run {} --theme {}/no-such-theme.toml --out {} 2> {}/err.txt; echo $? > {}",
        env!("CARGO_BIN_EXE_dualscope"),
        plan.display(),
        dir.path().display(),
        runs.display(),
        dir.path().display(),
        exit.display()
    );
    let _tmux = Tmux::start("theme", 100, 30, &cmd);
    assert_ne!(wait_exit(&exit, 30).trim(), "0");
    let err = std::fs::read_to_string(dir.path().join("err.txt")).unwrap();
    assert!(err.contains("no-such-theme"), "{err}");
    let sessions = std::fs::read_dir(&runs).map(|d| d.flatten().count()).unwrap_or(0);
    assert_eq!(sessions, 0, "a refused console must not leave a session");
}
