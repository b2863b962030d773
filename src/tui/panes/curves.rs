//! I–V curves: the latest curve with its up and down branches, sparklines of
//! the recent curves with their loop areas, and the loop area over the session.

use crate::fmt;
use crate::tui::app::{App, Pane};
use crate::tui::snapshot::RECENT;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph, Sparkline};

/// Samples scaled into 0..=100 for a sparkline (which takes no negatives)
/// over `lo..hi`, one range for every curve of the strip.
fn scaled(values: &[f64], (lo, hi): (f64, f64)) -> Vec<u64> {
    let span = (hi - lo).max(1e-30);
    values
        .iter()
        .map(|v| ((v - lo) / span * 100.0).clamp(0.0, 100.0).round() as u64)
        .collect()
}

/// The range of values, zero included.
fn range_of<'a>(values: impl Iterator<Item = &'a f64>) -> (f64, f64) {
    values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)))
}

/// Mean of each run of `step` values, so a series fits `width` columns.
fn thin(values: &[f64], width: usize) -> Vec<f64> {
    values
        .chunks(thinning(values.len(), width))
        .map(|c| c.iter().sum::<f64>() / c.len() as f64)
        .collect()
}

fn thinning(len: usize, width: usize) -> usize {
    len.div_ceil(width.max(1)).max(1)
}

/// The smallest current the log axis shows: below the noise of any C-AFM
/// amplifier, and it keeps log(0) off the axis.
const LOG_FLOOR_PA: f64 = 0.01;

/// A current (A) on the pane's axis: pA, or log10 of |I| in pA.
fn on_axis(current_a: f64, log: bool) -> f64 {
    let pa = current_a * 1e12;
    if log { pa.abs().max(LOG_FLOOR_PA).log10() } else { pa }
}

/// An axis value back as a current label.
fn axis_label(v: f64, log: bool) -> String {
    if log {
        fmt::current(10f64.powf(v) * 1e-12)
    } else {
        format!("{v:.0}")
    }
}

/// One text row with `labels` placed at their columns (clipped to `width`).
fn ruler(width: usize, labels: &[(usize, String)]) -> String {
    let mut row = vec![' '; width];
    for (at, text) in labels {
        let at = (*at).min(width.saturating_sub(text.chars().count()));
        for (k, c) in text.chars().enumerate() {
            if let Some(cell) = row.get_mut(at + k) {
                *cell = c;
            }
        }
    }
    row.into_iter().collect()
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let focused = app.focus == Pane::Curves;
    let block = Block::bordered()
        .title(Span::styled(" 2 I–V curves ", t.title(focused)))
        .border_style(t.border(focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let curves = &app.snap.curves;
    let Some(shown) = app.shown_curve() else {
        frame.render_widget(
            Paragraph::new(Span::styled("no curve yet", Style::default().fg(t.muted))),
            inner,
        );
        return;
    };
    let latest = &curves[shown];
    let log = app.log_current;
    let strip = ((shown + 1) as u16)
        .min(inner.height.saturating_sub(9) / 2)
        .min(RECENT as u16);
    let [chart_area, strip_area, ruler_area, trend_area] = Layout::vertical([
        Constraint::Min(6),
        Constraint::Length(strip),
        Constraint::Length(u16::from(strip > 0)),
        Constraint::Length(2),
    ])
    .areas(inner);

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
        .map(|(v, i)| (*v, on_axis(*i, log)))
        .collect();
    let (up, down) = pts.split_at((turn + 1).min(pts.len()));
    // A curve with no finite sample still gets an axis.
    let finite_or = |(lo, hi): (f64, f64), empty: (f64, f64)| if lo <= hi { (lo, hi) } else { empty };
    let (ylo, yhi) = finite_or(range_of(pts.iter().map(|p| &p.1)), (0.0, 1.0));
    let (xlo, xhi) = finite_or(range_of(pts.iter().map(|p| &p.0)), (0.0, 1.0));
    let (ylo, yhi) = if log {
        (ylo.floor(), yhi.ceil().max(ylo.floor() + 1.0))
    } else {
        (ylo.min(0.0), yhi.max(ylo + 1.0))
    };
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
    let place = if app.curve_shown.is_some() {
        format!("curve {}/{} · ", shown + 1, curves.len())
    } else {
        String::new()
    };
    let rejected = if app.snap.rejected.contains(&latest.step) {
        "REJECTED · ".to_string()
    } else {
        String::new()
    };
    // The gate's word on a curve no model learns from.
    let failed = match latest.quality.filter(|q| !q.is_ok()) {
        Some(q) => format!("FAILED {} · ", q.label()),
        None => String::new(),
    };
    let title = format!(
        "{place}{rejected}{failed}step {} ({}, {}) · {} · loop {} · Imax {}",
        latest.step,
        latest.row,
        latest.col,
        latest.sweep_end.label(),
        fmt::loop_area(latest.hysteresis_area),
        fmt::current(latest.max_current_a)
    );
    let y_labels: Vec<String> = if log {
        (ylo as i32..=yhi as i32).map(|e| axis_label(e as f64, true)).collect()
    } else {
        vec![axis_label(ylo, false), axis_label(yhi, false)]
    };
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
                .title(if log { "|I|" } else { "I (pA)" })
                .style(Style::default().fg(t.muted))
                .bounds([ylo, yhi])
                .labels(y_labels),
        );
    frame.render_widget(chart, chart_area);

    // One sparkline per curve up to the one shown, newest first, all on one
    // current scale and one bias axis (every curve of a session follows the
    // same sweep), so their heights and turns compare.
    let label_w = 22u16;
    let first = shown + 1 - strip as usize;
    let on_strip = &curves[first..=shown];
    let values: Vec<Vec<f64>> = on_strip
        .iter()
        .map(|m| m.current_a.iter().map(|i| on_axis(*i, log)).collect())
        .collect();
    let (lo, hi) = range_of(values.iter().flatten());
    let (lo, hi) = if log { (lo, hi) } else { (lo.min(0.0), hi.max(0.0)) };
    for (k, (m, v)) in on_strip.iter().zip(&values).rev().enumerate() {
        let row = Rect {
            y: strip_area.y + k as u16,
            height: 1,
            ..strip_area
        };
        let [label, spark] = Layout::horizontal([Constraint::Length(label_w), Constraint::Min(1)]).areas(row);
        let mark = if k == 0 && app.curve_shown.is_some() {
            '▸'
        } else {
            '#'
        };
        frame.render_widget(
            Paragraph::new(Span::styled(
                format!("{mark}{:<4} {:>12}", m.step, fmt::loop_area(m.hysteresis_area)),
                Style::default().fg(t.muted),
            )),
            label,
        );
        let data = scaled(&thin(v, spark.width as usize), (lo, hi));
        frame.render_widget(
            Sparkline::default()
                .data(&data)
                .max(100)
                .style(Style::default().fg(t.up)),
            spark,
        );
    }
    if strip > 0 {
        let [label, axis] = Layout::horizontal([Constraint::Length(label_w), Constraint::Min(1)]).areas(ruler_area);
        let top = axis_label(hi, log);
        let top = if log { top } else { format!("{top} pA") };
        frame.render_widget(
            Paragraph::new(Span::styled(format!("one scale ≤ {top}"), Style::default().fg(t.muted))),
            label,
        );
        let step = thinning(latest.bias_v.len(), axis.width as usize);
        let at = |k: usize| {
            (
                k / step,
                format!("{:.1} V", latest.bias_v.get(k).copied().unwrap_or(0.0)),
            )
        };
        let last = latest.bias_v.len().saturating_sub(1);
        let mut marks = vec![at(0), at(last)];
        if turn > 0 && turn < last {
            marks.insert(1, at(turn));
        }
        let text = ruler(axis.width as usize, &marks);
        frame.render_widget(Paragraph::new(Span::styled(text, Style::default().fg(t.muted))), axis);
    }
    let [label, spark] = Layout::horizontal([Constraint::Length(label_w), Constraint::Min(1)]).areas(trend_area);
    frame.render_widget(
        Paragraph::new(Span::styled("loop area, session", Style::default().fg(t.muted))),
        label,
    );
    let trend = thin(&app.snap.hysteresis, spark.width as usize);
    let data = scaled(&trend, range_of(trend.iter()));
    frame.render_widget(
        Sparkline::default()
            .data(&data)
            .max(100)
            .style(Style::default().fg(t.down)),
        spark,
    );
}
