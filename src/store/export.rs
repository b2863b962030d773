//! `dualscope export`: one consolidated Parquet table of a session, each
//! measurement joined with the decision that chose it.

use super::reader::SessionLog;
use super::schema::{Decisions, Measurements, Table};
use super::{StoreError, frame::write_parquet_atomic};
use polars::prelude::*;
use std::path::Path;

/// Measurements left-joined with their decisions on `step`; the decision's own
/// position and time columns are dropped (they repeat the measurement's) and
/// `session_id` is added so exports of several sessions can be stacked.
pub fn consolidated(log: &SessionLog) -> Result<DataFrame, StoreError> {
    let m = Measurements::frame(&log.measurements)?;
    let d = Decisions::frame(&log.decisions)?.drop_many(["t_ms", "row", "col"]);
    let err = |e: PolarsError| StoreError::Polars(e.to_string());
    m.lazy()
        .join(d.lazy(), [col("step")], [col("step")], JoinArgs::new(JoinType::Left))
        .with_column(lit(log.meta.session_id.clone()).alias("session_id"))
        .sort(["step"], SortMultipleOptions::default())
        .collect()
        .map_err(err)
}

/// Writes the consolidated table to `out` atomically; returns its row count.
pub fn export(dir: &Path, out: &Path) -> Result<usize, StoreError> {
    let log = SessionLog::load(dir)?;
    let mut df = consolidated(&log)?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| StoreError::io(parent, e))?;
    }
    write_parquet_atomic(&mut df, out)?;
    Ok(df.height())
}
