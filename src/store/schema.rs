//! The rows of the session log's tables (CONTRACTS §3) and their Parquet frames.

use super::StoreError;
use super::frame::*;
use super::journal::{Entry, JournalTable};
use crate::record::SweepEnd;
use crate::record::{Decision, Event, EventKind, LatentPoint, Measurement, PropertyPoint, Quality, Source};
use polars::prelude::DataFrame;

/// Float column where NaN is written as a Parquet null.
fn col_opt_f64(name: &str, values: Vec<Option<f64>>) -> polars::prelude::Column {
    polars::prelude::Column::new(name.into(), values)
}

fn none_if_nan(v: f64) -> Option<f64> {
    if v.is_nan() { None } else { Some(v) }
}

/// One table of the session log: its folder, its row, and how rows become
/// a Parquet frame and back. The flusher, the reader and `export` loop over
/// tables through this, not a block per table.
pub trait Table {
    /// The table's folder under the session (CONTRACTS §3).
    const NAME: &'static str;
    type Row: Clone;
    fn frame(rows: &[Self::Row]) -> Result<DataFrame, StoreError>;
    fn rows(df: &DataFrame) -> Result<Vec<Self::Row>, StoreError>;
}

/// A table whose rows travel through the journal before their part file.
pub trait Journaled: Table {
    const KIND: JournalTable;
    fn row(entry: &Entry) -> Option<&Self::Row>;
    fn entry(row: Self::Row) -> Entry;
}

/// The frame of one table's rows among journal entries.
pub fn frame_of_entries<T: Journaled>(entries: &[(u64, Entry)]) -> Result<DataFrame, StoreError> {
    let rows: Vec<T::Row> = entries.iter().filter_map(|(_, e)| T::row(e).cloned()).collect();
    T::frame(&rows)
}

/// A part file's rows as journal entries.
pub fn entries_of_frame<T: Journaled>(df: &DataFrame) -> Result<Vec<Entry>, StoreError> {
    Ok(T::rows(df)?.into_iter().map(T::entry).collect())
}

impl JournalTable {
    /// [`frame_of_entries`] for this table.
    pub fn frame(self, entries: &[(u64, Entry)]) -> Result<DataFrame, StoreError> {
        match self {
            Self::Measurements => frame_of_entries::<Measurements>(entries),
            Self::Decisions => frame_of_entries::<Decisions>(entries),
            Self::Events => frame_of_entries::<Events>(entries),
            Self::Flags => frame_of_entries::<Flags>(entries),
            Self::Drift => frame_of_entries::<Drift>(entries),
        }
    }

    /// [`entries_of_frame`] for this table.
    pub fn entries(self, df: &DataFrame) -> Result<Vec<Entry>, StoreError> {
        match self {
            Self::Measurements => entries_of_frame::<Measurements>(df),
            Self::Decisions => entries_of_frame::<Decisions>(df),
            Self::Events => entries_of_frame::<Events>(df),
            Self::Flags => entries_of_frame::<Flags>(df),
            Self::Drift => entries_of_frame::<Drift>(df),
        }
    }
}

/// `measurements`: one curve a row.
pub struct Measurements;

impl Table for Measurements {
    const NAME: &'static str = JournalTable::Measurements.folder();
    type Row = Measurement;

    fn frame(rows: &[Measurement]) -> Result<DataFrame, StoreError> {
        let bias: Vec<&[f64]> = rows.iter().map(|r| r.bias_v.as_slice()).collect();
        let current: Vec<&[f64]> = rows.iter().map(|r| r.current_a.as_slice()).collect();
        DataFrame::new_infer_height(vec![
            col_u32("step", rows.iter().map(|r| r.step).collect()),
            col_i64("t_ms", rows.iter().map(|r| r.t_ms).collect()),
            col_u32("row", rows.iter().map(|r| r.row).collect()),
            col_u32("col", rows.iter().map(|r| r.col).collect()),
            col_f64("x_nm", rows.iter().map(|r| r.x_nm).collect()),
            col_f64("y_nm", rows.iter().map(|r| r.y_nm).collect()),
            col_str("source", rows.iter().map(|r| r.source.label().to_string()).collect()),
            col_list_f64("bias_v", &bias),
            col_list_f64("current_a", &current),
            col_str(
                "sweep_end",
                rows.iter().map(|r| r.sweep_end.label().to_string()).collect(),
            ),
            col_f64("hysteresis_area", rows.iter().map(|r| r.hysteresis_area).collect()),
            // The same loop area with its unit in its name; `hysteresis_area`
            // stays for the readers written against it (CONTRACTS §3).
            col_f64("hysteresis_area_va", rows.iter().map(|r| r.hysteresis_area).collect()),
            col_opt_f64("onset_v", rows.iter().map(|r| r.onset_v).collect()),
            col_f64("max_current_a", rows.iter().map(|r| r.max_current_a).collect()),
            // The quality gate's verdict; null where no gate judged the curve.
            col_opt_str("quality", rows.iter().map(|r| r.quality.map(|q| q.label())).collect()),
            // Which of the plan's protocols, at which location (CONTRACTS §3,
            // 1.1); null in rows from before the columns.
            col_opt_u32("protocol", rows.iter().map(|r| r.protocol).collect()),
            col_opt_u32("location", rows.iter().map(|r| r.location).collect()),
        ])
        .map_err(|e| StoreError::Polars(e.to_string()))
    }

    fn rows(df: &DataFrame) -> Result<Vec<Measurement>, StoreError> {
        let step = get_u32(df, "step")?;
        let t_ms = get_i64(df, "t_ms")?;
        let row = get_u32(df, "row")?;
        let col = get_u32(df, "col")?;
        let x_nm = get_f64(df, "x_nm")?;
        let y_nm = get_f64(df, "y_nm")?;
        let source = get_str(df, "source")?;
        let bias = get_list_f64(df, "bias_v")?;
        let current = get_list_f64(df, "current_a")?;
        let end = get_str(df, "sweep_end")?;
        let area = get_f64(df, "hysteresis_area")?;
        let onset = get_f64(df, "onset_v")?;
        let max_i = get_f64(df, "max_current_a")?;
        let quality = get_opt_str(df, "quality")?;
        let protocol = get_opt_u32(df, "protocol")?;
        let location = get_opt_u32(df, "location")?;
        let mut out = Vec::with_capacity(step.len());
        for k in 0..step.len() {
            out.push(Measurement {
                step: step[k],
                t_ms: t_ms[k],
                row: row[k],
                col: col[k],
                x_nm: x_nm[k],
                y_nm: y_nm[k],
                source: Source::parse(&source[k])
                    .ok_or_else(|| StoreError::Schema(format!("unknown source `{}`", source[k])))?,
                bias_v: bias[k].clone(),
                current_a: current[k].clone(),
                sweep_end: SweepEnd::parse(&end[k])
                    .ok_or_else(|| StoreError::Schema(format!("unknown sweep_end `{}`", end[k])))?,
                hysteresis_area: area[k],
                onset_v: none_if_nan(onset[k]),
                max_current_a: max_i[k],
                quality: match &quality[k] {
                    Some(label) => Some(
                        Quality::parse(label)
                            .ok_or_else(|| StoreError::Schema(format!("unknown quality `{label}`")))?,
                    ),
                    None => None,
                },
                protocol: protocol[k],
                location: location[k],
            });
        }
        Ok(out)
    }
}

impl Journaled for Measurements {
    const KIND: JournalTable = JournalTable::Measurements;
    fn row(entry: &Entry) -> Option<&Measurement> {
        if let Entry::Measurement(m) = entry {
            Some(m)
        } else {
            None
        }
    }
    fn entry(row: Measurement) -> Entry {
        Entry::Measurement(row)
    }
}

/// `decisions`: what was chosen for each step.
pub struct Decisions;

impl Table for Decisions {
    const NAME: &'static str = JournalTable::Decisions.folder();
    type Row = Decision;

    fn frame(rows: &[Decision]) -> Result<DataFrame, StoreError> {
        DataFrame::new_infer_height(vec![
            col_u32("step", rows.iter().map(|r| r.step).collect()),
            col_i64("t_ms", rows.iter().map(|r| r.t_ms).collect()),
            col_u32("row", rows.iter().map(|r| r.row).collect()),
            col_u32("col", rows.iter().map(|r| r.col).collect()),
            col_str("policy", rows.iter().map(|r| r.policy.clone()).collect()),
            col_opt_f64("score", rows.iter().map(|r| r.score).collect()),
            col_opt_f64("mean", rows.iter().map(|r| r.mean).collect()),
            col_opt_f64("std", rows.iter().map(|r| r.std).collect()),
            col_opt_f64("structure_novelty", rows.iter().map(|r| r.structure_novelty).collect()),
            col_opt_f64("spectral_novelty", rows.iter().map(|r| r.spectral_novelty).collect()),
            col_u32("n_candidates", rows.iter().map(|r| r.n_candidates).collect()),
            col_opt_f64("fit_ms", rows.iter().map(|r| r.fit_ms).collect()),
            col_opt_f64("score_ms", rows.iter().map(|r| r.score_ms).collect()),
        ])
        .map_err(|e| StoreError::Polars(e.to_string()))
    }

    fn rows(df: &DataFrame) -> Result<Vec<Decision>, StoreError> {
        let step = get_u32(df, "step")?;
        let t_ms = get_i64(df, "t_ms")?;
        let row = get_u32(df, "row")?;
        let col = get_u32(df, "col")?;
        let policy = get_str(df, "policy")?;
        let score = get_f64(df, "score")?;
        let mean = get_f64(df, "mean")?;
        let std = get_f64(df, "std")?;
        let sn = get_f64(df, "structure_novelty")?;
        let pn = get_f64(df, "spectral_novelty")?;
        let n = get_u32(df, "n_candidates")?;
        let fit = get_f64(df, "fit_ms")?;
        let sc = get_f64(df, "score_ms")?;
        Ok((0..step.len())
            .map(|k| Decision {
                step: step[k],
                t_ms: t_ms[k],
                row: row[k],
                col: col[k],
                policy: policy[k].clone(),
                score: none_if_nan(score[k]),
                mean: none_if_nan(mean[k]),
                std: none_if_nan(std[k]),
                structure_novelty: none_if_nan(sn[k]),
                spectral_novelty: none_if_nan(pn[k]),
                n_candidates: n[k],
                fit_ms: none_if_nan(fit[k]),
                score_ms: none_if_nan(sc[k]),
            })
            .collect())
    }
}

impl Journaled for Decisions {
    const KIND: JournalTable = JournalTable::Decisions;
    fn row(entry: &Entry) -> Option<&Decision> {
        if let Entry::Decision(d) = entry { Some(d) } else { None }
    }
    fn entry(row: Decision) -> Entry {
        Entry::Decision(row)
    }
}

/// `events`: what happened, in words.
pub struct Events;

impl Table for Events {
    const NAME: &'static str = JournalTable::Events.folder();
    type Row = Event;

    fn frame(rows: &[Event]) -> Result<DataFrame, StoreError> {
        DataFrame::new_infer_height(vec![
            col_i64("t_ms", rows.iter().map(|r| r.t_ms).collect()),
            col_str("kind", rows.iter().map(|r| r.kind.label().to_string()).collect()),
            col_str("detail", rows.iter().map(|r| r.detail.clone()).collect()),
        ])
        .map_err(|e| StoreError::Polars(e.to_string()))
    }

    fn rows(df: &DataFrame) -> Result<Vec<Event>, StoreError> {
        let t_ms = get_i64(df, "t_ms")?;
        let kind = get_str(df, "kind")?;
        let detail = get_str(df, "detail")?;
        Ok((0..t_ms.len())
            .map(|k| Event {
                t_ms: t_ms[k],
                kind: EventKind::parse(&kind[k]),
                detail: detail[k].clone(),
            })
            .collect())
    }
}

impl Journaled for Events {
    const KIND: JournalTable = JournalTable::Events;
    fn row(entry: &Entry) -> Option<&Event> {
        if let Entry::Event(e) = entry { Some(e) } else { None }
    }
    fn entry(row: Event) -> Entry {
        Entry::Event(row)
    }
}

/// `flags`: the operator's word on a curve (`rejected`, `restored`).
pub struct Flags;

impl Table for Flags {
    const NAME: &'static str = JournalTable::Flags.folder();
    type Row = crate::record::Flag;

    fn frame(rows: &[Self::Row]) -> Result<DataFrame, StoreError> {
        DataFrame::new_infer_height(vec![
            col_u32("step", rows.iter().map(|r| r.step).collect()),
            col_i64("t_ms", rows.iter().map(|r| r.t_ms).collect()),
            col_str("flag", rows.iter().map(|r| r.flag.clone()).collect()),
            col_str("reason", rows.iter().map(|r| r.reason.clone()).collect()),
        ])
        .map_err(|e| StoreError::Polars(e.to_string()))
    }

    fn rows(df: &DataFrame) -> Result<Vec<Self::Row>, StoreError> {
        let (step, t_ms) = (get_u32(df, "step")?, get_i64(df, "t_ms")?);
        let (flag, reason) = (get_str(df, "flag")?, get_str(df, "reason")?);
        Ok((0..step.len())
            .map(|k| crate::record::Flag {
                step: step[k],
                t_ms: t_ms[k],
                flag: flag[k].clone(),
                reason: reason[k].clone(),
            })
            .collect())
    }
}

impl Journaled for Flags {
    const KIND: JournalTable = JournalTable::Flags;
    fn row(entry: &Entry) -> Option<&Self::Row> {
        if let Entry::Flag(f) = entry { Some(f) } else { None }
    }
    fn entry(row: Self::Row) -> Entry {
        Entry::Flag(row)
    }
}

/// `drift`: the drift estimates of `[drift]`, one per re-image used.
pub struct Drift;

impl Table for Drift {
    const NAME: &'static str = JournalTable::Drift.folder();
    type Row = crate::record::DriftEstimate;

    fn frame(rows: &[Self::Row]) -> Result<DataFrame, StoreError> {
        DataFrame::new_infer_height(vec![
            col_i64("t_ms", rows.iter().map(|r| r.t_ms).collect()),
            col_f64("dx_nm", rows.iter().map(|r| r.dx_nm).collect()),
            col_f64("dy_nm", rows.iter().map(|r| r.dy_nm).collect()),
            col_f64("score", rows.iter().map(|r| r.score).collect()),
        ])
        .map_err(|e| StoreError::Polars(e.to_string()))
    }

    fn rows(df: &DataFrame) -> Result<Vec<Self::Row>, StoreError> {
        let (t_ms, dx, dy, score) = (
            get_i64(df, "t_ms")?,
            get_f64(df, "dx_nm")?,
            get_f64(df, "dy_nm")?,
            get_f64(df, "score")?,
        );
        Ok((0..t_ms.len())
            .map(|k| crate::record::DriftEstimate {
                t_ms: t_ms[k],
                dx_nm: dx[k],
                dy_nm: dy[k],
                score: score[k],
            })
            .collect())
    }
}

impl Journaled for Drift {
    const KIND: JournalTable = JournalTable::Drift;
    fn row(entry: &Entry) -> Option<&Self::Row> {
        if let Entry::Drift(d) = entry { Some(d) } else { None }
    }
    fn entry(row: Self::Row) -> Entry {
        Entry::Drift(row)
    }
}

/// The `topography` table of one survey image.
pub fn topography_frame(scan: u32, heights_nm: &ndarray::Array2<f64>) -> Result<DataFrame, StoreError> {
    let (rows, cols) = heights_nm.dim();
    let n = rows * cols;
    let mut r = Vec::with_capacity(n);
    let mut c = Vec::with_capacity(n);
    let mut h = Vec::with_capacity(n);
    for ((row, col), v) in heights_nm.indexed_iter() {
        r.push(row as u32);
        c.push(col as u32);
        h.push(*v);
    }
    DataFrame::new_infer_height(vec![
        col_u32("scan", vec![scan; n]),
        col_u32("row", r),
        col_u32("col", c),
        col_f64("height_nm", h),
    ])
    .map_err(|e| StoreError::Polars(e.to_string()))
}

/// Rebuilds the image of one scan from `topography` rows.
pub fn topography_from(df: &DataFrame, scan: u32) -> Result<ndarray::Array2<f64>, StoreError> {
    let scans = get_u32(df, "scan")?;
    let rows = get_u32(df, "row")?;
    let cols = get_u32(df, "col")?;
    let h = get_f64(df, "height_nm")?;
    let pick: Vec<usize> = (0..scans.len()).filter(|&k| scans[k] == scan).collect();
    if pick.is_empty() {
        return Err(StoreError::Schema(format!("no topography for scan {scan}")));
    }
    let nr = pick.iter().map(|&k| rows[k]).max().unwrap_or(0) as usize + 1;
    let nc = pick.iter().map(|&k| cols[k]).max().unwrap_or(0) as usize + 1;
    if pick.len() != nr * nc {
        return Err(StoreError::Corrupt(format!(
            "topography scan {scan} has {} pixels, expected {nr}×{nc}",
            pick.len()
        )));
    }
    let mut img = ndarray::Array2::<f64>::zeros((nr, nc));
    for k in pick {
        img[[rows[k] as usize, cols[k] as usize]] = h[k];
    }
    Ok(img)
}

pub fn embeddings_frame(rows: &[LatentPoint]) -> Result<DataFrame, StoreError> {
    let zi: Vec<&[f32]> = rows.iter().map(|r| r.z_image.as_slice()).collect();
    let zs: Vec<&[f32]> = rows.iter().map(|r| r.z_spectrum.as_slice()).collect();
    DataFrame::new_infer_height(vec![
        col_u32("model_step", rows.iter().map(|r| r.model_step).collect()),
        col_u32("row", rows.iter().map(|r| r.row).collect()),
        col_u32("col", rows.iter().map(|r| r.col).collect()),
        col_list_f32("z_image", &zi),
        col_list_f32("z_spectrum", &zs),
        col_u32("cluster", rows.iter().map(|r| r.cluster).collect()),
        col_u32("step", rows.iter().map(|r| r.step).collect()),
        col_str("model", rows.iter().map(|r| r.model.clone()).collect()),
    ])
    .map_err(|e| StoreError::Polars(e.to_string()))
}

/// `property_map` (CONTRACTS §3, 1.1): one row per candidate and model; an
/// onset no predicted curve reaches, and the spread of a single model, are nulls.
pub fn property_map_frame(rows: &[PropertyPoint]) -> Result<DataFrame, StoreError> {
    let f = |get: fn(&PropertyPoint) -> Option<f64>| rows.iter().map(get).collect::<Vec<_>>();
    DataFrame::new_infer_height(vec![
        col_u32("model_step", rows.iter().map(|r| r.model_step).collect()),
        col_u32("row", rows.iter().map(|r| r.row).collect()),
        col_u32("col", rows.iter().map(|r| r.col).collect()),
        col_f64("x_nm", rows.iter().map(|r| r.x_nm).collect()),
        col_f64("y_nm", rows.iter().map(|r| r.y_nm).collect()),
        col_opt_f64("hysteresis_area", f(|r| none_if_nan(r.hysteresis_area))),
        col_opt_f64("max_current_a", f(|r| none_if_nan(r.max_current_a))),
        col_opt_f64("onset_v", f(|r| r.onset_v)),
        col_u32("cluster", rows.iter().map(|r| r.cluster).collect()),
        col_opt_f64("hysteresis_area_std", f(|r| r.hysteresis_area_std)),
        col_opt_f64("max_current_a_std", f(|r| r.max_current_a_std)),
        col_opt_f64("onset_v_std", f(|r| r.onset_v_std)),
        col_str("model", rows.iter().map(|r| r.model.clone()).collect()),
    ])
    .map_err(|e| StoreError::Polars(e.to_string()))
}
