//! Tables a reader may add to a session without being its writer: the models
//! `dualscope analyze` trains on a finished (or running) session.
//!
//! They live beside the writer's own numbered parts under a number of their
//! own, `part-900000.parquet` (CONTRACTS §3 names parts `part-NNNNNN`), written
//! atomically, so a second `analyze` replaces its first result instead of
//! adding a copy. A writer running meanwhile numbers its next part after the
//! highest it finds, so it never picks the same name; a reader holding the
//! old file open keeps reading it whole. No lock is taken; nothing else in
//! the session is touched.

use super::StoreError;
use super::frame::{parquet_bytes, session_id_of, write_file_atomic};
use polars::prelude::DataFrame;
use std::path::{Path, PathBuf};

/// The part number `analyze`'s rows of a table go to.
pub const ANALYZE_PART: u32 = 900_000;

/// The file `analyze`'s rows of `table` go to.
pub fn analyze_part(session: &Path, table: &str) -> PathBuf {
    session.join(table).join(super::frame::part_name(ANALYZE_PART))
}

/// Writes (or replaces) `analyze`'s part of `table`; returns its path.
pub fn save_analyze_part(session: &Path, table: &str, df: &mut DataFrame) -> Result<PathBuf, StoreError> {
    let folder = session.join(table);
    if !folder.is_dir() {
        // Sessions from before every table had a folder from the start.
        std::fs::create_dir(&folder).map_err(|e| StoreError::io(&folder, e))?;
    }
    let path = analyze_part(session, table);
    write_file_atomic(&path, &parquet_bytes(df, session_id_of(session))?)?;
    Ok(path)
}
