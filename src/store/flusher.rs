//! The background thread that turns journaled rows into Parquet part files, so
//! the engine never waits on compression or fsync of a part.

use super::StoreError;
use super::frame::{parquet_bytes, part_name, stage};
use super::journal::{Entry, Journal, JournalTable};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub(super) enum Job {
    Part {
        table: JournalTable,
        part: u32,
        rows: Vec<(u64, Entry)>,
    },
    /// Answers once every job before it is done.
    Barrier(Sender<()>),
}

pub(super) struct Flusher {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    error: Arc<Mutex<Option<StoreError>>>,
}

impl Flusher {
    pub fn start(dir: PathBuf, journal: Arc<Mutex<Journal>>) -> Self {
        let (tx, rx) = channel();
        let error = Arc::new(Mutex::new(None));
        let slot = error.clone();
        let thread = std::thread::Builder::new()
            .name("store-flusher".into())
            .spawn(move || run(dir, journal, rx, slot))
            .expect("spawn the store flusher thread");
        Self {
            jobs: Some(tx),
            thread: Some(thread),
            error,
        }
    }

    pub fn send(&self, job: Job) -> Result<(), StoreError> {
        self.take_error()?;
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(job);
        }
        Ok(())
    }

    /// Waits for every job sent so far, then reports the first failure, if any.
    pub fn wait(&self) -> Result<(), StoreError> {
        let (tx, rx) = channel();
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(Job::Barrier(tx));
            let _ = rx.recv();
        }
        self.take_error()
    }

    fn take_error(&self) -> Result<(), StoreError> {
        match self.error.lock().expect("flusher error slot").take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(dir: PathBuf, journal: Arc<Mutex<Journal>>, jobs: Receiver<Job>, error: Arc<Mutex<Option<StoreError>>>) {
    for job in jobs {
        match job {
            Job::Barrier(done) => {
                let _ = done.send(());
            }
            Job::Part { table, part, rows } => {
                if error.lock().expect("flusher error slot").is_some() {
                    continue;
                }
                if let Err(e) = write_part(&dir, &journal, table, part, &rows) {
                    tracing::error!(table = table.folder(), part, error = %e, "part file not written");
                    *error.lock().expect("flusher error slot") = Some(e);
                }
            }
        }
    }
}

/// Writes one part: fsynced under a temporary name, then the journal notes it
/// (rows and checksum), then the rename makes it visible. A crash at any point
/// leaves either no part (rows still in the journal) or a whole part the
/// journal accounts for. `rows` may be empty: the part every table starts
/// with, so readers find its schema from the first second.
pub(super) fn write_part(
    dir: &std::path::Path,
    journal: &Mutex<Journal>,
    table: JournalTable,
    part: u32,
    rows: &[(u64, Entry)],
) -> Result<(), StoreError> {
    write_part_in(dir, &dir.join(table.folder()), journal, table, part, rows)
}

/// [`write_part`] into another folder of the session `dir` (a compaction's
/// staging folder).
pub(super) fn write_part_in(
    dir: &std::path::Path,
    folder: &std::path::Path,
    journal: &Mutex<Journal>,
    table: JournalTable,
    part: u32,
    rows: &[(u64, Entry)],
) -> Result<(), StoreError> {
    super::frame::create_dir_synced(folder)?;
    let mut df = table.frame(rows)?;
    let path = folder.join(part_name(part));
    let staged = stage(&path, &parquet_bytes(&mut df, super::frame::session_id_of(dir))?)?;
    let mut journal = journal.lock().expect("journal lock");
    let (first_seq, last_seq) = match (rows.iter().map(|(s, _)| *s).min(), rows.iter().map(|(s, _)| *s).max()) {
        (Some(a), Some(b)) => (a, b),
        // An empty part covers nothing: an empty range just below the next seq.
        _ => (journal.next_seq() + 1, journal.next_seq()),
    };
    journal.append(&Entry::Part {
        table,
        part,
        last_seq,
        first_seq: Some(first_seq),
        rows: Some(rows.len() as u32),
        crc32: Some(staged.crc32),
    })?;
    drop(journal);
    staged.commit()
}
