//! I–V curves: the latest curve with its up and down branches, sparklines of
//! the recent curves with their loop areas, and the loop area over the session.

use crate::fmt;
use crate::tui::app::{App, Pane};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph, Sparkline};

/// Samples scaled into 0..=100 for a sparkline (which takes no negatives).
fn scaled(values: &[f64]) -> Vec<u64> {
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    let span = (hi - lo).max(1e-30);
    values
        .iter()
        .map(|v| ((v - lo) / span * 100.0).round() as u64)
        .collect()
}

/// Every `n`-th value so a series fits `width` columns.
fn thin(values: &[f64], width: usize) -> Vec<f64> {
    let step = values.len().div_ceil(width.max(1)).max(1);
    values
        .chunks(step)
        .map(|c| c.iter().sum::<f64>() / c.len() as f64)
        .collect()
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let focused = app.focus == Pane::Curves;
    let block = Block::bordered()
        .title(Span::styled(" 2 I–V curves ", t.title(focused)))
        .border_style(t.border(focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(latest) = app.snap.recent.back() else {
        frame.render_widget(
            Paragraph::new(Span::styled("no curve yet", Style::default().fg(t.muted))),
            inner,
        );
        return;
    };
    let strip = (app.snap.recent.len() as u16)
        .min(inner.height.saturating_sub(8) / 2)
        .min(6);
    let [chart_area, strip_area, trend_area] =
        Layout::vertical([Constraint::Min(6), Constraint::Length(strip), Constraint::Length(2)]).areas(inner);

    let turn = latest
        .bias_v
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .map(|(k, _)| k)
        .unwrap_or(0);
    let pts: Vec<(f64, f64)> = latest
        .bias_v
        .iter()
        .zip(&latest.current_a)
        .map(|(v, i)| (*v, i * 1e12))
        .collect();
    let (up, down) = pts.split_at((turn + 1).min(pts.len()));
    let (ylo, yhi) = pts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let (xlo, xhi) = pts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (ylo, yhi) = (ylo.min(0.0), yhi.max(ylo + 1.0));
    let (xlo, xhi) = (xlo.min(0.0), xhi.max(xlo + 0.1));
    let datasets = vec![
        Dataset::default()
            .name("up")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::default().fg(t.up))
            .data(up),
        Dataset::default()
            .name("down")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::default().fg(t.down))
            .data(down),
    ];
    let title = format!(
        "step {} ({}, {}) · {} · loop {} · Imax {}",
        latest.step,
        latest.row,
        latest.col,
        latest.sweep_end.label(),
        fmt::loop_area(latest.hysteresis_area),
        fmt::current(latest.max_current_a)
    );
    let chart = Chart::new(datasets)
        .block(Block::default().title(Line::from(Span::styled(title, Style::default().fg(t.fg)))))
        .x_axis(
            Axis::default()
                .title("bias (V)")
                .style(Style::default().fg(t.muted))
                .bounds([xlo, xhi])
                .labels([
                    format!("{xlo:.1}"),
                    format!("{:.1}", 0.5 * (xlo + xhi)),
                    format!("{xhi:.1}"),
                ]),
        )
        .y_axis(
            Axis::default()
                .title("I (pA)")
                .style(Style::default().fg(t.muted))
                .bounds([ylo, yhi])
                .labels([format!("{ylo:.0}"), format!("{yhi:.0}")]),
        );
    frame.render_widget(chart, chart_area);

    // One sparkline per recent curve, newest first, with its loop area.
    let label_w = 22u16;
    for (k, m) in app.snap.recent.iter().rev().take(strip as usize).enumerate() {
        let row = Rect {
            y: strip_area.y + k as u16,
            height: 1,
            ..strip_area
        };
        let [label, spark] = Layout::horizontal([Constraint::Length(label_w), Constraint::Min(1)]).areas(row);
        frame.render_widget(
            Paragraph::new(Span::styled(
                format!("#{:<4} {:>12}", m.step, fmt::loop_area(m.hysteresis_area)),
                Style::default().fg(t.muted),
            )),
            label,
        );
        let data = scaled(&thin(&m.current_a, spark.width as usize));
        frame.render_widget(
            Sparkline::default()
                .data(&data)
                .max(100)
                .style(Style::default().fg(t.up)),
            spark,
        );
    }
    let [label, spark] = Layout::horizontal([Constraint::Length(label_w), Constraint::Min(1)]).areas(trend_area);
    frame.render_widget(
        Paragraph::new(Span::styled("loop area, session", Style::default().fg(t.muted))),
        label,
    );
    let data = scaled(&thin(&app.snap.hysteresis, spark.width as usize));
    frame.render_widget(
        Sparkline::default()
            .data(&data)
            .max(100)
            .style(Style::default().fg(t.down)),
        spark,
    );
}
