//! Small words for errors and events about replies.

use crate::instrument::InstrumentError;

pub(super) fn lost(e: impl std::fmt::Display) -> InstrumentError {
    InstrumentError::LinkLost(e.to_string())
}

/// A payload cut to a length an event can show.
pub(super) fn short(p: &str) -> String {
    if p.len() <= 60 {
        p.to_string()
    } else {
        let cut = (0..=60).rev().find(|&k| p.is_char_boundary(k)).unwrap_or(0);
        format!("{}… ({} bytes)", &p[..cut], p.len())
    }
}
