//! Who the instrument is and what it allows.

use serde::{Deserialize, Serialize};

/// `*IDN?`: who the instrument is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub vendor: String,
    pub model: String,
    pub serial: String,
    pub firmware: String,
}

impl Identity {
    /// The `vendor,model,serial,firmware` form of `*IDN?`.
    pub fn idn(&self) -> String {
        format!("{},{},{},{}", self.vendor, self.model, self.serial, self.firmware)
    }

    pub fn parse_idn(text: &str) -> Option<Self> {
        let mut parts = text.splitn(4, ',').map(|s| s.trim().to_string());
        Some(Self {
            vendor: parts.next()?,
            model: parts.next()?,
            serial: parts.next()?,
            firmware: parts.next()?,
        })
    }
}

/// `LIM?`: the instrument's hard limits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub bias_max_v: f64,
    pub current_max_a: f64,
    pub x_max_nm: f64,
    pub y_max_nm: f64,
}
