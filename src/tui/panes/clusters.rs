//! The live dual VAE's clusters: a table with a one-line reading each, and a
//! scatter of the joint latent map coloured by cluster.

use crate::tui::app::{App, Pane};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::Span;
use ratatui::widgets::canvas::{Canvas, Points};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table};

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let focused = app.focus == Pane::Clusters;
    // The models learn from whole locations when each has several sweeps.
    let unit = if app.snap.protocols > 1 { "locations" } else { "curves" };
    let title = match &app.snap.clusters {
        Some(c) => match c.ari {
            Some(ari) => format!(" 4 Latent clusters · model on {} {unit} · ARI {ari:.2} ", c.model_step),
            None => format!(" 4 Latent clusters · model on {} {unit} ", c.model_step),
        },
        None => " 4 Latent clusters ".to_string(),
    };
    let block = Block::bordered()
        .title(Span::styled(title, t.title(focused)))
        .border_style(t.border(focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(view) = &app.snap.clusters else {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "no dual-VAE model yet: it retrains every few curves (r: now)",
                Style::default().fg(t.muted),
            )),
            inner,
        );
        return;
    };
    let scatter_w = (inner.width / 4).clamp(10, 32);
    let [table_area, scatter_area] =
        Layout::horizontal([Constraint::Min(20), Constraint::Length(scatter_w)]).areas(inner);
    // With several sweeps a location, the loop under each, lowest first in
    // the plan's order ("0.4/12/88").
    let per_protocol = view.summaries.iter().map(|s| s.protocol_areas.len()).max().unwrap_or(1);
    let loop_header = if per_protocol > 1 { "loops V·pA" } else { "loop V·pA" };
    let header = Row::new(["k", "n", loop_header, "onset V", "Imax pA", "reading"]).style(Style::default().fg(t.muted));
    let rows = view.summaries.iter().map(|s| {
        Row::new(vec![
            Cell::from(Span::styled(
                format!("●{}", s.cluster),
                Style::default().fg(t.cluster(s.cluster as u32)),
            )),
            Cell::from(s.size.to_string()),
            Cell::from(if per_protocol > 1 {
                let each: Vec<String> = s
                    .protocol_areas
                    .iter()
                    .map(|a| format!("{:.0}", a.mean * 1e12))
                    .collect();
                each.join("/")
            } else {
                format!("{:.1}", s.hysteresis_area.mean * 1e12)
            }),
            Cell::from(if s.onset_v.mean.is_finite() {
                format!("{:.2}", s.onset_v.mean)
            } else {
                "—".into()
            }),
            Cell::from(format!("{:.0}", s.max_current_a.mean * 1e12)),
            Cell::from(s.reading.clone()),
        ])
    });
    let widths = [
        Constraint::Length(3),
        Constraint::Length(4),
        Constraint::Length(if per_protocol > 1 {
            (4 * per_protocol as u16).max(10)
        } else {
            9
        }),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Min(10),
    ];
    frame.render_widget(Table::new(rows, widths).header(header), table_area);

    let (xs, ys): (Vec<f64>, Vec<f64>) = view.points.iter().map(|p| (p.0 as f64, p.1 as f64)).unzip();
    let bound = |v: &[f64]| {
        let (lo, hi) = v
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(*x), b.max(*x)));
        let pad = ((hi - lo) * 0.05).max(1e-9);
        [lo - pad, hi + pad]
    };
    let groups: Vec<(u32, Vec<(f64, f64)>)> = (0..view.summaries.len() as u32)
        .map(|k| {
            (
                k,
                view.points
                    .iter()
                    .filter(|p| p.2 == k)
                    .map(|p| (p.0 as f64, p.1 as f64))
                    .collect(),
            )
        })
        .collect();
    let canvas = Canvas::default()
        .block(Block::default().title(Span::styled("latent map", Style::default().fg(t.muted))))
        .marker(Marker::Braille)
        .x_bounds(bound(&xs))
        .y_bounds(bound(&ys))
        .paint(|ctx| {
            for (k, pts) in &groups {
                ctx.draw(&Points {
                    coords: pts,
                    color: t.cluster(*k),
                });
            }
        });
    frame.render_widget(canvas, scatter_area);
}
