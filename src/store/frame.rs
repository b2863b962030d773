//! Small helpers between plain Rust vectors and polars frames, and the one way
//! this program puts a Parquet file on disk: a temporary name, fsync, rename,
//! fsync of the folder — so a reader never sees a half-written file.

use super::StoreError;
use polars::prelude::*;
use std::fs::File;
use std::path::{Path, PathBuf};

pub fn col_u32(name: &str, values: Vec<u32>) -> Column {
    Column::new(name.into(), values)
}

pub fn col_i64(name: &str, values: Vec<i64>) -> Column {
    Column::new(name.into(), values)
}

pub fn col_f64(name: &str, values: Vec<f64>) -> Column {
    Column::new(name.into(), values)
}

pub fn col_str(name: &str, values: Vec<String>) -> Column {
    Column::new(name.into(), values)
}

pub fn col_list_f64(name: &str, values: &[&[f64]]) -> Column {
    let total: usize = values.iter().map(|v| v.len()).sum();
    let mut b = ListPrimitiveChunkedBuilder::<Float64Type>::new(name.into(), values.len(), total, DataType::Float64);
    for v in values {
        b.append_slice(v);
    }
    b.finish().into_series().into()
}

pub fn col_list_f32(name: &str, values: &[&[f32]]) -> Column {
    let total: usize = values.iter().map(|v| v.len()).sum();
    let mut b = ListPrimitiveChunkedBuilder::<Float32Type>::new(name.into(), values.len(), total, DataType::Float32);
    for v in values {
        b.append_slice(v);
    }
    b.finish().into_series().into()
}

fn column<'a>(df: &'a DataFrame, name: &str) -> Result<&'a Column, StoreError> {
    df.column(name)
        .map_err(|_| StoreError::Schema(format!("missing column `{name}`")))
}

fn schema_err(name: &str, e: PolarsError) -> StoreError {
    StoreError::Schema(format!("column `{name}`: {e}"))
}

pub fn get_u32(df: &DataFrame, name: &str) -> Result<Vec<u32>, StoreError> {
    let c = column(df, name)?
        .cast(&DataType::UInt32)
        .map_err(|e| schema_err(name, e))?;
    let ca = c.u32().map_err(|e| schema_err(name, e))?;
    Ok(ca.iter().map(|v| v.unwrap_or(0)).collect())
}

pub fn get_i64(df: &DataFrame, name: &str) -> Result<Vec<i64>, StoreError> {
    let c = column(df, name)?
        .cast(&DataType::Int64)
        .map_err(|e| schema_err(name, e))?;
    let ca = c.i64().map_err(|e| schema_err(name, e))?;
    Ok(ca.iter().map(|v| v.unwrap_or(0)).collect())
}

/// Float column; nulls read as NaN.
pub fn get_f64(df: &DataFrame, name: &str) -> Result<Vec<f64>, StoreError> {
    let c = column(df, name)?
        .cast(&DataType::Float64)
        .map_err(|e| schema_err(name, e))?;
    let ca = c.f64().map_err(|e| schema_err(name, e))?;
    Ok(ca.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

pub fn get_str(df: &DataFrame, name: &str) -> Result<Vec<String>, StoreError> {
    let c = column(df, name)?;
    let ca = c.str().map_err(|e| schema_err(name, e))?;
    Ok(ca.iter().map(|v| v.unwrap_or("").to_string()).collect())
}

pub fn get_list_f64(df: &DataFrame, name: &str) -> Result<Vec<Vec<f64>>, StoreError> {
    let c = column(df, name)?
        .cast(&DataType::List(Box::new(DataType::Float64)))
        .map_err(|e| schema_err(name, e))?;
    let ca = c.list().map_err(|e| schema_err(name, e))?;
    let mut out = Vec::with_capacity(ca.len());
    for item in ca.amortized_iter() {
        match item {
            Some(s) => {
                let f = s.as_ref().f64().map_err(|e| schema_err(name, e))?;
                out.push(f.iter().map(|v| v.unwrap_or(f64::NAN)).collect());
            }
            None => out.push(Vec::new()),
        }
    }
    Ok(out)
}

/// A list column as f32; the round trip through f64 is exact for values stored
/// as f32, so one reader serves both.
pub fn get_list_f32(df: &DataFrame, name: &str) -> Result<Vec<Vec<f32>>, StoreError> {
    Ok(get_list_f64(df, name)?
        .into_iter()
        .map(|v| v.into_iter().map(|x| x as f32).collect())
        .collect())
}

/// Opens a file for reading and writing, creating it but keeping its contents.
pub fn open_keep(path: &Path) -> Result<File, StoreError> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| StoreError::io(path, e))
}

/// Flushes a folder's entry table, so a rename inside it survives a power cut.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

/// Writes `df` to `path` atomically: `path.tmp`, fsync, rename, fsync folder.
pub fn write_parquet_atomic(df: &mut DataFrame, path: &Path) -> Result<(), StoreError> {
    let tmp = tmp_path(path);
    write_parquet_unrenamed(df, &tmp)?;
    std::fs::rename(&tmp, path).map_err(|e| StoreError::io(path, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Writes and fsyncs `df` to a temporary file; the caller renames it.
pub fn write_parquet_unrenamed(df: &mut DataFrame, tmp: &Path) -> Result<(), StoreError> {
    super::fault::charge(df.estimated_size() as u64 / 4, tmp)?;
    let file = File::create(tmp).map_err(|e| StoreError::io(tmp, e))?;
    let result = ParquetWriter::new(&file)
        .with_compression(ParquetCompression::Zstd(None))
        .finish(df)
        .map_err(|e| match e {
            PolarsError::IO { error, .. } => StoreError::io(tmp, std::io::Error::new(error.kind(), error.to_string())),
            other => StoreError::Polars(other.to_string()),
        })
        .and_then(|_| file.sync_all().map_err(|e| StoreError::io(tmp, e)));
    if result.is_err() {
        // Leave nothing half-written behind; the caller's data is still in memory.
        let _ = std::fs::remove_file(tmp);
    }
    result
}

pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

pub fn read_parquet(path: &Path) -> Result<DataFrame, StoreError> {
    let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
    ParquetReader::new(file)
        .finish()
        .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))
}

/// Part files of a table folder in part order (`part-000000.parquet`, ...).
pub fn part_files(dir: &Path) -> Result<Vec<(u32, PathBuf)>, StoreError> {
    let mut parts = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(parts),
        Err(e) => return Err(StoreError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_prefix("part-").and_then(|s| s.strip_suffix(".parquet"))
            && let Ok(n) = n.parse::<u32>()
        {
            parts.push((n, entry.path()));
        }
    }
    parts.sort();
    Ok(parts)
}

/// All part files of a table folder as one frame (`None` when there are none).
pub fn read_table(dir: &Path) -> Result<Option<DataFrame>, StoreError> {
    let mut out: Option<DataFrame> = None;
    for (_, path) in part_files(dir)? {
        let df = read_parquet(&path)?;
        out = Some(match out {
            None => df,
            Some(mut acc) => {
                acc.vstack_mut(&df)
                    .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))?;
                acc
            }
        });
    }
    Ok(out)
}

pub fn part_name(n: u32) -> String {
    format!("part-{n:06}.parquet")
}
