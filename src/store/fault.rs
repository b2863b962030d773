//! A simulated full disk, for tests of what happens when a write fails.
//!
//! Compiled only with the `test-hooks` feature, which `cargo test` turns on
//! (the package is its own dev-dependency with that feature) and a release
//! build never has.
//!
//! `DUALSCOPE_FAULT_DISK_BYTES=N` lets the store write about N bytes in this
//! process and then fails every write with "No space left on device", exactly as
//! a full file system would. A real full disk takes the same code path, so a test
//! can check the error and the log left behind without mounting a small file system.

use super::StoreError;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};

fn budget() -> Option<&'static AtomicI64> {
    static BUDGET: OnceLock<Option<AtomicI64>> = OnceLock::new();
    BUDGET
        .get_or_init(|| {
            std::env::var("DUALSCOPE_FAULT_DISK_BYTES")
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
                .map(AtomicI64::new)
        })
        .as_ref()
}

/// Takes `bytes` from the simulated free space; fails once it is used up.
pub fn charge(bytes: u64, path: &Path) -> Result<(), StoreError> {
    if let Some(left) = budget()
        && left.fetch_sub(bytes as i64, Ordering::SeqCst) < bytes as i64
    {
        left.store(-1, Ordering::SeqCst);
        return Err(StoreError::io(path, std::io::Error::from_raw_os_error(libc::ENOSPC)));
    }
    Ok(())
}
