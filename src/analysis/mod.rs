//! After (and during) a session: the dual VAE's joint latent map of every
//! measured location, its clusters, and what each cluster means physically.

pub mod findings;
pub mod relief;
pub mod report;
pub mod summary;

use crate::instrument::Survey;
use crate::instrument::sim::film::{Film, Motif};
use crate::ml::cluster::{self, Mixture};
use crate::ml::patches;
use crate::ml::vae::{self, Embedding, VaeSettings};
use crate::plan::{AnalysisPlan, InstrumentSpec, SessionPlan};
use crate::store::{EmbeddingRow, MeasurementRow};
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
    /// Ground truth, for sessions on the built-in simulator only.
    pub truth: Option<Motif>,
}

/// Builds samples from one session's survey and measurements.
pub fn samples(session: usize, plan: &SessionPlan, survey: &Survey, measurements: &[MeasurementRow]) -> Vec<Sample> {
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
    // The simulator knows the truth; a real film does not.
    let film = matches!(plan.instrument_spec(), Ok(InstrumentSpec::Sim))
        .then(|| Film::new(&plan.film, plan.seed, survey.width_nm, survey.height_nm));
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
                truth: film.as_ref().map(|f| f.site(m.x_nm, m.y_nm).motif),
            }
        })
        .collect()
}

/// The result of one analysis.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub embedding: Embedding,
    pub mixture: Mixture,
    pub summaries: Vec<ClusterSummary>,
    /// Adjusted Rand index of the clusters against the simulator's motifs.
    pub ari: Option<f64>,
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
    pub fn embedding_rows(
        &self,
        samples: &[Sample],
        session: usize,
        model_step: u32,
        model: &str,
    ) -> Vec<EmbeddingRow> {
        samples
            .iter()
            .enumerate()
            .filter(|(_, s)| s.session == session)
            .map(|(i, s)| EmbeddingRow {
                model_step,
                row: s.row,
                col: s.col,
                z_image: self.embedding.z_image[i].clone(),
                z_spectrum: self.embedding.z_spectrum[i].clone(),
                cluster: self.mixture.labels[i] as u32,
                step: s.step,
                model: model.into(),
            })
            .collect()
    }
}

pub fn vae_settings(a: &AnalysisPlan, seed: u64) -> VaeSettings {
    VaeSettings {
        hidden: a.vae_hidden as usize,
        latent: a.vae_latent as usize,
        epochs: a.vae_epochs as usize,
        learning_rate: a.vae_learning_rate,
        beta: a.vae_beta,
        gamma: a.vae_gamma,
        spatial_decoder: a.vae_spatial_decoder,
        seed: crate::seed::derive(seed, "dual-vae", &[]),
    }
}

/// Why the samples gave no analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AnalysisError {
    #[error("too few measurements to analyse ({0}; need at least 4)")]
    TooFew(usize),
    #[error(
        "no mixture fits the latent map: its means are not finite, the dual VAE diverged \
         (a lower vae_learning_rate or fewer epochs may help)"
    )]
    NoClusters,
}

/// Trains the dual VAE on the samples and clusters its joint latent map.
pub fn analyze(samples: &[Sample], a: &AnalysisPlan, seed: u64) -> Result<Analysis, AnalysisError> {
    analyze_watched(samples, a, seed, &std::sync::atomic::AtomicUsize::new(0))
}

/// [`analyze`], counting the dual VAE's finished epochs in `epochs_done`.
pub fn analyze_watched(
    samples: &[Sample],
    a: &AnalysisPlan,
    seed: u64,
    epochs_done: &std::sync::atomic::AtomicUsize,
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
    let embedding = vae::train_watched(views, &vae_settings(a, seed), epochs_done);
    let train_s = t0.elapsed().as_secs_f64();

    // Both aligned views side by side: structure and response each keep a say.
    let joint: Vec<Vec<f64>> = embedding
        .z_image
        .iter()
        .zip(&embedding.z_spectrum)
        .map(|(zi, zs)| zi.iter().chain(zs).map(|v| *v as f64).collect())
        .collect();
    let mut rng = crate::seed::rng(seed, "mixture", &[samples.len() as u64]);
    let k_range = if a.clusters > 0 {
        a.clusters as usize..=a.clusters as usize
    } else {
        2..=(a.clusters_max as usize).max(2)
    };
    let k_range = *k_range.start().min(&samples.len())..=*k_range.end().min(&samples.len());
    let mixture = cluster::choose(&joint, k_range, &mut rng).ok_or(AnalysisError::NoClusters)?;
    let ari = samples
        .iter()
        .map(|s| s.truth.map(|m| Motif::ALL.iter().position(|x| *x == m).unwrap_or(0)))
        .collect::<Option<Vec<usize>>>()
        .map(|truth| cluster::adjusted_rand_index(&mixture.labels, &truth));
    let summaries = summary::summarise(samples, &mixture.labels);
    Ok(Analysis {
        embedding,
        mixture,
        summaries,
        ari,
        train_s,
    })
}
