//! Moving about the session in the console: the map cursor, one map cell a
//! key, and which past curve the I–V pane shows.

use super::app::{App, Pane};
use super::keymap::Action;
use crate::record::Measurement;

/// Map cursor step in pixels per key before the map has been drawn.
const CURSOR_STEP: u32 = 4;

/// The pixel one map cell before or after `at` along an axis of `pixels`
/// drawn in `cells` cells (the map draws pixel p in cell ⌊p·cells/pixels⌋),
/// at the middle of that cell; at the edge it stays.
fn one_cell(at: u32, pixels: u32, cells: u16, forward: bool) -> u32 {
    let last = pixels.saturating_sub(1);
    if cells == 0 {
        return if forward {
            (at + CURSOR_STEP).min(last)
        } else {
            at.saturating_sub(CURSOR_STEP)
        };
    }
    let (n, cells) = (pixels as u64, cells as u64);
    let cell = at as u64 * cells / n;
    let target = match (forward, cell) {
        (true, c) if c + 1 >= cells => return at,
        (true, c) => c + 1,
        (false, 0) => return at,
        (false, c) => c - 1,
    };
    // The pixels of a cell: from ⌈c·n/cells⌉ to ⌈(c+1)·n/cells⌉ − 1.
    let first = (target * n).div_ceil(cells);
    let end = ((target + 1) * n).div_ceil(cells).max(first + 1);
    (((first + end - 1) / 2) as u32).min(last)
}

impl App {
    pub(super) fn step_curves(&mut self, older: bool) {
        self.focus = Pane::Curves;
        let n = self.snap.curves.len();
        let Some(k) = self.shown_curve() else {
            self.notice = Some("no curve yet".into());
            return;
        };
        self.curve_shown = match (older, k) {
            (true, k) => Some(k.saturating_sub(1)),
            (false, k) if k + 1 >= n => None,
            (false, k) => Some(k + 1),
        };
        self.notice = Some(match self.curve_shown {
            Some(k) => format!("curve {} of {} (] for newer)", k + 1, n),
            None => "following the newest curve".into(),
        });
    }

    /// Shows the curve measured nearest the map cursor (the map stays in
    /// focus, so the cursor can go on to the next point of interest).
    pub(super) fn pick_curve(&mut self) {
        let Some((r, c)) = self.cursor else {
            self.notice = Some("no map cursor: m shows it, then i shows the curve nearest it".into());
            return;
        };
        let distance = |m: &Measurement| {
            let (dr, dc) = (m.row as i64 - r as i64, m.col as i64 - c as i64);
            dr * dr + dc * dc
        };
        let n = self.snap.curves.len();
        let nearest = (0..n).min_by_key(|k| (distance(&self.snap.curves[*k]), n - k));
        self.notice = Some(match nearest {
            None => "no curve yet".into(),
            Some(k) => {
                self.curve_shown = Some(k);
                let m = &self.snap.curves[k];
                format!(
                    "curve {} of {} (step {}) at {:.0}, {:.0} nm, {:.0} px from the cursor",
                    k + 1,
                    n,
                    m.step,
                    m.x_nm,
                    m.y_nm,
                    (distance(m) as f64).sqrt()
                )
            }
        });
    }

    pub(super) fn navigate(&mut self, action: Action) {
        match self.focus {
            Pane::Scan => {
                let (Some((r, c)), Some(s)) = (self.cursor, self.snap.survey.as_ref()) else {
                    return;
                };
                let (rows, cols) = (s.rows(), s.cols());
                let (width, height) = self.map_cells.get();
                self.cursor = Some(match action {
                    Action::Up => (one_cell(r, rows, height, false), c),
                    Action::Down => (one_cell(r, rows, height, true), c),
                    Action::Left => (r, one_cell(c, cols, width, false)),
                    _ => (r, one_cell(c, cols, width, true)),
                });
            }
            Pane::Queue => {
                let n = self.snap.queue.len();
                if action == Action::Up {
                    self.queue_selected = self.queue_selected.saturating_sub(1);
                } else if action == Action::Down && n > 0 {
                    self.queue_selected = (self.queue_selected + 1).min(n - 1);
                }
            }
            Pane::Events => {
                if action == Action::Up {
                    self.events_scroll = (self.events_scroll + 1).min(self.snap.events.len().saturating_sub(1));
                } else if action == Action::Down {
                    self.events_scroll = self.events_scroll.saturating_sub(1);
                }
            }
            Pane::Curves | Pane::Clusters => {}
        }
    }
}

impl App {
    /// `x` and `R` on the curve the I–V pane shows: rejecting (or restoring)
    /// asks first; a repeat goes in the queue at once.
    pub(super) fn judge_curve(&mut self, action: Action) -> Vec<crate::engine::Command> {
        let Some(k) = self.shown_curve().filter(|_| !self.engine_done) else {
            self.notice = Some("no curve to judge".into());
            return Vec::new();
        };
        let step = self.snap.curves[k].step;
        if action == Action::Repeat {
            self.notice = Some(format!("a repeat of step {step} goes next"));
            return vec![crate::engine::Command::Repeat(step)];
        }
        self.focus = Pane::Curves;
        self.popup = super::app::Popup::ConfirmReject(step, !self.snap.rejected.contains(&step));
        Vec::new()
    }
}
