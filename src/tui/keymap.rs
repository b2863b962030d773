//! Keys to actions. Every action has default keys (vim keys and arrows both);
//! a TOML file can rebind any of them:
//!
//! ```toml
//! [keys]
//! pause_resume = ["p", "space"]
//! quit = ["q", "ctrl-c"]
//! ```

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Quit,
    PauseResume,
    StepOnce,
    Abort,
    Help,
    NextPane,
    PrevPane,
    FocusScan,
    FocusCurves,
    FocusQueue,
    FocusClusters,
    FocusEvents,
    Up,
    Down,
    Left,
    Right,
    /// Show or hide the cursor on the survey map.
    Cursor,
    /// Measure the point under the map cursor next.
    AddManual,
    /// Take the selected queue entry out.
    Drop,
    /// Move the selected queue entry one place up.
    MoveUp,
    NextPolicy,
    BetaUp,
    BetaDown,
    Retrain,
    /// Show the curve measured before the one shown.
    OlderCurve,
    /// Show the next newer curve (past the newest: follow the run again).
    NewerCurve,
    /// Show the curve measured nearest the map cursor.
    PickCurve,
    /// Current on a linear axis or |I| on a log axis.
    LogCurrent,
    /// The map's next layer: topography or a predicted property.
    MapLayer,
    /// Write a note for the session's lab notebook.
    Note,
    /// Start (or drop) a rectangle on the map to exclude.
    Exclude,
    /// List the excluded regions, to take one back.
    Regions,
    /// Reject the curve shown (or take its rejection back).
    Reject,
    /// Measure the shown curve's location again.
    Repeat,
    Confirm,
    Cancel,
}

impl Action {
    pub const ALL: [Action; 36] = [
        Self::Quit,
        Self::PauseResume,
        Self::StepOnce,
        Self::Abort,
        Self::Help,
        Self::NextPane,
        Self::PrevPane,
        Self::FocusScan,
        Self::FocusCurves,
        Self::FocusQueue,
        Self::FocusClusters,
        Self::FocusEvents,
        Self::Up,
        Self::Down,
        Self::Left,
        Self::Right,
        Self::Cursor,
        Self::AddManual,
        Self::Drop,
        Self::MoveUp,
        Self::NextPolicy,
        Self::BetaUp,
        Self::BetaDown,
        Self::Retrain,
        Self::OlderCurve,
        Self::NewerCurve,
        Self::PickCurve,
        Self::LogCurrent,
        Self::MapLayer,
        Self::Note,
        Self::Exclude,
        Self::Regions,
        Self::Reject,
        Self::Repeat,
        Self::Confirm,
        Self::Cancel,
    ];

    /// Whether the action asks something of the run (a watch refuses these).
    pub fn commands_the_run(self) -> bool {
        matches!(
            self,
            Self::PauseResume
                | Self::StepOnce
                | Self::Abort
                | Self::AddManual
                | Self::Drop
                | Self::MoveUp
                | Self::NextPolicy
                | Self::BetaUp
                | Self::BetaDown
                | Self::Retrain
                | Self::Note
                | Self::Exclude
                | Self::Reject
                | Self::Repeat
        )
    }

    /// What the action does, for the help overlay.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Quit => "quit (asks while running; the session stays resumable)",
            Self::PauseResume => "pause after the current curve / resume",
            Self::StepOnce => "while paused: measure one more point, then pause",
            Self::Abort => "abort: bias to 0 V, tip withdrawn (asks first)",
            Self::Help => "show or hide this help",
            Self::NextPane => "next pane",
            Self::PrevPane => "previous pane",
            Self::FocusScan => "scan status and survey map",
            Self::FocusCurves => "I–V curves",
            Self::FocusQueue => "acquisition queue",
            Self::FocusClusters => "latent clusters",
            Self::FocusEvents => "events",
            Self::Up => "up (map cursor, queue selection, scroll)",
            Self::Down => "down",
            Self::Left => "left (map cursor)",
            Self::Right => "right (map cursor)",
            Self::Cursor => "show / hide the map cursor",
            Self::AddManual => "measure the point under the cursor next (manual)",
            Self::Drop => "drop the selected queue entry",
            Self::MoveUp => "move the selected queue entry up",
            Self::NextPolicy => "switch to the next policy",
            Self::BetaUp => "increase β (more exploration)",
            Self::BetaDown => "decrease β",
            Self::Retrain => "retrain the dual VAE now",
            Self::OlderCurve => "show the curve before (older)",
            Self::NewerCurve => "show the curve after (past the newest: follow the run)",
            Self::PickCurve => "show the curve measured nearest the map cursor (◆ on the map)",
            Self::LogCurrent => "current axis: linear I / log |I| (semi-log)",
            Self::MapLayer => "map layer: topography, or a predicted property",
            Self::Note => "write a note in the session's events (enter logs, esc drops)",
            Self::Exclude => "exclude a region: arrows grow it, enter keeps, esc drops",
            Self::Regions => "list the excluded regions (d takes one back)",
            Self::Reject => "reject the curve shown: flagged, left out of the models (again: undo)",
            Self::Repeat => "measure the shown curve's location again (a manual point)",
            Self::Confirm => "answer yes",
            Self::Cancel => "answer no / close (any key but y answers no)",
        }
    }
}

/// A key with its modifiers, as written in a keymap file ("ctrl-c", "K", "space").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

impl Key {
    pub fn parse(text: &str) -> Option<Self> {
        let (ctrl, name) = match text.strip_prefix("ctrl-") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let code = match name {
            "space" => KeyCode::Char(' '),
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "delete" => KeyCode::Delete,
            "backspace" => KeyCode::Backspace,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            s if s.chars().count() == 1 => KeyCode::Char(s.chars().next()?),
            _ => return None,
        };
        Some(Self { code, ctrl })
    }

    pub fn of(event: &KeyEvent) -> Self {
        Self {
            code: event.code,
            ctrl: event.modifiers.contains(KeyModifiers::CONTROL),
        }
    }

    pub fn label(&self) -> String {
        let name = match self.code {
            KeyCode::Char(' ') => "space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "enter".into(),
            KeyCode::Esc => "esc".into(),
            KeyCode::Tab => "tab".into(),
            KeyCode::BackTab => "shift-tab".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Delete => "del".into(),
            other => format!("{other:?}").to_lowercase(),
        };
        if self.ctrl { format!("ctrl-{name}") } else { name }
    }
}

#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: HashMap<Key, Action>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeymapFile {
    keys: BTreeMap<Action, Vec<String>>,
}

impl Default for Keymap {
    fn default() -> Self {
        let mut k = Self {
            bindings: HashMap::new(),
        };
        let defaults: &[(Action, &[&str])] = &[
            (Action::Quit, &["q", "ctrl-c"]),
            (Action::PauseResume, &["p", "space"]),
            (Action::StepOnce, &["s"]),
            (Action::Abort, &["a"]),
            (Action::Help, &["?"]),
            (Action::NextPane, &["tab"]),
            (Action::PrevPane, &["backtab"]),
            (Action::FocusScan, &["1"]),
            (Action::FocusCurves, &["2"]),
            (Action::FocusQueue, &["3"]),
            (Action::FocusClusters, &["4"]),
            (Action::FocusEvents, &["5"]),
            (Action::Up, &["k", "up"]),
            (Action::Down, &["j", "down"]),
            (Action::Left, &["h", "left"]),
            (Action::Right, &["l", "right"]),
            (Action::Cursor, &["m"]),
            (Action::AddManual, &["enter"]),
            (Action::Drop, &["d", "delete"]),
            (Action::MoveUp, &["u"]),
            (Action::NextPolicy, &["P"]),
            (Action::BetaUp, &["+", "="]),
            (Action::BetaDown, &["-"]),
            (Action::Retrain, &["r"]),
            (Action::OlderCurve, &["["]),
            (Action::NewerCurve, &["]"]),
            (Action::PickCurve, &["i"]),
            (Action::LogCurrent, &["g"]),
            (Action::MapLayer, &["c"]),
            (Action::Confirm, &["y"]),
            (Action::Note, &["n"]),
            (Action::Exclude, &["v"]),
            (Action::Regions, &["V"]),
            (Action::Reject, &["x"]),
            (Action::Repeat, &["R"]),
            (Action::Cancel, &["esc"]),
        ];
        for (action, keys) in defaults {
            for key in *keys {
                k.bindings.insert(Key::parse(key).expect("default keys parse"), *action);
            }
        }
        k
    }
}

/// Why a keymap file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeymapError {
    #[error("keymap {path}: {source}")]
    Unreadable {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("keymap {path}: {message}")]
    Toml { path: std::path::PathBuf, message: String },
    #[error("keymap {path}: `{key}` is not a key")]
    NotAKey { path: std::path::PathBuf, key: String },
}

impl Keymap {
    /// The defaults with a file's bindings on top: an action named in the file
    /// loses its default keys.
    pub fn load(path: &Path) -> Result<Self, KeymapError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeymapError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        let file: KeymapFile = toml::from_str(&text).map_err(|e| KeymapError::Toml {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
        let mut map = Self::default();
        for (action, keys) in file.keys {
            map.bindings.retain(|_, a| *a != action);
            for k in keys {
                let key = Key::parse(&k).ok_or_else(|| KeymapError::NotAKey {
                    path: path.to_path_buf(),
                    key: k.clone(),
                })?;
                map.bindings.insert(key, action);
            }
        }
        Ok(map)
    }

    pub fn action(&self, event: &KeyEvent) -> Option<Action> {
        let key = Key::of(event);
        self.bindings.get(&key).copied().or_else(|| {
            // Terminals report shifted letters either way; accept both.
            let unshifted = Key {
                code: event.code,
                ctrl: key.ctrl,
            };
            self.bindings.get(&unshifted).copied()
        })
    }

    /// The keys bound to an action, for the help and the command bar.
    pub fn keys_for(&self, action: Action) -> Vec<String> {
        let mut keys: Vec<String> = self
            .bindings
            .iter()
            .filter(|(_, a)| **a == action)
            .map(|(k, _)| k.label())
            .collect();
        // Letters before arrows and names, then alphabetical: stable on every run.
        keys.sort_by_key(|k| (k.chars().count() > 1, k.clone()));
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_cover_every_action_and_files_override() {
        let map = Keymap::default();
        for a in Action::ALL {
            assert!(!map.keys_for(a).is_empty(), "{a:?} has no key");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        std::fs::write(&path, "[keys]\npause_resume = [\"x\"]\n").unwrap();
        let map = Keymap::load(&path).unwrap();
        assert_eq!(map.keys_for(Action::PauseResume), vec!["x".to_string()]);
        let x = KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE);
        assert_eq!(map.action(&x), Some(Action::PauseResume));
        std::fs::write(&path, "[keys]\nfly = [\"x\"]\n").unwrap();
        assert!(Keymap::load(&path).is_err());
    }
}
