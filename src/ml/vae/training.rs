//! The two halves of the dual VAE on two threads, one per core, meeting once
//! an epoch to trade their latent means for the alignment term.

use super::predictor::HalfWeights;
use super::settings::VaeSettings;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, StandardNormal};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// What one half hands the other after its forward pass each epoch.
pub(super) struct Exchange {
    view: Vec<f32>,
    own_loss: f64,
    recon: f64,
}

/// One half as the training loop drives it: a forward pass with given noise,
/// then one optimiser step with the alignment term's subgradient on its view.
pub(super) trait Half {
    /// The samples the next passes see: the rows of a mini-batch, or (None)
    /// every sample.
    fn select(&mut self, rows: Option<&[usize]>);
    /// Σ (reconstruction + β·KL), Σ reconstruction (either may be NaN unless
    /// `want_loss`), and the alignment view, n × latent row-major.
    fn forward(&mut self, eps: Vec<f32>, beta: f64, want_loss: bool) -> (f64, f64, Vec<f32>);
    /// Back-propagates (own loss + γ·Σ g ⊙ view)/n and steps the optimiser.
    fn step(&mut self, g: Vec<f32>, s: &VaeSettings);
    /// The noise-free alignment view of every sample, and the weights a
    /// [`super::Predictor`] reads (where this half can give them).
    fn finish(self) -> (Vec<Vec<f32>>, Option<HalfWeights>);
}

/// Trains one half; `sign` is +1 for the image half and −1 for the spectrum
/// half, the sign with which its view enters |z_img − z_spec·A|.
#[allow(clippy::too_many_arguments)]
fn train_half(
    mut half: impl Half,
    n: usize,
    noise_width: usize,
    sign: f32,
    s: VaeSettings,
    noise_seed: u64,
    to_other: std::sync::mpsc::Sender<Exchange>,
    from_other: std::sync::mpsc::Receiver<Exchange>,
    (epochs_done, stop): (&AtomicUsize, &AtomicBool),
) -> HalfResult {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(noise_seed);
    let (mut loss, mut recon, mut align) = (f64::NAN, f64::NAN, f64::NAN);
    // Mini-batches: both halves shuffle from one seed, so they see the same
    // rows at every step; a pass over the samples, then a new shuffle.
    let batch = if s.batch > 0 && s.batch < n { s.batch } else { n };
    let mut order_rng = rand_chacha::ChaCha8Rng::seed_from_u64(s.seed ^ 0x3333);
    let mut order: Vec<usize> = (0..n).collect();
    let mut at = n;
    for epoch in 0..s.epochs {
        // The image half decides; the spectrum half follows when its
        // exchange finds nobody on the other end.
        if sign > 0.0 && stop.load(Ordering::Relaxed) {
            break;
        }
        if batch < n {
            if at + batch > n {
                order.shuffle(&mut order_rng);
                at = 0;
            }
            half.select(Some(&order[at..at + batch]));
            at += batch;
        }
        let n = batch;
        let eps: Vec<f32> = (0..n * noise_width).map(|_| StandardNormal.sample(&mut rng)).collect();
        let (own_value, rec_value, mine) = half.forward(eps, s.beta, epoch + 1 == s.epochs);
        // Both halves see the same two views, so both compute the same signs.
        let _ = to_other.send(Exchange {
            view: mine.clone(),
            own_loss: own_value,
            recon: rec_value,
        });
        let Ok(theirs) = from_other.recv() else { break };
        let (img, spec) = if sign > 0.0 {
            (&mine, &theirs.view)
        } else {
            (&theirs.view, &mine)
        };
        let diff_sign: Vec<f32> = img
            .iter()
            .zip(spec)
            .map(|(a, b)| sign * (a - b).signum() * ((a - b) != 0.0) as u8 as f32)
            .collect();
        align = img.iter().zip(spec).map(|(a, b)| (a - b).abs() as f64).sum::<f64>() / n as f64;
        loss = (own_value + theirs.own_loss) / n as f64 + s.gamma * align;
        recon = (rec_value + theirs.recon) / n as f64;
        half.step(diff_sign, &s);
        if sign > 0.0 {
            epochs_done.fetch_add(1, Ordering::Relaxed);
        }
    }
    if batch < n {
        half.select(None);
    }
    let (views, weights) = half.finish();
    (views, weights, loss, recon, align)
}

/// What one half's training returns: its views, its weights, and the last
/// epoch's loss, reconstruction and alignment.
pub(super) type HalfResult = (Vec<Vec<f32>>, Option<HalfWeights>, f64, f64, f64);

/// Trains the image half (made by `image`, noise `image_noise` wide) and the
/// spectrum half on two threads that meet once an epoch.
pub(super) fn train_pair<I: Half, S: Half>(
    image: impl FnOnce() -> I + Send,
    spectrum: impl FnOnce() -> S + Send,
    n: usize,
    image_noise: usize,
    s: &VaeSettings,
    watch: (&AtomicUsize, &AtomicBool),
) -> (HalfResult, HalfResult) {
    let (to_spec, from_img) = std::sync::mpsc::channel();
    let (to_img, from_spec) = std::sync::mpsc::channel();
    let settings = *s;
    // One pool per half, a core each: burn's matrix products would otherwise
    // both ask the global pool for every core and trip over each other (the
    // fused MLP pass runs its products on the calling thread).
    let pool = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool")
    };
    // The spatial decoder's image half does ~100× the spectrum half's work
    // an epoch, so the spectrum half mostly waits: let the image half's
    // products use both cores.
    let image_threads = if s.spatial_decoder { 2 } else { 1 };
    let (img_pool, spec_pool) = (pool(image_threads), pool(1));
    std::thread::scope(|scope| {
        let a = scope.spawn(|| {
            img_pool.install(|| {
                let half = image();
                train_half(
                    half,
                    n,
                    image_noise,
                    1.0,
                    settings,
                    s.seed ^ 0x1111,
                    to_spec,
                    from_spec,
                    watch,
                )
            })
        });
        let b = scope.spawn(|| {
            spec_pool.install(|| {
                let half = spectrum();
                train_half(
                    half,
                    n,
                    s.latent,
                    -1.0,
                    settings,
                    s.seed ^ 0x2222,
                    to_img,
                    from_img,
                    watch,
                )
            })
        });
        (
            a.join().expect("image VAE thread"),
            b.join().expect("spectrum VAE thread"),
        )
    })
}
