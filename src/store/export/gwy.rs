//! A session as one Gwyddion file: the survey as a channel in metres (its
//! frame's physical size, the plan and the instrument in its metadata), and
//! every curve as point spectra at the position where it was taken — the up
//! branch and the down branch apart, each a curve of current against bias, so
//! Gwyddion's spectroscopy tool shows the I–V at a point when it is clicked.

use super::super::StoreError;
use super::super::frame::write_file_atomic;
use super::super::gwy::{Component, Object, file};
use super::super::reader::SessionLog;
use crate::record::Measurement;
use std::path::Path;

/// One branch of a curve as an evenly sampled line of ascending bias: its
/// first bias, its step, and the currents in that order. `None` for a branch
/// of fewer than two points (or no bias change).
fn branch(bias: &[f64], current: &[f64]) -> Option<(f64, f64, Vec<f64>)> {
    let n = bias.len();
    if n < 2 {
        return None;
    }
    let step = (bias[n - 1] - bias[0]) / (n - 1) as f64;
    if !(step.is_finite() && step != 0.0) {
        return None;
    }
    Some(if step > 0.0 {
        (bias[0], step, current.to_vec())
    } else {
        (bias[n - 1], -step, current.iter().rev().copied().collect())
    })
}

/// Where a sweep turns: the sample farthest from its first bias.
fn turn_of(m: &Measurement) -> usize {
    let first = m.bias_v.first().copied().unwrap_or(0.0);
    m.bias_v
        .iter()
        .enumerate()
        .max_by(|a, b| (a.1 - first).abs().total_cmp(&(b.1 - first).abs()))
        .map(|(k, _)| k)
        .unwrap_or(0)
}

fn spectra_of(
    log: &SessionLog,
    title: &str,
    pick: impl Fn(&Measurement) -> Option<(f64, f64, Vec<f64>)>,
) -> Option<Object> {
    let mut coords = Vec::new();
    let mut lines = Vec::new();
    for m in &log.measurements {
        if let Some((off, step, data)) = pick(m) {
            coords.push((m.x_nm * 1e-9, m.y_nm * 1e-9));
            lines.push(Object::data_line(off, step, "V", "A", &data));
        }
    }
    (!lines.is_empty()).then(|| Object::spectra(title, &coords, &lines, ("Bias", "Current")))
}

/// The `.gwy` bytes of a session.
pub fn bytes(log: &SessionLog) -> Result<Vec<u8>, StoreError> {
    let survey = log
        .survey
        .as_ref()
        .ok_or_else(|| StoreError::Schema(format!("{} has no survey to export yet", log.dir.display())))?;
    let (rows, cols) = survey.heights_nm.dim();
    let heights_m: Vec<f64> = survey.heights_nm.iter().map(|h| h * 1e-9).collect();
    let field = Object::data_field(
        (cols, rows),
        (survey.width_nm * 1e-9, survey.height_nm * 1e-9),
        (0.0, 0.0),
        "m",
        &heights_m,
    );
    let started = chrono::DateTime::from_timestamp_millis(log.meta.started_ms)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    let meta = Object::strings(&[
        ("Session".into(), log.meta.session_id.clone()),
        ("Started".into(), started),
        ("Instrument".into(), log.meta.instrument_idn.clone()),
        ("Software".into(), format!("dualscope {}", log.meta.software_version)),
        ("Status".into(), log.meta.status.label().into()),
        ("Seed".into(), log.meta.seed.to_string()),
        ("Measurements".into(), log.measurements.len().to_string()),
        (
            "Sweep".into(),
            format!(
                "{} → {} → {} V, {} points, {} ms a point",
                log.plan.sweep.v_start,
                log.plan.sweep.v_max,
                log.plan.sweep.v_end,
                log.plan.sweep.points,
                log.plan.sweep.dwell_ms
            ),
        ),
        ("Plan".into(), log.plan.to_toml()),
    ]);
    let mut items = vec![
        ("/0/data".to_string(), Component::object("/0/data", &field)),
        (
            "/0/data/title".to_string(),
            Component::string("/0/data/title", "Topography"),
        ),
        ("/0/data/visible".to_string(), Component::bool("/0/data/visible", true)),
        ("/0/meta".to_string(), Component::object("/0/meta", &meta)),
    ];
    let up = spectra_of(log, "I-V up", |m| {
        let t = turn_of(m);
        branch(
            &m.bias_v[..=t.min(m.bias_v.len().saturating_sub(1))],
            &m.current_a[..=t.min(m.current_a.len().saturating_sub(1))],
        )
    });
    let down = spectra_of(log, "I-V down", |m| {
        let t = turn_of(m);
        (m.bias_v.len() > t + 1)
            .then(|| branch(&m.bias_v[t..], &m.current_a[t..]))
            .flatten()
    });
    for (k, s) in [up, down].into_iter().flatten().enumerate() {
        let key = format!("/sps/{k}");
        items.push((key.clone(), Component::object(&key, &s)));
    }
    Ok(file(items))
}

/// Writes a session's `.gwy` file atomically; returns the number of curves.
pub fn export(dir: &Path, out: &Path) -> Result<usize, StoreError> {
    let log = SessionLog::load(dir)?;
    super::parent_of(out)?;
    write_file_atomic(out, &bytes(&log)?)?;
    Ok(log.measurements.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branches_come_in_ascending_bias() {
        let (off, step, d) = branch(&[0.0, 0.5, 1.0], &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((off, step, d), (0.0, 0.5, vec![1.0, 2.0, 3.0]));
        let (off, step, d) = branch(&[1.0, 0.5, 0.0], &[3.0, 2.5, 0.5]).unwrap();
        assert_eq!((off, step, d), (0.0, 0.5, vec![0.5, 2.5, 3.0]));
        assert!(branch(&[1.0], &[1.0]).is_none());
    }
}
