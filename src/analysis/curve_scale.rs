//! How the spectral view sees a current: asinh-compressed, then one min–max
//! over every curve of the training, and the way back to amperes for a curve
//! the spectral decoder predicts.

/// Below this current the asinh compression of curves is linear.
const CURRENT_SCALE_A: f64 = 1e-11;

/// The compression and range of one training's curves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurveScale {
    lo: f64,
    span: f64,
    /// Samples per curve (the longest curve's; shorter ones are held at their
    /// last value, as a compliance stop leaves them).
    pub points: usize,
}

impl CurveScale {
    /// Currents span pA to nA: compressed (asinh, linear below ~10 pA) before
    /// the global min–max, or the few nA-scale curves squash every other
    /// curve into the bottom tenth of the range, where BCE cannot tell a
    /// suppressed boundary from a grain interior.
    pub fn fit<'a>(curves: impl Iterator<Item = &'a [f64]> + Clone) -> Self {
        let points = curves.clone().map(<[f64]>::len).max().unwrap_or(0).max(2);
        let (lo, hi) = curves
            .flat_map(|c| c.iter().map(|i| compress(*i)))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let span = if hi > lo { hi - lo } else { 1.0 };
        let lo = if lo.is_finite() { lo } else { 0.0 };
        Self { lo, span, points }
    }

    /// A measured curve in the units the spectral view trains on, [0, 1].
    pub fn to_unit(&self, current_a: &[f64]) -> Vec<f32> {
        crate::ml::spectra::to_length(current_a, self.points)
            .iter()
            .map(|i| ((compress(*i) - self.lo) / self.span) as f32)
            .collect()
    }

    /// A curve in [0, 1] back in amperes.
    pub fn to_current_a(&self, unit: &[f32]) -> Vec<f64> {
        unit.iter()
            .map(|u| (self.lo + *u as f64 * self.span).sinh() * CURRENT_SCALE_A)
            .collect()
    }
}

fn compress(current_a: f64) -> f64 {
    (current_a / CURRENT_SCALE_A).asinh()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_curve_goes_to_the_unit_range_and_back() {
        let a = [0.0, 1e-12, 5e-11, 2e-9];
        let b = [-3e-12, 4e-10];
        let s = CurveScale::fit([&a[..], &b[..]].into_iter());
        assert_eq!(s.points, 4);
        let unit = s.to_unit(&a);
        assert!(unit.iter().all(|u| (0.0..=1.0).contains(u)), "{unit:?}");
        assert_eq!(unit[3], 1.0);
        for (i, back) in a.iter().zip(s.to_current_a(&unit)) {
            assert!((i - back).abs() <= 1e-6 * i.abs() + 1e-15, "{i} → {back}");
        }
        // The short curve is held at its last value.
        assert_eq!(s.to_unit(&b)[3], s.to_unit(&b)[1]);
    }
}
