//! The published reduction of I–V curves before novelty scoring: mean-pool,
//! Savitzky–Golay smoothing, then one min–max over all curves together.

/// Samples averaged into one feature.
pub const POOL: usize = 20;
/// Savitzky–Golay window and polynomial order on the pooled curve.
pub const SG_WINDOW: usize = 5;
pub const SG_ORDER: usize = 2;

/// Mean of each run of `pool` samples (a shorter last run is averaged too).
pub fn mean_pool(x: &[f64], pool: usize) -> Vec<f64> {
    x.chunks(pool.max(1))
        .map(|c| c.iter().sum::<f64>() / c.len() as f64)
        .collect()
}

/// Solves the small normal equations of a least-squares polynomial fit.
fn poly_fit_eval(xs: &[f64], ys: &[f64], order: usize, at: f64) -> f64 {
    let m = order + 1;
    let mut a = vec![0.0; m * m];
    let mut b = vec![0.0; m];
    for (&x, &y) in xs.iter().zip(ys) {
        let mut pows = vec![1.0; 2 * m];
        for k in 1..2 * m {
            pows[k] = pows[k - 1] * x;
        }
        for i in 0..m {
            b[i] += pows[i] * y;
            for j in 0..m {
                a[i * m + j] += pows[i + j];
            }
        }
    }
    // Gaussian elimination with partial pivoting; m ≤ 4 here.
    for col in 0..m {
        let piv = (col..m)
            .max_by(|&i, &j| a[i * m + col].abs().total_cmp(&a[j * m + col].abs()))
            .unwrap_or(col);
        if a[piv * m + col].abs() < 1e-300 {
            return ys.iter().sum::<f64>() / ys.len() as f64;
        }
        for j in 0..m {
            a.swap(col * m + j, piv * m + j);
        }
        b.swap(col, piv);
        for i in col + 1..m {
            let f = a[i * m + col] / a[col * m + col];
            for j in col..m {
                a[i * m + j] -= f * a[col * m + j];
            }
            b[i] -= f * b[col];
        }
    }
    let mut c = vec![0.0; m];
    for i in (0..m).rev() {
        let s: f64 = (i + 1..m).map(|j| a[i * m + j] * c[j]).sum();
        c[i] = (b[i] - s) / a[i * m + i];
    }
    c.iter().rev().fold(0.0, |acc, &ci| acc * at + ci)
}

/// Savitzky–Golay smoothing; near the ends the polynomial fitted to the first
/// (last) whole window is evaluated, as scipy's `mode="interp"` does.
pub fn savitzky_golay(y: &[f64], window: usize, order: usize) -> Vec<f64> {
    let n = y.len();
    if n < window || window <= order {
        return y.to_vec();
    }
    let half = window / 2;
    (0..n)
        .map(|i| {
            let start = i.saturating_sub(half).min(n - window);
            let xs: Vec<f64> = (0..window).map(|k| (start + k) as f64 - i as f64).collect();
            poly_fit_eval(&xs, &y[start..start + window], order, 0.0)
        })
        .collect()
}

/// Brings a curve to `len` samples: a curve cut short by compliance keeps its
/// last (saturated) value for the samples it never took.
pub fn to_length(current_a: &[f64], len: usize) -> Vec<f64> {
    let last = current_a.last().copied().unwrap_or(0.0);
    (0..len).map(|k| current_a.get(k).copied().unwrap_or(last)).collect()
}

/// Reduces every curve and min–max scales the whole set to [0, 1] together.
pub fn reduce_all(curves: &[&[f64]], points: usize) -> Vec<Vec<f64>> {
    let mut out: Vec<Vec<f64>> = curves.iter().map(|c| reduce_one(c, points)).collect();
    min_max_global(&mut out);
    out
}

/// The per-curve half of [`reduce_all`] (resample, mean-pool, smooth): it does
/// not depend on the other curves, so a caller may keep it per curve.
pub fn reduce_one(curve: &[f64], points: usize) -> Vec<f64> {
    savitzky_golay(&mean_pool(&to_length(curve, points), POOL), SG_WINDOW, SG_ORDER)
}

/// The global half of [`reduce_all`]: one min–max over every value of every row.
pub fn min_max_global(rows: &mut [Vec<f64>]) {
    let (lo, hi) = rows
        .iter()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    for row in rows {
        for v in row.iter_mut() {
            *v = (*v - lo) / span;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_and_smoothing() {
        let x: Vec<f64> = (0..251).map(|k| k as f64).collect();
        let p = mean_pool(&x, 20);
        assert_eq!(p.len(), 13);
        assert_eq!(p[0], 9.5);
        assert_eq!(p[12], 245.0);
        // A quadratic passes a quadratic Savitzky–Golay filter unchanged.
        let q: Vec<f64> = (0..12).map(|k| (k * k) as f64 - 3.0 * k as f64).collect();
        let s = savitzky_golay(&q, 5, 2);
        for (a, b) in q.iter().zip(&s) {
            assert!((a - b).abs() < 1e-9, "{a} {b}");
        }
    }

    #[test]
    fn smoothing_matches_scipy_on_noise() {
        // scipy.signal.savgol_filter([0,1,0,1,0,1,0], 5, 2) (mode="interp")
        let y = [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
        let expect = [
            0.11428571, 0.54285714, 0.68571429, 0.31428571, 0.68571429, 0.54285714, 0.11428571,
        ];
        for (a, b) in savitzky_golay(&y, 5, 2).iter().zip(expect) {
            assert!((a - b).abs() < 1e-6, "{a} {b}");
        }
    }

    #[test]
    fn global_min_max() {
        let a = vec![0.0; 40];
        let b = vec![2.0; 40];
        let r = reduce_all(&[&a, &b], 40);
        assert!(r[0].iter().all(|v| v.abs() < 1e-12));
        assert!(r[1].iter().all(|v| (v - 1.0).abs() < 1e-12));
    }
}
