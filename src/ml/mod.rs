//! The machine learning: pure functions and small structs, no I/O, no async.

pub mod dkl;
pub mod gp;
pub mod iforest;
pub mod patches;
pub mod spectra;
pub mod ssim;
