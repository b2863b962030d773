//! `session.toml`: the plan the run used plus what identifies the session.
//! The plan's keys sit at the top level beside the session's own keys, so the
//! file is itself a valid plan for a new run once those keys are dropped.

use super::StoreError;
use crate::plan::SessionPlan;
use crate::record::Limits;
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
    /// Every survey image whose part is written: kept here as well as in the
    /// journal, so a damaged journal cannot lose the frame the session used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub surveys: Vec<SurveyExtent>,
}

/// Where one survey image lies on disk and what frame it covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveyExtent {
    pub scan: u32,
    pub rows: u32,
    pub cols: u32,
    pub width_nm: f64,
    pub height_nm: f64,
    /// Its part number in `topography/`.
    pub part: u32,
    /// CRC-32 of that part file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32: Option<u32>,
}

const META_KEYS: [&str; 11] = [
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
    "surveys",
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
    super::frame::write_file_atomic(&dir.join(SESSION_FILE), text.as_bytes()).map(|_| ())
}

/// Reads `session.toml` back into the session's keys and its plan.
pub fn read(dir: &Path) -> Result<(SessionMeta, SessionPlan), StoreError> {
    let path = dir.join(SESSION_FILE);
    let text = super::frame::open_read_nofollow(&path)
        .and_then(|mut f| {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut f, &mut text).map(|_| text)
        })
        .map_err(|e| {
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
            surveys: vec![SurveyExtent {
                scan: 0,
                rows: 4,
                cols: 5,
                width_nm: 10.0,
                height_nm: 12.5,
                part: 0,
                crc32: Some(7),
            }],
        };
        write(dir.path(), &meta, &plan).unwrap();
        let (m, p) = read(dir.path()).unwrap();
        assert_eq!(m, meta);
        assert_eq!(p, plan);
    }
}
