//! What training the dual VAE costs: 210 samples (16×16 patches, 251-point
//! curves) × 1000 full-batch epochs with the published layer sizes, the same
//! call `dualscope analyze` and the live retraining make; and, per few
//! epochs, the spatial-decoder option through the fused pass and through
//! burn's autodiff (the reference it is checked against). The inputs are
//! uniform noise in [0, 1]: every operation is dense, so the time does not
//! depend on what the numbers are.

use criterion::{Criterion, criterion_group, criterion_main};
use dualscope::ml::vae::{VaeSettings, Views, train, train_reference};
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::time::Duration;

fn dual_vae(c: &mut Criterion) {
    let (n, side, points) = (210, 16, 251);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let images: Vec<f32> = (0..n * side * side).map(|_| rng.random::<f32>()).collect();
    let spectra: Vec<f32> = (0..n * points).map(|_| rng.random::<f32>()).collect();
    let settings = VaeSettings {
        hidden: 256,
        latent: 2,
        epochs: 1000,
        learning_rate: 1e-4,
        beta: 1.0,
        gamma: 10.0,
        spatial_decoder: false,
        batch: 0,
        seed: 1,
    };
    let views = Views {
        images: &images,
        patch_side: side,
        spectra: &spectra,
        spectrum_width: points,
    };
    let mut group = c.benchmark_group("dual_vae");
    group.sample_size(10).measurement_time(Duration::from_secs(70));
    group.bench_function("train_210x1000_epochs", |b| {
        b.iter(|| black_box(train(views, &settings)))
    });
    group.finish();

    // The spatial decoder decodes each of the 256 pixels from its coordinates:
    // 256× the rows of the MLP decoder, so a few epochs tell the rate.
    let spatial = VaeSettings {
        epochs: 5,
        spatial_decoder: true,
        batch: 0,
        ..settings
    };
    let mut group = c.benchmark_group("spatial_decoder");
    group.sample_size(10).measurement_time(Duration::from_secs(30));
    group.bench_function("fused_210x5_epochs", |b| b.iter(|| black_box(train(views, &spatial))));
    group.bench_function("burn_210x5_epochs", |b| {
        b.iter(|| black_box(train_reference(views, &spatial)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Plots need a system font this build does not load; the numbers are what we report.
    config = Criterion::default().without_plots();
    targets = dual_vae
}
criterion_main!(benches);
