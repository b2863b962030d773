//! The lab's vocabulary, which every part of the house speaks: a sweep and
//! the measurement made of it, the decision that chose where, the events of a
//! session, the survey, the instrument's identity and limits, the motifs of a
//! film, the candidate grid, a place in the latent map, a curve's quality.
//!
//! Records are plain values; how they become Parquet rows is the store's
//! business (`store::schema`), how they are shown the console's. Nothing here
//! does I/O.

mod candidates;
mod decision;
mod drift;
mod event;
pub mod flag;
mod instrument;
mod latent;
pub mod learned;
mod measurement;
mod motif;
mod property;
pub mod quality;
mod survey;
mod sweep;

pub use candidates::Candidates;
pub use decision::Decision;
pub use drift::DriftEstimate;
pub use event::{Event, EventKind, LinkEvent};
pub use flag::Flag;
pub use instrument::{Identity, Limits};
pub use latent::LatentPoint;
pub use measurement::{Measurement, Source};
pub use motif::{GroundTruth, Labels, Motif};
pub use property::{PropertyGrid, PropertyPoint};
pub use quality::Quality;
pub use survey::{Survey, nm_to_pixel, pixel_to_nm};
pub use sweep::{Sweep, SweepEnd};
