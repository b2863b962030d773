//! Events: retries, reconnects, errors, pauses, retrains, newest at the bottom.
//! Times are shown since the session's first event, so the pane reads the same
//! in any time zone.

use crate::record::EventKind;
use crate::tui::app::{App, Pane};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

fn since(t_ms: i64, start_ms: i64) -> String {
    let s = ((t_ms - start_ms).max(0) / 1000) as u64;
    format!("+{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let focused = app.focus == Pane::Events;
    let block = Block::bordered()
        .title(Span::styled(" 5 Events ", t.title(focused)))
        .border_style(t.border(focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let events = &app.snap.events;
    let start = events.front().map(|e| e.t_ms).unwrap_or(0);
    let visible = inner.height as usize;
    let end = events.len().saturating_sub(app.events_scroll);
    let begin = end.saturating_sub(visible);
    let lines: Vec<Line> = events
        .iter()
        .skip(begin)
        .take(end - begin)
        .map(|e| {
            let colour = match &e.kind {
                k if k.is_fault() => t.error,
                EventKind::Retry
                | EventKind::Reconnect
                | EventKind::InstrumentReset
                | EventKind::Pause
                | EventKind::Abort => t.warning,
                EventKind::Retrain | EventKind::Finish | EventKind::Resume | EventKind::Start => t.ok,
                _ => t.fg,
            };
            Line::from(vec![
                Span::styled(format!("{} ", since(e.t_ms, start)), Style::default().fg(t.muted)),
                Span::styled(format!("{:<14} ", e.kind), Style::default().fg(colour)),
                Span::raw(e.detail.clone()),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
