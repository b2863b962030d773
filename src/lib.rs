//! dualscope: a terminal console for self-driving conductive-AFM experiments.
//!
//! Four parts that know little of each other: the [`instrument`] (simulated,
//! replayed or on a serial line), the [`engine`] that runs the loop, the
//! [`store`] that alone writes disk, and the front ends in [`cli`].
//! [`policy`] chooses where to measure; [`scalar`] reduces a curve to numbers.

pub mod analysis;
pub mod cli;
pub mod engine;
pub mod fmt;
#[cfg(feature = "test-hooks")]
pub mod hooks;
pub mod instrument;
pub mod ml;
pub mod plan;
pub mod policy;
pub mod record;
pub mod scalar;
pub mod seed;
pub mod store;
pub mod tui;
