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

/// The process holding the session's lock, found without touching the lock
/// (a reader that took even a shared lock for a moment could make a `resume`
/// starting at that instant fail): the kernel's table of flock locks,
/// `/proc/locks`, matched by the lock file's inode. `None` when nobody holds
/// it, or where the table cannot be read.
pub fn holder_pid(dir: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(dir.join(LOCK_FILE)).ok()?.ino();
    let table = std::fs::read_to_string("/proc/locks").ok()?;
    holder_in(&table, ino)
}

/// The pid of the FLOCK in a `/proc/locks` table on inode `ino`.
fn holder_in(table: &str, ino: u64) -> Option<u32> {
    table.lines().find_map(|line| {
        // "1: FLOCK  ADVISORY  WRITE 12345 00:2f:1234 0 EOF"; a blocked
        // waiter's line starts "1: -> FLOCK …" and is not a holder.
        let mut words = line.split_whitespace().skip(1);
        if words.next()? != "FLOCK" {
            return None;
        }
        let pid = words.nth(2)?.parse().ok()?;
        let inode: u64 = words.next()?.rsplit(':').next()?.parse().ok()?;
        (inode == ino).then_some(pid)
    })
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
        assert_eq!(holder_pid(dir.path()), Some(std::process::id()));
        drop(first);
        assert!(!SessionLock::is_held(dir.path()));
        assert_eq!(holder_pid(dir.path()), None);
        SessionLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn the_kernel_table_names_the_holder_and_not_a_waiter() {
        let table = "1: POSIX  ADVISORY  WRITE 10 00:2f:77 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 4242 00:2f:77 0 EOF\n\
                     2: -> FLOCK  ADVISORY  WRITE 99 00:2f:77 0 EOF\n";
        assert_eq!(holder_in(table, 77), Some(4242));
        assert_eq!(holder_in(table, 78), None);
    }
}
