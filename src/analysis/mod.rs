//! After (and during) a session: the dual VAE's joint latent map of every
//! measured location, its clusters, and what each cluster means physically.
//!
//! Rooms: `samples` (a location and what is known of it), `train` (the dual
//! VAE, its ensemble and the clusters), `pipeline` (sessions in, a summary and
//! saved embeddings out), `summary` and `findings` (what the clusters mean),
//! `relief` (the patch as the tip feels it), `report` (figures).

mod clustered;
mod curve_scale;
pub mod findings;
pub mod grains;
pub mod pipeline;
pub mod property_map;
pub mod relief;
pub mod report;
pub mod residual_field;
mod samples;
pub mod summary;
mod train;

pub use clustered::{Clustered, ari};
pub use curve_scale::CurveScale;
pub use samples::{PatchView, Sample, samples};
pub use summary::ClusterSummary;
pub use train::{analyze, analyze_watched, beside_a_training, consensus_of, time_clustering, time_epochs};

use crate::ml::cluster::Mixture;
use crate::ml::vae::Embedding;
use crate::record::LatentPoint;

/// The result of one analysis.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The latent map shown and written: the first training's.
    pub embedding: Embedding,
    /// The first training's mixture on its map.
    pub mixture: Mixture,
    /// Each location's cluster: the mixture's, or with several trainings
    /// their consensus ([`crate::ml::consensus`]).
    pub labels: Vec<usize>,
    /// How the clusters were decided, in words (for the headline and report).
    pub how: String,
    pub summaries: Vec<ClusterSummary>,
    /// Adjusted Rand index of the clusters against the simulator's motifs.
    pub ari: Option<f64>,
    /// Seconds the training(s) and their mixtures took.
    pub train_s: f64,
    /// The ensemble's other trainings (those that gave a mixture), in order.
    pub others: Vec<Embedding>,
    /// Each training's own clusters (its mixture's), the shown one first.
    pub member_labels: Vec<Vec<usize>>,
    /// How the curves were brought to the spectral view's units.
    pub scale: CurveScale,
}

impl Analysis {
    /// Every training of the ensemble that gave a map, the one shown first.
    pub fn trainings(&self) -> impl Iterator<Item = &Embedding> {
        std::iter::once(&self.embedding).chain(&self.others)
    }

    /// The joint latent position of sample `k` (mean of the two aligned views).
    pub fn joint(&self, k: usize) -> Vec<f32> {
        self.embedding.z_image[k]
            .iter()
            .zip(&self.embedding.z_spectrum[k])
            .map(|(a, b)| 0.5 * (a + b))
            .collect()
    }

    /// The `embeddings` rows of the samples of one session (`samples` are those
    /// this analysis was trained on, in the same order).
    pub fn embedding_rows(&self, samples: &[Sample], session: usize, model_step: u32, model: &str) -> Vec<LatentPoint> {
        samples
            .iter()
            .enumerate()
            .filter(|(_, s)| s.session == session)
            .map(|(i, s)| LatentPoint {
                model_step,
                row: s.row,
                col: s.col,
                z_image: self.embedding.z_image[i].clone(),
                z_spectrum: self.embedding.z_spectrum[i].clone(),
                cluster: self.labels[i] as u32,
                step: s.step,
                model: model.into(),
            })
            .collect()
    }
}

/// Why the samples gave no analysis.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalysisError {
    #[error("too few measurements to analyse ({0}; need at least 4)")]
    TooFew(usize),
    #[error(
        "no mixture fits the latent map: its means are not finite, the dual VAE diverged \
         (a lower vae_learning_rate or fewer epochs may help)"
    )]
    NoClusters,
    #[error("the training was stopped before it finished")]
    Stopped,
    #[error("the training stopped without a result: {0}")]
    Crashed(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::AnalysisPlan;
    use crate::record::Motif;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// Two kinds of location, far apart in both views: flat interiors with a
    /// weak straight curve, pits with a strong looping one.
    fn two_kinds(n: usize) -> Vec<Sample> {
        let bias_v: Vec<f64> = (0..41).map(|k| 1.5 * (1.0 - (k as f64 - 20.0).abs() / 20.0)).collect();
        (0..n)
            .map(|k| {
                let pit = k % 2 == 1;
                let wobble = 1.0 + 0.05 * ((k * 7) % 5) as f64;
                let current_a: Vec<f64> = bias_v
                    .iter()
                    .enumerate()
                    .map(|(j, v)| {
                        let up = j <= 20;
                        if pit {
                            wobble * 1e-9 * v * v * if up { 1.0 } else { 0.4 }
                        } else {
                            wobble * 2e-12 * v
                        }
                    })
                    .collect();
                let patch01: Vec<f32> = (0..256)
                    .map(|p| {
                        let (r, c) = ((p / 16) as f32 - 7.5, (p % 16) as f32 - 7.5);
                        if pit { (r * r + c * c).sqrt() / 11.0 } else { 0.6 }
                    })
                    .collect();
                Sample {
                    session: 0,
                    step: k as u32,
                    row: k as u32,
                    col: 0,
                    x_nm: k as f64,
                    y_nm: 0.0,
                    patch_nm: patch01.iter().map(|v| *v as f64 * 20.0).collect(),
                    patch01,
                    bias_v: bias_v.clone(),
                    max_current_a: current_a.iter().fold(0.0, |m: f64, i| m.max(i.abs())),
                    current_a,
                    hysteresis_area: if pit { 1e-10 } else { 0.0 },
                    protocol_areas: vec![if pit { 1e-10 } else { 0.0 }],
                    onset_v: Some(if pit { 0.2 } else { 1.0 }),
                    truth: Some(if pit {
                        Motif::TripleJunction
                    } else {
                        Motif::GrainInterior
                    }),
                }
            })
            .collect()
    }

    fn plan(ensemble: u32) -> AnalysisPlan {
        AnalysisPlan {
            vae_epochs: 40,
            vae_hidden: 32,
            vae_learning_rate: 3e-3,
            vae_ensemble: ensemble,
            clusters: 2,
            ..AnalysisPlan::default()
        }
    }

    #[test]
    fn the_mixture_sees_a_pits_bends_beside_the_curves_two_numbers() {
        let s = two_kinds(2);
        let (flat, pit) = (&s[0], &s[1]);
        let mut a = AnalysisPlan::default();
        let (on_flat, on_pit) = (train::cluster_scalars(&a, flat), train::cluster_scalars(&a, pit));
        assert_eq!((on_flat.len(), on_pit.len()), (4, 4));
        assert!(
            on_pit[0] > on_flat[0] && on_pit[1] > on_flat[1],
            "{on_flat:?} {on_pit:?}"
        );
        // Flat ground does not bend; a pit is hollow both ways.
        assert!(on_flat[2].abs() < 1e-9 && on_flat[3].abs() < 1e-9, "{on_flat:?}");
        assert!(on_pit[2] > 0.1 && on_pit[3] > 0.1, "{on_pit:?}");
        a.cluster_scalars = false;
        assert_eq!(train::cluster_scalars(&a, pit), on_pit[2..]);
        a.cluster_relief = false;
        assert!(train::cluster_scalars(&a, pit).is_empty());
        a.cluster_scalars = true;
        assert_eq!(train::cluster_scalars(&a, pit), on_pit[..2]);
    }

    #[test]
    fn an_ensemble_trains_each_member_and_clusters_by_their_consensus() {
        let samples = two_kinds(24);
        let epochs = AtomicUsize::new(0);
        let a = analyze_watched(&samples, &plan(3), 5, &epochs, &AtomicBool::new(false)).unwrap();
        assert_eq!(epochs.load(Ordering::Relaxed), 3 * 40, "three trainings");
        assert!(a.how.contains("consensus of 3"), "{}", a.how);
        assert_eq!(a.labels.len(), samples.len());
        assert_eq!(a.ari, Some(1.0), "labels {:?}", a.labels);
        assert_eq!(a.summaries.iter().map(|s| s.size).sum::<usize>(), samples.len());
        // The map shown is the one training of an ensemble of one.
        let one = analyze(&samples, &plan(1), 5).unwrap();
        assert_eq!(one.embedding.z_image, a.embedding.z_image);
        assert_eq!(one.embedding.z_spectrum, a.embedding.z_spectrum);
        assert_eq!(one.labels, one.mixture.labels);
        assert!(one.how.starts_with("fixed by the settings"), "{}", one.how);
    }
}
