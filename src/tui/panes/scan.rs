//! Scan status: run state, progress, pace, instrument and link, and the map.

use super::layer::MapLayer;
use super::map::{self, HeatMap};
use crate::engine::RunState;
use crate::fmt;
use crate::tui::app::{App, Pane};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
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
    if app.read_only {
        // First, where even a narrow pane keeps it.
        first.insert(
            0,
            Span::styled(" WATCH: read-only ", Style::default().fg(t.bg).bg(t.warning)),
        );
    }
    let finishing = s.final_training();
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
    // The drift first: a narrow pane cuts the instrument's long name instead.
    let mut third = Vec::new();
    if let Some([dx, dy]) = s.drift_nm {
        third.push(Span::styled(" drift ", muted));
        third.push(Span::raw(format!("{dx:+.1}, {dy:+.1} nm ")));
    }
    third.extend([Span::styled(" instrument ", muted), Span::raw(s.idn.clone())]);
    vec![Line::from(first), second, Line::from(third)]
}

/// The cursor as the scientist reads it: the pixel, where it is in the frame
/// and the height there.
fn cursor_title(app: &App) -> Option<String> {
    let (r, c) = app.cursor?;
    let survey = app.snap.survey.as_ref()?;
    let (x_nm, y_nm) = survey.pixel_to_nm(r, c);
    let h = survey
        .heights_nm
        .get((r as usize, c as usize))
        .copied()
        .unwrap_or(f64::NAN);
    Some(format!("· cursor ({r}, {c}) {x_nm:.0}, {y_nm:.0} nm · {h:.1} nm "))
}

/// The layer's value under the cursor, for the end of the scale line.
fn under_cursor(app: &App) -> Option<String> {
    let (r, c) = app.cursor?;
    let layer = app.shown_layer();
    let v = app.property_grid()?.at(r, c).and_then(|p| layer.value(p))?;
    Some(format!("  ✚ {}", layer.read(v)))
}

/// The map's scale: the heat map's colours from the lowest to the highest
/// value of the layer shown (the survey's heights, in nm, or a predicted
/// property in its units), both ends written out (shades without colour);
/// for the cluster layer, each cluster's colour.
fn scale_line(app: &App, width: u16) -> Line<'static> {
    let t = &app.theme;
    let muted = Style::default().fg(t.muted);
    let Some(survey) = app.snap.survey.as_ref() else {
        return Line::default();
    };
    let layer = app.shown_layer();
    let range = app.property_grid().and_then(|g| layer.range(g));
    let (lo, hi) = match range {
        Some(r) if layer != MapLayer::Topography => r,
        _ => survey.height_range_nm(),
    };
    let here = under_cursor(app);
    let here_len = here.as_ref().map_or(0, |h| h.chars().count());
    let here = here.map(Span::raw);
    if layer == MapLayer::Cluster {
        let mut spans = vec![Span::styled(" cluster ", muted)];
        for k in (lo as u32)..=(hi as u32) {
            spans.push(Span::styled("●", Style::default().fg(t.cluster(k))));
            spans.push(Span::raw(format!(" {k} ")));
        }
        spans.extend(here);
        return Line::from(spans);
    }
    let (lo_text, hi_text) = (format!(" {} ", layer.read(lo)), format!(" {}", layer.read(hi)));
    let room = (width as usize).saturating_sub(8 + lo_text.len() + hi_text.len() + here_len);
    let bar = room.clamp(4, 24);
    let mut spans = vec![Span::styled(format!(" {}", layer.short()), muted), Span::raw(lo_text)];
    for k in 0..bar {
        let v = k as f64 / (bar - 1) as f64;
        spans.push(if t.monochrome {
            Span::raw(map::SHADES[((v * 4.999) as usize).min(4)])
        } else {
            Span::styled("█", Style::default().fg(t.heat_at(v)))
        });
    }
    spans.push(Span::raw(hi_text));
    spans.extend(here);
    Line::from(spans)
}

/// What every glyph and colour on the map means: one entry per glyph, set
/// on as few lines of `width` as hold them, never splitting an entry.
fn legend(app: &App, width: usize) -> Vec<Line<'static>> {
    let t = &app.theme;
    let muted = Style::default().fg(t.muted);
    let dot = |c: Color| Span::styled("●", Style::default().fg(c));
    let mut entries: Vec<Vec<Span<'static>>> = Vec::new();
    match app.snap.clusters.as_ref() {
        Some(c) => {
            let k = c.summaries.len().max(1) as u32;
            let mut entry: Vec<Span> = (0..k.min(6)).map(|cluster| dot(t.cluster(cluster))).collect();
            entry.push(Span::styled(format!(" measured, by cluster ({k})"), muted));
            entries.push(entry);
        }
        None => {
            for (c, what) in [(Color::White, " seed"), (t.accent, " policy"), (t.warning, " manual")] {
                entries.push(vec![dot(c), Span::styled(what, muted)]);
            }
        }
    }
    let on_ok = Style::default().fg(Color::Black).bg(t.ok);
    let mut tags: Vec<(&'static str, Style, &'static str)> = vec![
        ("◉", Style::default().fg(t.error).add_modifier(Modifier::BOLD), " tip"),
        ("1 2 3", on_ok, " next"),
        ("M", on_ok, " manual"),
        ("P", on_ok, " pinned"),
        ("✚", Style::default().fg(Color::Black).bg(t.warning), " cursor"),
    ];
    if app.curve_shown.is_some() {
        tags.push(("◆", Style::default().fg(Color::Black).bg(t.accent), " curve shown"));
    }
    if !app.snap.rejected.is_empty() {
        tags.push(("✕", Style::default().fg(t.error), " rejected"));
    }
    if !app.snap.regions.is_empty() {
        tags.push(("┌┐", Style::default().fg(t.error), " excluded"));
    }
    if app.drawing.is_some() {
        tags.push(("┌┐", Style::default().fg(t.warning), " drawing (enter keeps)"));
    }
    for (glyph, style, what) in tags {
        entries.push(vec![Span::styled(glyph, style), Span::styled(what, muted)]);
    }
    let mut lines: Vec<Vec<Span<'static>>> = vec![vec![Span::raw(" ")]];
    for entry in entries {
        let len: usize = entry.iter().map(|s| s.width()).sum();
        let line = lines.last_mut().expect("one line at least");
        let used: usize = line.iter().map(|s| s.width()).sum();
        if used > 1 && used + 2 + len > width {
            lines.push(vec![Span::raw(" ")]);
        } else if used > 1 {
            line.push(Span::raw("  "));
        }
        lines.last_mut().expect("just pushed").extend(entry);
    }
    lines.into_iter().map(Line::from).collect()
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let focused = app.focus == Pane::Scan;
    let layer = app.shown_layer();
    // A narrow pane with a layer shown keeps the layer and the cursor in
    // its title and leaves out the session (the top bar names the run).
    let mut title = if layer != MapLayer::Topography && area.width < 100 {
        " 1 Scan ".to_string()
    } else {
        format!(" 1 Scan · {} ", app.snap.session)
    };
    if layer != MapLayer::Topography {
        title.push_str(&format!("· {} ", layer.tag()));
    }
    if let Some(cursor) = cursor_title(app) {
        title.push_str(&cursor);
    }
    let block = Block::bordered()
        .title(Span::styled(title, app.theme.title(focused)))
        .border_style(app.theme.border(focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // The legend wraps onto a second line rather than lose its last words.
    let legend = legend(app, inner.width as usize);
    let legend_rows = legend.len().min(2) as u16;
    let [status, map, scale, legend_area] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(legend_rows),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(status_lines(app)), status);
    frame.render_widget(Paragraph::new(scale_line(app, scale.width)), scale);
    frame.render_widget(Paragraph::new(legend), legend_area);
    // Square pixels: a cell is about twice as tall as wide, and holds two rows.
    let side = map.width.min(map.height * 2);
    let map = Rect {
        x: map.x + (map.width - side) / 2,
        width: side,
        height: side.div_ceil(2).min(map.height),
        ..map
    };
    // The cursor keys step one cell of the map as drawn.
    app.map_cells.set((map.width, map.height));
    frame.render_widget(HeatMap { app }, map);
}
