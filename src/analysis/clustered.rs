//! The clusters a summary or a report shows, wherever they came from: a
//! training just run, or a model the session already logged (its
//! `embeddings` rows), so a report need not train again what was learned.

use super::{Analysis, ClusterSummary, Sample, summary};
use crate::ml::cluster;
use crate::record::Motif;
use crate::store::saved::SavedModel;

/// Each shown location's cluster and joint latent position, with what they mean.
#[derive(Debug, Clone)]
pub struct Clustered {
    /// Per location, in the order of the samples it was made with.
    pub labels: Vec<usize>,
    pub joint: Vec<Vec<f32>>,
    pub summaries: Vec<ClusterSummary>,
    /// How the clusters were decided, in words.
    pub how: String,
    /// Adjusted Rand index against the simulator's motifs, where known.
    pub ari: Option<f64>,
    /// Where the model came from, in words ("trained in 9.8 s", "the saved …").
    pub source: String,
}

impl Clustered {
    /// The clusters of a training just run.
    pub fn of(a: &Analysis) -> Self {
        Self {
            labels: a.labels.clone(),
            joint: (0..a.labels.len()).map(|k| a.joint(k)).collect(),
            summaries: a.summaries.clone(),
            how: a.how.clone(),
            ari: a.ari,
            source: format!("trained in {:.1} s", a.train_s),
        }
    }

    /// The clusters of a model the first session logged, on the samples of
    /// that session it was trained on (returned with it, in step order).
    /// `None` when none of its rows matches a measured curve.
    pub fn saved(samples: &[Sample], model: &SavedModel) -> Option<(Self, Vec<Sample>)> {
        let by_step: std::collections::HashMap<u32, &crate::record::LatentPoint> =
            model.latent.iter().map(|p| (p.step, p)).collect();
        let mut shown: Vec<(&Sample, &crate::record::LatentPoint)> = samples
            .iter()
            .filter(|s| s.session == 0)
            .filter_map(|s| by_step.get(&s.step).map(|p| (s, *p)))
            .collect();
        if shown.is_empty() {
            return None;
        }
        shown.sort_by_key(|(s, _)| s.step);
        // The logged numbers made dense, in their own order (a model's rows
        // for a subset need not hold every number).
        let mut ids: Vec<u32> = shown.iter().map(|(_, p)| p.cluster).collect();
        ids.sort_unstable();
        ids.dedup();
        let labels: Vec<usize> = shown
            .iter()
            .map(|(_, p)| ids.binary_search(&p.cluster).expect("listed above"))
            .collect();
        let joint = shown
            .iter()
            .map(|(_, p)| {
                p.z_image
                    .iter()
                    .zip(&p.z_spectrum)
                    .map(|(a, b)| 0.5 * (a + b))
                    .collect()
            })
            .collect();
        let samples: Vec<Sample> = shown.iter().map(|(s, _)| (*s).clone()).collect();
        let clustered = Self {
            summaries: summary::summarise(&samples, &labels),
            ari: ari(&samples, &labels),
            how: format!("by the saved `{}` model of {} curves", model.model, model.model_step),
            source: "no training now".to_string(),
            labels,
            joint,
        };
        Some((clustered, samples))
    }

    /// The analysis in one line: how many clusters, how they were decided,
    /// where the model came from, and the ARI where the truth is known.
    pub fn headline(&self) -> String {
        let mut s = format!("{} clusters {} ({})", self.summaries.len(), self.how, self.source);
        if let Some(ari) = self.ari {
            s.push_str(&format!("; adjusted Rand index vs. the true motifs: {ari:.3}"));
        }
        s
    }
}

/// Agreement of `labels` with the samples' true motifs, when every sample has one.
pub fn ari(samples: &[Sample], labels: &[usize]) -> Option<f64> {
    samples
        .iter()
        .map(|s| s.truth.map(|m| Motif::ALL.iter().position(|x| *x == m).unwrap_or(0)))
        .collect::<Option<Vec<usize>>>()
        .map(|truth| cluster::adjusted_rand_index(labels, &truth))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::LatentPoint;

    fn sample(step: u32) -> Sample {
        Sample {
            session: 0,
            step,
            row: step,
            col: step,
            x_nm: 0.0,
            y_nm: 0.0,
            patch_nm: vec![0.0; 16],
            patch01: vec![0.0; 16],
            bias_v: vec![0.0, 1.0, 0.0],
            current_a: vec![0.0, 1e-10, 0.0],
            hysteresis_area: 0.0,
            protocol_areas: vec![0.0],
            onset_v: None,
            max_current_a: 1e-10,
            truth: None,
        }
    }

    #[test]
    fn a_saved_model_shows_the_curves_it_was_trained_on_with_dense_labels() {
        let latent = [(3, 7), (0, 4), (1, 7)]
            .into_iter()
            .map(|(step, cluster)| LatentPoint {
                model_step: 4,
                row: step,
                col: step,
                z_image: vec![1.0, 2.0],
                z_spectrum: vec![3.0, 4.0],
                cluster,
                step,
                model: "live".into(),
            })
            .collect();
        let model = SavedModel {
            model: "live".into(),
            model_step: 4,
            latent,
            properties: Vec::new(),
        };
        // Step 2 was measured but is not in the model; step 5 came later.
        let samples: Vec<Sample> = [0, 1, 2, 3, 5].into_iter().map(sample).collect();
        let (c, shown) = Clustered::saved(&samples, &model).unwrap();
        assert_eq!(shown.iter().map(|s| s.step).collect::<Vec<_>>(), vec![0, 1, 3]);
        assert_eq!(c.labels, vec![0, 1, 1]);
        assert_eq!(c.joint[0], vec![2.0, 3.0]);
        assert_eq!((c.summaries.len(), c.summaries[1].size), (2, 2));
        assert!(
            c.headline()
                .starts_with("2 clusters by the saved `live` model of 4 curves")
        );
        assert!(Clustered::saved(&samples[4..], &model).is_none(), "nothing in common");
    }
}
