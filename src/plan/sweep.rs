//! The bias sweeps of a plan (`[sweep]`): the triangle the host asks the
//! instrument for, and the set of them measured at each location
//! (`[[sweep.protocol]]`). A C-AFM user measures a family of sweeps at a
//! point (maximum biases, polarities, rates), because ion migration switches
//! on above a threshold bias and a junction's loop shows under every bias.
//! Each entry states what differs from `[sweep]`; the rest it takes from there.

use serde::{Deserialize, Serialize};

/// One triangle bias sweep v_start → v_max → v_end: what the host asks
/// the instrument for (`IV`), and one protocol of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SweepRequest {
    pub v_start: f64,
    pub v_max: f64,
    pub v_end: f64,
    /// Samples in the whole sweep (both branches).
    pub points: u32,
    /// Dwell per sample.
    pub dwell_ms: f64,
}

impl Default for SweepRequest {
    fn default() -> Self {
        Self {
            v_start: 0.0,
            v_max: 1.5,
            v_end: 0.0,
            points: 251,
            dwell_ms: 2.0,
        }
    }
}

impl SweepRequest {
    /// Duration of one sweep at real speed.
    pub fn duration_ms(&self) -> f64 {
        self.points as f64 * self.dwell_ms
    }

    /// Index of the sample at `v_max`, where the up branch turns into the down one.
    pub fn turn_index(&self) -> usize {
        self.points as usize / 2
    }

    /// Whether `other` sweeps the same range in as many points (its dwell
    /// aside: a replay has no time, and a controller may round it).
    pub fn same_range(&self, other: &SweepRequest) -> bool {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
        self.points == other.points
            && close(self.v_start, other.v_start)
            && close(self.v_max, other.v_max)
            && close(self.v_end, other.v_end)
    }

    /// The largest |bias| of the sweep.
    pub fn top_v(&self) -> f64 {
        self.v_start.abs().max(self.v_max.abs()).max(self.v_end.abs())
    }

    /// The bias of every sample: up from `v_start` to `v_max`, then down to `v_end`.
    pub fn biases_v(&self) -> Vec<f64> {
        let n = self.points as usize;
        let turn = self.turn_index();
        (0..n)
            .map(|k| {
                if k <= turn {
                    self.v_start + (self.v_max - self.v_start) * k as f64 / turn as f64
                } else {
                    let rest = (n - 1 - turn) as f64;
                    self.v_max + (self.v_end - self.v_max) * (k - turn) as f64 / rest
                }
            })
            .collect()
    }
}

/// `[sweep]`: the triangle sweep measured at every location, or, with
/// `[[sweep.protocol]]` entries, the set of sweeps measured there in order
/// (each entry's missing keys are this table's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SweepPlan {
    pub v_start: f64,
    pub v_max: f64,
    pub v_end: f64,
    /// Samples in the whole sweep (both branches).
    pub points: u32,
    /// Dwell per sample.
    pub dwell_ms: f64,
    /// The sweeps of every location, in order; none: the one above.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub protocol: Vec<ProtocolPlan>,
}

impl Default for SweepPlan {
    fn default() -> Self {
        let one = SweepRequest::default();
        Self {
            v_start: one.v_start,
            v_max: one.v_max,
            v_end: one.v_end,
            points: one.points,
            dwell_ms: one.dwell_ms,
            protocol: Vec::new(),
        }
    }
}

impl SweepPlan {
    /// The table's own sweep (what protocols default to).
    pub fn base(&self) -> SweepRequest {
        SweepRequest {
            v_start: self.v_start,
            v_max: self.v_max,
            v_end: self.v_end,
            points: self.points,
            dwell_ms: self.dwell_ms,
        }
    }

    /// The sweeps measured at every location, in order (at least one).
    pub fn protocols(&self) -> Vec<SweepRequest> {
        if self.protocol.is_empty() {
            return vec![self.base()];
        }
        let base = self.base();
        self.protocol.iter().map(|p| p.over(&base)).collect()
    }

    /// The first sweep of every location: the one sweep of a plan without
    /// protocols.
    pub fn first(&self) -> SweepRequest {
        self.protocols()[0]
    }

    /// Samples in a location's whole set of curves.
    pub fn set_points(&self) -> usize {
        self.protocols().iter().map(|p| p.points as usize).sum()
    }

    /// A location's whole set at real speed.
    pub fn set_duration_ms(&self) -> f64 {
        self.protocols().iter().map(SweepRequest::duration_ms).sum()
    }
}

/// One sweep of the set measured at every location; a key left out is the
/// `[sweep]` table's.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProtocolPlan {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v_start: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v_max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v_end: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dwell_ms: Option<f64>,
}

impl ProtocolPlan {
    /// The sweep this entry asks for, its missing keys taken from `base`.
    pub fn over(&self, base: &SweepRequest) -> SweepRequest {
        SweepRequest {
            v_start: self.v_start.unwrap_or(base.v_start),
            v_max: self.v_max.unwrap_or(base.v_max),
            v_end: self.v_end.unwrap_or(base.v_end),
            points: self.points.unwrap_or(base.points),
            dwell_ms: self.dwell_ms.unwrap_or(base.dwell_ms),
        }
    }
}
