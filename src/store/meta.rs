//! `session.toml`: the plan the run used plus what identifies the session.
//! The plan's keys sit at the top level beside the session's own keys, so the
//! file is itself a valid plan for a new run once those keys are dropped.

use super::StoreError;
use super::frame::sync_dir;
use crate::instrument::Limits;
use crate::plan::SessionPlan;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const SESSION_FILE: &str = "session.toml";
pub const FORMAT: &str = "dualscope-session/1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Running,
    Paused,
    Finished,
    Aborted,
    Failed,
}

impl SessionStatus {
    pub fn label(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Finished => "finished",
            Self::Aborted => "aborted",
            Self::Failed => "failed",
        }
    }
}

/// The session's own keys in `session.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionMeta {
    pub format: String,
    pub session_id: String,
    pub started_ms: i64,
    pub updated_ms: i64,
    pub seed: u64,
    pub instrument_idn: String,
    pub software_version: String,
    pub status: SessionStatus,
    /// Why the session stopped, when it did not finish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_detail: Option<String>,
    /// `LIM?` of the instrument at connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instrument_limits: Option<Limits>,
}

const META_KEYS: [&str; 10] = [
    "format",
    "session_id",
    "started_ms",
    "updated_ms",
    "seed",
    "instrument_idn",
    "software_version",
    "status",
    "status_detail",
    "instrument_limits",
];

/// Writes `session.toml` atomically (temporary name, fsync, rename).
pub fn write(dir: &Path, meta: &SessionMeta, plan: &SessionPlan) -> Result<(), StoreError> {
    let mut table = toml::Table::try_from(plan).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let meta_table = toml::Table::try_from(meta).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    for (k, v) in meta_table {
        table.insert(k, v);
    }
    let text = format!(
        "# dualscope session log ({FORMAT}); the plan this run used follows the session keys.\n{}",
        toml::to_string_pretty(&table).map_err(|e| StoreError::Corrupt(e.to_string()))?
    );
    let path = dir.join(SESSION_FILE);
    let tmp = dir.join(format!("{SESSION_FILE}.tmp"));
    super::fault::charge(text.len() as u64, &tmp)?;
    std::fs::write(&tmp, text.as_bytes())
        .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
        .map_err(|e| StoreError::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| StoreError::io(&path, e))?;
    sync_dir(dir)
}

/// Reads `session.toml` back into the session's keys and its plan.
pub fn read(dir: &Path) -> Result<(SessionMeta, SessionPlan), StoreError> {
    let path = dir.join(SESSION_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            StoreError::NotASession(dir.to_path_buf())
        } else {
            StoreError::io(&path, e)
        }
    })?;
    let mut table: toml::Table =
        toml::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))?;
    let mut meta_table = toml::Table::new();
    for key in META_KEYS {
        if let Some(v) = table.remove(key) {
            meta_table.insert(key.to_string(), v.clone());
            if key == "seed" {
                table.insert(key.to_string(), v);
            }
        }
    }
    let meta: SessionMeta = meta_table
        .try_into()
        .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))?;
    if meta.format != FORMAT {
        return Err(StoreError::Corrupt(format!(
            "{}: format `{}`, expected `{FORMAT}`",
            path.display(),
            meta.format
        )));
    }
    let plan: SessionPlan = table
        .try_into()
        .map_err(|e| StoreError::Corrupt(format!("{}: plan: {e}", path.display())))?;
    Ok((meta, plan))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let plan = SessionPlan {
            seed: 42,
            ..SessionPlan::default()
        };
        let meta = SessionMeta {
            format: FORMAT.into(),
            session_id: "x".into(),
            started_ms: 1,
            updated_ms: 2,
            seed: 42,
            instrument_idn: "a,b,c,d".into(),
            software_version: "0.1.0".into(),
            status: SessionStatus::Paused,
            status_detail: None,
            instrument_limits: Some(Limits {
                bias_max_v: 2.0,
                current_max_a: 1e-9,
                x_max_nm: 1.0,
                y_max_nm: 1.0,
            }),
        };
        write(dir.path(), &meta, &plan).unwrap();
        let (m, p) = read(dir.path()).unwrap();
        assert_eq!(m, meta);
        assert_eq!(p, plan);
    }
}
