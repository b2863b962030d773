//! What comes back from an instrument is checked before anything believes it.
//!
//! Every instrument — the simulator, a replayed dataset, a serial or TCP
//! controller written by someone else — goes through the same checks in the
//! engine: a reply that breaks one is a [`InstrumentError::BadReply`] (an
//! event and a retried or skipped step), never a value in the log. A NaN
//! compares false with everything, so every check here asks for what is
//! allowed (`is_finite() && within`) rather than refusing what is not.

use super::{InstrumentError, SweepRequest};
use crate::record::{Identity, Limits, Survey, Sweep, SweepEnd};

fn bad(why: impl Into<String>) -> InstrumentError {
    InstrumentError::BadReply(why.into())
}

/// `*IDN?`: a vendor and a model at least.
pub fn identity(i: &Identity) -> Result<(), InstrumentError> {
    if i.vendor.trim().is_empty() || i.model.trim().is_empty() {
        return Err(bad(format!("identity `{}` names no vendor or model", i.idn())));
    }
    Ok(())
}

/// `LIM?`: every limit finite and positive.
pub fn limits(l: &Limits) -> Result<(), InstrumentError> {
    for (name, v) in [
        ("bias_max_v", l.bias_max_v),
        ("current_max_a", l.current_max_a),
        ("x_max_nm", l.x_max_nm),
        ("y_max_nm", l.y_max_nm),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return Err(bad(format!("limit {name} = {v}: must be a finite positive number")));
        }
    }
    Ok(())
}

/// Where the tip settled after a move: a finite point inside the frame.
pub fn settled(asked: (f64, f64), settled: (f64, f64), l: &Limits) -> Result<(), InstrumentError> {
    let (x, y) = settled;
    // Round-off of a controller working in other units may put the tip a
    // hair outside the frame; a millionth of the frame is not a position error.
    let inside = |v: f64, max: f64| v.is_finite() && (-max * 1e-6..=max * (1.0 + 1e-6)).contains(&v);
    if !inside(x, l.x_max_nm) || !inside(y, l.y_max_nm) {
        return Err(bad(format!(
            "asked to move to ({:.1}, {:.1}) nm, the instrument says it settled at ({x}, {y}) nm, \
             outside the {}×{} nm frame",
            asked.0, asked.1, l.x_max_nm, l.y_max_nm
        )));
    }
    Ok(())
}

/// Where to send the tip for the film point `at` when the sample has drifted
/// by `drift_nm` (`[drift]`): moved with it, and never outside the
/// instrument's frame, whatever the estimate says (a NaN one sends it to the
/// frame's middle on that axis).
pub fn drift_corrected(at: (f64, f64), [dx, dy]: [f64; 2], l: &Limits) -> (f64, f64) {
    let inside = |v: f64, max: f64| if v.is_finite() { v.clamp(0.0, max) } else { max / 2.0 };
    (inside(at.0 + dx, l.x_max_nm), inside(at.1 + dy, l.y_max_nm))
}

/// The compliance a curve is held to: the stricter of the plan's and the instrument's.
pub fn compliance_a(plan_current_max_a: f64, l: &Limits) -> f64 {
    plan_current_max_a.min(l.current_max_a)
}

/// A curve, against the sweep that was asked for and the limits.
///
/// `compliance_a` is the current limit the instrument was told to keep. A
/// complete curve must stay below it (5 % for an amplifier's overshoot); a
/// curve cut by compliance may exceed it only at its last sample, the one that
/// tripped the limit.
pub fn sweep(asked: &SweepRequest, s: &Sweep, l: &Limits, compliance_a: f64) -> Result<(), InstrumentError> {
    let n = s.bias_v.len();
    if s.current_a.len() != n {
        return Err(bad(format!("{n} biases but {} currents", s.current_a.len())));
    }
    let points = asked.points as usize;
    match s.end {
        SweepEnd::Complete if n != points => {
            return Err(bad(format!("a complete sweep of {n} points; {points} were asked for")));
        }
        SweepEnd::Compliance if n == 0 || n > points => {
            return Err(bad(format!(
                "a sweep cut by compliance after {n} points; 1 ..= {points} can be"
            )));
        }
        _ => {}
    }
    let lo = asked.v_start.min(asked.v_max).min(asked.v_end);
    let hi = asked.v_start.max(asked.v_max).max(asked.v_end);
    // A DAC's bias is a few counts off the set point: 1 % of the span and a millivolt.
    let slack = 0.01 * (hi - lo) + 1e-3;
    for (k, &v) in s.bias_v.iter().enumerate() {
        if !(v.is_finite() && (lo - slack..=hi + slack).contains(&v) && v.abs() <= l.bias_max_v + slack) {
            return Err(bad(format!(
                "sample {k} at {v} V: outside the asked {lo} ..= {hi} V (limit ±{} V)",
                l.bias_max_v
            )));
        }
    }
    let cap = compliance_a * 1.05;
    for (k, &i) in s.current_a.iter().enumerate() {
        if !i.is_finite() {
            return Err(bad(format!("sample {k}: current {i} A is not a number")));
        }
        let tripped = s.end == SweepEnd::Compliance && k + 1 == n;
        if i.abs() > cap && !tripped {
            return Err(bad(format!(
                "sample {k}: {i:e} A beyond the {compliance_a:e} A compliance in a sweep marked {}",
                s.end.label()
            )));
        }
    }
    Ok(())
}

/// A survey image: the size asked for (or the instrument's own, within the
/// memory allowed) of finite heights over a real frame.
pub fn survey(s: &Survey, max_pixels: u64) -> Result<(), InstrumentError> {
    let (rows, cols) = (s.rows() as u64, s.cols() as u64);
    if rows == 0 || cols == 0 {
        return Err(bad(format!("an empty survey image ({rows}×{cols} px)")));
    }
    if rows * cols > max_pixels {
        return Err(bad(format!(
            "a survey of {rows}×{cols} px; at most {max_pixels} pixels fit the memory allowed"
        )));
    }
    for (name, v) in [("width_nm", s.width_nm), ("height_nm", s.height_nm)] {
        if !(v.is_finite() && v > 0.0) {
            return Err(bad(format!("survey {name} = {v}")));
        }
    }
    if let Some(((r, c), v)) = s.heights_nm.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(bad(format!("survey height at ({r}, {c}) is {v}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits_ok() -> Limits {
        Limits {
            bias_max_v: 2.0,
            current_max_a: 5e-9,
            x_max_nm: 2000.0,
            y_max_nm: 2000.0,
        }
    }

    fn asked() -> SweepRequest {
        SweepRequest {
            points: 5,
            ..SweepRequest::default()
        }
    }

    fn curve(bias: &[f64], current: &[f64], end: SweepEnd) -> Sweep {
        Sweep {
            bias_v: bias.to_vec(),
            current_a: current.to_vec(),
            end,
        }
    }

    #[test]
    fn limits_must_be_finite_and_positive() {
        limits(&limits_ok()).unwrap();
        for bad_value in [f64::NAN, f64::INFINITY, 0.0, -1.0] {
            let l = Limits {
                current_max_a: bad_value,
                ..limits_ok()
            };
            assert!(matches!(limits(&l), Err(InstrumentError::BadReply(_))), "{bad_value}");
        }
    }

    #[test]
    fn a_good_curve_passes_and_each_fault_is_named() {
        let l = limits_ok();
        let b = [0.0, 0.75, 1.5, 0.75, 0.0];
        let i = [0.0, 1e-10, 1e-9, 2e-10, 0.0];
        sweep(&asked(), &curve(&b, &i, SweepEnd::Complete), &l, 5e-9).unwrap();
        let cases: Vec<(Sweep, &str)> = vec![
            (curve(&b[..3], &i[..3], SweepEnd::Complete), "3 points"),
            (curve(&b, &i[..4], SweepEnd::Complete), "4 currents"),
            (
                curve(&b, &[0.0, f64::NAN, 0.0, 0.0, 0.0], SweepEnd::Complete),
                "not a number",
            ),
            (
                curve(&b, &[0.0, f64::INFINITY, 0.0, 0.0, 0.0], SweepEnd::Complete),
                "not a number",
            ),
            (curve(&[0.0, 0.75, 60.0, 0.75, 0.0], &i, SweepEnd::Complete), "60 V"),
            (curve(&[0.0, f64::NAN, 1.5, 0.75, 0.0], &i, SweepEnd::Complete), "NaN V"),
            (curve(&b, &[0.0, 1e-3, 0.0, 0.0, 0.0], SweepEnd::Complete), "compliance"),
            (curve(&[], &[], SweepEnd::Compliance), "after 0 points"),
        ];
        for (c, why) in cases {
            let err = sweep(&asked(), &c, &l, 5e-9).unwrap_err().to_string();
            assert!(err.contains(why), "{why}: {err}");
        }
        // The sample that tripped compliance may exceed it; an earlier one may not.
        sweep(
            &asked(),
            &curve(&b[..3], &[0.0, 1e-9, 6e-9], SweepEnd::Compliance),
            &l,
            5e-9,
        )
        .unwrap();
        assert!(
            sweep(
                &asked(),
                &curve(&b[..3], &[0.0, 6e-9, 1e-9], SweepEnd::Compliance),
                &l,
                5e-9
            )
            .is_err()
        );
    }

    #[test]
    fn settled_positions_must_be_inside_the_frame() {
        let l = limits_ok();
        settled((10.0, 10.0), (0.0, 0.0), &l).unwrap();
        settled((10.0, 10.0), (2000.0, 1999.0), &l).unwrap();
        for p in [(f64::NAN, 1.0), (-5.0, 1.0), (1.0, 2100.0)] {
            assert!(settled((10.0, 10.0), p, &l).is_err(), "{p:?}");
        }
    }

    #[test]
    fn surveys_are_checked_for_size_and_values() {
        let mut s = Survey {
            width_nm: 100.0,
            height_nm: 100.0,
            heights_nm: ndarray::Array2::zeros((4, 4)),
        };
        survey(&s, 16).unwrap();
        assert!(survey(&s, 15).unwrap_err().to_string().contains("4×4"));
        s.heights_nm[[1, 2]] = f64::NAN;
        assert!(survey(&s, 16).unwrap_err().to_string().contains("(1, 2)"));
        s.heights_nm[[1, 2]] = 0.0;
        s.width_nm = f64::INFINITY;
        assert!(survey(&s, 16).is_err());
    }

    proptest::proptest! {
        /// A move corrected for drift stays in the frame whatever the
        /// estimate says, and is the plain sum wherever that is inside.
        #[test]
        fn a_corrected_move_stays_in_the_frame(
            x in -1e4f64..1e4, y in -1e4f64..1e4, dx in -1e5f64..1e5, dy in -1e5f64..1e5,
            w in 1.0f64..1e5, h in 1.0f64..1e5,
        ) {
            let l = Limits { bias_max_v: 2.0, current_max_a: 1e-8, x_max_nm: w, y_max_nm: h };
            let (sx, sy) = drift_corrected((x, y), [dx, dy], &l);
            proptest::prop_assert!((0.0..=w).contains(&sx) && (0.0..=h).contains(&sy));
            if (0.0..=w).contains(&(x + dx)) && (0.0..=h).contains(&(y + dy)) {
                proptest::prop_assert_eq!((sx, sy), (x + dx, y + dy));
            }
        }
    }

    #[test]
    fn a_drift_of_nan_never_sends_the_tip_off() {
        let l = Limits {
            bias_max_v: 2.0,
            current_max_a: 1e-8,
            x_max_nm: 500.0,
            y_max_nm: 400.0,
        };
        assert_eq!(drift_corrected((10.0, 10.0), [f64::NAN, 0.0], &l), (250.0, 10.0));
    }
}
