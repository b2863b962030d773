//! Several sweeps at each location (`[[sweep.protocol]]`): a C-AFM user
//! measures a family of sweeps at a point (maximum biases, polarities,
//! rates), because ion migration switches on above a threshold bias and a
//! junction's loop shows under every bias. Each entry states what differs
//! from `[sweep]`; the rest it takes from there.

use super::SweepRequest;
use serde::{Deserialize, Serialize};

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
