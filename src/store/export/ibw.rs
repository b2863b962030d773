//! A session as Igor binary waves, as Asylum's instruments write them and the
//! paper's notebooks read them: the survey as one image wave (x along the
//! first dimension, y up the second, in metres), one `iv####.ibw` per curve
//! (time down the rows, `Bias` and `Current` columns, the position and the
//! curve's numbers in its note), and `index.csv` of step, position and cluster.

use super::super::StoreError;
use super::super::frame::write_file_atomic;
use super::super::ibw::{Wave, file};
use super::super::reader::SessionLog;
use std::fmt::Write as _;
use std::path::Path;

/// The survey as an Igor image: dimension 0 is x, 1 is y, and Igor puts
/// y = 0 at the bottom, so the survey's last row is the wave's first column.
fn survey_wave(log: &SessionLog) -> Option<Wave> {
    let s = log.survey.as_ref()?;
    let (rows, cols) = s.heights_nm.dim();
    let mut w = Wave::new("topography", [cols, rows, 0, 0]);
    w.data = Vec::with_capacity(rows * cols);
    for k in 0..rows {
        let r = rows - 1 - k;
        w.data.extend((0..cols).map(|c| (s.heights_nm[[r, c]] * 1e-9) as f32));
    }
    w.delta = [
        s.width_nm * 1e-9 / cols as f64,
        s.height_nm * 1e-9 / rows as f64,
        1.0,
        1.0,
    ];
    w.data_units = "m".into();
    w.dim_units = ["m".into(), "m".into(), String::new(), String::new()];
    w.note = format!(
        "ScanSize:{}\rFastScanSize:{}\rSlowScanSize:{}\rScanPoints:{cols}\rScanLines:{rows}\rHeightUnit:m\rSession:{}\rInstrument:{}\r",
        s.width_nm * 1e-9,
        s.width_nm * 1e-9,
        s.height_nm * 1e-9,
        log.meta.session_id,
        log.meta.instrument_idn
    );
    w.labels[2] = Vec::new();
    w.created_s = log.meta.started_ms / 1000;
    Some(w)
}

/// The file name of one curve's wave.
pub fn curve_file(step: u32) -> String {
    format!("iv{step:04}.ibw")
}

/// Writes the waves and `index.csv` into `out` (made if needed); returns the
/// number of curves.
pub fn export(dir: &Path, out: &Path) -> Result<usize, StoreError> {
    let log = SessionLog::load(dir)?;
    let clusters = super::latest_clusters(dir)?;
    std::fs::create_dir_all(out).map_err(|e| StoreError::io(out, e))?;
    if let Some(w) = survey_wave(&log) {
        write_file_atomic(&out.join("topography.ibw"), &file(&w))?;
    }
    let dwell_s = log.plan.sweep.dwell_ms * 1e-3;
    let mut index = String::from("step,x_nm,y_nm,row,col,source,sweep_end,cluster,file\n");
    for m in &log.measurements {
        let n = m.current_a.len();
        let mut w = Wave::new(&format!("iv{:04}", m.step), [n, 2, 0, 0]);
        w.data = m.bias_v.iter().chain(&m.current_a).map(|v| *v as f32).collect();
        w.delta = [dwell_s, 1.0, 1.0, 1.0];
        w.dim_units = ["s".into(), String::new(), String::new(), String::new()];
        w.labels[1] = vec!["Bias".into(), "Current".into()];
        let mut note = String::new();
        let _ = write!(
            note,
            "BiasUnit:V\rCurrentUnit:A\rStep:{}\rXLVDT:{}\rYLVDT:{}\rX_nm:{}\rY_nm:{}\rRow:{}\rCol:{}\rSource:{}\rSweepEnd:{}\rHysteresisArea_VA:{}\rMaxCurrent_A:{}\r",
            m.step,
            m.x_nm * 1e-9,
            m.y_nm * 1e-9,
            m.x_nm,
            m.y_nm,
            m.row,
            m.col,
            m.source.label(),
            m.sweep_end.label(),
            m.hysteresis_area,
            m.max_current_a
        );
        if let Some(v) = m.onset_v {
            let _ = write!(note, "Onset_V:{v}\r");
        }
        w.note = note;
        w.created_s = m.t_ms / 1000;
        let name = curve_file(m.step);
        write_file_atomic(&out.join(&name), &file(&w))?;
        let cluster = clusters.get(&m.step).map(|c| c.to_string()).unwrap_or_default();
        let _ = writeln!(
            index,
            "{},{},{},{},{},{},{},{cluster},{name}",
            m.step,
            m.x_nm,
            m.y_nm,
            m.row,
            m.col,
            m.source.label(),
            m.sweep_end.label()
        );
    }
    write_file_atomic(&out.join("index.csv"), index.as_bytes())?;
    Ok(log.measurements.len())
}
