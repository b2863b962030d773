//! One writer per session: an advisory lock on `session.lock`, released by the
//! kernel when the process ends however it ends, so a crash never leaves a
//! session locked.

use super::StoreError;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

pub const LOCK_FILE: &str = "session.lock";

/// Held while a process writes the session.
#[derive(Debug)]
pub struct SessionLock {
    _file: File,
}

impl SessionLock {
    pub fn acquire(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(LOCK_FILE);
        let mut file = super::frame::open_keep(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(StoreError::Locked {
                    dir: dir.to_path_buf(),
                    holder: holder.trim().to_string(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(StoreError::io(&path, e)),
        }
        let me = format!("pid {} on {}", std::process::id(), hostname());
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .map_err(|e| StoreError::io(&path, e))?;
        file.write_all(me.as_bytes()).map_err(|e| StoreError::io(&path, e))?;
        Ok(Self { _file: file })
    }

    /// Whether some live process holds the lock now.
    pub fn is_held(dir: &Path) -> bool {
        let Ok(file) = File::open(dir.join(LOCK_FILE)) else {
            return false;
        };
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = file.unlock();
                false
            }
            Err(_) => true,
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "this host".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_writer_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = SessionLock::acquire(dir.path()).unwrap();
        assert!(SessionLock::is_held(dir.path()));
        let err = SessionLock::acquire(dir.path()).unwrap_err();
        assert!(err.to_string().contains("pid"), "{err}");
        drop(first);
        assert!(!SessionLock::is_held(dir.path()));
        SessionLock::acquire(dir.path()).unwrap();
    }
}
