//! What the engine asks an instrument for: a sweep of the plan's shape.

/// The sweep the host asks for (the same shape as the plan's `[sweep]`).
pub use crate::plan::SweepRequest;
