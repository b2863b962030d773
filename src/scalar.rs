//! Physics scalarizers of one I–V curve: the numbers the `measurements` table
//! carries beside the curve, and that a plan may ask the policy to learn.

/// Area of the hysteresis loop, |∮ I dV| over the sweep in sample order (V·A).
///
/// The up branch contributes +∫I dV and the down branch −∫I dV, so for a triangle
/// sweep this is the area between the two branches. A curve cut short by
/// compliance gives the area of what was swept.
pub fn hysteresis_area(bias_v: &[f64], current_a: &[f64]) -> f64 {
    bias_v
        .windows(2)
        .zip(current_a.windows(2))
        .map(|(v, i)| (v[1] - v[0]) * (i[0] + i[1]) * 0.5)
        .sum::<f64>()
        .abs()
}

/// First bias on the up branch where |I| exceeds `threshold_a`, interpolated
/// between the two samples around the crossing; `None` when it never does.
pub fn onset_v(bias_v: &[f64], current_a: &[f64], threshold_a: f64) -> Option<f64> {
    let turn = bias_v
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .map(|(k, _)| k)
        .unwrap_or(0);
    let last = turn
        .min(current_a.len().min(bias_v.len()))
        .min(current_a.len().saturating_sub(1));
    if current_a.is_empty() || bias_v.is_empty() {
        return None;
    }
    for k in 0..=last {
        if current_a[k].abs() > threshold_a {
            if k == 0 {
                return bias_v.first().copied();
            }
            let (i0, i1) = (current_a[k - 1].abs(), current_a[k].abs());
            let t = ((threshold_a - i0) / (i1 - i0)).clamp(0.0, 1.0);
            return Some(bias_v[k - 1] + t * (bias_v[k] - bias_v[k - 1]));
        }
    }
    None
}

/// Largest |I| of the curve (A); 0 for an empty curve.
pub fn max_current_a(current_a: &[f64]) -> f64 {
    current_a.iter().fold(0.0, |m, i| m.max(i.abs()))
}

/// Floors of the logs of a loop area (V·A) and a current (A): a loop that
/// closes, or a curve that carries no current, is that small, not −∞.
pub const LOG_FLOOR_LOOP_AREA_VA: f64 = 1e-18;
pub const LOG_FLOOR_CURRENT_A: f64 = 1e-15;

/// The three scalars of one curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurveSummary {
    pub hysteresis_area: f64,
    /// `None` when the current never crosses the onset threshold.
    pub onset_v: Option<f64>,
    pub max_current_a: f64,
}

impl CurveSummary {
    pub fn of(bias_v: &[f64], current_a: &[f64], onset_threshold_a: f64) -> Self {
        Self {
            hysteresis_area: hysteresis_area(bias_v, current_a),
            onset_v: onset_v(bias_v, current_a, onset_threshold_a),
            max_current_a: max_current_a(current_a),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_area_of_a_known_loop() {
        // Up: I = V on 0..1; down: I = 2V on 1..0. Area between = ∫(2V − V) = 0.5.
        let n = 1001;
        let mut v = Vec::new();
        let mut i = Vec::new();
        for k in 0..n {
            let x = k as f64 / (n - 1) as f64;
            v.push(x);
            i.push(x);
        }
        for k in 1..n {
            let x = 1.0 - k as f64 / (n - 1) as f64;
            v.push(x);
            i.push(2.0 * x);
        }
        // The jump from I = 1 to I = 2 at the turn is one trapezoid: O(1/n) off.
        assert!((hysteresis_area(&v, &i) - 0.5).abs() < 1e-3);
    }

    #[test]
    fn onset_interpolates_and_is_nan_when_never_reached() {
        let v = [0.0, 0.5, 1.0, 0.5, 0.0];
        let i = [0.0, 1.0, 3.0, 1.0, 0.0];
        assert!((onset_v(&v, &i, 2.0).unwrap() - 0.75).abs() < 1e-12);
        assert_eq!(onset_v(&v, &i, 5.0), None);
        assert_eq!(max_current_a(&[-4.0, 2.0]), 4.0);
        // An empty curve is no onset, not a panic.
        assert_eq!(onset_v(&[], &[], 1.0), None);
        let empty = CurveSummary::of(&[], &[], 1.0);
        assert_eq!(
            (empty.hysteresis_area, empty.onset_v, empty.max_current_a),
            (0.0, None, 0.0)
        );
    }
}
