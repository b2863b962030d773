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

/// A utf8 column whose `None`s are Parquet nulls.
pub fn col_opt_str(name: &str, values: Vec<Option<&str>>) -> Column {
    Column::new(name.into(), values)
}

/// A u32 column whose `None`s are Parquet nulls.
pub fn col_opt_u32(name: &str, values: Vec<Option<u32>>) -> Column {
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

/// An optional utf8 column: nulls, and every row of a frame written before
/// the column existed, read as `None`.
pub fn get_opt_str(df: &DataFrame, name: &str) -> Result<Vec<Option<String>>, StoreError> {
    let Ok(c) = df.column(name) else {
        return Ok(vec![None; df.height()]);
    };
    let ca = c.str().map_err(|e| schema_err(name, e))?;
    Ok(ca.iter().map(|v| v.map(str::to_string)).collect())
}

/// An optional u32 column: nulls, and every row of a frame written before
/// the column existed, read as `None`.
pub fn get_opt_u32(df: &DataFrame, name: &str) -> Result<Vec<Option<u32>>, StoreError> {
    let Ok(c) = df.column(name) else {
        return Ok(vec![None; df.height()]);
    };
    let c = c.cast(&DataType::UInt32).map_err(|e| schema_err(name, e))?;
    let ca = c.u32().map_err(|e| schema_err(name, e))?;
    Ok(ca.iter().collect())
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

/// `O_NOFOLLOW`: a path in a session folder that is a symbolic link is
/// refused, so a planted link can never make this program write elsewhere.
fn nofollow(options: &mut std::fs::OpenOptions) -> &mut std::fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    options.custom_flags(libc::O_NOFOLLOW)
}

/// Opens a file for reading and writing, creating it but keeping its contents.
pub fn open_keep(path: &Path) -> Result<File, StoreError> {
    nofollow(
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false),
    )
    .open(path)
    .map_err(|e| StoreError::io(path, e))
}

/// Opens a file to read, refusing a symbolic link.
pub fn open_read_nofollow(path: &Path) -> std::io::Result<File> {
    nofollow(std::fs::OpenOptions::new().read(true)).open(path)
}

/// Opens (or creates) a file to append to, refusing a symbolic link: log files.
pub fn open_append_nofollow(path: &Path) -> std::io::Result<File> {
    nofollow(std::fs::OpenOptions::new().create(true).append(true)).open(path)
}

/// Flushes a folder's entry table, so a rename inside it survives a power cut.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

/// Creates a folder (and its parents) and makes its entry durable.
pub fn create_dir_synced(dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(())
}

/// The unit of a column, read off its name the way the whole house names
/// things (`x_nm`, `bias_v`, `current_a`, `t_ms`); `None` for counts, labels
/// and latent coordinates.
pub fn unit_of(column: &str) -> Option<&'static str> {
    const SUFFIXES: [(&str, &str); 8] = [
        ("_va", "V·A"),
        ("_nm", "nm"),
        ("_ms", "ms"),
        ("_v", "V"),
        ("_a", "A"),
        ("_s", "s"),
        ("_mb", "MiB"),
        ("_px", "px"),
    ];
    match column {
        // Named before units were in every name; kept for old readers.
        "hysteresis_area" => Some("V·A"),
        "row" | "col" => Some("survey pixel"),
        _ => SUFFIXES.iter().find(|(s, _)| column.ends_with(s)).map(|(_, u)| *u),
    }
}

/// File-level key-value metadata every Parquet file of this program carries:
/// who wrote it, the session it belongs to, and each column's unit as
/// `dualscope.unit.<column>` — so a file that travels alone still says what
/// its numbers are (pyarrow: `pq.read_metadata(f).metadata`).
fn key_value_metadata(df: &DataFrame, session_id: Option<&str>) -> KeyValueMetadata {
    let mut kv = vec![(
        "dualscope.writer".to_string(),
        format!("dualscope {}", env!("CARGO_PKG_VERSION")),
    )];
    if let Some(id) = session_id {
        kv.push(("dualscope.session_id".to_string(), id.to_string()));
    }
    for name in df.get_column_names() {
        if let Some(unit) = unit_of(name) {
            kv.push((format!("dualscope.unit.{name}"), unit.to_string()));
        }
    }
    KeyValueMetadata::from_static(kv)
}

/// A session's id: the name of its folder (CONTRACTS §3).
pub fn session_id_of(session: &Path) -> Option<&str> {
    session.file_name().and_then(|n| n.to_str())
}

/// A frame as the bytes of a Parquet file (zstd), made in memory so that
/// writing them is one plain write whose error is the file system's own
/// ("No space left on device"), not the Parquet writer's retelling of it.
pub fn parquet_bytes(df: &mut DataFrame, session_id: Option<&str>) -> Result<Vec<u8>, StoreError> {
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes)
        .with_compression(ParquetCompression::Zstd(None))
        .with_key_value_metadata(Some(key_value_metadata(df, session_id)))
        .finish(df)
        .map_err(|e| StoreError::Polars(e.to_string()))?;
    Ok(bytes)
}

/// A file written and fsynced under its temporary name, not yet in place.
#[must_use = "a staged file is visible only once committed"]
pub struct Staged {
    tmp: PathBuf,
    path: PathBuf,
    /// CRC-32 of the file's bytes.
    pub crc32: u32,
}

impl Staged {
    /// Renames it into place and makes the rename durable.
    pub fn commit(self) -> Result<(), StoreError> {
        std::fs::rename(&self.tmp, &self.path).map_err(|e| StoreError::io(&self.path, e))?;
        // A bare file name lives in the working folder.
        match self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(dir) => sync_dir(dir),
            None => sync_dir(Path::new(".")),
        }
    }
}

/// Writes `bytes` to the hidden temporary name of `path` (created new, never
/// through a link) and fsyncs it; [`Staged::commit`] puts it in place.
pub fn stage(path: &Path, bytes: &[u8]) -> Result<Staged, StoreError> {
    let tmp = tmp_path(path);
    // A temporary left by a crash holds nothing anyone needs (its rows are in
    // the journal); removing a link removes the link, not what it points at.
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(&tmp, e)),
    }
    #[cfg(feature = "test-hooks")]
    super::fault::charge(bytes.len() as u64, &tmp)?;
    let result = nofollow(std::fs::OpenOptions::new().write(true).create_new(true))
        .open(&tmp)
        .map_err(|e| StoreError::io(&tmp, e))
        .and_then(|mut f| write_all_synced(&mut f, bytes, &tmp));
    if let Err(e) = result {
        // Leave nothing half-written behind; the caller's data is still in memory.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(Staged {
        tmp,
        path: path.to_path_buf(),
        crc32: crc32fast::hash(bytes),
    })
}

/// Writes all of `bytes` to an open file and waits until they are on disk;
/// a full disk is [`StoreError::DiskFull`].
pub fn write_all_synced(file: &mut File, bytes: &[u8], path: &Path) -> Result<(), StoreError> {
    use std::io::Write;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(|e| StoreError::io(path, e))
}

/// Writes `bytes` to `path` atomically: hidden temporary, fsync, rename, fsync
/// of the folder. Returns the CRC-32 of the bytes.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<u32, StoreError> {
    let staged = stage(path, bytes)?;
    let crc = staged.crc32;
    staged.commit()?;
    Ok(crc)
}

/// Writes `df` to `path` atomically as Parquet; returns the file's CRC-32.
pub fn write_parquet_atomic(df: &mut DataFrame, path: &Path, session_id: Option<&str>) -> Result<u32, StoreError> {
    write_file_atomic(path, &parquet_bytes(df, session_id)?)
}

/// The temporary name of `path`: `.NAME.tmp` beside it, hidden from dataset
/// readers (pyarrow, DuckDB and Spark skip names that start with a dot).
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(".tmp");
    path.with_file_name(name)
}

pub fn read_parquet(path: &Path) -> Result<DataFrame, StoreError> {
    let bytes = std::fs::read(path).map_err(|e| StoreError::io(path, e))?;
    parquet_from_bytes(&bytes, path)
}

/// A Parquet file already read into memory (`path` only names it in errors).
pub fn parquet_from_bytes(bytes: &[u8], path: &Path) -> Result<DataFrame, StoreError> {
    ParquetReader::new(std::io::Cursor::new(bytes))
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

/// Every Parquet file of a table folder that a dataset reader would take
/// (not the hidden ones), in name order.
pub fn table_files(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(dir, e)),
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !name.starts_with('.') && !name.starts_with('_') && name.ends_with(".parquet")
        })
        .map(|e| e.path())
        .collect();
    files.sort();
    Ok(files)
}

/// Every visible Parquet file of a table folder as one frame, as an outside
/// reader sees it (`None` when there are none).
pub fn read_table(dir: &Path) -> Result<Option<DataFrame>, StoreError> {
    let mut out: Option<DataFrame> = None;
    for path in table_files(dir)? {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_said_as_such() {
        // /dev/full answers every write with ENOSPC, as a full file system does.
        let mut df = DataFrame::new_infer_height(vec![col_f64("x", vec![1.0; 1000])]).unwrap();
        let bytes = parquet_bytes(&mut df, None).unwrap();
        let mut full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let err = write_all_synced(&mut full, &bytes, Path::new("/dev/full")).unwrap_err();
        assert!(matches!(err, StoreError::DiskFull { .. }), "{err}");
        assert!(err.to_string().contains("the disk is full"), "{err}");
    }

    #[test]
    fn temporary_names_are_hidden_from_dataset_readers() {
        let tmp = tmp_path(Path::new("/s/measurements/part-000004.parquet"));
        assert_eq!(tmp, Path::new("/s/measurements/.part-000004.parquet.tmp"));
    }
}
