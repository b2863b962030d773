//! The engine as a value you start: `Engine::spawn` puts it on its own thread
//! and hands every face (the console, headless mode, a test) the same three
//! things — commands in, events out, and a handle to wait for the outcome.

use super::{Command, Engine, EngineEvent, RunOutcome};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use tokio::sync::mpsc::UnboundedReceiver;

/// A running engine, as its caller holds it.
pub struct Running {
    pub commands: mpsc::Sender<Command>,
    pub events: UnboundedReceiver<EngineEvent>,
    pub handle: EngineHandle,
}

/// Waits for a running engine's outcome.
pub struct EngineHandle {
    thread: std::thread::JoinHandle<RunOutcome>,
    session: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the engine thread could not start: {0}")]
    Spawn(#[from] std::io::Error),
    /// The engine catches its own panics; this is one that escaped even that.
    #[error("the engine thread ended without an outcome")]
    Lost,
}

impl EngineHandle {
    pub fn session_dir(&self) -> &Path {
        &self.session
    }

    /// Waits until the run has ended, however it ended.
    pub fn join(self) -> Result<RunOutcome, EngineError> {
        self.thread.join().map_err(|_| EngineError::Lost)
    }
}

impl Engine {
    /// Starts the run on a thread of its own (the only place one starts).
    pub fn spawn(mut self) -> Result<Running, EngineError> {
        let (commands, events) = self.outer.take().expect("an engine is spawned once");
        let session = self.session_dir().to_path_buf();
        let thread = std::thread::Builder::new()
            .name("engine".into())
            .spawn(move || self.run())?;
        Ok(Running {
            commands,
            events,
            handle: EngineHandle { thread, session },
        })
    }
}
