//! `dualscope export`: a session in the forms other programs open — one
//! consolidated Parquet table (each measurement joined with the decision that
//! chose it), a Gwyddion `.gwy` file, Igor binary waves, or a partition of a
//! Hive-style dataset of many sessions. Every export reads the session only
//! (no lock, nothing written under it), so a running session exports too.

pub mod dataset;
pub mod gwy;
pub mod ibw;

use super::frame::{get_u32, read_table};
use super::reader::SessionLog;
use super::schema::{Decisions, Measurements, Table};
use super::{StoreError, frame::write_parquet_atomic};
use polars::prelude::*;
use std::collections::HashMap;
use std::path::Path;

/// The cluster of each measured step in the session's newest dual-VAE map
/// (the `embeddings` of the highest `model_step`); empty before the first.
pub fn latest_clusters(dir: &Path) -> Result<HashMap<u32, u32>, StoreError> {
    let Some(df) = read_table(&dir.join("embeddings"))? else {
        return Ok(HashMap::new());
    };
    if df.height() == 0 {
        return Ok(HashMap::new());
    }
    let (model, step, cluster) = (
        get_u32(&df, "model_step")?,
        get_u32(&df, "step")?,
        get_u32(&df, "cluster")?,
    );
    let newest = model.iter().copied().max().unwrap_or(0);
    Ok((0..df.height())
        .filter(|&k| model[k] == newest)
        .map(|k| (step[k], cluster[k]))
        .collect())
}

/// Makes the folder a file will be written into.
fn parent_of(out: &Path) -> Result<(), StoreError> {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| StoreError::io(parent, e))?;
    }
    Ok(())
}

/// Measurements left-joined with their location's decision (with one
/// protocol, the decision of the same step; with several, the one made at
/// the location's first curve); the decision's own position and time
/// columns are dropped (they repeat the measurement's) and `session_id` is
/// added so exports of several sessions can be stacked.
pub fn consolidated(log: &SessionLog) -> Result<DataFrame, StoreError> {
    let err = |e: PolarsError| StoreError::Polars(e.to_string());
    let mut m = Measurements::frame(&log.measurements)?;
    // Each curve's location begins at this step: its decision's, and the
    // step the dual VAE's map knows the location by.
    let mut first_of = HashMap::new();
    for r in &log.measurements {
        first_of.entry(r.location_no()).or_insert(r.step);
    }
    let decided: Vec<u32> = log.measurements.iter().map(|r| first_of[&r.location_no()]).collect();
    // Null where no map places the location yet (before the first training).
    let clusters = latest_clusters(&log.dir)?;
    let cluster: Vec<Option<u32>> = decided.iter().map(|s| clusters.get(s).copied()).collect();
    m.with_column(Column::new("cluster".into(), cluster)).map_err(err)?;
    m.with_column(Column::new("decided_at".into(), decided)).map_err(err)?;
    let d = Decisions::frame(&log.decisions)?
        .drop_many(["t_ms", "row", "col"])
        .lazy()
        .rename(["step"], ["decided_at"], true);
    m.lazy()
        .join(
            d,
            [col("decided_at")],
            [col("decided_at")],
            JoinArgs::new(JoinType::Left),
        )
        .drop(Selector::ByName {
            names: std::sync::Arc::new(["decided_at".into()]),
            strict: true,
        })
        .with_column(lit(log.meta.session_id.clone()).alias("session_id"))
        .sort(["step"], SortMultipleOptions::default())
        .collect()
        .map_err(err)
}

/// Writes the consolidated table to `out` atomically; returns its row count.
pub fn export(dir: &Path, out: &Path) -> Result<usize, StoreError> {
    let log = SessionLog::load(dir)?;
    let mut df = consolidated(&log)?;
    parent_of(out)?;
    write_parquet_atomic(&mut df, out, Some(&log.meta.session_id))?;
    Ok(df.height())
}

/// Writes the session's `property_map` (every model's, live and `analyze`'s;
/// `model_step` and `model` tell them apart) to `out` with `session_id`
/// added; returns its row count. A session whose dual VAE never trained has
/// no rows to give, and says so.
pub fn export_property_map(dir: &Path, out: &Path) -> Result<usize, StoreError> {
    let log = SessionLog::load(dir)?;
    let err = |e: PolarsError| StoreError::Polars(e.to_string());
    let df = read_table(&dir.join("property_map"))?.filter(|df| df.height() > 0);
    let Some(df) = df else {
        return Err(StoreError::Schema(
            "no property map yet: the dual VAE has not trained on this session \
             (it does every `retrain_every` curves, or run `dualscope analyze`)"
                .into(),
        ));
    };
    let mut df = df
        .lazy()
        .with_column(lit(log.meta.session_id.clone()).alias("session_id"))
        .sort(["model_step", "row", "col"], SortMultipleOptions::default())
        .collect()
        .map_err(err)?;
    parent_of(out)?;
    write_parquet_atomic(&mut df, out, Some(&log.meta.session_id))?;
    Ok(df.height())
}
