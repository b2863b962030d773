//! The write-ahead journal: every record is appended and fsynced here before the
//! engine goes on, so a `kill -9` loses nothing the instrument returned. Part
//! files are written later from it.
//!
//! A frame is `len u32 | crc32 u32 | seq u64 | CBOR payload`, little-endian, the
//! CRC over seq and payload. A torn last frame (the process died mid-write) fails
//! its length or CRC and is cut off when the journal is next opened for writing.
//! CBOR rather than JSON because it keeps NaN and every f64 bit-exact.

use super::StoreError;
use super::schema::{DecisionRow, EventRow, MeasurementRow};
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
}

impl JournalTable {
    pub const ALL: [JournalTable; 3] = [Self::Measurements, Self::Decisions, Self::Events];

    pub fn folder(self) -> &'static str {
        match self {
            Self::Measurements => "measurements",
            Self::Decisions => "decisions",
            Self::Events => "events",
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
    },
    Measurement(MeasurementRow),
    Decision(DecisionRow),
    Event(EventRow),
    /// A part file of `table` holds every row of that table up to `last_seq`.
    /// Written after the part is fsynced under its temporary name and before it
    /// is renamed; it counts only if the part file exists.
    Part {
        table: JournalTable,
        part: u32,
        last_seq: u64,
    },
}

impl Entry {
    pub fn table(&self) -> Option<JournalTable> {
        match self {
            Self::Measurement(_) => Some(JournalTable::Measurements),
            Self::Decision(_) => Some(JournalTable::Decisions),
            Self::Event(_) => Some(JournalTable::Events),
            _ => None,
        }
    }
}

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

/// Reads every whole frame; returns them and the byte length of the valid prefix.
fn decode_all(bytes: &[u8]) -> (Vec<(u64, Entry)>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while bytes.len() - at >= HEADER {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        let seq = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().expect("8 bytes"));
        if len > MAX_FRAME || bytes.len() - at - HEADER < len {
            break;
        }
        let payload = &bytes[at + HEADER..at + HEADER + len];
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&seq.to_le_bytes());
        hasher.update(payload);
        if hasher.finalize() != crc {
            break;
        }
        match ciborium::from_reader::<Entry, _>(payload) {
            Ok(entry) => out.push((seq, entry)),
            Err(_) => break,
        }
        at += HEADER + len;
    }
    (out, at)
}

/// Reads a journal without changing it (a reader may run beside the writer).
pub fn read(dir: &Path) -> Result<Vec<(u64, Entry)>, StoreError> {
    let path = dir.join(JOURNAL_FILE);
    let mut bytes = Vec::new();
    match File::open(&path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes).map_err(|e| StoreError::io(&path, e))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(&path, e)),
    }
    Ok(decode_all(&bytes).0)
}

impl Journal {
    /// Opens (or creates) the journal for appending, cutting off a torn tail.
    /// Returns the journal and every entry already in it.
    pub fn open(dir: &Path) -> Result<(Self, Vec<(u64, Entry)>), StoreError> {
        let path = dir.join(JOURNAL_FILE);
        let mut file = super::frame::open_keep(&path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| StoreError::io(&path, e))?;
        let (entries, valid) = decode_all(&bytes);
        if valid < bytes.len() {
            tracing::warn!(path = %path.display(), torn = bytes.len() - valid, "cutting torn journal tail");
            file.set_len(valid as u64).map_err(|e| StoreError::io(&path, e))?;
            file.sync_all().map_err(|e| StoreError::io(&path, e))?;
        }
        file.seek(SeekFrom::End(0)).map_err(|e| StoreError::io(&path, e))?;
        let next_seq = entries.last().map(|(s, _)| s + 1).unwrap_or(0);
        Ok((Self { path, file, next_seq }, entries))
    }

    /// Appends one entry and waits until it is on disk; returns its sequence number.
    pub fn append(&mut self, entry: &Entry) -> Result<u64, StoreError> {
        let seq = self.next_seq;
        let frame = encode(seq, entry)?;
        super::fault::charge(frame.len() as u64, &self.path)?;
        self.file.write_all(&frame).map_err(|e| StoreError::io(&self.path, e))?;
        self.file.sync_data().map_err(|e| StoreError::io(&self.path, e))?;
        self.next_seq += 1;
        Ok(seq)
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: i64) -> Entry {
        Entry::Event(EventRow {
            t_ms: n,
            kind: "test".into(),
            detail: format!("event {n}"),
        })
    }

    #[test]
    fn appends_survive_reopen_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut j, old) = Journal::open(dir.path()).unwrap();
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
        let (mut j, old) = Journal::open(dir.path()).unwrap();
        assert_eq!(old.len(), 5);
        assert_eq!(std::fs::read(&path).unwrap(), full);
        assert_eq!(j.append(&event(9)).unwrap(), 5);
        assert_eq!(read(dir.path()).unwrap().last().unwrap().1, event(9));
    }

    #[test]
    fn a_flipped_bit_ends_the_valid_prefix() {
        let mut bytes = encode(0, &event(0)).unwrap();
        let second = encode(1, &event(1)).unwrap();
        let at = bytes.len() + 20;
        bytes.extend_from_slice(&second);
        bytes[at] ^= 0x40;
        let (entries, valid) = decode_all(&bytes);
        assert_eq!(entries.len(), 1);
        assert_eq!(valid, bytes.len() - second.len());
    }

    #[test]
    fn nan_survives() {
        let row = DecisionRow {
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
            fit_ms: f64::NAN,
            score_ms: 0.0,
        };
        let bytes = encode(0, &Entry::Decision(row)).unwrap();
        let (entries, _) = decode_all(&bytes);
        match &entries[0].1 {
            Entry::Decision(d) => assert!(d.fit_ms.is_nan() && d.score.unwrap().is_nan()),
            other => panic!("{other:?}"),
        }
    }
}
