//! Topography patches around candidates, as the networks see them: the survey
//! image min–max scaled to [0, 1] once, then cut into `patch_px²` squares.

use crate::record::Candidates;
use ndarray::Array2;

/// Every candidate's patch, row-major, in one contiguous `n × patch_px²` block.
#[derive(Debug, Clone)]
pub struct PatchSet {
    pub side: usize,
    pub data: Vec<f32>,
}

impl PatchSet {
    pub fn len(&self) -> usize {
        self.data.len() / (self.side * self.side).max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn patch(&self, k: usize) -> &[f32] {
        let n = self.side * self.side;
        &self.data[k * n..(k + 1) * n]
    }

    pub fn width(&self) -> usize {
        self.side * self.side
    }
}

/// The survey scaled to [0, 1] over the whole image.
pub fn normalise(heights_nm: &Array2<f64>) -> Array2<f32> {
    let (lo, hi) = heights_nm
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    heights_nm.mapv(|v| ((v - lo) / span) as f32)
}

/// The patch whose centre is (row, col), shifted inward where it would leave the image.
pub fn patch_at(image: &Array2<f32>, row: u32, col: u32, side: usize) -> Vec<f32> {
    let (rows, cols) = image.dim();
    let half = side / 2;
    let r0 = (row as usize).saturating_sub(half).min(rows.saturating_sub(side));
    let c0 = (col as usize).saturating_sub(half).min(cols.saturating_sub(side));
    let mut out = Vec::with_capacity(side * side);
    for r in r0..r0 + side {
        for c in c0..c0 + side {
            out.push(image[[r.min(rows - 1), c.min(cols - 1)]]);
        }
    }
    out
}

/// Patches of every candidate.
pub fn extract(image: &Array2<f32>, candidates: &Candidates) -> PatchSet {
    let side = candidates.patch_px as usize;
    let mut data = Vec::with_capacity(candidates.len() * side * side);
    for &(r, c) in candidates.sites() {
        data.extend(patch_at(image, r, c, side));
    }
    PatchSet { side, data }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_are_cut_around_their_centre() {
        let img = Array2::from_shape_fn((32, 32), |(r, c)| (r * 32 + c) as f64);
        let n = normalise(&img);
        let c = Candidates::new(32, 32, 16, 2, None);
        let p = extract(&n, &c);
        assert_eq!(p.len(), c.len());
        // Candidate 0 is centred at (8, 8): its patch starts at pixel (0, 0).
        assert_eq!(p.patch(0)[0], 0.0);
        assert_eq!(p.patch(0)[17], n[[1, 1]]);
        assert!((n[[31, 31]] - 1.0).abs() < 1e-7);
    }
}
