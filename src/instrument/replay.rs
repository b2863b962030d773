//! Replays a `dualscope-grid/1` dataset as if it were a live microscope: the
//! survey is the stored image and a sweep returns the stored curve at the tip's
//! pixel. Only locations with a stored curve can be measured.

use super::{Instrument, InstrumentError, SweepRequest};
use crate::record::{EventKind, Identity, Limits, LinkEvent, Survey, Sweep, SweepEnd, nm_to_pixel, pixel_to_nm};
use crate::store::grid::{GridDataset, GridSweep};
use std::path::Path;

pub struct ReplayInstrument {
    name: String,
    data: GridDataset,
    bias_max_v: f64,
    current_max_a: f64,
    at: Option<(u32, u32)>,
    engaged: bool,
    warned_sweep: bool,
    events: Vec<LinkEvent>,
}

impl ReplayInstrument {
    /// Opens a dataset; `bias_max_v` and `current_max_a` are the limits it
    /// reports; an image of more than `max_pixels` is refused unread.
    pub fn open(dir: &Path, bias_max_v: f64, current_max_a: f64, max_pixels: u64) -> Result<Self, InstrumentError> {
        let data = GridDataset::read(dir, max_pixels).map_err(|e| {
            InstrumentError::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("replay dataset {}: {e}", dir.display()),
            ))
        })?;
        if data.spectra.is_empty() {
            return Err(InstrumentError::BadArgument(format!(
                "replay dataset {} has no curves",
                dir.display()
            )));
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "dataset".into());
        let mut events = Vec::new();
        if let Some(((r, c), why)) = data.unusable.first() {
            events.push(LinkEvent {
                kind: EventKind::Replay,
                detail: format!(
                    "{} stored curve(s) cannot be served and are left out (the first, at ({r}, {c}): {why})",
                    data.unusable.len()
                ),
            });
        }
        Ok(Self {
            name,
            data,
            bias_max_v,
            current_max_a,
            at: None,
            engaged: false,
            warned_sweep: false,
            events,
        })
    }

    pub fn dataset(&self) -> &GridDataset {
        &self.data
    }
}

/// Whether a stored protocol is the sweep asked for (its dwell aside).
fn holds(stored: &GridSweep, asked: &SweepRequest) -> bool {
    let stored = SweepRequest {
        v_start: stored.v_start,
        v_max: stored.v_max,
        v_end: stored.v_end,
        points: stored.points,
        dwell_ms: asked.dwell_ms,
    };
    stored.same_range(asked)
}

impl ReplayInstrument {
    /// A dataset of several sweeps a location serves the one asked for, and
    /// refuses a sweep it does not hold (`BADARG` on the wire).
    fn protocol_sweep(&self, at: (u32, u32), request: &SweepRequest) -> Result<Sweep, InstrumentError> {
        let Some(p) = self.data.protocols.iter().position(|s| holds(s, request)) else {
            let held: Vec<String> = self
                .data
                .protocols
                .iter()
                .map(|s| format!("{}→{}→{} V in {}", s.v_start, s.v_max, s.v_end, s.points))
                .collect();
            return Err(InstrumentError::BadArgument(format!(
                "the dataset holds no sweep {}→{}→{} V in {} points (it holds {})",
                request.v_start,
                request.v_max,
                request.v_end,
                request.points,
                held.join(", ")
            )));
        };
        let curve = if p == 0 {
            self.data.spectra.get(&at)
        } else {
            self.data.more.get(&(at.0, at.1, p as u32))
        };
        let Some(curve) = curve else {
            return Err(InstrumentError::BadArgument(format!(
                "the dataset holds no curve of protocol {p} at pixel ({}, {})",
                at.0, at.1
            )));
        };
        Ok(Sweep {
            bias_v: curve.bias_v.clone(),
            current_a: curve.current_a.clone(),
            end: stored_end(curve.current_a.len(), request.points),
        })
    }
}

impl Instrument for ReplayInstrument {
    fn identity(&mut self) -> Result<Identity, InstrumentError> {
        Ok(Identity {
            vendor: "dualscope".into(),
            model: "Replay".into(),
            serial: self.name.clone(),
            firmware: env!("CARGO_PKG_VERSION").into(),
        })
    }

    fn limits(&mut self) -> Result<Limits, InstrumentError> {
        Ok(Limits {
            bias_max_v: self.bias_max_v,
            current_max_a: self.current_max_a,
            x_max_nm: self.data.width_nm,
            y_max_nm: self.data.height_nm,
        })
    }

    fn survey(&mut self, rows: u32, cols: u32) -> Result<Survey, InstrumentError> {
        if (rows, cols) != (self.data.rows(), self.data.cols()) {
            self.events.push(LinkEvent {
                kind: EventKind::Replay,
                detail: format!(
                    "survey of {rows}×{cols} px asked; the dataset holds {}×{} px, which is used",
                    self.data.rows(),
                    self.data.cols()
                ),
            });
        }
        Ok(Survey {
            width_nm: self.data.width_nm,
            height_nm: self.data.height_nm,
            heights_nm: self.data.topography_nm.clone(),
        })
    }

    fn engage(&mut self) -> Result<(), InstrumentError> {
        self.engaged = true;
        Ok(())
    }

    fn withdraw(&mut self) -> Result<(), InstrumentError> {
        self.engaged = false;
        Ok(())
    }

    fn move_to(&mut self, x_nm: f64, y_nm: f64) -> Result<(f64, f64), InstrumentError> {
        let (w, h) = (self.data.width_nm, self.data.height_nm);
        if !(0.0..=w).contains(&x_nm) || !(0.0..=h).contains(&y_nm) {
            return Err(InstrumentError::Limit(format!(
                "({x_nm:.1}, {y_nm:.1}) nm is outside the {w}×{h} nm frame"
            )));
        }
        let (row, col) = nm_to_pixel(x_nm, y_nm, self.data.rows(), self.data.cols(), w, h);
        if !self.data.spectra.contains_key(&(row, col)) {
            return Err(InstrumentError::BadArgument(format!(
                "the dataset holds no curve at pixel ({row}, {col})"
            )));
        }
        self.at = Some((row, col));
        Ok(pixel_to_nm(row, col, self.data.rows(), self.data.cols(), w, h))
    }

    fn sweep(&mut self, request: &SweepRequest) -> Result<Sweep, InstrumentError> {
        if !self.engaged {
            return Err(InstrumentError::Refused {
                code: "NOTENGAGED".into(),
                message: "the tip is not on the surface".into(),
            });
        }
        let Some(at) = self.at else {
            return Err(InstrumentError::BadArgument("no position: move first".into()));
        };
        if !self.data.protocols.is_empty() {
            return self.protocol_sweep(at, request);
        }
        if let Some(stored) = self.data.sweep
            && !self.warned_sweep
            && (stored.points != request.points || stored.v_max != request.v_max)
        {
            self.warned_sweep = true;
            self.events.push(LinkEvent {
                kind: EventKind::Replay,
                detail: format!(
                    "plan sweeps to {} V in {} points; the dataset's curves go to {} V in {} points and are replayed as stored",
                    request.v_max, request.points, stored.v_max, stored.points
                ),
            });
        }
        let served = self.sweep_served(request);
        let curve = &self.data.spectra[&at];
        Ok(Sweep {
            bias_v: curve.bias_v.clone(),
            current_a: curve.current_a.clone(),
            end: stored_end(curve.current_a.len(), served.points),
        })
    }

    fn abort(&mut self) -> Result<(), InstrumentError> {
        Ok(())
    }

    fn measurable_sites(&self) -> Option<Vec<(u32, u32)>> {
        Some(self.data.spectra.keys().copied().collect())
    }

    /// The dataset's own sweep: its curves are replayed as stored, whatever
    /// was asked; without a `[sweep]` table, the widest of its curves.
    fn sweep_served(&self, asked: &SweepRequest) -> SweepRequest {
        if self.data.protocols.iter().any(|s| holds(s, asked)) {
            return *asked;
        }
        match self.data.sweep {
            Some(s) => SweepRequest {
                v_start: s.v_start,
                v_max: s.v_max,
                v_end: s.v_end,
                points: s.points,
                dwell_ms: asked.dwell_ms,
            },
            None => {
                let all = self.data.spectra.values();
                let points = all.clone().map(|c| c.bias_v.len()).max().unwrap_or(0) as u32;
                let (lo, hi) = all
                    .flat_map(|c| c.bias_v.iter().copied())
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
                SweepRequest {
                    v_start: lo.min(0.0),
                    v_max: hi,
                    v_end: lo.min(0.0),
                    points,
                    dwell_ms: asked.dwell_ms,
                }
            }
        }
    }

    fn drain_link_events(&mut self) -> Vec<LinkEvent> {
        std::mem::take(&mut self.events)
    }

    fn link_label(&self) -> String {
        format!("replay of {}", self.name)
    }
}

/// A stored curve shorter than the dataset's sweep was cut by compliance.
fn stored_end(len: usize, points: u32) -> SweepEnd {
    if len < points as usize {
        SweepEnd::Compliance
    } else {
        SweepEnd::Complete
    }
}

/// The ground truth a dataset carries (`labels.parquet`), if it has any;
/// an unknown motif word is left unlabelled.
pub fn labels(dir: &Path) -> Option<crate::record::Labels> {
    let labels = crate::store::grid::GridDataset::read_labels(dir).ok()??;
    Some(crate::record::Labels(
        labels
            .into_iter()
            .filter_map(|(at, word)| crate::record::Motif::parse(&word).map(|m| (at, m)))
            .collect(),
    ))
}
