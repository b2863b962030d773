//! What a sweep gives back: the samples in the order taken, and how it ended.

use serde::{Deserialize, Serialize};

/// How a sweep ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepEnd {
    Complete,
    /// The current limit cut the sweep short and the bias was ramped back to 0.
    Compliance,
}

impl SweepEnd {
    pub fn label(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Compliance => "compliance",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "complete" => Some(Self::Complete),
            "compliance" => Some(Self::Compliance),
            _ => None,
        }
    }
}

/// One recorded current–voltage curve, in the order the samples were taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    pub bias_v: Vec<f64>,
    pub current_a: Vec<f64>,
    pub end: SweepEnd,
}
