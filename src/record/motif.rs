//! The motifs of a halide-perovskite film (the `motif` of `labels.parquet`),
//! and the ground truth an analysis may be handed: the motif at a place.

use std::collections::BTreeMap;

/// What a location on the film is, as the ground truth knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Motif {
    GrainInterior,
    GbGroove,
    GbAsymmetric,
    TripleJunction,
}

impl Motif {
    pub const ALL: [Motif; 4] = [
        Self::GrainInterior,
        Self::GbGroove,
        Self::GbAsymmetric,
        Self::TripleJunction,
    ];

    /// The `motif` string of `labels.parquet`.
    pub fn label(self) -> &'static str {
        match self {
            Self::GrainInterior => "grain_interior",
            Self::GbGroove => "gb_groove",
            Self::GbAsymmetric => "gb_asymmetric",
            Self::TripleJunction => "triple_junction",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.label() == text)
    }
}

/// Where the truth about a film is known (the simulator's film, a replay
/// dataset's `labels.parquet`): the motif at a point of the frame.
pub trait GroundTruth: Send + Sync {
    fn motif_at(&self, row: u32, col: u32, x_nm: f64, y_nm: f64) -> Option<Motif>;
}

/// The motif of every labelled pixel, as a replay dataset holds them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Labels(pub BTreeMap<(u32, u32), Motif>);

impl GroundTruth for Labels {
    fn motif_at(&self, row: u32, col: u32, _x_nm: f64, _y_nm: f64) -> Option<Motif> {
        self.0.get(&(row, col)).copied()
    }
}
