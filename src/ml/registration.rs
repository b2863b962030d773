//! Where one image of the frame lies against another: the shift that best
//! lines a new topography up with the survey, to a fraction of a pixel. A
//! drifting sample moves under the tip; this is how the drift is seen.
//!
//! Written here rather than taken from a crate: the shifts searched are a
//! few pixels of a 128 × 128 image (direct normalised cross-correlation is
//! ~10⁷ operations, well under a millisecond's worth of an FFT crate's
//! set-up to matter), and the sub-pixel step is a parabola through the peak.

use ndarray::{Array2, s};

/// The shift found: `moving[r, c] ≈ reference[r − rows, c − cols]`, in
/// pixels, and the normalised cross-correlation at the peak (1 = identical).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shift {
    pub rows: f64,
    pub cols: f64,
    pub score: f64,
}

/// The normalised cross-correlation of the two images' overlap when
/// `moving` is shifted by (dr, dc) whole pixels.
fn correlation(reference: &Array2<f64>, moving: &Array2<f64>, dr: isize, dc: isize) -> f64 {
    let (rows, cols) = reference.dim();
    let span = |d: isize, n: usize| {
        let lo = d.max(0) as usize;
        let hi = (n as isize + d.min(0)) as usize;
        (lo, hi)
    };
    let ((r0, r1), (c0, c1)) = (span(dr, rows), span(dc, cols));
    if r1 <= r0 + 1 || c1 <= c0 + 1 {
        return f64::NEG_INFINITY;
    }
    let m = moving.slice(s![r0..r1, c0..c1]);
    let r = reference.slice(s![
        (r0 as isize - dr) as usize..(r1 as isize - dr) as usize,
        (c0 as isize - dc) as usize..(c1 as isize - dc) as usize
    ]);
    let (mm, rm) = (m.mean().unwrap_or(0.0), r.mean().unwrap_or(0.0));
    let (mut num, mut sm, mut sr) = (0.0, 0.0, 0.0);
    for (a, b) in m.iter().zip(r.iter()) {
        let (a, b) = (a - mm, b - rm);
        num += a * b;
        sm += a * a;
        sr += b * b;
    }
    if sm <= 0.0 || sr <= 0.0 {
        return f64::NEG_INFINITY;
    }
    num / (sm * sr).sqrt()
}

/// The vertex of the parabola through (−1, a), (0, b), (1, c), in (−½, ½).
fn vertex(a: f64, b: f64, c: f64) -> f64 {
    let den = a - 2.0 * b + c;
    if !den.is_finite() || den >= 0.0 {
        return 0.0;
    }
    (0.5 * (a - c) / den).clamp(-0.5, 0.5)
}

/// The shift of `moving` against `reference` (same shape) within
/// `max_shift` pixels each way; `None` for images of different shapes or
/// with nothing to correlate.
pub fn register(reference: &Array2<f64>, moving: &Array2<f64>, max_shift: usize) -> Option<Shift> {
    if reference.dim() != moving.dim() {
        return None;
    }
    let m = max_shift as isize;
    let mut best: Option<(isize, isize, f64)> = None;
    for dr in -m..=m {
        for dc in -m..=m {
            let r = correlation(reference, moving, dr, dc);
            if r.is_finite() && best.is_none_or(|b| r > b.2) {
                best = Some((dr, dc, r));
            }
        }
    }
    let (dr, dc, score) = best?;
    let at = |r: isize, c: isize| correlation(reference, moving, r, c);
    // On the edge of the search the peak may lie beyond it: no refinement.
    let refine = |d: isize, before: f64, after: f64| {
        if d.abs() == m {
            0.0
        } else {
            vertex(before, score, after)
        }
    };
    Some(Shift {
        rows: dr as f64 + refine(dr, at(dr - 1, dc), at(dr + 1, dc)),
        cols: dc as f64 + refine(dc, at(dr, dc - 1), at(dr, dc + 1)),
        score,
    })
}

/// `image` averaged over `factor` × `factor` blocks (the last partial
/// block dropped): the survey at the resolution of a coarse re-image.
pub fn coarsen(image: &Array2<f64>, factor: usize) -> Array2<f64> {
    let f = factor.max(1);
    let (rows, cols) = (image.nrows() / f, image.ncols() / f);
    Array2::from_shape_fn((rows, cols), |(r, c)| {
        image
            .slice(s![r * f..(r + 1) * f, c * f..(c + 1) * f])
            .mean()
            .unwrap_or(0.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth relief of a few bumps, sampled with its origin moved by
    /// (dy, dx) pixels.
    fn relief(n: usize, dy: f64, dx: f64) -> Array2<f64> {
        let bumps = [
            (20.0, 30.0, 6.0),
            (60.0, 45.0, 9.0),
            (40.0, 90.0, 5.0),
            (100.0, 70.0, 8.0),
        ];
        Array2::from_shape_fn((n, n), |(r, c)| {
            let (y, x) = (r as f64 - dy, c as f64 - dx);
            bumps
                .iter()
                .map(|(by, bx, w)| (-((y - by).powi(2) + (x - bx).powi(2)) / (2.0 * w * w)).exp())
                .sum::<f64>()
                + 0.02 * (0.3 * x).sin() * (0.2 * y).cos()
        })
    }

    #[test]
    fn a_shift_is_found_to_a_fraction_of_a_pixel() {
        let reference = relief(128, 0.0, 0.0);
        for (dy, dx) in [(0.0, 0.0), (1.3, -2.6), (-3.8, 0.4), (5.5, 4.2)] {
            let moved = relief(128, dy, dx);
            let s = register(&reference, &moved, 8).unwrap();
            assert!(
                (s.rows - dy).abs() < 0.15 && (s.cols - dx).abs() < 0.15,
                "({dy}, {dx}) found as {s:?}"
            );
            assert!(s.score > 0.95, "{s:?}");
        }
        assert!(register(&reference, &relief(64, 0.0, 0.0), 4).is_none());
    }

    #[test]
    fn coarsening_averages_blocks() {
        let image = Array2::from_shape_fn((4, 6), |(r, c)| (r * 6 + c) as f64);
        let coarse = coarsen(&image, 2);
        assert_eq!(coarse.dim(), (2, 3));
        assert_eq!(coarse[[0, 0]], (0.0 + 1.0 + 6.0 + 7.0) / 4.0);
    }
}
