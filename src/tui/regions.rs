//! Excluded regions in the console: `v` draws one on the map from the cursor
//! (arrows grow it, enter keeps it, esc drops it), `V` lists them and takes
//! one back. The engine keeps them; the console only asks.

use super::app::{App, Pane, Popup};
use super::keymap::Action;
use crate::engine::Command;
use crate::plan::Exclusion;

impl App {
    pub(super) fn start_region(&mut self) {
        if self.drawing.take().is_some() {
            self.notice = Some("region dropped".into());
            return;
        }
        match self.cursor {
            Some(at) if !self.engine_done => {
                self.focus = Pane::Scan;
                self.drawing = Some(at);
                self.notice = Some("region: arrows grow it from the cursor, enter excludes it, esc drops it".into());
            }
            Some(_) => self.notice = Some("the run has ended".into()),
            None => self.notice = Some("no map cursor: m shows it, then v starts a region there".into()),
        }
    }

    /// The rectangle being drawn, in nm: from the first corner pixel's edge to
    /// the far edge of the cursor's pixel.
    pub fn drawn_region(&self) -> Option<Exclusion> {
        let ((r0, c0), (r1, c1)) = (self.drawing?, self.cursor?);
        let survey = self.snap.survey.as_ref()?;
        let (dx, dy) = (
            survey.width_nm / survey.cols() as f64,
            survey.height_nm / survey.rows() as f64,
        );
        Some(Exclusion {
            x_nm: [c0.min(c1) as f64 * dx, (c0.max(c1) + 1) as f64 * dx],
            y_nm: [r0.min(r1) as f64 * dy, (r0.max(r1) + 1) as f64 * dy],
        })
    }

    pub(super) fn keep_region(&mut self) -> Vec<Command> {
        let region = self.drawn_region();
        self.drawing = None;
        if self.engine_done {
            self.notice = Some("the run has ended: nothing to exclude from".into());
            return Vec::new();
        }
        match region {
            Some(region) => {
                self.notice = Some(format!("excluding {region}"));
                vec![Command::Exclude(region)]
            }
            None => Vec::new(),
        }
    }

    /// The excluded region a survey pixel's centre is in, if any.
    pub fn region_at(&self, row: u32, col: u32) -> Option<usize> {
        let survey = self.snap.survey.as_ref()?;
        let (x, y) = survey.pixel_to_nm(row, col);
        self.snap.regions.iter().position(|r| r.contains(x, y))
    }

    pub(super) fn on_regions_popup(&mut self, action: Action, selected: usize) -> Vec<Command> {
        let n = self.snap.regions.len();
        match action {
            Action::Up => self.popup = Popup::Regions(selected.saturating_sub(1)),
            Action::Down => self.popup = Popup::Regions((selected + 1).min(n.saturating_sub(1))),
            Action::Drop if selected < n && !self.engine_done => {
                self.popup = Popup::None;
                self.notice = Some(format!("taking back region {}", selected + 1));
                return vec![Command::Include(selected)];
            }
            _ => self.popup = Popup::None,
        }
        Vec::new()
    }
}
