//! Many sessions as one dataset that DuckDB, polars and Spark read as one
//! table a kind and prune by session: `DIR/<table>/session=<id>/part-000000.parquet`
//! (Hive-style partitions). Each export writes its session's partitions and
//! touches no other: a lab adds sessions as they come.

use super::super::StoreError;
use super::super::frame::{parquet_bytes, part_name, read_table, write_file_atomic};
use super::super::reader::SessionLog;
use super::super::schema::{Decisions, Events, Measurements, Table};
use std::path::Path;

/// The tables a dataset holds.
pub const TABLES: [&str; 6] = [
    "measurements",
    "decisions",
    "events",
    "topography",
    "embeddings",
    "property_map",
];

/// Writes (or replaces) one session's partition of every table; returns the
/// rows written per table.
pub fn export(dir: &Path, dataset: &Path) -> Result<Vec<(&'static str, usize)>, StoreError> {
    let log = SessionLog::load(dir)?;
    let id = &log.meta.session_id;
    if id.is_empty() || id.contains(['/', '\\', '=']) || id.starts_with('.') {
        return Err(StoreError::Schema(format!("session id `{id}` cannot name a partition")));
    }
    let mut written = Vec::new();
    for table in TABLES {
        let df = match table {
            "measurements" => Some(Measurements::frame(&log.measurements)?),
            "decisions" => Some(Decisions::frame(&log.decisions)?),
            "events" => Some(Events::frame(&log.events)?),
            // Derived and image tables: as the session holds them.
            other => read_table(&dir.join(other))?,
        };
        let Some(mut df) = df else { continue };
        let folder = dataset.join(table).join(format!("session={id}"));
        std::fs::create_dir_all(&folder).map_err(|e| StoreError::io(&folder, e))?;
        write_file_atomic(&folder.join(part_name(0)), &parquet_bytes(&mut df, Some(id))?)?;
        written.push((table, df.height()));
    }
    Ok(written)
}
