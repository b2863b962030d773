//! The GP against textbook formulas and finite differences.

use super::*;

/// Gauss–Jordan inverse, independent of faer, for the textbook check.
fn inverse(a: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = a.len();
    let mut m: Vec<Vec<f64>> = a
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let mut r = row.clone();
            r.extend((0..n).map(|j| if i == j { 1.0 } else { 0.0 }));
            r
        })
        .collect();
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| m[i][c].abs().total_cmp(&m[j][c].abs())).unwrap();
        m.swap(c, p);
        let pv = m[c][c];
        for v in m[c].iter_mut() {
            *v /= pv;
        }
        for r in 0..n {
            if r != c {
                let f = m[r][c];
                let row_c = m[c].clone();
                for (v, w) in m[r].iter_mut().zip(row_c) {
                    *v -= f * w;
                }
            }
        }
    }
    m.into_iter().map(|r| r[n..].to_vec()).collect()
}

fn kernel(a: &[f64], b: &[f64], h: &Hyper) -> f64 {
    let r =
        ((a[0] - b[0]).powi(2) / h.lengthscale[0].powi(2) + (a[1] - b[1]).powi(2) / h.lengthscale[1].powi(2)).sqrt();
    h.signal_var * (1.0 + 5f64.sqrt() * r + 5.0 * r * r / 3.0) * (-(5f64.sqrt()) * r).exp()
}

fn data() -> (Vec<f64>, Vec<f64>, Hyper) {
    let z: Vec<f64> = (0..24).map(|k| ((k * 37 % 17) as f64 / 17.0) * 2.0 - 1.0).collect();
    let y: Vec<f64> = (0..12).map(|k| (k as f64 * 0.7).sin()).collect();
    let h = Hyper {
        lengthscale: vec![0.4, 0.9],
        signal_var: 1.3,
        noise_var: 0.05,
    };
    (z, y, h)
}

#[test]
fn fast_exp_matches_std() {
    let mut worst = 0f64;
    for k in 0..200_000 {
        let x = -(k as f64) * 0.0035;
        let b = x.exp();
        for a in [exp_neg_with::<false>(x), exp_neg_with::<true>(x)] {
            worst = worst.max(((a - b) / b).abs());
        }
    }
    assert!(worst < 1e-14, "worst relative error {worst:e}");
    for fused in [exp_neg_with::<false>, exp_neg_with::<true>] {
        assert_eq!(fused(0.0), 1.0);
        assert_eq!(fused(-800.0), 0.0);
    }
}

#[test]
fn posterior_matches_the_textbook() {
    let (z, y, h) = data();
    let post = condition(&z, 2, &y, &h).unwrap();
    let n = y.len();
    let pts: Vec<&[f64]> = (0..n).map(|i| &z[2 * i..2 * i + 2]).collect();
    let kmat: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| kernel(pts[i], pts[j], &h) + if i == j { h.noise_var } else { 0.0 })
                .collect()
        })
        .collect();
    let kinv = inverse(&kmat);
    let ym = y.iter().sum::<f64>() / n as f64;
    let test: Vec<f64> = vec![0.1, -0.3, 0.9, 0.9, -1.0, 0.2, 0.35, 0.0];
    let (mean, var) = post.predict(&test, 3);
    for t in 0..4 {
        let x = &test[2 * t..2 * t + 2];
        let ks: Vec<f64> = pts.iter().map(|p| kernel(p, x, &h)).collect();
        let m: f64 = ym
            + (0..n)
                .map(|i| ks[i] * (0..n).map(|j| kinv[i][j] * (y[j] - ym)).sum::<f64>())
                .sum::<f64>();
        let v: f64 = h.signal_var
            - (0..n)
                .map(|i| ks[i] * (0..n).map(|j| kinv[i][j] * ks[j]).sum::<f64>())
                .sum::<f64>();
        assert!((mean[t] - m).abs() < 1e-6, "mean {} vs {m}", mean[t]);
        assert!((var[t] - v).abs() < 1e-6, "var {} vs {v}", var[t]);
    }
}

#[test]
fn the_bound_is_a_bound_and_the_means_agree() {
    let (z, y, h) = data();
    let post = condition(&z, 2, &y, &h).unwrap();
    let test: Vec<f64> = (0..400).map(|k| ((k * 7 % 23) as f64 / 11.5) - 1.0).collect();
    let (mean, var) = post.predict(&test, 17);
    let (mean2, bound) = post.mean_and_variance_bound(&test);
    for k in 0..mean.len() {
        assert!((mean[k] - mean2[k]).abs() < 1e-12);
        assert!(bound[k] >= var[k] - 1e-12, "{} < {}", bound[k], var[k]);
    }
}

#[test]
fn kernel_gradient_matches_finite_differences() {
    let (z, y, h) = data();
    let floor = 1e-4;
    let pieces = covariance_and_slope(&z, 2, &h);
    let (g, _) = nll_gradient_wrt_k(&pieces.k, &y).unwrap();
    let grad = kernel_gradient(&pieces, &h, &g, floor);
    let nll_at = |z: &[f64], h: &Hyper| condition(z, 2, &y, h).unwrap().nll;
    let eps = 1e-6;
    let fd = |f: &dyn Fn(f64) -> f64| (f(eps) - f(-eps)) / (2.0 * eps);
    let close = |what: &str, fd: f64, analytic: f64| {
        assert!(
            (fd - analytic).abs() < 1e-6 * (1.0 + fd.abs()),
            "{what}: fd {fd} vs {analytic}"
        )
    };
    for q in [0, 5, 11] {
        let f = |e: f64| {
            let mut z2 = z.clone();
            z2[q] += e;
            nll_at(&z2, &h)
        };
        close(&format!("z[{q}]"), fd(&f), grad.z[q]);
    }
    for k in 0..2 {
        let f = |e: f64| {
            let mut h2 = h.clone();
            h2.lengthscale[k] *= e.exp();
            nll_at(&z, &h2)
        };
        close(&format!("log lengthscale {k}"), fd(&f), grad.log_lengthscale[k]);
    }
    let f = |e: f64| {
        nll_at(
            &z,
            &Hyper {
                signal_var: h.signal_var * e.exp(),
                ..h.clone()
            },
        )
    };
    close("log signal variance", fd(&f), grad.log_signal_var);
    let f = |e: f64| {
        nll_at(
            &z,
            &Hyper {
                noise_var: floor + (h.noise_var - floor) * e.exp(),
                ..h.clone()
            },
        )
    };
    close("log noise variance", fd(&f), grad.log_noise_var);
}

#[test]
fn gradient_through_g_matches_finite_differences() {
    let (z, y, h) = data();
    // d nll / d θ = Σ G ⊙ dK/dθ, here for each lengthscale, σ_f², σ_n² and one input coordinate.
    let k = train_covariance(&z, 2, &h);
    let (g, nll) = nll_gradient_wrt_k(&k, &y).unwrap();
    assert!((nll - condition(&z, 2, &y, &h).unwrap().nll).abs() < 1e-9);
    let nll_at = |z: &[f64], h: &Hyper| condition(z, 2, &y, h).unwrap().nll;
    let eps = 1e-6;
    type Perturb<'a> = Box<dyn Fn(f64) -> (Vec<f64>, Hyper) + 'a>;
    let perturbations: Vec<Perturb> = vec![
        Box::new(|e| {
            (
                z.clone(),
                Hyper {
                    lengthscale: vec![h.lengthscale[0] + e, h.lengthscale[1]],
                    ..h.clone()
                },
            )
        }),
        Box::new(|e| {
            (
                z.clone(),
                Hyper {
                    lengthscale: vec![h.lengthscale[0], h.lengthscale[1] + e],
                    ..h.clone()
                },
            )
        }),
        Box::new(|e| {
            (
                z.clone(),
                Hyper {
                    signal_var: h.signal_var + e,
                    ..h.clone()
                },
            )
        }),
        Box::new(|e| {
            (
                z.clone(),
                Hyper {
                    noise_var: h.noise_var + e,
                    ..h.clone()
                },
            )
        }),
        Box::new(|e| {
            let mut z2 = z.clone();
            z2[5] += e;
            (z2, h.clone())
        }),
    ];
    for (which, perturb) in perturbations.iter().enumerate() {
        let (zp, hp) = perturb(eps);
        let (zm, hm) = perturb(-eps);
        let fd = (nll_at(&zp, &hp) - nll_at(&zm, &hm)) / (2.0 * eps);
        let kp = train_covariance(&zp, 2, &hp);
        let km = train_covariance(&zm, 2, &hm);
        let n = y.len();
        let analytic: f64 = (0..n)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| g[(i, j)] * (kp[(i, j)] - km[(i, j)]) / (2.0 * eps))
            .sum();
        assert!(
            (fd - analytic).abs() < 1e-6 * (1.0 + fd.abs()),
            "parameter {which}: fd {fd} vs {analytic}"
        );
    }
}
