//! The deep kernel's fit against finite differences and what it learns.

use super::*;
use faer::Mat;

fn device() -> Device {
    Device::flex().autodiff()
}

/// A seeded 4 → 8 → 2 kernel, `n` inputs and smooth targets.
fn small_problem(seed: u64, n: usize, freq: f64) -> (DeepKernel, Tensor<2>, Vec<f64>) {
    let dev = device();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let model = DeepKernel::new(4, &[8], 2, &dev, &mut rng);
    let x: Vec<f32> = (0..n * 4).map(|k| ((k * 7919 % 101) as f32 / 101.0) - 0.5).collect();
    let y: Vec<f64> = (0..n).map(|k| (k as f64 * freq).sin()).collect();
    (model, Tensor::<2>::from_data(TensorData::new(x, [n, 4]), &dev), y)
}

/// A parameter's gradient, as f64.
fn grad_of<const D: usize>(p: &Param<Tensor<D>>, grads: &burn::tensor::Gradients) -> Vec<f64> {
    p.val()
        .grad(grads)
        .unwrap()
        .into_data()
        .convert::<f64>()
        .try_to_vec()
        .unwrap()
}

/// Builds K in burn, and back-propagates Σ G⊙K with G from faer.
fn grads_through_k(model: &DeepKernel, xt: Tensor<2>, y: &[f64]) -> burn::tensor::Gradients {
    let n = y.len();
    let k = model.covariance(model.extractor.forward(xt));
    let kh: Vec<f64> = k.to_data().convert::<f64>().try_to_vec::<f64>().unwrap();
    let (g, _) = gp::nll_gradient_wrt_k(&Mat::from_fn(n, n, |i, j| kh[i * n + j]), y).unwrap();
    let gt = Tensor::<2>::from_data(
        TensorData::new((0..n * n).map(|q| g[(q / n, q % n)] as f32).collect::<Vec<_>>(), [n, n]),
        &k.device(),
    );
    (k * gt).sum().backward()
}

/// The hand chain rule through the kernel (what `fit` uses) gives the same
/// gradient for every weight and hyperparameter as building K in burn and
/// back-propagating Σ G⊙K.
#[test]
fn hand_kernel_gradient_matches_burn_through_k() {
    let (model, xt, y) = small_problem(11, 12, 1.3);
    let host = |t: Tensor<2>| -> Vec<f64> { t.into_data().convert::<f64>().try_to_vec().unwrap() };

    let through_k = grads_through_k(&model, xt.clone(), &y);

    let z = model.extractor.forward(xt);
    let zh = host(z.clone());
    let h = model.hyper();
    let pieces = gp::covariance_and_slope(&zh, 2, &h);
    let (g, _) = gp::nll_gradient_wrt_k(&pieces.k, &y).unwrap();
    let by_hand = model
        .surrogate(z, &gp::kernel_gradient(&pieces, &h, &g, NOISE_FLOOR))
        .backward();

    let pairs = [
        (
            "first weights",
            grad_of(&model.extractor.layers[0].weight, &through_k),
            grad_of(&model.extractor.layers[0].weight, &by_hand),
        ),
        (
            "last weights",
            grad_of(&model.extractor.layers[1].weight, &through_k),
            grad_of(&model.extractor.layers[1].weight, &by_hand),
        ),
        (
            "log lengthscale",
            grad_of(&model.log_lengthscale, &through_k),
            grad_of(&model.log_lengthscale, &by_hand),
        ),
        (
            "log signal variance",
            grad_of(&model.log_signal_var, &through_k),
            grad_of(&model.log_signal_var, &by_hand),
        ),
        (
            "log noise variance",
            grad_of(&model.log_noise_var, &through_k),
            grad_of(&model.log_noise_var, &by_hand),
        ),
    ];
    for (what, a, b) in pairs {
        let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-3);
        for (p, q) in a.iter().zip(&b) {
            assert!(
                (p - q).abs() < 2e-3 * scale,
                "{what}: burn through K {p} vs by hand {q}"
            );
        }
    }
}

/// Burn's back-propagation of Σ G⊙K equals the f64 chain rule through G.
#[test]
fn surrogate_gradient_matches_the_direct_gradient() {
    let (model, xt, y) = small_problem(3, 10, 0.9);
    let grads = grads_through_k(&model, xt.clone(), &y);
    let grad_l: Vec<f64> = model
        .log_lengthscale
        .val()
        .grad(&grads)
        .unwrap()
        .into_data()
        .convert::<f64>()
        .try_to_vec()
        .unwrap();

    // Finite differences of −log p in f64 over log ℓ₀, with the embedding fixed.
    let z: Vec<f64> = model
        .extractor
        .forward(xt)
        .into_data()
        .convert::<f64>()
        .try_to_vec()
        .unwrap();
    let h = model.hyper();
    let nll = |dl: f64| {
        let mut hh = h.clone();
        hh.lengthscale[0] *= dl.exp();
        gp::condition(&z, 2, &y, &hh).unwrap().nll
    };
    let eps = 1e-4;
    let fd = (nll(eps) - nll(-eps)) / (2.0 * eps);
    assert!(
        (fd - grad_l[0]).abs() < 2e-3 * (1.0 + fd.abs()),
        "fd {fd} vs burn {}",
        grad_l[0]
    );
}

#[test]
fn fast_inference_matches_burn() {
    let m = DklModel::new_seeded(16, &[8, 8], 2, device(), 5);
    let x: Vec<f32> = (0..40 * 16).map(|k| ((k * 13 % 29) as f32 / 29.0) - 0.3).collect();
    let a = m.embed(&x);
    let b = m.embed_fast(&x);
    for (p, q) in a.iter().zip(&b) {
        assert!((p - q).abs() < 1e-5, "{p} vs {q}");
    }
}

#[test]
fn fitting_lowers_the_negative_log_likelihood() {
    let mut m = DklModel::new_seeded(4, &[16], 2, device(), 1);
    let n = 30;
    let x: Vec<f32> = (0..n * 4).map(|k| (k * 31 % 97) as f32 / 97.0).collect();
    let y: Vec<f64> = (0..n).map(|i| if x[i * 4] > 0.5 { 1.0 } else { 0.0 }).collect();
    let settings = FitSettings {
        learning_rate: 0.01,
        max_steps: 1,
        tolerance: 0.0,
        patience: 1,
    };
    let first = m.fit(&x, &y, settings).unwrap().nll;
    let later = m
        .fit(
            &x,
            &y,
            FitSettings {
                max_steps: 150,
                ..settings
            },
        )
        .unwrap()
        .nll;
    assert!(later < first, "{later} !< {first}");
    let post = m.posterior(&x, &y).unwrap();
    let (mean, var) = post.predict(&m.embed(&x), 64);
    assert_eq!(mean.len(), n);
    assert!(var.iter().all(|v| *v >= 0.0));
}
