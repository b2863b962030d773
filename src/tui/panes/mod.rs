//! One file per pane of the console.

pub mod clusters;
pub mod curves;
pub mod events;
pub mod layer;
pub mod map;
pub mod overlay;
pub mod queue;
pub mod scan;
