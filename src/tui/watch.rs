//! `dualscope watch`: the console on a session another process runs (or
//! ran), fed by a [`Follower`] on its log instead of an engine. Keys that
//! would command the run only say it is a watch.

use super::follow::Follower;
use super::{App, Console, Snapshot, Term};
use crate::engine::{EngineEvent, RunState};
use crate::record::{Event, EventKind};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime};

/// How often the log is looked at (a stat of two files; read only when
/// they changed): a new curve shows within this and a read.
pub const POLL: Duration = Duration::from_millis(250);

/// Watches `dir` until the user quits (or, with `exit_at_end`, until the
/// session has ended and no process holds it).
pub fn watch(dir: &Path, console: Console, exit_at_end: bool) -> color_eyre::Result<()> {
    let Console { theme, keymap, tick } = console;
    // Says at once if this is no session; the rest of the log may still be
    // being created (the follower tells what it cannot read yet).
    let (meta, plan) = crate::store::meta::read(dir)?;
    let mut app = App::new(Snapshot::new(meta.session_id.clone(), &plan), theme, keymap);
    app.read_only = true;
    app.snap.state = RunState::Idle;
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let followed = dir.to_path_buf();
    std::thread::Builder::new()
        .name("watch".into())
        .spawn(move || follow(&followed, &tx, exit_at_end))?;

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    super::install_panic_hook();
    super::enter()?;
    let bytes = Arc::new(AtomicU64::new(0));
    let mut term: Term = Terminal::new(CrosstermBackend::new(super::CountingWriter::new(
        std::io::stdout(),
        bytes.clone(),
    )))?;
    term.clear()?;
    let result = runtime.block_on(super::drive(&mut app, &mut term, &mut events, &|_| {}, tick, bytes));
    super::leave();
    result
}

/// What changes when the session does: the journal, `session.toml`, the
/// lock file's holder and the embeddings folder.
fn fingerprint(dir: &Path) -> Vec<Option<(u64, SystemTime)>> {
    let stat = |p: PathBuf| {
        std::fs::metadata(p)
            .ok()
            .and_then(|m| Some((m.len(), m.modified().ok()?)))
    };
    vec![
        stat(dir.join("journal.bin")),
        stat(dir.join(crate::store::meta::SESSION_FILE)),
        stat(dir.join("embeddings")),
        crate::store::lock::holder_pid(dir).map(|p| (p as u64, SystemTime::UNIX_EPOCH)),
    ]
}

/// The follower's thread: polls until the console is gone (or the end).
fn follow(dir: &Path, tx: &tokio::sync::mpsc::UnboundedSender<EngineEvent>, exit_at_end: bool) {
    let mut follower = Follower::new(dir);
    let mut seen = None;
    let mut last_error = String::new();
    loop {
        let now = fingerprint(dir);
        if seen.as_ref() != Some(&now) {
            match follower.poll() {
                Ok(out) => {
                    seen = Some(now);
                    last_error.clear();
                    for e in out {
                        if tx.send(e).is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    // Said once; tried again at the next poll.
                    let said = e.to_string();
                    if said != last_error {
                        let row = Event {
                            t_ms: crate::store::now_ms(),
                            kind: EventKind::Other("watch".into()),
                            detail: format!("could not read the session: {said}"),
                        };
                        if tx.send(EngineEvent::Logged(row)).is_err() {
                            return;
                        }
                        last_error = said;
                    }
                }
            }
        }
        if exit_at_end && follower.ended() {
            return;
        }
        if tx.is_closed() {
            return;
        }
        std::thread::sleep(POLL);
    }
}
