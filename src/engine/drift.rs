//! Drift tracking (`[drift]`): every few curves the frame is imaged again,
//! coarsely, and lined up with the survey; the offset found goes into every
//! later move, and out of every recorded position, so that a curve is both
//! taken and recorded at the film point the policy chose.

use super::{Engine, EngineEvent, Stop};
use crate::instrument::check;
use crate::ml::registration;
use crate::record::{DriftEstimate, EventKind};
use crate::store::{Entry, now_ms};

impl Engine {
    /// After each curve: a re-image when its turn has come.
    pub(super) fn drift_after_curve(&mut self) -> Result<(), Stop> {
        // Between locations: the curves of one location's set are taken at
        // one place, under one estimate.
        if self.open_set().is_some() {
            return Ok(());
        }
        let p = &self.plan.drift;
        // Every `every` locations of the session (a resumed run keeps the
        // beat; with one protocol, every `every` curves), or `every_min`
        // minutes after the last re-image of this run.
        let by_count = p.every > 0 && self.next_location().is_multiple_of(p.every);
        let since = self.last_reimage.unwrap_or(self.started).elapsed();
        let by_time = p.every_min > 0.0 && since.as_secs_f64() >= p.every_min * 60.0;
        if !(by_count || by_time) {
            return Ok(());
        }
        // After the budget's last curve no move follows: nothing to correct.
        if self.budget_spent() {
            return Ok(());
        }
        self.reimage()
    }

    /// Before the first curve of a resumed run: the sample went on drifting
    /// while nobody measured (for minutes or a night), so the estimate in
    /// the log is where moves start from only until this re-image replaces
    /// it.
    pub(super) fn drift_on_resume(&mut self) -> Result<(), Stop> {
        if !self.plan.drift.tracked() || self.history.is_empty() {
            return Ok(());
        }
        if self.drift_nm != [0.0, 0.0] {
            self.emit(EngineEvent::Drift(self.drift_nm));
        }
        self.reimage()
    }

    /// Images the frame coarsely, lines it up with the survey and, when the
    /// match is good, takes the offset as the drift.
    fn reimage(&mut self) -> Result<(), Stop> {
        self.last_reimage = Some(std::time::Instant::now());
        let p = self.plan.drift.clone();
        let survey = self.survey.clone().expect("survey taken before curves");
        let f = p.coarse_factor.max(1);
        let (rows, cols) = (survey.rows() / f, survey.cols() / f);
        // Checked as the survey is: an image that breaks the rules is a bad
        // reply, never a drift estimate.
        let max_pixels = crate::plan::memory::max_survey_pixels(&self.plan);
        let taken = self
            .instrument
            .survey(rows, cols)
            .and_then(|image| check::survey(&image, max_pixels).map(|()| image));
        let image = match taken {
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

    /// Where to send the tip for the film point (x, y): see
    /// [`check::drift_corrected`].
    pub(super) fn drift_sent(&self, x_nm: f64, y_nm: f64) -> (f64, f64) {
        check::drift_corrected((x_nm, y_nm), self.drift_nm, &self.limits)
    }

    /// The film point under a tip that settled at (x, y).
    pub(super) fn drift_undone(&self, x_nm: f64, y_nm: f64) -> (f64, f64) {
        let [dx, dy] = self.drift_nm;
        (x_nm - dx, y_nm - dy)
    }
}
