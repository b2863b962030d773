//! The console's state besides the snapshot: focus, cursor, selection,
//! popups; and what each key does. Actions become engine commands; nothing
//! here waits on the engine.

use super::keymap::{Action, Keymap};
use super::snapshot::Snapshot;
use super::theme::Theme;
use crate::engine::{Command, EngineEvent, RunState};
use crate::plan::PolicyKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Scan,
    Curves,
    Queue,
    Clusters,
    Events,
}

impl Pane {
    pub const ALL: [Pane; 5] = [Self::Scan, Self::Curves, Self::Queue, Self::Clusters, Self::Events];

    pub fn title(self) -> &'static str {
        match self {
            Self::Scan => "Scan",
            Self::Curves => "I–V",
            Self::Queue => "Queue",
            Self::Clusters => "Clusters",
            Self::Events => "Events",
        }
    }

    /// The pane-specific actions the help lists for it.
    pub fn actions(self) -> &'static [Action] {
        match self {
            Self::Scan => &[
                Action::Cursor,
                Action::Up,
                Action::Down,
                Action::Left,
                Action::Right,
                Action::AddManual,
                Action::PickCurve,
                Action::MapLayer,
                Action::Exclude,
                Action::Regions,
            ],
            Self::Queue => &[Action::Up, Action::Down, Action::Drop, Action::MoveUp],
            Self::Events | Self::Clusters => &[Action::Up, Action::Down],
            Self::Curves => &[
                Action::OlderCurve,
                Action::NewerCurve,
                Action::LogCurrent,
                Action::Reject,
                Action::Repeat,
            ],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Popup {
    None,
    Help,
    ConfirmAbort,
    ConfirmQuit,
    /// The excluded regions, one selected.
    Regions(usize),
    /// A manual point inside an excluded region: measure it anyway?
    ConfirmManual(u32, u32),
    /// Reject (true) the curve of this step, or take its rejection back?
    ConfirmReject(u32, bool),
}

pub struct App {
    pub snap: Snapshot,
    pub theme: Theme,
    pub keymap: Keymap,
    pub focus: Pane,
    pub popup: Popup,
    /// The map cursor (row, col), when shown.
    pub cursor: Option<(u32, u32)>,
    pub queue_selected: usize,
    pub events_scroll: usize,
    /// The curve the I–V pane shows, by its place in the session (None:
    /// the newest, following the run).
    pub curve_shown: Option<usize>,
    /// The I–V pane's current axis is log |I|.
    pub log_current: bool,
    /// What the survey map colours.
    pub layer: crate::tui::panes::layer::MapLayer,
    /// The map as last drawn, in cells (width, height): the cursor steps one
    /// cell. Set by the render, which sees the layout; 0 before the first.
    pub map_cells: std::cell::Cell<(u16, u16)>,
    /// A short answer to the last key (shown in the command bar).
    pub notice: Option<String>,
    /// The note being typed (`n`), while its line is open.
    pub typing: Option<String>,
    /// The corner a region being drawn on the map starts at (`v`); the
    /// cursor is the other corner.
    pub drawing: Option<(u32, u32)>,
    /// Bytes per second written to the terminal, measured.
    pub tty_bytes_per_s: f64,
    /// The engine thread has ended; the screen stays until the user quits.
    pub engine_done: bool,
    /// A watch of a session another process runs: keys that would command
    /// the run only say so.
    pub read_only: bool,
    pub exit: bool,
    pub dirty: bool,
}

impl App {
    /// The newest model's predicted response at every candidate, once a
    /// training has landed.
    pub fn property_grid(&self) -> Option<&crate::record::PropertyGrid> {
        let c = self.snap.clusters.as_ref()?;
        (!c.properties.points.is_empty()).then_some(&*c.properties)
    }

    /// The layer the map shows: the topography until there is a property map.
    pub fn shown_layer(&self) -> crate::tui::panes::layer::MapLayer {
        match self.property_grid() {
            Some(_) => self.layer,
            None => Default::default(),
        }
    }

    pub fn new(snap: Snapshot, theme: Theme, keymap: Keymap) -> Self {
        Self {
            snap,
            theme,
            keymap,
            focus: Pane::Scan,
            popup: Popup::None,
            cursor: None,
            queue_selected: 0,
            events_scroll: 0,
            curve_shown: None,
            log_current: false,
            layer: Default::default(),
            map_cells: std::cell::Cell::new((0, 0)),
            notice: None,
            typing: None,
            drawing: None,
            tty_bytes_per_s: 0.0,
            engine_done: false,
            read_only: false,
            exit: false,
            dirty: true,
        }
    }

    pub fn on_engine(&mut self, event: EngineEvent) {
        if self.snap.apply(event) {
            self.dirty = true;
        }
        self.queue_selected = self.queue_selected.min(self.snap.queue.len().saturating_sub(1));
    }

    fn active(&self) -> bool {
        !self.engine_done && self.snap.state.is_active()
    }

    /// What a key does; returns the commands for the engine.
    pub fn on_action(&mut self, action: Action) -> Vec<Command> {
        self.dirty = true;
        self.notice = None;
        if self.read_only && self.popup == Popup::None {
            if action == Action::Quit {
                self.exit = true;
                return Vec::new();
            }
            if action.commands_the_run() {
                self.notice = Some("read-only: this is a watch".into());
                return Vec::new();
            }
        }
        match self.popup {
            Popup::Help => {
                if matches!(
                    action,
                    Action::Help | Action::Cancel | Action::Quit | Action::Confirm | Action::Note
                ) {
                    self.popup = Popup::None;
                }
                return Vec::new();
            }
            Popup::ConfirmAbort | Popup::ConfirmQuit => {
                let was = self.popup;
                self.popup = Popup::None;
                return match (action, was) {
                    (Action::Confirm, Popup::ConfirmAbort) => {
                        self.notice = Some("aborting: bias to 0 V, withdrawing".into());
                        vec![Command::Abort]
                    }
                    (Action::Confirm, Popup::ConfirmQuit) => {
                        self.notice = Some("quitting after the current curve".into());
                        vec![Command::Quit]
                    }
                    _ => {
                        self.notice = Some("cancelled".into());
                        Vec::new()
                    }
                };
            }
            Popup::Regions(selected) => return self.on_regions_popup(action, selected),
            Popup::ConfirmManual(row, col) => {
                self.popup = Popup::None;
                if action == Action::Confirm {
                    self.notice = Some(format!("manual point ({row}, {col}) goes next, in the region"));
                    return vec![Command::AddManual { row, col }];
                }
                self.notice = Some("cancelled".into());
                return Vec::new();
            }
            Popup::ConfirmReject(step, reject) => {
                self.popup = Popup::None;
                if action != Action::Confirm {
                    self.notice = Some("cancelled".into());
                    return Vec::new();
                }
                self.notice = Some(format!(
                    "curve of step {step} {}",
                    if reject { "rejected" } else { "restored" }
                ));
                return vec![if reject {
                    Command::Reject(step)
                } else {
                    Command::Restore(step)
                }];
            }
            Popup::None => {}
        }
        match action {
            Action::Quit => {
                if self.engine_done {
                    self.exit = true;
                    Vec::new()
                } else if self.active() {
                    self.popup = Popup::ConfirmQuit;
                    Vec::new()
                } else {
                    vec![Command::Quit]
                }
            }
            Action::Help => {
                self.popup = Popup::Help;
                Vec::new()
            }
            Action::PauseResume => match self.snap.state {
                RunState::Paused => vec![Command::Resume],
                RunState::Running => {
                    self.notice = Some("pausing after the current curve".into());
                    vec![Command::Pause]
                }
                _ => Vec::new(),
            },
            Action::StepOnce => {
                if self.snap.state == RunState::Paused {
                    vec![Command::StepOnce]
                } else {
                    self.notice = Some("step works while paused (p)".into());
                    Vec::new()
                }
            }
            Action::Abort => {
                if self.engine_done {
                    Vec::new()
                } else {
                    self.popup = Popup::ConfirmAbort;
                    Vec::new()
                }
            }
            Action::NextPane | Action::PrevPane => {
                let k = Pane::ALL.iter().position(|p| *p == self.focus).unwrap_or(0);
                let n = Pane::ALL.len();
                self.focus = Pane::ALL[if action == Action::NextPane {
                    (k + 1) % n
                } else {
                    (k + n - 1) % n
                }];
                Vec::new()
            }
            Action::FocusScan => self.focus_on(Pane::Scan),
            Action::FocusCurves => self.focus_on(Pane::Curves),
            Action::FocusQueue => self.focus_on(Pane::Queue),
            Action::FocusClusters => self.focus_on(Pane::Clusters),
            Action::FocusEvents => self.focus_on(Pane::Events),
            Action::Up | Action::Down | Action::Left | Action::Right => {
                self.navigate(action);
                Vec::new()
            }
            Action::Cursor => {
                self.focus = Pane::Scan;
                self.cursor = match self.cursor {
                    Some(_) => None,
                    None => self
                        .snap
                        .tip
                        .or_else(|| self.snap.survey.as_ref().map(|s| (s.rows() / 2, s.cols() / 2))),
                };
                Vec::new()
            }
            Action::AddManual if self.drawing.is_some() => self.keep_region(),
            Action::AddManual => match (self.focus, self.cursor) {
                (Pane::Scan, Some((row, col))) if !self.engine_done => {
                    if let Some(k) = self.region_at(row, col) {
                        self.notice = Some(format!("({row}, {col}) is in excluded region {}", k + 1));
                        self.popup = Popup::ConfirmManual(row, col);
                        return Vec::new();
                    }
                    self.notice = Some(format!("manual point ({row}, {col}) goes next"));
                    vec![Command::AddManual { row, col }]
                }
                _ => {
                    self.notice = Some("show the map cursor with m, then press enter".into());
                    Vec::new()
                }
            },
            Action::Drop | Action::MoveUp => {
                let Some(e) = self
                    .snap
                    .queue
                    .get(self.queue_selected)
                    .filter(|_| self.focus == Pane::Queue)
                else {
                    self.notice = Some("select a queue entry first (3, then j/k)".into());
                    return Vec::new();
                };
                let (row, col) = (e.row, e.col);
                if action == Action::Drop {
                    vec![Command::Drop { row, col }]
                } else {
                    self.queue_selected = self.queue_selected.saturating_sub(1);
                    vec![Command::MoveUp { row, col }]
                }
            }
            Action::NextPolicy => {
                let k = PolicyKind::ALL.iter().position(|p| *p == self.snap.policy).unwrap_or(0);
                let next = PolicyKind::ALL[(k + 1) % PolicyKind::ALL.len()];
                self.notice = Some(format!("switching to {next}"));
                // The next key press builds on this one, not on the engine's
                // last word (P P P steps through three policies); the engine's
                // PolicyChanged confirms or corrects it.
                self.snap.policy = next;
                vec![Command::SetPolicy(next)]
            }
            Action::BetaUp | Action::BetaDown => {
                let f = if action == Action::BetaUp { 1.5 } else { 1.0 / 1.5 };
                let beta = ((self.snap.beta.max(0.01) * f) * 1000.0).round() / 1000.0;
                self.notice = Some(format!("β → {beta}"));
                self.snap.beta = beta;
                vec![Command::SetBeta(beta)]
            }
            Action::Retrain => vec![Command::RetrainNow],
            Action::OlderCurve | Action::NewerCurve => {
                self.step_curves(action == Action::OlderCurve);
                Vec::new()
            }
            Action::LogCurrent => {
                self.log_current = !self.log_current;
                self.notice = Some(
                    if self.log_current {
                        "current: log |I|"
                    } else {
                        "current: linear"
                    }
                    .into(),
                );
                Vec::new()
            }
            Action::PickCurve => {
                self.pick_curve();
                Vec::new()
            }
            Action::MapLayer => {
                let has_map = self.property_grid().is_some();
                self.notice = Some(if has_map {
                    self.layer = self.layer.next();
                    format!("map: {}", self.layer.title())
                } else {
                    "no property map yet: the dual VAE has not trained".into()
                });
                Vec::new()
            }
            Action::Note => {
                self.start_note();
                Vec::new()
            }
            Action::Exclude => {
                self.start_region();
                Vec::new()
            }
            Action::Regions => {
                self.popup = Popup::Regions(0);
                Vec::new()
            }
            Action::Reject | Action::Repeat => self.judge_curve(action),
            Action::Cancel if self.drawing.is_some() => {
                self.drawing = None;
                self.notice = Some("region dropped".into());
                Vec::new()
            }
            Action::Confirm | Action::Cancel => Vec::new(),
        }
    }

    /// The place of the curve the I–V pane shows, if any curve is in.
    pub fn shown_curve(&self) -> Option<usize> {
        let n = self.snap.curves.len();
        (n > 0).then(|| self.curve_shown.map_or(n - 1, |k| k.min(n - 1)))
    }

    fn focus_on(&mut self, pane: Pane) -> Vec<Command> {
        self.focus = pane;
        Vec::new()
    }
}
