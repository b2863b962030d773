//! The acquisition queue: manual points, points moved up, then the policy's
//! best candidates with score, mean, std and both novelties.

use crate::engine::QueueKind;
use crate::tui::app::{App, Pane};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState};

fn num(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite())
        .map(|x| format!("{x:.3}"))
        .unwrap_or_else(|| "—".into())
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let focused = app.focus == Pane::Queue;
    let block = Block::bordered()
        .title(Span::styled(" 3 Acquisition queue ", t.title(focused)))
        .border_style(t.border(focused));
    if app.snap.queue.is_empty() {
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let text = if app.snap.steps() < 1 {
            "seeds first, then the policy's choices"
        } else {
            "the policy ranks nothing yet"
        };
        frame.render_widget(Paragraph::new(Span::styled(text, Style::default().fg(t.muted))), inner);
        return;
    }
    let header =
        Row::new(["#", "", "row", "col", "score", "μ", "σ", "struct", "spect"]).style(Style::default().fg(t.muted));
    let rows = app.snap.queue.iter().enumerate().map(|(k, e)| {
        let (kind, colour) = match e.kind {
            QueueKind::Manual => ("M", t.warning),
            QueueKind::Pinned => ("P", t.ok),
            QueueKind::Policy => ("", t.fg),
        };
        Row::new(vec![
            Cell::from(format!("{}", k + 1)),
            Cell::from(Span::styled(
                kind,
                Style::default().fg(colour).add_modifier(Modifier::BOLD),
            )),
            Cell::from(e.row.to_string()),
            Cell::from(e.col.to_string()),
            Cell::from(num(e.score)),
            Cell::from(num(e.mean)),
            Cell::from(num(e.std)),
            Cell::from(num(e.structure_novelty)),
            Cell::from(num(e.spectral_novelty)),
        ])
    });
    let widths = [
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Length(4),
        Constraint::Length(4),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .row_highlight_style(Style::default().fg(t.accent).add_modifier(Modifier::REVERSED));
    let mut state = TableState::default();
    if focused {
        state.select(Some(app.queue_selected));
    }
    frame.render_stateful_widget(table, area, &mut state);
}
