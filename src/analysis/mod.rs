//! After (and during) a session: the dual VAE's joint latent map of every
//! measured location, its clusters, and what each cluster means physically.

pub mod report;
pub mod summary;

use crate::instrument::Survey;
use crate::instrument::sim::film::{Film, Motif};
use crate::ml::cluster::{self, Mixture};
use crate::ml::patches;
use crate::ml::vae::{self, Embedding, VaeSettings};
use crate::plan::{AnalysisPlan, InstrumentSpec, SessionPlan};
use crate::store::MeasurementRow;
pub use summary::ClusterSummary;

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
    /// The same patch scaled to [0, 1] by the survey's range (the VAE's input).
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
    let image01 = patches::normalise(&survey.heights_nm);
    let image_nm = survey.heights_nm.mapv(|v| v as f32);
    // The simulator knows the truth; a real film does not.
    let film = matches!(plan.instrument_spec(), Ok(InstrumentSpec::Sim))
        .then(|| Film::new(&plan.film, plan.seed, survey.width_nm, survey.height_nm));
    measurements
        .iter()
        .map(|m| Sample {
            session,
            step: m.step,
            row: m.row,
            col: m.col,
            x_nm: m.x_nm,
            y_nm: m.y_nm,
            patch_nm: patches::patch_at(&image_nm, m.row, m.col, side)
                .iter()
                .map(|v| *v as f64)
                .collect(),
            patch01: patches::patch_at(&image01, m.row, m.col, side),
            bias_v: m.bias_v.clone(),
            current_a: m.current_a.clone(),
            hysteresis_area: m.hysteresis_area,
            onset_v: m.onset_v,
            max_current_a: m.max_current_a,
            truth: film.as_ref().map(|f| f.site(m.x_nm, m.y_nm).motif),
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

/// Trains the dual VAE on the samples and clusters its joint latent map.
pub fn analyze(samples: &[Sample], a: &AnalysisPlan, seed: u64) -> Option<Analysis> {
    if samples.len() < 4 {
        return None;
    }
    let t0 = std::time::Instant::now();
    let side = (samples[0].patch01.len() as f64).sqrt() as usize;
    let points = samples.iter().map(|s| s.current_a.len()).max().unwrap_or(0).max(2);
    let curves: Vec<Vec<f64>> = samples
        .iter()
        .map(|s| crate::ml::spectra::to_length(&s.current_a, points))
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
    let embedding = vae::train(&images, side * side, side, &spectra, points, &vae_settings(a, seed));
    let train_s = t0.elapsed().as_secs_f64();

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
    let mixture = cluster::choose(&joint, k_range, &mut rng)?;
    let ari = samples
        .iter()
        .map(|s| s.truth.map(|m| Motif::ALL.iter().position(|x| *x == m).unwrap_or(0)))
        .collect::<Option<Vec<usize>>>()
        .map(|truth| cluster::adjusted_rand_index(&mixture.labels, &truth));
    let summaries = summary::summarise(samples, &mixture.labels);
    Some(Analysis {
        embedding,
        mixture,
        summaries,
        ari,
        train_s,
    })
}
