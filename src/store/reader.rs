//! Reading a session back: part files plus the journal rows no part holds yet.
//! Safe beside a running writer, and after a crash; it never writes a byte.
//!
//! Every part file is checked against the checksum its journal note recorded.
//! A part that is damaged or missing is reported and its rows are read from
//! the journal instead (which keeps every row), so a flipped byte in a part
//! changes nothing a reader sees, and a deleted part costs nothing.

use super::StoreError;
use super::frame::{parquet_from_bytes, part_files, read_table};
use super::journal::{self, Entry, JournalTable};
use super::meta::{self, SessionMeta, SurveyExtent};
use super::schema::*;
use crate::plan::SessionPlan;
use crate::record::Survey;
use crate::record::{Decision, Event, Measurement, Source};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// What the journal says of one part file.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Note {
    first_seq: u64,
    last_seq: u64,
    rows: Option<u32>,
    crc32: Option<u32>,
}

/// One table's part files, checked against the journal.
#[derive(Debug, Default)]
pub struct TableState {
    /// Parts whose bytes match their note (or that have none to check), with
    /// their rows.
    pub good: Vec<(u32, Vec<Entry>)>,
    /// Journal seq ranges `(first, last)` the good parts hold.
    covered: Vec<(u64, u64)>,
    /// Parts on disk whose bytes do not match their note, and why.
    pub damaged: Vec<(u32, PathBuf, String)>,
    /// Parts the journal notes that are not on disk (and hold rows).
    pub missing: Vec<u32>,
    /// Parts a good compacted part holds again, left behind by a crash
    /// during the compaction: not read, and removed by the next writer.
    pub superseded: Vec<(u32, PathBuf)>,
    /// A part number no file and no note has used.
    pub next_part: u32,
}

impl TableState {
    /// Whether the row of this table journaled as `seq` is in a good part.
    pub fn covers(&self, seq: u64) -> bool {
        self.covered.iter().any(|&(a, b)| (a..=b).contains(&seq))
    }

    /// The damage in words, one line a part.
    pub fn describe(&self, table: JournalTable) -> Vec<String> {
        let mut out: Vec<String> = self
            .damaged
            .iter()
            .map(|(n, _, why)| {
                format!(
                    "{}/{} is damaged ({why}); its rows are read from the journal",
                    table.folder(),
                    super::frame::part_name(*n)
                )
            })
            .collect();
        out.extend(self.missing.iter().map(|n| {
            format!(
                "{}/{} is missing; its rows are read from the journal",
                table.folder(),
                super::frame::part_name(*n)
            )
        }));
        out
    }
}

/// The notes of one table's parts, in part order, each with the seq range it
/// covers (notes written before ranges were kept cover everything after the
/// previous part).
fn notes_of(table: JournalTable, entries: &[(u64, Entry)]) -> BTreeMap<u32, Note> {
    let mut notes = BTreeMap::new();
    let mut previous_last: Option<u64> = None;
    for (_, e) in entries {
        if let Entry::Part {
            table: t,
            part,
            last_seq,
            first_seq,
            rows,
            crc32,
        } = e
            && *t == table
        {
            let first = first_seq.unwrap_or_else(|| previous_last.map(|l| l + 1).unwrap_or(0));
            notes.insert(
                *part,
                Note {
                    first_seq: first,
                    last_seq: *last_seq,
                    rows: *rows,
                    crc32: *crc32,
                },
            );
            if rows.is_none_or(|r| r > 0) {
                previous_last = Some(previous_last.map_or(*last_seq, |p| p.max(*last_seq)));
            }
        }
    }
    notes
}

/// Checks one table's part files against the journal. `entries` must have
/// been read after the parts were listed, so that every listed part has its
/// note in them (a part is noted before it is renamed into place).
pub fn inspect(
    table: JournalTable,
    parts: &[(u32, PathBuf)],
    entries: &[(u64, Entry)],
) -> Result<TableState, StoreError> {
    let notes = notes_of(table, entries);
    let mut state = TableState {
        next_part: parts
            .iter()
            .map(|(n, _)| n + 1)
            .chain(notes.keys().map(|n| n + 1))
            .max()
            .unwrap_or(0),
        ..TableState::default()
    };
    // A compaction counts once its part is in the folder with the bytes its
    // note recorded: parts it replaced that are still there are not read.
    // One whose folders were never swapped (a crash, a file system that
    // cannot) never happened, and its part is not missing.
    let compactions: Vec<(u32, &Vec<u32>)> = entries
        .iter()
        .filter_map(|(_, e)| match e {
            Entry::Compacted {
                table: t,
                into,
                replaces,
            } if *t == table => Some((*into, replaces)),
            _ => None,
        })
        .collect();
    let on_disk = |n: u32| parts.iter().any(|(p, _)| *p == n);
    let done: Vec<(u32, &Vec<u32>)> = compactions
        .iter()
        .filter(|(into, _)| {
            parts
                .iter()
                .any(|(n, path)| n == into && part_matches(path, notes.get(into)))
        })
        .copied()
        .collect();
    let superseded = |n: u32| done.iter().any(|(into, old)| *into != n && old.contains(&n));
    let never_swapped = |n: u32| !on_disk(n) && compactions.iter().any(|(into, _)| *into == n);
    for (n, path) in parts {
        if superseded(*n) {
            state.superseded.push((*n, path.clone()));
            continue;
        }
        let bytes = std::fs::read(path).map_err(|e| StoreError::io(path, e))?;
        let note = notes.get(n);
        if let Some(Note { crc32: Some(want), .. }) = note {
            let got = crc32fast::hash(&bytes);
            if got != *want {
                state
                    .damaged
                    .push((*n, path.clone(), format!("checksum {got:08x}, recorded {want:08x}")));
                continue;
            }
        }
        match parquet_from_bytes(&bytes, path).and_then(|df| table.entries(&df)) {
            Ok(rows) => {
                if let Some(note) = note {
                    state.covered.push((note.first_seq, note.last_seq));
                }
                state.good.push((*n, rows));
            }
            Err(e) => state.damaged.push((*n, path.clone(), e.to_string())),
        }
    }
    // This table's rows, by seq: a part off disk lost nothing when every row
    // in its range is in a good part. So it is for a part set aside after
    // damage once another part holds its rows again, and for a compaction's
    // part killed after its note and before it was staged (the old parts
    // still hold every row).
    let seqs: Vec<u64> = entries
        .iter()
        .filter(|(_, e)| e.table() == Some(table))
        .map(|(seq, _)| *seq)
        .collect();
    for (n, note) in &notes {
        let held_elsewhere = || {
            seqs.iter()
                .filter(|s| (note.first_seq..=note.last_seq).contains(s))
                .all(|&s| state.covers(s))
        };
        let accounted = || superseded(*n) || never_swapped(*n) || held_elsewhere();
        if note.rows != Some(0) && !on_disk(*n) && !accounted() {
            state.missing.push(*n);
        }
    }
    Ok(state)
}

/// Whether a part's bytes still have the checksum its note recorded (a part
/// without a recorded checksum counts as matching).
fn part_matches(path: &Path, note: Option<&Note>) -> bool {
    match note {
        Some(Note { crc32: Some(want), .. }) => std::fs::read(path).is_ok_and(|b| crc32fast::hash(&b) == *want),
        _ => true,
    }
}

/// A step that was decided but whose curve is not in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Dangling {
    pub decision: Decision,
    pub source: Source,
    /// Its row is in `decisions` already (sessions from before intents).
    pub in_table: bool,
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
    pub measurements: Vec<Measurement>,
    pub decisions: Vec<Decision>,
    pub events: Vec<Event>,
    /// The operator's flags on curves, in the order given (see
    /// [`crate::record::flag::rejected`]).
    pub flags: Vec<crate::record::Flag>,
    /// The drift estimates (`[drift]`), in time order.
    pub drift: Vec<crate::record::DriftEstimate>,
    /// Where the curve of the next step was going when the writer stopped,
    /// if it stopped between the decision and the curve.
    pub dangling: Option<Dangling>,
    /// What was found damaged or missing, in words (empty when all is well).
    pub damage: Vec<String>,
}

impl SessionLog {
    /// Reads the session whole. A part that vanishes between the listing and
    /// the read (the writer compacted the table meanwhile) makes it read again.
    pub fn load(dir: &Path) -> Result<Self, StoreError> {
        let mut tries = 0;
        loop {
            match Self::load_once(dir) {
                Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound && tries < 3 => {
                    tries += 1;
                }
                read => return read,
            }
        }
    }

    fn load_once(dir: &Path) -> Result<Self, StoreError> {
        let (meta, plan) = meta::read(dir)?;
        // Parts first, journal second: see `inspect`.
        let listed: Vec<(JournalTable, Vec<(u32, PathBuf)>)> = JournalTable::ALL
            .iter()
            .map(|&t| Ok((t, part_files(&dir.join(t.folder()))?)))
            .collect::<Result<_, StoreError>>()?;
        let topo_parts: HashMap<u32, PathBuf> = part_files(&dir.join("topography"))?.into_iter().collect();
        let (entries, journal_damage) = journal::read_checked(dir)?;
        let mut damage: Vec<String> = journal_damage.describe().into_iter().collect();

        let mut measurements: BTreeMap<u32, Measurement> = BTreeMap::new();
        let mut decisions: BTreeMap<u32, Decision> = BTreeMap::new();
        let mut events = Vec::new();
        let mut flags = Vec::new();
        let mut drift = Vec::new();
        let mut take = |e: Entry| match e {
            // Keyed by step: a row can never appear twice, whatever a crash did.
            Entry::Measurement(m) => {
                measurements.insert(m.step, m);
            }
            Entry::Decision(d) => {
                decisions.insert(d.step, d);
            }
            Entry::Event(ev) => events.push(ev),
            Entry::Flag(f) => flags.push(f),
            Entry::Drift(d) => drift.push(d),
            _ => {}
        };
        for (table, parts) in &listed {
            let state = inspect(*table, parts, &entries)?;
            damage.extend(state.describe(*table));
            let uncovered: Vec<Entry> = entries
                .iter()
                .filter(|(seq, e)| e.table() == Some(*table) && !state.covers(*seq))
                .map(|(_, e)| e.clone())
                .collect();
            for (_, rows) in state.good {
                rows.into_iter().for_each(&mut take);
            }
            uncovered.into_iter().for_each(&mut take);
        }
        events.sort_by_key(|e| e.t_ms);
        flags.sort_by_key(|f| f.t_ms);
        drift.sort_by_key(|d| d.t_ms);

        let next = measurements.keys().next_back().map(|s| s + 1).unwrap_or(0);
        let dangling = entries
            .iter()
            .rev()
            .find_map(|(_, e)| match e {
                Entry::Intent { decision, source } if decision.step == next => Some(Dangling {
                    decision: decision.clone(),
                    source: *source,
                    in_table: false,
                }),
                _ => None,
            })
            .or_else(|| {
                // Sessions from before intents: the decision row itself.
                decisions.get(&next).map(|d| Dangling {
                    decision: d.clone(),
                    source: Source::of_policy_label(&d.policy),
                    in_table: true,
                })
            });

        let survey = load_survey(&meta, &entries, &topo_parts, &mut damage)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            meta,
            plan,
            survey,
            measurements: measurements.into_values().collect(),
            decisions: decisions.into_values().collect(),
            events,
            flags,
            drift,
            dangling,
            damage,
        })
    }

    /// The number of the next step (steps count from 0 and never repeat).
    pub fn next_step(&self) -> u32 {
        self.measurements.last().map(|m| m.step + 1).unwrap_or(0)
    }
}

/// The newest survey whose part is on disk and whole. Its extent is in the
/// journal and in `session.toml`, so either one alone is enough.
fn load_survey(
    meta: &SessionMeta,
    entries: &[(u64, Entry)],
    parts: &HashMap<u32, PathBuf>,
    damage: &mut Vec<String>,
) -> Result<Option<Survey>, StoreError> {
    let mut extents: Vec<SurveyExtent> = meta.surveys.clone();
    for (_, e) in entries {
        if let Entry::Survey {
            scan,
            rows,
            cols,
            width_nm,
            height_nm,
            part,
            crc32,
        } = e
            && !extents.iter().any(|x| x.part == *part)
        {
            extents.push(SurveyExtent {
                scan: *scan,
                rows: *rows,
                cols: *cols,
                width_nm: *width_nm,
                height_nm: *height_nm,
                part: *part,
                crc32: *crc32,
            });
        }
    }
    extents.sort_by_key(|x| x.part);
    for x in extents.iter().rev() {
        let Some(path) = parts.get(&x.part) else { continue };
        let bytes = std::fs::read(path).map_err(|e| StoreError::io(path, e))?;
        if let Some(want) = x.crc32
            && crc32fast::hash(&bytes) != want
        {
            damage.push(format!(
                "topography/{} is damaged (checksum); the survey must be taken again",
                super::frame::part_name(x.part)
            ));
            continue;
        }
        let heights_nm = topography_from(&parquet_from_bytes(&bytes, path)?, x.scan)?;
        if heights_nm.dim() != (x.rows as usize, x.cols as usize) {
            damage.push(format!(
                "topography/{} holds {:?} px, the log says {}×{}",
                super::frame::part_name(x.part),
                heights_nm.dim(),
                x.rows,
                x.cols
            ));
            continue;
        }
        return Ok(Some(Survey {
            width_nm: x.width_nm,
            height_nm: x.height_nm,
            heights_nm,
        }));
    }
    Ok(None)
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
