//! Writing one session: create or reopen it, journal every record, write part
//! files in the background, keep `session.toml` up to date.

use super::flusher::{Flusher, Job, write_part};
use super::frame::{create_dir_synced, parquet_bytes, part_files, part_name, sync_dir, write_file_atomic};
use super::journal::{Entry, Journal, JournalTable};
use super::lock::SessionLock;
use super::meta::{self, FORMAT, SessionMeta, SessionStatus, SurveyExtent};
use super::reader::{SessionLog, inspect};
use super::schema::{embeddings_frame, property_map_frame, topography_frame};
use super::{StoreError, now_ms};
use crate::plan::SessionPlan;
use crate::record::{Identity, Limits, Survey};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The one writer of a session's folder.
pub struct SessionWriter {
    dir: PathBuf,
    meta: SessionMeta,
    plan: SessionPlan,
    journal: Arc<Mutex<Journal>>,
    flusher: Flusher,
    pending: HashMap<JournalTable, Vec<(u64, Entry)>>,
    next_part: HashMap<JournalTable, u32>,
    last_flush: Instant,
    /// What reopening found damaged and mended, for the session's events.
    repairs: Vec<String>,
    // Dropped last: the lock outlives every write.
    _lock: SessionLock,
}

/// The tables every session has a folder for from its first second.
pub const TABLES: [&str; 8] = [
    "topography",
    "measurements",
    "decisions",
    "events",
    "flags",
    "drift",
    "embeddings",
    "property_map",
];

/// A folder name for a new session: start time and seed, unique in `out_dir`.
fn new_session_dir(out_dir: &Path, seed: u64) -> Result<(String, PathBuf), StoreError> {
    create_dir_synced(out_dir)?;
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    for n in 0..1000 {
        let id = if n == 0 {
            format!("{stamp}-s{seed}")
        } else {
            format!("{stamp}-s{seed}-{n}")
        };
        let dir = out_dir.join(&id);
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                sync_dir(out_dir)?;
                return Ok((id, dir));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(StoreError::io(&dir, e)),
        }
    }
    Err(StoreError::Corrupt(format!(
        "no free session name in {}",
        out_dir.display()
    )))
}

impl SessionWriter {
    /// Starts a new session folder under `out_dir`.
    pub fn create(out_dir: &Path, plan: &SessionPlan, idn: &Identity, limits: Limits) -> Result<Self, StoreError> {
        let (session_id, dir) = new_session_dir(out_dir, plan.seed)?;
        let lock = SessionLock::acquire(&dir)?;
        let now = now_ms();
        let meta = SessionMeta {
            format: FORMAT.into(),
            session_id,
            started_ms: now,
            updated_ms: now,
            seed: plan.seed,
            instrument_idn: idn.idn(),
            software_version: env!("CARGO_PKG_VERSION").into(),
            status: SessionStatus::Running,
            status_detail: None,
            instrument_limits: Some(limits),
            surveys: Vec::new(),
        };
        meta::write(&dir, &meta, plan)?;
        for table in TABLES {
            std::fs::create_dir(dir.join(table)).map_err(|e| StoreError::io(&dir.join(table), e))?;
        }
        let (journal, _, _) = Journal::open(&dir)?;
        sync_dir(&dir)?;
        // Every table has a part with its schema from the start, so a reader
        // (pyarrow, DuckDB, `pl.scan_parquet`) finds it empty, not missing.
        let journal = Mutex::new(journal);
        let mut next_part = HashMap::new();
        for table in JournalTable::ALL {
            write_part(&dir, &journal, table, 0, &[])?;
            next_part.insert(table, 1);
        }
        write_file_atomic(
            &dir.join("embeddings").join(part_name(0)),
            &parquet_bytes(&mut embeddings_frame(&[])?, Some(&meta.session_id))?,
        )?;
        write_file_atomic(
            &dir.join("property_map").join(part_name(0)),
            &parquet_bytes(&mut property_map_frame(&[])?, Some(&meta.session_id))?,
        )?;
        let journal = journal.into_inner().expect("journal lock");
        Ok(Self::assemble(
            dir,
            meta,
            plan.clone(),
            journal,
            next_part,
            lock,
            Vec::new(),
        ))
    }

    /// Reopens a session to continue it: takes the lock, cuts a torn journal
    /// tail, sets damaged part files aside and writes their rows again from
    /// the journal, writes the journal rows no part file holds yet, and returns
    /// what the session holds so far.
    pub fn reopen(dir: &Path) -> Result<(Self, SessionLog), StoreError> {
        if !dir.join(meta::SESSION_FILE).exists() {
            return Err(StoreError::NotASession(dir.to_path_buf()));
        }
        let lock = SessionLock::acquire(dir)?;
        let (meta, plan) = meta::read(dir)?;
        remove_temporaries(dir)?;
        super::compaction::clear_staging(dir)?;
        for table in TABLES {
            create_dir_synced(&dir.join(table))?;
        }
        let listed: Vec<(JournalTable, Vec<(u32, PathBuf)>)> = JournalTable::ALL
            .iter()
            .map(|&t| Ok((t, part_files(&dir.join(t.folder()))?)))
            .collect::<Result<_, StoreError>>()?;
        let (journal, entries, damage) = Journal::open(dir)?;
        let mut repairs: Vec<String> = damage.describe().into_iter().collect();
        let journal = Arc::new(Mutex::new(journal));
        // Rows the crash left only in the journal, and the rows of any part
        // that is damaged or missing, become a new part now, so the folder
        // alone is a complete table again.
        let mut next_part = HashMap::new();
        for (table, parts) in &listed {
            let state = inspect(*table, parts, &entries)?;
            repairs.extend(state.describe(*table));
            for (n, path, _) in &state.damaged {
                set_aside(path)?;
                tracing::warn!(table = table.folder(), part = n, "damaged part set aside");
            }
            // A crash during a compaction left parts its new part holds again.
            for (_, path) in &state.superseded {
                std::fs::remove_file(path).map_err(|e| StoreError::io(path, e))?;
            }
            let mut part = state.next_part;
            let rows: Vec<(u64, Entry)> = entries
                .iter()
                .filter(|(seq, e)| e.table() == Some(*table) && !state.covers(*seq))
                .cloned()
                .collect();
            if !rows.is_empty() {
                write_part(dir, &journal, *table, part, &rows)?;
                part += 1;
            }
            next_part.insert(*table, part);
        }
        let log = SessionLog::load(dir)?;
        let journal = Arc::try_unwrap(journal)
            .expect("no other journal user yet")
            .into_inner()
            .expect("journal lock");
        Ok((
            Self::assemble(dir.to_path_buf(), meta, plan, journal, next_part, lock, repairs),
            log,
        ))
    }

    fn assemble(
        dir: PathBuf,
        meta: SessionMeta,
        plan: SessionPlan,
        journal: Journal,
        next_part: HashMap<JournalTable, u32>,
        lock: SessionLock,
        repairs: Vec<String>,
    ) -> Self {
        let journal = Arc::new(Mutex::new(journal));
        let flusher = Flusher::start(dir.clone(), journal.clone());
        Self {
            dir,
            meta,
            plan,
            journal,
            flusher,
            pending: HashMap::new(),
            next_part,
            last_flush: Instant::now(),
            repairs,
            _lock: lock,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn meta(&self) -> &SessionMeta {
        &self.meta
    }

    pub fn plan(&self) -> &SessionPlan {
        &self.plan
    }

    /// What reopening found damaged and mended (once; for the events table).
    pub fn take_repairs(&mut self) -> Vec<String> {
        std::mem::take(&mut self.repairs)
    }

    /// Journals a record (on disk when this returns) and schedules its part file.
    pub fn append(&mut self, entry: Entry) -> Result<u64, StoreError> {
        Ok(self.append_all(vec![entry])?[0])
    }

    /// Journals records with one wait for the disk, in order.
    pub fn append_all(&mut self, entries: Vec<Entry>) -> Result<Vec<u64>, StoreError> {
        let seqs = self.journal.lock().expect("journal lock").append_all(&entries)?;
        for (seq, entry) in seqs.iter().zip(entries) {
            if let Some(table) = entry.table() {
                self.pending.entry(table).or_default().push((*seq, entry));
            }
        }
        let rows: usize = self.pending.values().map(|v| v.len()).sum();
        let due = self.last_flush.elapsed().as_millis() as u64 >= self.plan.output.flush_ms;
        if rows >= self.plan.output.flush_rows as usize || (due && rows > 0) {
            self.flush()?;
        }
        Ok(seqs)
    }

    /// Hands every pending row to the part writer (does not wait for it).
    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.last_flush = Instant::now();
        for table in JournalTable::ALL {
            let rows = self.pending.remove(&table).unwrap_or_default();
            if rows.is_empty() {
                continue;
            }
            let part = self.next_part.entry(table).or_insert(0);
            self.flusher.send(Job::Part {
                table,
                part: *part,
                rows,
            })?;
            *part += 1;
        }
        Ok(())
    }

    /// Flushes and waits until every part file is on disk.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        self.flush()?;
        self.flusher.wait()
    }

    /// Journals a survey image, then writes its pixels as a part of `topography`
    /// and records its extent in `session.toml` too. The journal entry comes
    /// first: a survey counts only once its part exists, so a crash in between
    /// makes the resumed run take the survey again.
    pub fn write_survey(&mut self, scan: u32, survey: &Survey) -> Result<(), StoreError> {
        let folder = self.dir.join("topography");
        create_dir_synced(&folder)?;
        let on_disk = part_files(&folder)?.last().map(|(n, _)| n + 1).unwrap_or(0);
        let journaled = super::journal::read(&self.dir)?
            .iter()
            .filter_map(|(_, e)| {
                if let Entry::Survey { part, .. } = e {
                    Some(part + 1)
                } else {
                    None
                }
            })
            .chain(self.meta.surveys.iter().map(|x| x.part + 1))
            .max()
            .unwrap_or(0);
        let part = on_disk.max(journaled);
        let bytes = parquet_bytes(
            &mut topography_frame(scan, &survey.heights_nm)?,
            Some(&self.meta.session_id),
        )?;
        let extent = SurveyExtent {
            scan,
            rows: survey.rows(),
            cols: survey.cols(),
            width_nm: survey.width_nm,
            height_nm: survey.height_nm,
            part,
            crc32: Some(crc32fast::hash(&bytes)),
        };
        self.append(Entry::Survey {
            scan,
            rows: extent.rows,
            cols: extent.cols,
            width_nm: extent.width_nm,
            height_nm: extent.height_nm,
            part,
            crc32: extent.crc32,
        })?;
        write_file_atomic(&folder.join(part_name(part)), &bytes)?;
        self.meta.surveys.push(extent);
        self.meta.updated_ms = now_ms();
        meta::write(&self.dir, &self.meta, &self.plan)
    }

    /// Writes every pending part, then records the status in `session.toml`.
    /// A session that is done (finished or aborted) is compacted to one part
    /// per table first (`output.compact`); a compaction that fails leaves the
    /// parts as they were.
    pub fn set_status(&mut self, status: SessionStatus, detail: Option<String>) -> Result<(), StoreError> {
        self.sync()?;
        if self.plan.output.compact
            && matches!(status, SessionStatus::Finished | SessionStatus::Aborted)
            && let Err(e) = self.compact()
        {
            tracing::warn!(error = %e, "the session's parts were not compacted");
        }
        self.record_status(status, detail)
    }

    /// Writes every pending part, then records the status in `session.toml`,
    /// compacting nothing (what a hook reads before the session is closed).
    pub fn record_status(&mut self, status: SessionStatus, detail: Option<String>) -> Result<(), StoreError> {
        self.sync()?;
        self.meta.status = status;
        self.meta.status_detail = detail;
        self.meta.updated_ms = now_ms();
        meta::write(&self.dir, &self.meta, &self.plan)
    }

    /// Makes each journaled table one part (see [`super::compaction`]);
    /// returns how many parts were replaced.
    pub fn compact(&mut self) -> Result<usize, StoreError> {
        self.compact_these(&JournalTable::ALL)
    }

    /// While the session runs: compacts each journaled table whose part
    /// files pass `max_parts` (none with 0); returns how many parts were
    /// replaced. Counting the files is all it costs while none does.
    pub fn compact_crowded(&mut self, max_parts: usize) -> Result<usize, StoreError> {
        if max_parts == 0 {
            return Ok(0);
        }
        let mut crowded = Vec::new();
        for table in JournalTable::ALL {
            let on_disk = part_files(&self.dir.join(table.folder()))?;
            // Parts handed to the flusher and not yet written count too: under
            // load it falls behind, and a count of the files alone let a run's
            // last curves end with their parts uncompacted (7-8 with
            // `max_parts = 4`, the store_damage test on a loaded machine).
            let newest = on_disk.iter().map(|(n, _)| n + 1).max().unwrap_or(0);
            let in_flight = self.next_part.get(&table).copied().unwrap_or(0).saturating_sub(newest) as usize;
            if on_disk.len() + in_flight > max_parts {
                crowded.push(table);
            }
        }
        if crowded.is_empty() {
            return Ok(0);
        }
        self.compact_these(&crowded)
    }

    fn compact_these(&mut self, tables: &[JournalTable]) -> Result<usize, StoreError> {
        self.sync()?;
        let entries = super::journal::read(&self.dir)?;
        let mut replaced = 0;
        for &table in tables {
            let into = self.next_part.get(&table).copied().unwrap_or(0);
            let n = super::compaction::compact_table(&self.dir, &self.journal, &entries, table, into)?;
            if n > 0 {
                self.next_part.insert(table, into + 1);
            }
            replaced += n;
        }
        Ok(replaced)
    }

    /// Journals the notes left in the session's inbox (`dualscope note`) as
    /// `note` events at the time each was written; returns them.
    pub fn take_inbox(&mut self) -> Result<Vec<crate::record::Event>, StoreError> {
        let mut taken = Vec::new();
        for note in super::inbox::waiting(&self.dir) {
            let row = crate::record::Event {
                t_ms: note.t_ms,
                kind: crate::record::EventKind::Note,
                detail: note.text.clone(),
            };
            // On disk when append returns: the file may go.
            self.append(Entry::Event(row.clone()))?;
            super::inbox::done(&note)?;
            taken.push(row);
        }
        Ok(taken)
    }

    /// Records a changed plan (the console switched policy or β), so a resumed
    /// session goes on as the user left it.
    pub fn set_plan(&mut self, plan: &SessionPlan) -> Result<(), StoreError> {
        self.plan = plan.clone();
        self.meta.updated_ms = now_ms();
        meta::write(&self.dir, &self.meta, &self.plan)
    }

    /// Records which instrument continues a reopened session.
    pub fn set_instrument(&mut self, idn: &Identity, limits: Limits) -> Result<(), StoreError> {
        self.meta.instrument_idn = idn.idn();
        self.meta.instrument_limits = Some(limits);
        meta::write(&self.dir, &self.meta, &self.plan)
    }

    /// Writes a derived table (e.g. `embeddings`) as a new part file directly;
    /// such tables can be recomputed, so they skip the journal.
    pub fn write_derived(&mut self, table: &str, df: &mut polars::prelude::DataFrame) -> Result<(), StoreError> {
        let folder = self.dir.join(table);
        create_dir_synced(&folder)?;
        let part = part_files(&folder)?.last().map(|(n, _)| n + 1).unwrap_or(0);
        write_file_atomic(
            &folder.join(part_name(part)),
            &parquet_bytes(df, Some(&self.meta.session_id))?,
        )
        .map(|_| ())
    }
}

/// Moves a damaged part out of its table (to a hidden name beside it, so no
/// reader takes it for data) and keeps it for whoever wants to look.
fn set_aside(path: &Path) -> Result<(), StoreError> {
    let mut name = std::ffi::OsString::from(".damaged-");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".{}", now_ms()));
    let to = path.with_file_name(name);
    std::fs::rename(path, &to).map_err(|e| StoreError::io(path, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Removes the temporary files a crash left behind (`.NAME.tmp`, and the
/// `NAME.tmp` of older versions); their rows are still in the journal. Never
/// follows a link into another folder.
fn remove_temporaries(dir: &Path) -> Result<(), StoreError> {
    let mut folders = vec![dir.to_path_buf()];
    for entry in std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))?.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            folders.push(entry.path());
        }
    }
    for folder in folders {
        for entry in std::fs::read_dir(&folder)
            .map_err(|e| StoreError::io(&folder, e))?
            .flatten()
        {
            let is_file = entry.file_type().is_ok_and(|t| t.is_file() || t.is_symlink());
            if is_file && entry.file_name().to_string_lossy().ends_with(".tmp") {
                std::fs::remove_file(entry.path()).map_err(|e| StoreError::io(&entry.path(), e))?;
            }
        }
    }
    Ok(())
}
