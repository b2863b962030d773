//! Drift tracking (`[drift]`): every few curves the frame is imaged again,
//! coarsely, and lined up with the survey; the offset found goes into every
//! later move, and out of every recorded position, so that a curve is both
//! taken and recorded at the film point the policy chose.

use super::{Engine, EngineEvent, Stop};
use crate::ml::registration;
use crate::record::{DriftEstimate, EventKind};
use crate::store::{Entry, now_ms};

impl Engine {
    /// After each curve: a re-image when its turn has come.
    pub(super) fn drift_after_curve(&mut self) -> Result<(), Stop> {
        let p = self.plan.drift.clone();
        if p.every == 0 {
            return Ok(());
        }
        self.curves_since_drift += 1;
        if self.curves_since_drift < p.every {
            return Ok(());
        }
        self.curves_since_drift = 0;
        let survey = self.survey.clone().expect("survey taken before curves");
        let f = p.coarse_factor.max(1);
        let (rows, cols) = (survey.rows() / f, survey.cols() / f);
        let image = match self.instrument.survey(rows, cols) {
            Ok(image) => image,
            Err(e) if e.is_transient() => {
                self.log(
                    EventKind::DriftRefused,
                    format!("re-image of {rows}×{cols} px failed: {e}"),
                )?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        self.drain_link_events()?;
        let reference = registration::coarsen(&survey.heights_nm, f as usize);
        let [dx0, dy0] = self.drift_nm;
        match registration::register(&reference, &image.heights_nm, p.max_shift_px as usize) {
            Some(shift) if shift.score >= p.min_score => {
                let (px_w, px_h) = (survey.width_nm / cols as f64, survey.height_nm / rows as f64);
                self.drift_nm = [shift.cols * px_w, shift.rows * px_h];
                let [dx, dy] = self.drift_nm;
                self.writer.append(Entry::Drift(DriftEstimate {
                    t_ms: now_ms(),
                    dx_nm: dx,
                    dy_nm: dy,
                    score: shift.score,
                }))?;
                self.log(
                    EventKind::Drift,
                    format!(
                        "drift ({dx:.1}, {dy:.1}) nm (was ({dx0:.1}, {dy0:.1})), from a {rows}×{cols} px re-image \
                         lined up with the survey (correlation {:.3}); later moves follow it",
                        shift.score
                    ),
                )?;
                self.emit(EngineEvent::Drift(self.drift_nm));
            }
            other => {
                let why = other.map_or("nothing to line up".to_string(), |s| {
                    format!("correlation {:.3} under {}", s.score, p.min_score)
                });
                self.log(
                    EventKind::DriftRefused,
                    format!("re-image not used ({why}); the drift stays ({dx0:.1}, {dy0:.1}) nm"),
                )?;
            }
        }
        Ok(())
    }

    /// Where to send the tip for the film point (x, y): see [`sent`].
    pub(super) fn drift_sent(&self, x_nm: f64, y_nm: f64) -> (f64, f64) {
        sent((x_nm, y_nm), self.drift_nm, &self.limits)
    }

    /// The film point under a tip that settled at (x, y).
    pub(super) fn drift_undone(&self, x_nm: f64, y_nm: f64) -> (f64, f64) {
        let [dx, dy] = self.drift_nm;
        (x_nm - dx, y_nm - dy)
    }
}

/// Where to send the tip for the film point `at` when the sample has drifted
/// by `drift_nm`: moved with it, and never outside the instrument's frame.
fn sent(at: (f64, f64), [dx, dy]: [f64; 2], l: &crate::record::Limits) -> (f64, f64) {
    let inside = |v: f64, max: f64| if v.is_finite() { v.clamp(0.0, max) } else { max / 2.0 };
    (inside(at.0 + dx, l.x_max_nm), inside(at.1 + dy, l.y_max_nm))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Limits;
    use proptest::prelude::*;

    proptest! {
        /// A corrected move never leaves the instrument's limits, whatever
        /// the drift estimate says.
        #[test]
        fn a_corrected_move_stays_in_the_frame(
            x in -1e4f64..1e4, y in -1e4f64..1e4, dx in -1e5f64..1e5, dy in -1e5f64..1e5,
            w in 1.0f64..1e5, h in 1.0f64..1e5,
        ) {
            let l = Limits { bias_max_v: 2.0, current_max_a: 1e-8, x_max_nm: w, y_max_nm: h };
            let (sx, sy) = sent((x, y), [dx, dy], &l);
            prop_assert!((0.0..=w).contains(&sx) && (0.0..=h).contains(&sy));
            if (0.0..=w).contains(&(x + dx)) && (0.0..=h).contains(&(y + dy)) {
                prop_assert_eq!((sx, sy), (x + dx, y + dy));
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
        assert_eq!(sent((10.0, 10.0), [f64::NAN, 0.0], &l), (250.0, 10.0));
    }
}
