//! A finished session's many small parts made one per table. A night of
//! curves flushed every few rows leaves thousands of files, and every reader
//! (polars, pyarrow, DuckDB, `dualscope resume`) pays per file.
//!
//! The table folder is swapped whole, never edited in place, so a reader
//! that lists it sees either every old part or the one new part, never
//! both (no row twice) and never a part short (no row missing). In order:
//! the new part is written from the journal (which holds every row) into a
//! hidden staging folder and noted like any part; `Compacted` is journaled;
//! the staging folder and the table folder trade places in one atomic
//! `renameat2(RENAME_EXCHANGE)`; the old parts, now in the staging folder,
//! go. A `kill -9` anywhere loses nothing: before the swap the old parts
//! are the table, after it the new one is; the next writer clears the
//! staging folder. A reader that listed the old folder and opens a part
//! after the swap finds it gone and must read again (ours do).

use super::StoreError;
use super::flusher::write_part_in;
use super::frame::{create_dir_synced, part_files, sync_dir};
use super::journal::{Entry, Journal, JournalTable};
use super::reader::inspect;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The hidden folder a table's compacted part is staged in.
fn staging(dir: &Path, table: JournalTable) -> PathBuf {
    dir.join(format!(".{}.compacting", table.folder()))
}

/// Compacts one table into part `into`; returns how many parts it replaced
/// (0 when it left the table as it was: one part already, anything found
/// damaged, missing or not yet in a part, which the next writer repairs
/// first, or a file system that cannot swap two folders atomically).
pub(super) fn compact_table(
    dir: &Path,
    journal: &Mutex<Journal>,
    entries: &[(u64, Entry)],
    table: JournalTable,
    into: u32,
) -> Result<usize, StoreError> {
    let folder = dir.join(table.folder());
    let parts = part_files(&folder)?;
    if parts.len() < 2 || parts.iter().any(|(n, _)| *n >= into) {
        return Ok(0);
    }
    let state = inspect(table, &parts, entries)?;
    let rows: Vec<(u64, Entry)> = entries
        .iter()
        .filter(|(_, e)| e.table() == Some(table))
        .cloned()
        .collect();
    let in_parts: usize = state.good.iter().map(|(_, r)| r.len()).sum();
    let whole = state.damaged.is_empty()
        && state.missing.is_empty()
        && state.superseded.is_empty()
        && rows.iter().all(|(seq, _)| state.covers(*seq))
        && in_parts == rows.len();
    if !whole {
        tracing::warn!(
            table = table.folder(),
            "not compacted: the parts and the journal disagree"
        );
        return Ok(0);
    }
    let stage = staging(dir, table);
    clear(&stage)?;
    create_dir_synced(&stage)?;
    write_part_in(dir, &stage, journal, table, into, &rows)?;
    journal.lock().expect("journal lock").append(&Entry::Compacted {
        table,
        into,
        replaces: parts.iter().map(|(n, _)| *n).collect(),
    })?;
    if let Err(e) = exchange(&folder, &stage) {
        // The journal's note of `into` names a part no folder holds: readers
        // take the compaction as never done.
        tracing::warn!(table = table.folder(), error = %e, "not compacted: the folders cannot be swapped");
        clear(&stage)?;
        return Ok(0);
    }
    sync_dir(dir)?;
    clear(&stage)?;
    sync_dir(dir)?;
    Ok(parts.len())
}

/// Removes the staging folders a crash during a compaction left behind:
/// before the swap they hold the unused new part, after it the old parts.
pub(super) fn clear_staging(dir: &Path) -> Result<(), StoreError> {
    for table in JournalTable::ALL {
        clear(&staging(dir, table))?;
    }
    Ok(())
}

fn clear(stage: &Path) -> Result<(), StoreError> {
    match std::fs::remove_dir_all(stage) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::io(stage, e)),
        _ => Ok(()),
    }
}

/// Swaps two folders in one step (Linux `renameat2` with `RENAME_EXCHANGE`:
/// ext4, xfs, btrfs, tmpfs and overlayfs support it). No crate wraps it for
/// std paths without pulling in a whole POSIX layer.
#[allow(unsafe_code)] // the call below, see its SAFETY note
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (ca, cb) = (c(a)?, c(b)?);
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
