//! Notes for a session from outside its writer (`dualscope note`): a note is
//! one small file in `inbox/`, written atomically, so a second login can add
//! one without the session's lock; the writer journals each as an `events`
//! row (kind `note`, at the time it was written) and then removes its file.
//! A crash between the two logs it twice, never loses it.

use super::StoreError;
use super::frame::{create_dir_synced, write_file_atomic};
use std::path::{Path, PathBuf};

pub const INBOX: &str = "inbox";
/// Longest note kept, in characters.
pub const NOTE_MAX_CHARS: usize = 4000;

/// A note waiting for the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub t_ms: i64,
    pub text: String,
    pub path: PathBuf,
}

/// The note as it will be kept: trimmed, one line of at most
/// [`NOTE_MAX_CHARS`]; `None` when nothing is left.
pub fn clean(text: &str) -> Option<String> {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (!line.is_empty()).then(|| line.chars().take(NOTE_MAX_CHARS).collect())
}

/// Leaves a note for the session at `dir`.
pub fn post(dir: &Path, t_ms: i64, text: &str) -> Result<PathBuf, StoreError> {
    let folder = dir.join(INBOX);
    create_dir_synced(&folder)?;
    // The time first (the order the writer logs them in), the process and a
    // counter next, so two notes never share a name.
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = folder.join(format!("{t_ms:015}-{}-{n}.note", std::process::id()));
    write_file_atomic(&path, text.as_bytes())?;
    Ok(path)
}

/// The notes waiting, oldest first (an unreadable name or file is left).
pub fn waiting(dir: &Path) -> Vec<Posted> {
    let Ok(entries) = std::fs::read_dir(dir.join(INBOX)) else {
        return Vec::new();
    };
    let mut notes: Vec<Posted> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".note").filter(|_| !name.starts_with('.'))?;
            let t_ms = stem.split('-').next()?.parse().ok()?;
            let text = std::fs::read_to_string(e.path()).ok()?;
            Some(Posted {
                t_ms,
                text: clean(&text)?,
                path: e.path(),
            })
        })
        .collect();
    notes.sort_by(|a, b| (a.t_ms, &a.path).cmp(&(b.t_ms, &b.path)));
    notes
}

/// The note is in the journal: its file goes.
pub fn done(note: &Posted) -> Result<(), StoreError> {
    match std::fs::remove_file(&note.path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::io(&note.path, e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_wait_in_order_until_taken() {
        let dir = tempfile::tempdir().unwrap();
        assert!(waiting(dir.path()).is_empty());
        post(dir.path(), 20, "second").unwrap();
        post(dir.path(), 10, "  first\n  line ").unwrap();
        std::fs::write(dir.path().join(INBOX).join(".half.note.tmp"), "x").unwrap();
        let notes = waiting(dir.path());
        let texts: Vec<_> = notes.iter().map(|n| (n.t_ms, n.text.as_str())).collect();
        assert_eq!(texts, [(10, "first line"), (20, "second")]);
        done(&notes[0]).unwrap();
        done(&notes[0]).unwrap();
        assert_eq!(waiting(dir.path()).len(), 1);
    }

    #[test]
    fn an_empty_note_is_nothing_and_a_long_one_is_cut() {
        assert_eq!(clean(" \n\t"), None);
        assert_eq!(clean(&"é".repeat(5000)).unwrap().chars().count(), NOTE_MAX_CHARS);
    }
}
