//! The whole screen: every pane at once on a big terminal, tabs on a small one
//! (80×24 over SSH), the popups on top.

use super::app::{App, Pane};
use super::panes::{clusters, curves, events, overlay, queue, scan};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Tabs};

/// Smallest terminal that gets every pane at once.
pub const WIDE: (u16, u16) = (120, 34);

fn pane(frame: &mut Frame, area: Rect, app: &App, which: Pane) {
    match which {
        Pane::Scan => scan::render(frame, area, app),
        Pane::Curves => curves::render(frame, area, app),
        Pane::Queue => queue::render(frame, area, app),
        Pane::Clusters => clusters::render(frame, area, app),
        Pane::Events => events::render(frame, area, app),
    }
}

pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    frame.render_widget(Block::default().style(app.theme.base()), area);
    if area.width >= WIDE.0 && area.height >= WIDE.1 {
        wide(frame, area, app);
    } else {
        narrow(frame, area, app);
    }
    overlay::render_popup(frame, app);
}

fn wide(frame: &mut Frame, area: Rect, app: &App) {
    let [body, events_area, bar] =
        Layout::vertical([Constraint::Min(20), Constraint::Length(8), Constraint::Length(1)]).areas(area);
    let [left, right] = Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(body);
    let [curves_area, queue_area, clusters_area] = Layout::vertical([
        Constraint::Percentage(42),
        Constraint::Percentage(30),
        Constraint::Percentage(28),
    ])
    .areas(right);
    scan::render(frame, left, app);
    curves::render(frame, curves_area, app);
    queue::render(frame, queue_area, app);
    clusters::render(frame, clusters_area, app);
    events::render(frame, events_area, app);
    overlay::command_bar(frame, bar, app);
}

fn narrow(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let [tabs_area, status, body, bar] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(5),
        Constraint::Length(1),
    ])
    .areas(area);
    let titles: Vec<Line> = Pane::ALL
        .iter()
        .enumerate()
        .map(|(k, p)| Line::from(format!("{} {}", k + 1, p.title())))
        .collect();
    let selected = Pane::ALL.iter().position(|p| *p == app.focus).unwrap_or(0);
    frame.render_widget(
        Tabs::new(titles)
            .select(selected)
            .style(Style::default().fg(t.muted))
            .highlight_style(
                Style::default()
                    .fg(t.accent)
                    .add_modifier(Modifier::BOLD | Modifier::REVERSED),
            ),
        tabs_area,
    );
    // The one status line every tab keeps.
    let s = &app.snap;
    let eta = s
        .clock()
        .map(|(_, eta)| crate::fmt::duration(eta))
        .unwrap_or_else(|| "—".into());
    let doing = match s.final_training() {
        Some(f) => format!("final map {}/{}", f.member, f.members),
        None => format!("{} β={}", s.policy, s.beta),
    };
    let mut line = Line::from(vec![
        Span::styled(format!(" {} ", s.state.label().to_uppercase()), scan::state_style(app)),
        Span::raw(format!(
            " {}/{} · {doing} · ETA {eta} · link {}",
            s.steps(),
            s.budget,
            s.link_health()
        )),
    ]);
    if app.read_only {
        line.push_span(Span::styled(" · WATCH: read-only", Style::default().fg(t.warning)));
    }
    frame.render_widget(Paragraph::new(line), status);
    pane(frame, body, app, app.focus);
    overlay::command_bar(frame, bar, app);
}
