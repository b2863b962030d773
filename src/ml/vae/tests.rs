//! The dual VAE's tests: the fused pass against burn's, and what training finds.

use super::*;
use std::sync::atomic::Ordering;

fn toy(n: usize) -> (Vec<f32>, Vec<f32>) {
    // Two kinds of sample: dark patches with flat curves, bright ones with ramps.
    let mut img = Vec::new();
    let mut spec = Vec::new();
    for i in 0..n {
        let bright = i % 2 == 0;
        img.extend((0..16).map(|k| if bright { 0.8 + 0.01 * k as f32 } else { 0.1 }));
        spec.extend((0..10).map(|k| if bright { k as f32 / 10.0 } else { 0.05 }));
    }
    (img, spec)
}

fn toy_views<'a>(img: &'a [f32], spec: &'a [f32]) -> Views<'a> {
    Views {
        images: img,
        patch_side: 4,
        spectra: spec,
        spectrum_width: 10,
    }
}

/// A weak KL weight: with 20 toy samples β = 1 collapses the posterior.
fn settings(epochs: usize, spatial: bool) -> VaeSettings {
    VaeSettings {
        hidden: 32,
        latent: 2,
        epochs,
        learning_rate: 1e-2,
        beta: 0.1,
        gamma: 10.0,
        spatial_decoder: spatial,
        batch: 0,
        seed: 3,
    }
}

/// The toy's two kinds (even and odd samples) lie apart in the map: the gap
/// between their centres over three times the widest sample's distance from
/// its own centre. Returns the gap.
fn assert_kinds_separated(z: &[Vec<f32>]) -> f32 {
    let centre = |parity: usize| -> Vec<f32> {
        let pick: Vec<&Vec<f32>> = z.iter().skip(parity).step_by(2).collect();
        (0..2)
            .map(|d| pick.iter().map(|r| r[d]).sum::<f32>() / pick.len() as f32)
            .collect()
    };
    let (a, b) = (centre(0), centre(1));
    let gap = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    let spread = z
        .iter()
        .enumerate()
        .map(|(i, z)| {
            let c = if i % 2 == 0 { &a } else { &b };
            ((z[0] - c[0]).powi(2) + (z[1] - c[1]).powi(2)).sqrt()
        })
        .fold(0f32, f32::max);
    assert!(gap > 3.0 * spread, "kinds not separated: {a:?} {b:?}, spread {spread}");
    gap
}

#[test]
fn training_separates_two_kinds_and_aligns_the_views() {
    let (img, spec) = toy(20);
    let short = train(toy_views(&img, &spec), &settings(2, false));
    let long = train(toy_views(&img, &spec), &settings(1500, false));
    assert!(long.loss < short.loss, "{} !< {}", long.loss, short.loss);
    let gap = assert_kinds_separated(&long.z_image);
    // The two views agree after alignment.
    let mismatch: f32 = long
        .z_image
        .iter()
        .zip(&long.z_spectrum)
        .map(|(p, q)| (p[0] - q[0]).abs() + (p[1] - q[1]).abs())
        .sum::<f32>()
        / 20.0;
    assert!(mismatch < gap, "views disagree by {mismatch} (gap {gap})");
}

/// Trains the fused pass and burn's reference from the same seed, draws and
/// noise, checks they differ only by f32 rounding (views and losses), and
/// returns the fused training.
fn fused_as_burn(img: &[f32], spec: &[f32], s: &VaeSettings, what: &str) -> Embedding {
    let fused = train_with(
        Pass::Fused,
        toy_views(img, spec),
        s,
        &AtomicUsize::new(0),
        &AtomicBool::new(false),
    );
    let reference = train_reference(toy_views(img, spec), s);
    for (a, b) in [
        (&fused.z_image, &reference.z_image),
        (&fused.z_spectrum, &reference.z_spectrum),
    ] {
        for (p, q) in a.iter().flatten().zip(b.iter().flatten()) {
            assert!((p - q).abs() < 1e-4, "{what}: fused {p} vs burn {q}");
        }
    }
    for (p, q) in [
        (fused.loss, reference.loss),
        (fused.reconstruction, reference.reconstruction),
        (fused.alignment, reference.alignment),
    ] {
        assert!((p - q).abs() < 1e-4 * q.abs().max(1.0), "{what}: fused {p} vs burn {q}");
    }
    fused
}

#[test]
fn the_fused_pass_trains_as_burn_does() {
    // Same seed, same draws, same noise: after a few Adam steps the two
    // implementations differ only by f32 rounding, with either decoder.
    let (img, spec) = toy(12);
    for spatial in [false, true] {
        let fused = fused_as_burn(&img, &spec, &settings(6, spatial), &format!("spatial {spatial}"));
        // And the embedding moved: the comparison is not of two starting points.
        let start = train_with(
            Pass::Fused,
            toy_views(&img, &spec),
            &settings(1, spatial),
            &AtomicUsize::new(0),
            &AtomicBool::new(false),
        );
        let moved = fused
            .z_image
            .iter()
            .flatten()
            .zip(start.z_image.iter().flatten())
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        assert!(
            moved > 1e-2,
            "spatial {spatial}: training did not move the embedding ({moved})"
        );
    }
}

#[test]
fn same_seed_same_embedding_and_the_spatial_decoder_trains() {
    let (img, spec) = toy(8);
    let done = AtomicUsize::new(0);
    let a = train_watched(
        toy_views(&img, &spec),
        &settings(5, false),
        &done,
        &AtomicBool::new(false),
    );
    assert_eq!(done.load(Ordering::Relaxed), 5, "every epoch counted once");
    let b = train(toy_views(&img, &spec), &settings(5, false));
    assert_eq!(a, b);
    let s = train(toy_views(&img, &spec), &settings(20, true));
    assert!(s.loss.is_finite());
    assert_eq!(s.z_image[0].len(), 2);
}

#[test]
fn a_stopped_training_ends_at_the_next_epoch() {
    let (img, spec) = toy(8);
    let done = AtomicUsize::new(0);
    let stop = AtomicBool::new(true);
    let t0 = std::time::Instant::now();
    train_watched(toy_views(&img, &spec), &settings(100_000, false), &done, &stop);
    assert_eq!(done.load(Ordering::Relaxed), 0, "stopped before its first epoch");
    assert!(t0.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn the_predictor_reads_a_patch_it_never_saw_as_the_curve_of_its_kind() {
    let (img, spec) = toy(20);
    // γ = 10 squeezes this toy's latent to ±0.03, where the decoder reads
    // both kinds alike; at γ = 1 the latent keeps its scale.
    let s = VaeSettings {
        gamma: 1.0,
        ..settings(1500, false)
    };
    let trained = train(toy_views(&img, &spec), &s);
    let p = trained.predictor.as_ref().expect("the fused pass gives a predictor");
    assert_eq!(p.latent(), 2);
    // The encoder reproduces the training's own image latents.
    let z = p.image_latent(&img);
    for (a, b) in z.iter().zip(&trained.z_image) {
        assert!(a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4), "{a:?} vs {b:?}");
    }
    // New patches, a little off each kind: a bright one answers with a ramp,
    // a dark one with a flat low curve.
    let bright: Vec<f32> = (0..16).map(|k| 0.78 + 0.012 * k as f32).collect();
    let dark = vec![0.12f32; 16];
    let patches = [bright, dark].concat();
    // Through A⁻¹ alone, and with the image latent first carried onto the
    // spectral views of the training's own locations.
    let fitted = p.fitted(&trained.z_image, &trained.z_spectrum);
    for p in [p, &fitted] {
        let curves = p.curves(&p.image_latent(&patches));
        let (ramp, flat) = (&curves[0], &curves[1]);
        assert_eq!(ramp.len(), 10);
        assert!(ramp[9] > ramp[0] + 0.5, "no ramp: {ramp:?}");
        assert!(flat.iter().all(|v| (v - 0.05).abs() < 0.1), "not flat: {flat:?}");
    }
    assert_ne!(&fitted, p, "a fit was made");
}

#[test]
fn mini_batches_train_as_burn_does_and_a_batch_of_every_sample_is_full_batch() {
    let (img, spec) = toy(12);
    let s = VaeSettings {
        batch: 5,
        ..settings(7, false)
    };
    let fused = fused_as_burn(&img, &spec, &s, "batches of 5");
    assert_eq!(
        fused.z_image.len(),
        12,
        "the map holds every sample, not the last batch"
    );
    let full = train(toy_views(&img, &spec), &settings(7, false));
    assert_ne!(fused.z_image, full.z_image, "batches of 5 are not full batch");
    let whole = VaeSettings {
        batch: 12,
        ..settings(7, false)
    };
    assert_eq!(train(toy_views(&img, &spec), &whole), full);
}

#[test]
fn mini_batches_still_separate_two_kinds() {
    let (img, spec) = toy(40);
    let s = VaeSettings {
        batch: 10,
        ..settings(1500, false)
    };
    assert_kinds_separated(&train(toy_views(&img, &spec), &s).z_image);
}
