//! Scan status: run state, progress, pace, instrument and link, and the map.

use super::map::HeatMap;
use crate::engine::RunState;
use crate::fmt;
use crate::tui::app::{App, Pane};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

pub fn state_style(app: &App) -> Style {
    let t = &app.theme;
    let c = match app.snap.state {
        RunState::Running => t.ok,
        RunState::Pausing | RunState::Paused => t.warning,
        RunState::Aborting | RunState::Aborted | RunState::Failed => t.error,
        RunState::Finishing | RunState::Finished => t.accent,
        RunState::Idle => t.muted,
    };
    Style::default().fg(c).add_modifier(Modifier::BOLD)
}

/// The status lines (also the whole status in the narrow layout).
pub fn status_lines(app: &App) -> Vec<Line<'static>> {
    let s = &app.snap;
    let t = &app.theme;
    let muted = Style::default().fg(t.muted);
    let (elapsed, eta) = s
        .clock()
        .map(|(elapsed, eta)| (fmt::duration(elapsed), fmt::duration(eta)))
        .unwrap_or(("0:00".into(), "—".into()));
    let mut state = s.state.label().to_uppercase();
    if app.engine_done {
        state.push_str(" (run ended; q to leave)");
    }
    let mut first = vec![
        Span::styled(format!(" {state} "), state_style(app)),
        Span::raw(format!(" step {}/{}", s.steps(), s.budget)),
    ];
    let finishing = s.finishing.as_ref().filter(|_| s.state == RunState::Finishing);
    if finishing.is_none() {
        first.push(Span::styled(format!("  {:.0}/min", s.rate_per_min), muted));
    }
    first.push(Span::raw(format!("  elapsed {elapsed}  ETA {eta}")));
    // While the session waits for its final map the policy has nothing left
    // to choose: that line says what is being waited for instead.
    let second = match finishing {
        Some(f) => Line::from(vec![
            Span::styled(" final map ", muted),
            Span::raw(format!("dual VAE {}/{} on {} curves", f.member, f.members, f.curves)),
            Span::styled("  the session closes when it lands", muted),
        ]),
        None => Line::from(vec![
            Span::styled(" policy ", muted),
            Span::raw(format!("{} β={}", s.policy, s.beta)),
            Span::styled("  link ", muted),
            Span::raw(format!(
                "{} ({} retries, {} reconnects)",
                s.link_health(),
                s.retries,
                s.reconnects
            )),
            Span::styled(format!("  tty {:.1} kB/s", app.tty_bytes_per_s / 1000.0), muted),
        ]),
    };
    vec![
        Line::from(first),
        second,
        Line::from(vec![Span::styled(" instrument ", muted), Span::raw(s.idn.clone())]),
    ]
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let focused = app.focus == Pane::Scan;
    let mut title = format!(" 1 Scan · {} ", app.snap.session);
    if let Some((r, c)) = app.cursor {
        title.push_str(&format!("· cursor ({r}, {c}) "));
    }
    let block = Block::bordered()
        .title(Span::styled(title, app.theme.title(focused)))
        .border_style(app.theme.border(focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [status, map] = Layout::vertical([Constraint::Length(3), Constraint::Min(1)]).areas(inner);
    frame.render_widget(Paragraph::new(status_lines(app)), status);
    // Square pixels: a cell is about twice as tall as wide, and holds two rows.
    let side = map.width.min(map.height * 2);
    let map = Rect {
        x: map.x + (map.width - side) / 2,
        width: side,
        height: side.div_ceil(2).min(map.height),
        ..map
    };
    frame.render_widget(HeatMap { app }, map);
}
