//! The session log (CONTRACTS §3): the only writer of disk.
//!
//! Records go first to a fsynced append-only journal, then into immutable
//! Parquet part files (temporary name, fsync, rename). Readers combine the part
//! files with the journal rows no part holds yet, so a session reads whole while
//! it runs and after a crash.

mod compaction;
pub mod derived;
pub mod export;
#[cfg(feature = "test-hooks")]
mod fault;
mod flusher;
pub mod frame;
pub mod grid;
pub mod gwy;
pub mod ibw;
pub mod inbox;
pub mod journal;
pub mod lock;
pub mod meta;
pub mod reader;
pub mod saved;
pub mod schema;
pub mod writer;

pub use journal::{Entry, JournalTable};
pub use meta::{SessionMeta, SessionStatus};
pub use reader::SessionLog;
pub use writer::SessionWriter;

use std::path::{Path, PathBuf};

/// Why the session log could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the disk is full: could not write {path} ({source}); the log written so far is intact")]
    DiskFull { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("session {dir} is being written by another process ({holder}); stop it first")]
    Locked { dir: PathBuf, holder: String },
    #[error("{0} is not a dualscope session (no session.toml)")]
    NotASession(PathBuf),
    #[error("damaged session log: {0}")]
    Corrupt(String),
    #[error("unexpected table layout: {0}")]
    Schema(String),
    #[error("parquet: {0}")]
    Polars(String),
}

impl StoreError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        let full = source.raw_os_error() == Some(libc::ENOSPC) || source.kind() == std::io::ErrorKind::StorageFull;
        if full {
            Self::DiskFull {
                path: path.to_path_buf(),
                source,
            }
        } else {
            Self::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

/// Unix milliseconds now (UTC).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
