//! The microscope, as the engine sees it: one trait with the same face for the
//! in-process simulator, a replayed dataset and a real instrument on a serial line.
//!
//! The trait is blocking on purpose: a real microscope answers one request at a
//! time, and the engine drives it from its own thread, never from the async runtime.

pub mod check;
pub mod nanonis;
pub mod replay;
pub mod serial;
pub mod sim;
mod types;
pub mod wire;

pub use types::*;

use crate::record::{Identity, Limits, LinkEvent, Survey, Sweep};

use std::time::Duration;

/// Why the instrument could not do what was asked. Callers must tell a refused
/// request (limits, bad argument) from a link that failed, so these stay typed.
#[derive(Debug, thiserror::Error)]
pub enum InstrumentError {
    #[error("request outside the instrument's limits: {0}")]
    Limit(String),
    #[error("bad argument: {0}")]
    BadArgument(String),
    #[error("the instrument refused the request ({code}): {message}")]
    Refused { code: String, message: String },
    #[error("the sweep failed: {0}")]
    SweepFailed(String),
    /// The reply does not fit the request or breaks a limit: nothing in it is
    /// believed, and the request may be tried again.
    #[error("the instrument's reply cannot be right: {0}")]
    BadReply(String),
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    #[error("the link to the instrument is lost: {0}")]
    LinkLost(String),
    #[error("a different instrument answered: expected {expected}, found {found}")]
    WrongInstrument { expected: String, found: String },
    #[error("instrument I/O failed: {0}")]
    Io(#[from] std::io::Error),
}

impl InstrumentError {
    /// A failure worth trying again at the same point (as opposed to a refusal).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::SweepFailed(_) | Self::Timeout(_) | Self::Refused { .. } | Self::BadReply(_)
        )
    }
}

/// What the instrument a plan names knows of the film's truth: the simulated
/// film itself, or a replay dataset's `labels.parquet`; a real microscope
/// knows none. For analyses after the fact, which have the plan, not the
/// instrument.
pub fn ground_truth(
    plan: &crate::plan::SessionPlan,
    survey: &Survey,
) -> Option<std::sync::Arc<dyn crate::record::GroundTruth>> {
    match plan.instrument_spec().ok()? {
        crate::plan::InstrumentSpec::Sim => Some(std::sync::Arc::new(sim::film::Film::new(
            &plan.film,
            plan.seed,
            survey.width_nm,
            survey.height_nm,
        ))),
        crate::plan::InstrumentSpec::Replay(dir) => replay::labels(&dir).map(|l| {
            let truth: std::sync::Arc<dyn crate::record::GroundTruth> = std::sync::Arc::new(l);
            truth
        }),
        crate::plan::InstrumentSpec::Serial(_) | crate::plan::InstrumentSpec::Nanonis(_) => None,
    }
}

/// Opens the instrument a plan names.
pub fn open(plan: &crate::plan::SessionPlan) -> Result<Box<dyn Instrument>, InstrumentError> {
    let spec = plan
        .instrument_spec()
        .map_err(|e| InstrumentError::BadArgument(e.to_string()))?;
    match spec {
        crate::plan::InstrumentSpec::Sim => Ok(Box::new(sim::SimInstrument::new(sim::SimConfig::from_plan(plan))?)),
        crate::plan::InstrumentSpec::Replay(dir) => Ok(Box::new(replay::ReplayInstrument::open(
            &dir,
            plan.safety.bias_max_v,
            plan.safety.current_max_a,
            crate::plan::memory::max_survey_pixels(plan),
        )?)),
        crate::plan::InstrumentSpec::Serial(port) => Ok(Box::new(serial::SerialInstrument::open(
            &port,
            plan.serial.baud,
            serial::SerialSettings::from_plan(plan),
        )?)),
        crate::plan::InstrumentSpec::Nanonis(address) => Ok(Box::new(nanonis::NanonisInstrument::open(
            &address,
            nanonis::NanonisSettings::from_plan(plan),
        )?)),
    }
}

/// A microscope that can image, move the tip and sweep the bias.
pub trait Instrument: Send {
    /// Vendor, model, serial number and firmware, as `*IDN?` gives them.
    fn identity(&mut self) -> Result<Identity, InstrumentError>;
    /// The hard limits the host must never exceed.
    fn limits(&mut self) -> Result<Limits, InstrumentError>;
    /// Takes the survey topography image of the whole frame.
    fn survey(&mut self, rows: u32, cols: u32) -> Result<Survey, InstrumentError>;
    /// Puts the tip on the surface.
    fn engage(&mut self) -> Result<(), InstrumentError>;
    /// Lifts the tip off the surface.
    fn withdraw(&mut self) -> Result<(), InstrumentError>;
    /// Moves the tip; returns where it settled.
    fn move_to(&mut self, x_nm: f64, y_nm: f64) -> Result<(f64, f64), InstrumentError>;
    /// Sweeps the bias at the current position and records the current.
    fn sweep(&mut self, sweep: &SweepRequest) -> Result<Sweep, InstrumentError>;
    /// Stops any motion or sweep and ramps the bias to 0 V.
    fn abort(&mut self) -> Result<(), InstrumentError>;
    /// The sweep the instrument will really run when `asked` is asked for: the
    /// same, except for a replayed dataset, which returns its stored curves.
    fn sweep_served(&self, asked: &SweepRequest) -> SweepRequest {
        *asked
    }
    /// Locations that can be measured, where the instrument can only measure
    /// some (a replayed sub-grid); `None` means any pixel of the frame.
    fn measurable_sites(&self) -> Option<Vec<(u32, u32)>> {
        None
    }
    /// Link trouble seen since the last call (retries, reconnects), for the
    /// session's `events` table.
    fn drain_link_events(&mut self) -> Vec<LinkEvent> {
        Vec::new()
    }
    /// Short description of the link for the status line.
    fn link_label(&self) -> String;
}

impl Instrument for Box<dyn Instrument> {
    fn identity(&mut self) -> Result<Identity, InstrumentError> {
        (**self).identity()
    }
    fn limits(&mut self) -> Result<Limits, InstrumentError> {
        (**self).limits()
    }
    fn survey(&mut self, rows: u32, cols: u32) -> Result<Survey, InstrumentError> {
        (**self).survey(rows, cols)
    }
    fn engage(&mut self) -> Result<(), InstrumentError> {
        (**self).engage()
    }
    fn withdraw(&mut self) -> Result<(), InstrumentError> {
        (**self).withdraw()
    }
    fn move_to(&mut self, x_nm: f64, y_nm: f64) -> Result<(f64, f64), InstrumentError> {
        (**self).move_to(x_nm, y_nm)
    }
    fn sweep(&mut self, sweep: &SweepRequest) -> Result<Sweep, InstrumentError> {
        (**self).sweep(sweep)
    }
    fn abort(&mut self) -> Result<(), InstrumentError> {
        (**self).abort()
    }
    fn sweep_served(&self, asked: &SweepRequest) -> SweepRequest {
        (**self).sweep_served(asked)
    }
    fn measurable_sites(&self) -> Option<Vec<(u32, u32)>> {
        (**self).measurable_sites()
    }
    fn drain_link_events(&mut self) -> Vec<LinkEvent> {
        (**self).drain_link_events()
    }
    fn link_label(&self) -> String {
        (**self).link_label()
    }
}
