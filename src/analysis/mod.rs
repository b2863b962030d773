//! After (and during) a session: the dual VAE's joint latent map of every
//! measured location, its clusters, and what each cluster means physically.

pub mod findings;
pub mod relief;
pub mod report;
pub mod summary;

use crate::ml::cluster::{self, Mixture};
use crate::ml::consensus;
use crate::ml::patches;
use crate::ml::vae::{self, Embedding, VaeSettings};
use crate::plan::{AnalysisPlan, SessionPlan};
use crate::record::{GroundTruth, LatentPoint, Measurement, Motif, Survey};
pub use summary::ClusterSummary;

/// Below this current the asinh compression of curves is linear.
const CURRENT_SCALE_A: f64 = 1e-11;

/// One measured location, with everything the analysis looks at.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Which of the analysed sessions it comes from.
    pub session: usize,
    pub step: u32,
    pub row: u32,
    pub col: u32,
    pub x_nm: f64,
    pub y_nm: f64,
    /// The patch around it in nm (for the topography descriptors).
    pub patch_nm: Vec<f64>,
    /// The same patch as the image VAE sees it (see [`relief::tip_relief`]).
    pub patch01: Vec<f32>,
    pub bias_v: Vec<f64>,
    pub current_a: Vec<f64>,
    pub hysteresis_area: f64,
    pub onset_v: Option<f64>,
    pub max_current_a: f64,
    /// Ground truth, where the caller knows it (a simulated film, a replay
    /// dataset with labels).
    pub truth: Option<Motif>,
}

/// Builds samples from one session's survey and measurements; `truth`, where
/// the caller has it, labels each with the motif under it.
pub fn samples(
    session: usize,
    plan: &SessionPlan,
    survey: &Survey,
    measurements: &[Measurement],
    truth: Option<&dyn GroundTruth>,
) -> Vec<Sample> {
    let side = plan.policy.patch_px as usize;
    let image_nm = survey.heights_nm.mapv(|v| v as f32);
    let span = {
        let (lo, hi) = image_nm
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
        (hi - lo).max(1e-6)
    };
    let nm_per_px = survey.width_nm / survey.cols().max(1) as f64;
    let window_px = (plan.analysis.patch_window_nm / nm_per_px) as f32;
    measurements
        .iter()
        .map(|m| {
            let patch = patches::patch_at(&image_nm, m.row, m.col, side);
            Sample {
                session,
                step: m.step,
                row: m.row,
                col: m.col,
                x_nm: m.x_nm,
                y_nm: m.y_nm,
                patch_nm: patch.iter().map(|v| *v as f64).collect(),
                patch01: relief::tip_relief(&patch, side, span, window_px),
                bias_v: m.bias_v.clone(),
                current_a: m.current_a.clone(),
                hysteresis_area: m.hysteresis_area,
                onset_v: m.onset_v,
                max_current_a: m.max_current_a,
                truth: truth.and_then(|t| t.motif_at(m.row, m.col, m.x_nm, m.y_nm)),
            }
        })
        .collect()
}

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
}

impl Analysis {
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

/// The settings of training `member` of an ensemble; member 0 is the one
/// training of `vae_ensemble = 1`, so a single training is the same either way.
fn member_settings(a: &AnalysisPlan, seed: u64, member: u64) -> VaeSettings {
    let salt: &[u64] = if member == 0 { &[] } else { &[member] };
    VaeSettings {
        hidden: a.vae_hidden as usize,
        latent: a.vae_latent as usize,
        epochs: a.vae_epochs as usize,
        learning_rate: a.vae_learning_rate,
        beta: a.vae_beta,
        gamma: a.vae_gamma,
        spatial_decoder: a.vae_spatial_decoder,
        seed: crate::seed::derive(seed, "dual-vae", salt),
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

/// Trains the dual VAE on the samples and clusters its joint latent map
/// (`vae_ensemble` > 1: trains that many and clusters by their consensus).
pub fn analyze(samples: &[Sample], a: &AnalysisPlan, seed: u64) -> Result<Analysis, AnalysisError> {
    let never = std::sync::atomic::AtomicBool::new(false);
    analyze_watched(samples, a, seed, &std::sync::atomic::AtomicUsize::new(0), &never)
}

/// [`analyze`], counting the dual VAE's finished epochs in `epochs_done`; an
/// ensemble gives up between two trainings once `stop` is set.
pub fn analyze_watched(
    samples: &[Sample],
    a: &AnalysisPlan,
    seed: u64,
    epochs_done: &std::sync::atomic::AtomicUsize,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<Analysis, AnalysisError> {
    if samples.len() < 4 {
        return Err(AnalysisError::TooFew(samples.len()));
    }
    let t0 = std::time::Instant::now();
    let side = (samples[0].patch01.len() as f64).sqrt() as usize;
    let points = samples.iter().map(|s| s.current_a.len()).max().unwrap_or(0).max(2);
    // Currents span pA to nA: compress them (asinh, linear below ~10 pA)
    // before the global min–max, or the few nA-scale curves squash every other
    // curve into the bottom tenth of the range, where BCE cannot tell a
    // suppressed boundary from a grain interior.
    let curves: Vec<Vec<f64>> = samples
        .iter()
        .map(|s| {
            crate::ml::spectra::to_length(&s.current_a, points)
                .iter()
                .map(|i| (i / CURRENT_SCALE_A).asinh())
                .collect()
        })
        .collect();
    let (lo, hi) = curves
        .iter()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    let spectra: Vec<f32> = curves.iter().flatten().map(|v| ((v - lo) / span) as f32).collect();
    let images: Vec<f32> = samples.iter().flat_map(|s| s.patch01.iter().copied()).collect();
    let views = vae::Views {
        images: &images,
        patch_side: side,
        spectra: &spectra,
        spectrum_width: points,
    };
    let k_range = if a.clusters > 0 {
        a.clusters as usize..=a.clusters as usize
    } else {
        2..=(a.clusters_max as usize).max(2)
    };
    let k_range = *k_range.start().min(&samples.len())..=*k_range.end().min(&samples.len());
    let members = a.vae_ensemble.max(1) as u64;
    let mut trainings: Vec<(Embedding, Mixture)> = Vec::with_capacity(members as usize);
    for member in 0..members {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(AnalysisError::Stopped);
        }
        let embedding = vae::train_watched(views, &member_settings(a, seed, member), epochs_done);
        // Both aligned views side by side: structure and response each keep a say.
        let joint: Vec<Vec<f64>> = embedding
            .z_image
            .iter()
            .zip(&embedding.z_spectrum)
            .map(|(zi, zs)| zi.iter().chain(zs).map(|v| *v as f64).collect())
            .collect();
        let salt: &[u64] = &[samples.len() as u64, member];
        let mut rng = crate::seed::rng(seed, "mixture", if member == 0 { &salt[..1] } else { salt });
        match cluster::choose(&joint, k_range.clone(), &mut rng) {
            Some(mixture) => trainings.push((embedding, mixture)),
            // The map shown is the first training's: without it, no analysis.
            None if member == 0 => return Err(AnalysisError::NoClusters),
            // A later training that diverged has no say.
            None => {}
        }
    }
    let train_s = t0.elapsed().as_secs_f64();
    let (labels, how) = if trainings.len() == 1 {
        let m = &trainings[0].1;
        let how = if a.clusters > 0 {
            format!("fixed by the settings (log-likelihood {:.1})", m.log_likelihood)
        } else {
            format!(
                "chosen by BIC (log-likelihood {:.1}, BIC {:.1})",
                m.log_likelihood, m.bic
            )
        };
        (m.labels.clone(), how)
    } else {
        let ks: Vec<usize> = trainings.iter().map(|(_, m)| m.means.len()).collect();
        let k = if a.clusters > 0 {
            a.clusters as usize
        } else {
            consensus::median_k(&ks)
        };
        let labelings: Vec<Vec<usize>> = trainings.iter().map(|(_, m)| m.labels.clone()).collect();
        let how = format!(
            "by the consensus of {} dual VAEs trained from different seeds ({}; each training's mixture chose {})",
            trainings.len(),
            if a.clusters > 0 {
                "k fixed by the settings"
            } else {
                "k their median"
            },
            ks.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ")
        );
        (consensus::consensus(&labelings, k), how)
    };
    let (embedding, mixture) = trainings.swap_remove(0);
    let ari = samples
        .iter()
        .map(|s| s.truth.map(|m| Motif::ALL.iter().position(|x| *x == m).unwrap_or(0)))
        .collect::<Option<Vec<usize>>>()
        .map(|truth| cluster::adjusted_rand_index(&labels, &truth));
    let summaries = summary::summarise(samples, &labels);
    Ok(Analysis {
        embedding,
        mixture,
        labels,
        how,
        summaries,
        ari,
        train_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
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
