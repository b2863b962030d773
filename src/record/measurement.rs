//! One curve and where and why it was taken: the `measurements` table's row,
//! and the one way a sweep becomes one.

use super::{Sweep, SweepEnd};
use serde::{Deserialize, Serialize};

/// Why a location was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A Latin-hypercube seed point.
    Seed,
    /// Chosen by a learning policy.
    Policy,
    /// Added by the user.
    Manual,
    /// Next point of the raster baseline.
    Grid,
    /// Drawn by the random baseline.
    Random,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Self::Seed => "seed",
            Self::Policy => "policy",
            Self::Manual => "manual",
            Self::Grid => "grid",
            Self::Random => "random",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Seed, Self::Policy, Self::Manual, Self::Grid, Self::Random]
            .into_iter()
            .find(|s| s.label() == text)
    }

    /// The source of a decision row journaled before the source itself was
    /// (the policy label stood for it: `lhs-seed`, `manual`, a policy name).
    pub fn of_policy_label(label: &str) -> Self {
        match label {
            "manual" => Self::Manual,
            "lhs-seed" | "seed" => Self::Seed,
            "random" => Self::Random,
            "grid" => Self::Grid,
            _ => Self::Policy,
        }
    }
}

/// One row of `measurements`: a curve and where and why it was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub step: u32,
    pub t_ms: i64,
    pub row: u32,
    pub col: u32,
    pub x_nm: f64,
    pub y_nm: f64,
    pub source: Source,
    pub bias_v: Vec<f64>,
    pub current_a: Vec<f64>,
    pub sweep_end: SweepEnd,
    pub hysteresis_area: f64,
    /// `None` when the current never crossed the onset threshold.
    pub onset_v: Option<f64>,
    pub max_current_a: f64,
    /// The quality gate's verdict (`None`: no gate judged it, as before the
    /// gate existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<super::Quality>,
    /// Which of the plan's sweeps (`[[sweep.protocol]]`, 0-based) this curve
    /// is; `None` in sessions from before protocols.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u32>,
    /// The location it was taken at, counted in the order visited (the
    /// curves of one location's protocols share it); `None` in sessions
    /// from before protocols, where every curve is its own location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<u32>,
}

impl Measurement {
    /// The one way a curve becomes a row: the sweep as the instrument returned
    /// it (checked), where the tip was, and its scalars.
    pub fn of_sweep(
        step: u32,
        t_ms: i64,
        (row, col): (u32, u32),
        (x_nm, y_nm): (f64, f64),
        source: Source,
        sweep: Sweep,
        onset_threshold_a: f64,
    ) -> Self {
        let summary = crate::scalar::CurveSummary::of(&sweep.bias_v, &sweep.current_a, onset_threshold_a);
        Self {
            step,
            t_ms,
            row,
            col,
            x_nm,
            y_nm,
            source,
            bias_v: sweep.bias_v,
            current_a: sweep.current_a,
            sweep_end: sweep.end,
            hysteresis_area: summary.hysteresis_area,
            onset_v: summary.onset_v,
            max_current_a: summary.max_current_a,
            quality: None,
            protocol: None,
            location: None,
        }
    }

    /// The location's number: the column where written, else the step (a
    /// session from before protocols measured one curve a location).
    pub fn location_no(&self) -> u32 {
        self.location.unwrap_or(self.step)
    }

    /// The protocol's index: the column where written, else the first.
    pub fn protocol_no(&self) -> u32 {
        self.protocol.unwrap_or(0)
    }

    /// Whether the quality gate failed it (a curve no gate judged passes).
    pub fn failed_gate(&self) -> bool {
        self.quality.is_some_and(|q| !q.is_ok())
    }
}
