//! The write-ahead journal: every record is appended and fsynced here before the
//! engine goes on, so a `kill -9` loses nothing the instrument returned. Part
//! files are written later from it.
//!
//! A frame is `len u32 | crc32 u32 | seq u64 | CBOR payload`, little-endian, the
//! CRC over seq and payload. A torn last frame (the process died mid-write) fails
//! its length or CRC and is cut off when the journal is next opened for writing.
//! A damaged frame in the middle (a flipped bit on disk) costs that frame only:
//! the reader resynchronises on the next offset where a whole frame with a
//! good CRC and a later `seq` starts, and the damage is reported, never cut.
//! CBOR rather than JSON because it keeps NaN and every f64 bit-exact.

use super::StoreError;
use super::frame::open_keep;
use crate::record::{Decision, Event, Measurement, Source};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const JOURNAL_FILE: &str = "journal.bin";
const HEADER: usize = 16;
const MAX_FRAME: usize = 64 << 20;

/// The tables whose rows travel through the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JournalTable {
    Measurements,
    Decisions,
    Events,
    Flags,
    Drift,
}

impl JournalTable {
    pub const ALL: [JournalTable; 5] = [
        Self::Measurements,
        Self::Decisions,
        Self::Events,
        Self::Flags,
        Self::Drift,
    ];

    pub const fn folder(self) -> &'static str {
        match self {
            Self::Measurements => "measurements",
            Self::Decisions => "decisions",
            Self::Events => "events",
            Self::Flags => "flags",
            Self::Drift => "drift",
        }
    }
}

/// One journal record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Entry {
    /// The survey image `scan` was taken; its pixels are in `topography/`.
    Survey {
        scan: u32,
        rows: u32,
        cols: u32,
        width_nm: f64,
        height_nm: f64,
        part: u32,
        /// CRC-32 of the part file (absent in journals written before it was kept).
        #[serde(default)]
        crc32: Option<u32>,
    },
    Measurement(Measurement),
    Decision(Decision),
    Event(Event),
    /// A part file of `table` holds the rows of that table journaled from
    /// `first_seq` to `last_seq`. Written after the part is fsynced under its
    /// temporary name and before it is renamed; it counts only if the part
    /// file exists and its bytes still have this checksum.
    Part {
        table: JournalTable,
        part: u32,
        last_seq: u64,
        /// Journals before checksums were kept lack the next three; such a
        /// part covers everything of its table up to `last_seq`.
        #[serde(default)]
        first_seq: Option<u64>,
        /// Rows in the part (0 for the empty part a session starts with).
        #[serde(default)]
        rows: Option<u32>,
        /// CRC-32 of the whole file.
        #[serde(default)]
        crc32: Option<u32>,
    },
    /// Part `into` of `table` holds every row of the parts `replaces`, which
    /// are removed after this note (a finished session's many small parts
    /// made one). Written once `into` is on disk and noted; a reader skips
    /// any of `replaces` a crash left behind, so no row is read twice.
    Compacted {
        table: JournalTable,
        into: u32,
        replaces: Vec<u32>,
    },
    /// Where the next curve will be taken, journaled before the tip moves so
    /// that a crash in between resumes at the same point. Not a row of any
    /// table: the `decisions` row is journaled with its measurement, so each
    /// step has one.
    Intent {
        decision: Decision,
        source: Source,
    },
    /// The operator flagged a curve (a `flags` row).
    Flag(crate::record::Flag),
    /// A drift estimate (a `drift` row).
    Drift(crate::record::DriftEstimate),
}

impl Entry {
    pub fn table(&self) -> Option<JournalTable> {
        match self {
            Self::Measurement(_) => Some(JournalTable::Measurements),
            Self::Decision(_) => Some(JournalTable::Decisions),
            Self::Event(_) => Some(JournalTable::Events),
            Self::Flag(_) => Some(JournalTable::Flags),
            Self::Drift(_) => Some(JournalTable::Drift),
            _ => None,
        }
    }
}

/// Journal entries with their sequence numbers, in journal order.
pub type Entries = Vec<(u64, Entry)>;

/// The journal of one session, open for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    next_seq: u64,
}

fn encode(seq: u64, entry: &Entry) -> Result<Vec<u8>, StoreError> {
    let mut payload = Vec::new();
    ciborium::into_writer(entry, &mut payload).map_err(|e| StoreError::Corrupt(format!("encode: {e}")))?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    hasher.update(&payload);
    let mut frame = Vec::with_capacity(HEADER + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&hasher.finalize().to_le_bytes());
    frame.extend_from_slice(&seq.to_le_bytes());
    frame.extend_from_slice(&payload);
    Ok(frame)
}

/// What reading a journal found wrong with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Damage {
    /// Byte ranges `(offset, length)` inside the journal that hold no valid
    /// frame and have valid frames after them (a damaged frame each, or more).
    pub skipped: Vec<(usize, usize)>,
    /// Bytes after the last valid frame: a write cut short by a crash.
    pub torn_tail: usize,
}

impl Damage {
    pub fn is_empty(&self) -> bool {
        self.skipped.is_empty() && self.torn_tail == 0
    }

    /// The damage in words, for an event or `dualscope sessions`.
    pub fn describe(&self) -> Option<String> {
        if self.skipped.is_empty() {
            return None;
        }
        let bytes: usize = self.skipped.iter().map(|(_, n)| n).sum();
        Some(format!(
            "journal.bin: {} damaged region(s), {bytes} bytes, skipped (first at byte {}); every frame around them was read",
            self.skipped.len(),
            self.skipped[0].0
        ))
    }
}

/// The frame starting at `at`, if a whole one with a good CRC starts there.
fn frame_at(bytes: &[u8], at: usize) -> Option<(u64, Entry, usize)> {
    if bytes.len() - at < HEADER {
        return None;
    }
    let len = u32::from_le_bytes(bytes[at..at + 4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?);
    let seq = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().ok()?);
    if len > MAX_FRAME || bytes.len() - at - HEADER < len {
        return None;
    }
    let payload = &bytes[at + HEADER..at + HEADER + len];
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    hasher.update(payload);
    if hasher.finalize() != crc {
        return None;
    }
    let entry = ciborium::from_reader::<Entry, _>(payload).ok()?;
    Some((seq, entry, HEADER + len))
}

/// Reads every valid frame, resynchronising past damaged ones; returns them,
/// the byte length up to the end of the last valid frame, and the damage.
fn decode_all(bytes: &[u8]) -> (Vec<(u64, Entry)>, usize, Damage) {
    let mut out: Vec<(u64, Entry)> = Vec::new();
    let mut damage = Damage::default();
    let mut at = 0;
    let mut valid_end = 0;
    while at < bytes.len() {
        if let Some((seq, entry, len)) = frame_at(bytes, at)
            && out.last().is_none_or(|(last, _)| seq > *last)
        {
            if at > valid_end {
                damage.skipped.push((valid_end, at - valid_end));
            }
            out.push((seq, entry));
            at += len;
            valid_end = at;
            continue;
        }
        // Not a frame here: look for the next one a byte later. A random
        // length field is almost always too long to check, so this is quick.
        at += 1;
    }
    damage.torn_tail = bytes.len() - valid_end;
    (out, valid_end, damage)
}

/// Reads a journal without changing it (a reader may run beside the writer).
pub fn read(dir: &Path) -> Result<Vec<(u64, Entry)>, StoreError> {
    Ok(read_checked(dir)?.0)
}

/// [`read`], and what was found damaged on the way.
pub fn read_checked(dir: &Path) -> Result<(Vec<(u64, Entry)>, Damage), StoreError> {
    let path = dir.join(JOURNAL_FILE);
    let mut bytes = Vec::new();
    match super::frame::open_read_nofollow(&path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes).map_err(|e| StoreError::io(&path, e))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Damage::default())),
        Err(e) => return Err(StoreError::io(&path, e)),
    }
    let (entries, _, damage) = decode_all(&bytes);
    Ok((entries, damage))
}

impl Journal {
    /// Opens (or creates) the journal for appending, cutting off a torn tail
    /// (only bytes after the last valid frame; damage before it stays, skipped).
    /// Returns the journal, every entry already in it, and the damage found.
    pub fn open(dir: &Path) -> Result<(Self, Entries, Damage), StoreError> {
        let path = dir.join(JOURNAL_FILE);
        let mut file = open_keep(&path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| StoreError::io(&path, e))?;
        let (entries, valid, damage) = decode_all(&bytes);
        if valid < bytes.len() {
            tracing::warn!(path = %path.display(), torn = bytes.len() - valid, "cutting torn journal tail");
            file.set_len(valid as u64).map_err(|e| StoreError::io(&path, e))?;
            file.sync_all().map_err(|e| StoreError::io(&path, e))?;
        }
        file.seek(SeekFrom::End(0)).map_err(|e| StoreError::io(&path, e))?;
        let next_seq = entries.last().map(|(s, _)| s + 1).unwrap_or(0);
        Ok((Self { path, file, next_seq }, entries, damage))
    }

    /// Appends one entry and waits until it is on disk; returns its sequence number.
    pub fn append(&mut self, entry: &Entry) -> Result<u64, StoreError> {
        Ok(self.append_all(std::slice::from_ref(entry))?[0])
    }

    /// Appends entries with one wait for the disk; returns their sequence numbers.
    pub fn append_all(&mut self, entries: &[Entry]) -> Result<Vec<u64>, StoreError> {
        let mut bytes = Vec::new();
        let mut seqs = Vec::with_capacity(entries.len());
        for (k, entry) in entries.iter().enumerate() {
            let seq = self.next_seq + k as u64;
            bytes.extend_from_slice(&encode(seq, entry)?);
            seqs.push(seq);
        }
        #[cfg(feature = "test-hooks")]
        super::fault::charge(bytes.len() as u64, &self.path)?;
        self.file.write_all(&bytes).map_err(|e| StoreError::io(&self.path, e))?;
        self.file.sync_data().map_err(|e| StoreError::io(&self.path, e))?;
        self.next_seq += entries.len() as u64;
        Ok(seqs)
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: i64) -> Entry {
        Entry::Event(Event {
            t_ms: n,
            kind: crate::record::EventKind::parse("test"),
            detail: format!("event {n}"),
        })
    }

    #[test]
    fn appends_survive_reopen_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut j, old, _) = Journal::open(dir.path()).unwrap();
            assert!(old.is_empty());
            for n in 0..5 {
                assert_eq!(j.append(&event(n)).unwrap(), n as u64);
            }
        }
        // A writer killed mid-frame leaves half a frame behind.
        let path = dir.path().join(JOURNAL_FILE);
        let full = std::fs::read(&path).unwrap();
        let frame = encode(5, &event(5)).unwrap();
        let mut torn = full.clone();
        torn.extend_from_slice(&frame[..frame.len() - 3]);
        std::fs::write(&path, &torn).unwrap();
        assert_eq!(read(dir.path()).unwrap().len(), 5);
        let (mut j, old, damage) = Journal::open(dir.path()).unwrap();
        assert_eq!(old.len(), 5);
        assert!(
            damage.skipped.is_empty() && damage.torn_tail == frame.len() - 3,
            "{damage:?}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), full);
        assert_eq!(j.append(&event(9)).unwrap(), 5);
        assert_eq!(read(dir.path()).unwrap().last().unwrap().1, event(9));
    }

    #[test]
    fn a_flipped_bit_in_the_last_frame_is_a_torn_tail() {
        let mut bytes = encode(0, &event(0)).unwrap();
        let second = encode(1, &event(1)).unwrap();
        let at = bytes.len() + 20;
        bytes.extend_from_slice(&second);
        bytes[at] ^= 0x40;
        let (entries, valid, damage) = decode_all(&bytes);
        assert_eq!(entries.len(), 1);
        assert_eq!(valid, bytes.len() - second.len());
        assert_eq!(damage.torn_tail, second.len());
    }

    #[test]
    fn a_flipped_byte_in_the_middle_costs_that_frame_only() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut j, _, _) = Journal::open(dir.path()).unwrap();
            for n in 0..128 {
                j.append(&event(n)).unwrap();
            }
        }
        let path = dir.path().join(JOURNAL_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let at: usize = (0..40).map(|n| encode(n as u64, &event(n)).unwrap().len()).sum();
        let frame = encode(40, &event(40)).unwrap().len();
        // Into the payload of frame 40.
        bytes[at + HEADER + 5] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let (entries, damage) = read_checked(dir.path()).unwrap();
        assert_eq!(entries.len(), 127, "{damage:?}");
        assert!(entries.iter().all(|(s, _)| *s != 40));
        assert_eq!(damage.skipped, vec![(at, frame)]);
        assert!(damage.describe().unwrap().contains("1 damaged region"));
        // Opening for writing keeps every frame after the damage and appends after them.
        let (mut j, old, _) = Journal::open(dir.path()).unwrap();
        assert_eq!(old.len(), 127);
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "nothing is cut");
        assert_eq!(j.append(&event(500)).unwrap(), 128);
        assert_eq!(read(dir.path()).unwrap().len(), 128);
    }

    #[test]
    fn old_part_notes_without_checksums_still_read() {
        #[derive(Serialize)]
        enum Old {
            #[allow(dead_code)]
            Survey,
            #[allow(dead_code)]
            Measurement,
            #[allow(dead_code)]
            Decision,
            #[allow(dead_code)]
            Event,
            Part {
                table: JournalTable,
                part: u32,
                last_seq: u64,
            },
        }
        let mut payload = Vec::new();
        ciborium::into_writer(
            &Old::Part {
                table: JournalTable::Events,
                part: 3,
                last_seq: 9,
            },
            &mut payload,
        )
        .unwrap();
        let entry: Entry = ciborium::from_reader(payload.as_slice()).unwrap();
        assert_eq!(
            entry,
            Entry::Part {
                table: JournalTable::Events,
                part: 3,
                last_seq: 9,
                first_seq: None,
                rows: None,
                crc32: None
            }
        );
    }

    #[test]
    fn nan_survives() {
        let row = Decision {
            step: 1,
            t_ms: 2,
            row: 3,
            col: 4,
            policy: "random".into(),
            score: Some(f64::NAN),
            mean: None,
            std: None,
            structure_novelty: None,
            spectral_novelty: None,
            n_candidates: 5,
            fit_ms: Some(f64::NAN),
            score_ms: None,
        };
        let bytes = encode(0, &Entry::Decision(row)).unwrap();
        let (entries, _, _) = decode_all(&bytes);
        match &entries[0].1 {
            Entry::Decision(d) => assert!(d.fit_ms.unwrap().is_nan() && d.score.unwrap().is_nan()),
            other => panic!("{other:?}"),
        }
    }
}
