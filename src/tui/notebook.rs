//! The lab notebook in the console: `n` opens a line for a note, typed keys
//! go to it (not to the keymap), enter hands it to the engine as an `events`
//! row, esc drops it.

use super::app::App;
use crate::engine::Command;
use crate::store::inbox::NOTE_MAX_CHARS;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

impl App {
    /// Opens the note line.
    pub(super) fn start_note(&mut self) {
        if self.engine_done {
            self.notice = Some("the run has ended: dualscope note <session> \"…\" adds a note".into());
        } else {
            self.typing = Some(String::new());
        }
    }

    /// A key while the note line is open; returns the commands for the engine.
    pub fn on_typed(&mut self, key: &KeyEvent) -> Vec<Command> {
        self.dirty = true;
        let Some(text) = self.typing.as_mut() else {
            return Vec::new();
        };
        match key.code {
            KeyCode::Esc => {
                self.typing = None;
                self.notice = Some("note dropped".into());
            }
            KeyCode::Enter => {
                let text = self.typing.take().unwrap_or_default();
                return match crate::store::inbox::clean(&text) {
                    Some(text) => {
                        self.notice = Some("noted in the session's events".into());
                        vec![Command::Note(text)]
                    }
                    None => {
                        self.notice = Some("an empty note: nothing noted".into());
                        Vec::new()
                    }
                };
            }
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.typing = None;
                self.notice = Some("note dropped".into());
            }
            KeyCode::Char(c) if text.chars().count() < NOTE_MAX_CHARS => text.push(c),
            _ => {}
        }
        Vec::new()
    }
}
