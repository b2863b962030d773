//! Training: the dual VAE (or an ensemble of them) on the samples, the joint
//! latent map clustered by a mixture (or by the ensemble's consensus), and
//! each cluster summarised.

use super::{Analysis, AnalysisError, Sample, summary};
use crate::ml::cluster::{self, Mixture};
use crate::ml::consensus;
use crate::ml::vae::{self, Embedding, VaeSettings};
use crate::plan::{AnalysisPlan, ConsensusK};

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
        batch: 0,
    }
}

/// On how many of `n` locations the mixtures and the consensus are chosen
/// (0: all): past the mini-batch line, as many as the line.
fn spread_of(a: &AnalysisPlan, n: usize) -> usize {
    if curves_a_step(a, n) < n {
        a.vae_batch_above as usize
    } else {
        0
    }
}

/// Curves one step of a training on `n` curves sees: every one, or past
/// `vae_batch_above` a mini-batch of `vae_batch`.
pub fn curves_a_step(a: &AnalysisPlan, n: usize) -> usize {
    if a.vae_batch_above > 0 && n > a.vae_batch_above as usize {
        n.min(a.vae_batch as usize)
    } else {
        n
    }
}

/// Trains the dual VAE on the samples and clusters its joint latent map
/// (`vae_ensemble` > 1: trains that many and clusters by their consensus).
pub fn analyze(samples: &[Sample], a: &AnalysisPlan, seed: u64) -> Result<Analysis, AnalysisError> {
    let never = std::sync::atomic::AtomicBool::new(false);
    analyze_watched(samples, a, seed, &std::sync::atomic::AtomicUsize::new(0), &never)
}

/// The time of one dual-VAE epoch on `n` made-up samples of the session's
/// shapes (patch side, curve points), for each `n`: what a training of the
/// real ones will cost, before any is measured. The values matter a little
/// (measured at 300 samples, 1000 epochs: 9.3 ms an epoch on smooth patches
/// and sigmoid curves, 13.1 ms on white noise), so the made-up samples are
/// smooth like real ones. Each `n` trains for 3 and for 83 epochs and the
/// difference is divided by the 80 epochs between, so the set-up of a training
/// (weights, buffers, threads) is not counted as epochs; 15 instead of 45 read
/// 10-25 % low against whole trainings. One try: a caller wanting a steadier
/// figure times again a few seconds later (see `engine::eta::probe`).
pub fn time_epochs(a: &AnalysisPlan, patch_side: usize, points: usize, sizes: &[usize]) -> Vec<(usize, f64)> {
    let mut settings = member_settings(a, 0, 0);
    let mut run = |n: usize, epochs: usize| {
        let (images, spectra) = made_up(n, patch_side, points);
        settings.epochs = epochs;
        let t0 = std::time::Instant::now();
        vae::train(made_up_views(&images, &spectra, patch_side, points), &settings);
        t0.elapsed().as_secs_f64()
    };
    sizes
        .iter()
        .map(|&n| {
            // 80 epochs apart: 42 left the estimate of a 40-curve training
            // varying by ±30 % between runs on 2 cores, 80 by ±10 %.
            let short = run(n, 3);
            let long = run(n, 83);
            (n, ((long - short) / 80.0).max(0.0))
        })
        .collect()
}

/// `n` made-up samples of the session's shapes: smooth patches and sigmoid
/// curves with a measured curve's noise (a few per cent of its range).
fn made_up(n: usize, patch_side: usize, points: usize) -> (Vec<f32>, Vec<f32>) {
    let area = patch_side * patch_side;
    let images: Vec<f32> = (0..n * area)
        .map(|k| {
            let (sample, (i, j)) = (k / area, ((k % area) / patch_side, k % patch_side));
            0.5 + 0.4 * (i as f32 * 0.3 + j as f32 * 0.2 + sample as f32).sin()
        })
        .collect();
    let spectra: Vec<f32> = (0..n * points)
        .map(|k| {
            let (sample, p) = (k / points, k % points);
            let x = 8.0 * p as f32 / points as f32 - 4.0 - 0.3 * (sample % 7) as f32;
            let noise = ((k as u64).wrapping_mul(2_654_435_761) % 1000) as f32 / 1000.0 - 0.5;
            1.0 / (1.0 + (-x).exp()) + 0.06 * noise
        })
        .collect();
    (images, spectra)
}

fn made_up_views<'a>(images: &'a [f32], spectra: &'a [f32], patch_side: usize, points: usize) -> vae::Views<'a> {
    vae::Views {
        images,
        patch_side,
        spectra,
        spectrum_width: points,
    }
}

/// Runs `work` while a dual VAE trains on `n` made-up samples beside it, as
/// a live training runs beside the acquisition: what the policy's decisions
/// cost then. The training starts first and stops once `work` returns.
pub fn beside_a_training<R>(
    a: &AnalysisPlan,
    patch_side: usize,
    points: usize,
    n: usize,
    work: impl FnOnce() -> R,
) -> R {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let (images, spectra) = made_up(n.max(4), patch_side, points);
    let settings = VaeSettings {
        epochs: usize::MAX / 2,
        ..member_settings(a, 0, 0)
    };
    let (epochs_done, stop) = (AtomicUsize::new(0), AtomicBool::new(false));
    std::thread::scope(|scope| {
        let training = scope.spawn(|| {
            vae::train_watched(
                made_up_views(&images, &spectra, patch_side, points),
                &settings,
                &epochs_done,
                &stop,
            )
        });
        // Past its set-up, with both halves running.
        while epochs_done.load(Ordering::Relaxed) < 2 && !training.is_finished() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let out = work();
        stop.store(true, Ordering::Relaxed);
        let _ = training.join();
        out
    })
}

/// The numbers of clusters the plan lets a mixture on `n` locations choose
/// from.
fn k_range(a: &AnalysisPlan, n: usize) -> std::ops::RangeInclusive<usize> {
    let (lo, hi) = if a.clusters > 0 {
        (a.clusters as usize, a.clusters as usize)
    } else {
        (2, (a.clusters_max as usize).max(2))
    };
    lo.min(n)..=hi.min(n)
}

/// How far from the tip the mixture's bends are fitted. Chosen on tuning
/// films only, mean ARI for 3 px (the cluster table's), 2 px and 2.5 px:
/// family draws 1-20, DN-DKL, consensus of 8 on the same trainings and
/// mixture starts, 0.487, 0.524, 0.537 (the library's own starts: 3 px 0.502,
/// 2.5 px 0.509; one training: 0.475, 0.499, 0.483); the default film's
/// seeds 1-10, 40 locations of each motif, one training: 0.668, 0.620,
/// 0.686. A groove here is one to three pixels wide, and a wider disk
/// averages it with its flanks.
const CLUSTER_BEND_RADIUS_PX: f64 = 2.5;

/// What the mixture sees of a location beside its place in the map: its
/// curve's log loop area and log max current (`cluster_scalars`, floored
/// where a loop closes or no current flows) and the surface's two bends at
/// the tip (`cluster_relief`, within [`CLUSTER_BEND_RADIUS_PX`]).
pub(super) fn cluster_scalars(a: &AnalysisPlan, s: &Sample) -> Vec<f64> {
    let mut q = Vec::with_capacity(4);
    if a.cluster_scalars {
        q.push(s.hysteresis_area.abs().max(crate::scalar::LOG_FLOOR_LOOP_AREA_VA).ln());
        q.push(s.max_current_a.abs().max(crate::scalar::LOG_FLOOR_CURRENT_A).ln());
    }
    if a.cluster_relief {
        let (across, along) = summary::bend_within(&s.patch_nm, CLUSTER_BEND_RADIUS_PX);
        if across.is_finite() && along.is_finite() {
            q.extend([across, along]);
        }
    }
    q
}

/// How many numbers [`cluster_scalars`] gives beside the map (with a patch
/// wide enough for the bends).
fn cluster_scalar_count(a: &AnalysisPlan) -> usize {
    2 * a.cluster_scalars as usize + 2 * a.cluster_relief as usize
}

/// The consensus of the trainings' `labelings` of `n` locations (their
/// mixtures chose `ks` clusters) and its number of clusters, as the plan
/// says to decide it.
pub fn consensus_of(labelings: &[Vec<usize>], ks: &[usize], a: &AnalysisPlan, n: usize) -> (Vec<usize>, usize) {
    let choice = if a.clusters > 0 {
        consensus::KChoice::Fixed(a.clusters as usize)
    } else {
        match a.consensus_k {
            ConsensusK::Median => consensus::KChoice::Median,
            ConsensusK::Lifetime => consensus::KChoice::Lifetime(k_range(a, n)),
            ConsensusK::Agreement => consensus::KChoice::Agreement(k_range(a, n)),
        }
    };
    consensus::consensus_on_spread(labelings, &choice, ks, spread_of(a, n))
}

/// The time of the mixture fitted to a map of `n` locations, for each `n`,
/// on made-up maps of four blobs in the joint latent space (the k the plan
/// allows, every restart, as after a real training).
pub fn time_clustering(a: &AnalysisPlan, sizes: &[usize], seed: u64) -> Vec<(usize, f64)> {
    use rand::Rng;
    let dims = 2 * a.vae_latent.max(1) as usize + cluster_scalar_count(a);
    sizes
        .iter()
        .map(|&n| {
            let mut rng = crate::seed::rng(seed, "time-clustering", &[n as u64]);
            let joint: Vec<Vec<f64>> = (0..n)
                .map(|k| {
                    (0..dims)
                        .map(|j| ((k % 4) * (j + 1)) as f64 + rng.random::<f64>() * 0.5)
                        .collect()
                })
                .collect();
            let t0 = std::time::Instant::now();
            let _ = cluster::choose(&joint, k_range(a, n), &mut rng);
            (n, t0.elapsed().as_secs_f64())
        })
        .collect()
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
    let scale = super::CurveScale::fit(samples.iter().map(|s| s.current_a.as_slice()));
    let points = scale.points;
    let spectra: Vec<f32> = samples.iter().flat_map(|s| scale.to_unit(&s.current_a)).collect();
    let images: Vec<f32> = samples.iter().flat_map(|s| s.patch01.iter().copied()).collect();
    let views = vae::Views {
        images: &images,
        patch_side: side,
        spectra: &spectra,
        spectrum_width: points,
    };
    let k_range = k_range(a, samples.len());
    let scalars: Vec<Vec<f64>> = samples.iter().map(|s| cluster_scalars(a, s)).collect();
    let members = a.vae_ensemble.max(1) as u64;
    let mut trainings: Vec<(Embedding, Mixture)> = Vec::with_capacity(members as usize);
    for member in 0..members {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(AnalysisError::Stopped);
        }
        let settings = VaeSettings {
            batch: curves_a_step(a, samples.len()),
            ..member_settings(a, seed, member)
        };
        let t_member = std::time::Instant::now();
        let embedding = vae::train_watched(views, &settings, epochs_done, stop);
        let trained_s = t_member.elapsed().as_secs_f64();
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(AnalysisError::Stopped);
        }
        // Both aligned views side by side: structure and response each keep a say.
        let joint: Vec<Vec<f64>> = embedding
            .z_image
            .iter()
            .zip(&embedding.z_spectrum)
            .zip(&scalars)
            .map(|((zi, zs), q)| {
                zi.iter()
                    .chain(zs)
                    .map(|v| *v as f64)
                    .chain(q.iter().copied())
                    .collect()
            })
            .collect();
        let salt: &[u64] = &[samples.len() as u64, member];
        let mut rng = crate::seed::rng(seed, "mixture", if member == 0 { &salt[..1] } else { salt });
        let t_mixture = std::time::Instant::now();
        let chosen = cluster::choose_on_spread(&joint, k_range.clone(), &mut rng, spread_of(a, samples.len()));
        tracing::info!(
            member,
            curves = samples.len(),
            batch = settings.batch,
            trained_s,
            mixture_s = t_mixture.elapsed().as_secs_f64(),
            "dual VAE member"
        );
        match chosen {
            Some(mixture) => trainings.push((embedding, mixture)),
            // The map shown is the first training's: without it, no analysis.
            None if member == 0 => return Err(AnalysisError::NoClusters),
            // A later training that diverged has no say.
            None => {}
        }
    }
    let train_s = t0.elapsed().as_secs_f64();
    let member_labels: Vec<Vec<usize>> = trainings.iter().map(|(_, m)| m.labels.clone()).collect();
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
        let t_consensus = std::time::Instant::now();
        let (labels, k) = consensus_of(&member_labels, &ks, a, samples.len());
        tracing::info!(
            curves = samples.len(),
            consensus_s = t_consensus.elapsed().as_secs_f64(),
            "consensus"
        );
        let rule = if a.clusters > 0 {
            "k fixed by the settings".to_string()
        } else {
            match a.consensus_k {
                ConsensusK::Median => format!("k = {k}, their median"),
                ConsensusK::Lifetime => format!("k = {k}, the longest-lived cut of their co-association"),
                ConsensusK::Agreement => format!("k = {k}, the cut that agrees best with them"),
            }
        };
        let how = format!(
            "by the consensus of {} dual VAEs trained from different seeds ({rule}; each training's mixture chose {})",
            trainings.len(),
            ks.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ")
        );
        (labels, how)
    };
    let mut members = trainings.into_iter();
    let (embedding, mixture) = members.next().expect("the first training is there");
    let others = members.map(|(e, _)| e).collect();
    let ari = super::clustered::ari(samples, &labels);
    let summaries = summary::summarise(samples, &labels);
    Ok(Analysis {
        embedding,
        mixture,
        labels,
        how,
        summaries,
        ari,
        train_s,
        others,
        member_labels,
        scale,
    })
}
