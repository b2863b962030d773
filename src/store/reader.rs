//! Reading a session back: part files plus the journal rows no part holds yet.
//! Safe beside a running writer, and after a crash.

use super::StoreError;
use super::frame::{part_files, read_parquet, read_table};
use super::journal::{self, Entry, JournalTable};
use super::meta::{self, SessionMeta};
use super::schema::*;
use crate::instrument::Survey;
use crate::plan::SessionPlan;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Which journal rows the part files on disk already hold.
#[derive(Debug, Default)]
pub struct Coverage {
    upto: HashMap<JournalTable, u64>,
    max_part: HashMap<JournalTable, u32>,
}

impl Coverage {
    /// Whether the row of `table` journaled as `seq` is in a part file.
    pub fn covers(&self, table: JournalTable, seq: u64) -> bool {
        self.upto.get(&table).is_some_and(|&u| seq <= u)
    }

    /// A part number no file and no journal note has used.
    pub fn next_part(&self, table: JournalTable) -> u32 {
        self.max_part.get(&table).map(|p| p + 1).unwrap_or(0)
    }
}

/// Coverage given the part files that exist now. `entries` must have been read
/// after the parts were listed, so every listed part has its note in them.
pub fn coverage(dir: &Path, entries: &[(u64, Entry)]) -> Result<Coverage, StoreError> {
    let mut present: HashMap<JournalTable, HashSet<u32>> = HashMap::new();
    for table in JournalTable::ALL {
        let parts = part_files(&dir.join(table.folder()))?;
        present.insert(table, parts.into_iter().map(|(n, _)| n).collect());
    }
    Ok(coverage_of(&present, entries))
}

fn coverage_of(present: &HashMap<JournalTable, HashSet<u32>>, entries: &[(u64, Entry)]) -> Coverage {
    let mut c = Coverage::default();
    for (table, parts) in present {
        if let Some(&m) = parts.iter().max() {
            c.max_part.insert(*table, m);
        }
    }
    for (_, e) in entries {
        if let Entry::Part { table, part, last_seq } = e {
            let m = c.max_part.entry(*table).or_insert(*part);
            *m = (*m).max(*part);
            if present.get(table).is_some_and(|p| p.contains(part)) {
                let u = c.upto.entry(*table).or_insert(*last_seq);
                *u = (*u).max(*last_seq);
            }
        }
    }
    c
}

/// Everything a session holds, read whole.
#[derive(Debug, Clone)]
pub struct SessionLog {
    pub dir: PathBuf,
    pub meta: SessionMeta,
    pub plan: SessionPlan,
    /// The latest survey image whose pixels are on disk.
    pub survey: Option<Survey>,
    /// In step order, one per step.
    pub measurements: Vec<MeasurementRow>,
    pub decisions: Vec<DecisionRow>,
    pub events: Vec<EventRow>,
}

impl SessionLog {
    pub fn load(dir: &Path) -> Result<Self, StoreError> {
        let (meta, plan) = meta::read(dir)?;
        // Parts first, journal second: see `coverage`.
        let mut present: HashMap<JournalTable, HashSet<u32>> = HashMap::new();
        let mut frames = HashMap::new();
        for table in JournalTable::ALL {
            let folder = dir.join(table.folder());
            let parts = part_files(&folder)?;
            present.insert(table, parts.iter().map(|(n, _)| *n).collect());
            let mut rows = Vec::new();
            for (_, path) in &parts {
                let df = read_parquet(path)?;
                match table {
                    JournalTable::Measurements => {
                        rows.extend(measurements_from(&df)?.into_iter().map(Entry::Measurement))
                    }
                    JournalTable::Decisions => rows.extend(decisions_from(&df)?.into_iter().map(Entry::Decision)),
                    JournalTable::Events => rows.extend(events_from(&df)?.into_iter().map(Entry::Event)),
                }
            }
            frames.insert(table, rows);
        }
        let topo_parts: HashSet<u32> = part_files(&dir.join("topography"))?
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let entries = journal::read(dir)?;
        let cover = coverage_of(&present, &entries);

        let mut measurements: BTreeMap<u32, MeasurementRow> = BTreeMap::new();
        let mut decisions: BTreeMap<u32, DecisionRow> = BTreeMap::new();
        let mut events = Vec::new();
        let all = frames.into_values().flatten().chain(
            entries
                .iter()
                .filter(|(seq, e)| e.table().is_some_and(|t| !cover.covers(t, *seq)))
                .map(|(_, e)| e.clone()),
        );
        for e in all {
            match e {
                // Keyed by step: a row can never appear twice, whatever a crash did.
                Entry::Measurement(m) => {
                    measurements.insert(m.step, m);
                }
                Entry::Decision(d) => {
                    decisions.insert(d.step, d);
                }
                Entry::Event(ev) => events.push(ev),
                _ => {}
            }
        }
        events.sort_by_key(|e| e.t_ms);

        let mut survey = None;
        for (_, e) in &entries {
            if let Entry::Survey {
                scan,
                width_nm,
                height_nm,
                part,
                ..
            } = e
                && topo_parts.contains(part)
            {
                let path = dir.join("topography").join(super::frame::part_name(*part));
                let df = read_parquet(&path)?;
                survey = Some(Survey {
                    width_nm: *width_nm,
                    height_nm: *height_nm,
                    heights_nm: topography_from(&df, *scan)?,
                });
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            meta,
            plan,
            survey,
            measurements: measurements.into_values().collect(),
            decisions: decisions.into_values().collect(),
            events,
        })
    }

    /// The number of the next step (steps count from 0 and never repeat).
    pub fn next_step(&self) -> u32 {
        self.measurements.last().map(|m| m.step + 1).unwrap_or(0)
    }
}

/// Reads a whole table folder of any session as one frame, for tools that want
/// polars directly (`None` when it has no part yet).
pub fn table_frame(dir: &Path, table: &str) -> Result<Option<polars::prelude::DataFrame>, StoreError> {
    read_table(&dir.join(table))
}

/// Session folders directly under `root` (or `root` itself if it is one).
pub fn find_sessions(root: &Path) -> Result<Vec<PathBuf>, StoreError> {
    if root.join(meta::SESSION_FILE).exists() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut out = Vec::new();
    let entries = std::fs::read_dir(root).map_err(|e| StoreError::io(root, e))?;
    for entry in entries.flatten() {
        if entry.path().join(meta::SESSION_FILE).exists() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// The `measurements` part files of several sessions as one lazy polars scan,
/// with a `session` column (the index in `dirs`) added.
pub fn scan_measurements(dirs: &[PathBuf]) -> Result<polars::prelude::LazyFrame, StoreError> {
    use polars::prelude::*;
    let mut frames = Vec::new();
    for (k, dir) in dirs.iter().enumerate() {
        if part_files(&dir.join("measurements"))?.is_empty() {
            continue;
        }
        let glob = format!("{}/measurements/*.parquet", dir.display());
        let lf = LazyFrame::scan_parquet(PlRefPath::new(glob), ScanArgsParquet::default())
            .map_err(|e| StoreError::Polars(e.to_string()))?
            .with_column(lit(k as u32).alias("session"));
        frames.push(lf);
    }
    if frames.is_empty() {
        return Err(StoreError::Schema("no measurements in any of the sessions".into()));
    }
    concat(frames, UnionArgs::default()).map_err(|e| StoreError::Polars(e.to_string()))
}
