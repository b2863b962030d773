//! Why a run could not go on.

use crate::instrument::InstrumentError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub(super) enum Stop {
    #[error("instrument: {0}")]
    Instrument(#[from] InstrumentError),
    #[error("session log: {0}")]
    Store(#[from] StoreError),
    #[error("policy: {0}")]
    Policy(String),
    #[error("no location could be measured: {0}")]
    NothingMeasured(String),
    #[error("{0} locations in a row gave no usable curve; the instrument needs a look (the session is resumable)")]
    NoUsableCurves(u32),
    /// The instrument cannot take a sweep of the plan's set.
    #[error("{0}")]
    SweepNotServed(String),
    /// A bug: the run loop panicked. The instrument is made safe all the same.
    #[error("internal error (the run loop panicked: {0}); the session is resumable")]
    Panic(String),
}

/// The text of a caught panic.
pub(super) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}
