//! The help overlay, the confirmation popups and the command bar.

use crate::tui::app::{App, Pane, Popup};
use crate::tui::keymap::Action;
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

fn centred(area: Rect, width: u16, height: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [h] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    h
}

/// "keys  what they do"; several actions share a line as "a/b".
fn binding_line(app: &App, actions: &[Action], what: &str) -> Line<'static> {
    let keys: Vec<String> = actions
        .iter()
        .map(|a| app.keymap.keys_for(*a).first().cloned().unwrap_or_default())
        .collect();
    let mut keys = keys.join("/");
    if actions.len() == 1 {
        keys = app.keymap.keys_for(actions[0]).join(" ");
    }
    Line::from(vec![
        Span::styled(
            format!("{keys:>14}  "),
            Style::default().fg(app.theme.accent).add_modifier(Modifier::BOLD),
        ),
        Span::raw(what.to_string()),
    ])
}

pub fn render_popup(frame: &mut Frame, app: &App) {
    let t = &app.theme;
    let area = frame.area();
    match app.popup {
        Popup::None => {}
        Popup::Help => {
            let mut lines = vec![Line::from(Span::styled(
                format!("{} pane", app.focus.title()),
                Style::default().fg(t.muted),
            ))];
            let arrows = [Action::Up, Action::Down, Action::Left, Action::Right];
            let actions = app.focus.actions();
            if actions.contains(&Action::Left) {
                // One line for the four directions, where the pane has them.
                lines.push(binding_line(app, &arrows, "move the cursor up / down / left / right"));
            }
            lines.extend(
                actions
                    .iter()
                    .filter(|a| !(actions.contains(&Action::Left) && arrows.contains(a)))
                    .map(|a| binding_line(app, &[*a], a.describe())),
            );
            lines.push(Line::from(Span::styled("everywhere", Style::default().fg(t.muted))));
            let global: &[(&[Action], &str)] = &[
                (&[Action::Quit], Action::Quit.describe()),
                (&[Action::PauseResume], Action::PauseResume.describe()),
                (&[Action::StepOnce], Action::StepOnce.describe()),
                (&[Action::Abort], Action::Abort.describe()),
                (&[Action::NextPane, Action::PrevPane], "next / previous pane"),
                (
                    &[
                        Action::FocusScan,
                        Action::FocusCurves,
                        Action::FocusQueue,
                        Action::FocusClusters,
                        Action::FocusEvents,
                    ],
                    "scan · I–V · queue · clusters · events",
                ),
                (&[Action::NextPolicy], Action::NextPolicy.describe()),
                (
                    &[Action::BetaUp, Action::BetaDown],
                    "β up / down (more / less exploration)",
                ),
                (&[Action::Retrain], Action::Retrain.describe()),
                (&[Action::Note], Action::Note.describe()),
                (&[Action::Help], "show or hide this help (esc closes it too)"),
            ];
            lines.extend(global.iter().map(|(a, what)| binding_line(app, a, what)));
            let popup = centred(area, 86, lines.len() as u16 + 2);
            frame.render_widget(Clear, popup);
            frame.render_widget(
                Paragraph::new(lines)
                    .block(
                        Block::bordered()
                            .title(" Keys ")
                            .border_style(Style::default().fg(t.accent)),
                    )
                    .style(t.base()),
                popup,
            );
        }
        Popup::ConfirmAbort | Popup::ConfirmQuit => {
            let (title, text) = if app.popup == Popup::ConfirmAbort {
                (
                    " Abort the run? ",
                    "The current curve is stopped, the bias ramps to 0 V and the tip is withdrawn. The session is marked aborted (its data stays).".to_string(),
                )
            } else {
                (
                    " Quit? ",
                    "The run pauses after the current curve and the session stays resumable: dualscope resume <session>.".to_string(),
                )
            };
            confirm(frame, app, title, text);
        }
        Popup::ConfirmManual(row, col) => {
            let k = app.region_at(row, col).map_or(0, |k| k + 1);
            let text = format!(
                "({row}, {col}) is inside excluded region {k}, which seeds and the policy keep out of. Measure it anyway, as a manual point?"
            );
            confirm(frame, app, " Measure inside the region? ", text);
        }
        Popup::ConfirmReject(step, true) => confirm(
            frame,
            app,
            " Reject this curve? ",
            format!(
                "The curve of step {step} stays in the log, flagged rejected (the flags table), and every model from the next decision and training on leaves it out. x again takes it back."
            ),
        ),
        Popup::ConfirmReject(step, false) => confirm(
            frame,
            app,
            " Take the rejection back? ",
            format!(
                "The curve of step {step} is rejected. Let the models learn from it again from the next decision on?"
            ),
        ),
        Popup::Regions(selected) => regions(frame, app, selected),
    }
}

/// A yes/no question.
fn confirm(frame: &mut Frame, app: &App, title: &str, text: String) {
    let t = &app.theme;
    let lines = vec![
        Line::from(text),
        Line::from(""),
        Line::from(vec![
            Span::styled(
                " y ",
                Style::default().fg(t.bg).bg(t.error).add_modifier(Modifier::BOLD),
            ),
            Span::raw(" yes    "),
            Span::styled(
                " n ",
                Style::default().fg(t.bg).bg(t.muted).add_modifier(Modifier::BOLD),
            ),
            Span::raw(" no"),
        ]),
    ];
    let popup = centred(frame.area(), 60, 7);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(
                Block::bordered()
                    .title(title.to_string())
                    .border_style(Style::default().fg(t.error)),
            )
            .style(t.base()),
        popup,
    );
}

/// The excluded regions, the selected one marked.
fn regions(frame: &mut Frame, app: &App, selected: usize) {
    let t = &app.theme;
    let mut lines: Vec<Line> = if app.snap.regions.is_empty() {
        vec![Line::from(
            "No region is excluded: m shows the map cursor, v starts one.",
        )]
    } else {
        app.snap
            .regions
            .iter()
            .enumerate()
            .map(|(k, r)| {
                let style = if k == selected {
                    Style::default().fg(t.bg).bg(t.accent)
                } else {
                    Style::default().fg(t.fg)
                };
                Line::from(Span::styled(format!(" {:>2}  {r} ", k + 1), style))
            })
            .collect()
    };
    lines.push(Line::from(""));
    let key = |a: Action| app.keymap.keys_for(a).first().cloned().unwrap_or_default();
    lines.push(Line::from(Span::styled(
        format!(
            "{}/{} select · {} take back · {} close",
            key(Action::Up),
            key(Action::Down),
            key(Action::Drop),
            key(Action::Cancel)
        ),
        Style::default().fg(t.muted),
    )));
    let popup = centred(frame.area(), 64, lines.len() as u16 + 2);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(
                Block::bordered()
                    .title(" Excluded regions ")
                    .border_style(Style::default().fg(t.accent)),
            )
            .style(t.base()),
        popup,
    );
}

/// The bottom line: the main keys, or the answer to the last key.
pub fn command_bar(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    if let Some(text) = &app.typing {
        let line = Line::from(vec![
            Span::styled(" note ", Style::default().fg(t.bg).bg(t.accent)),
            Span::styled(format!(" {text}▏"), Style::default().fg(t.fg)),
            Span::styled("  enter: log it · esc: drop", Style::default().fg(t.muted)),
        ]);
        // The end of a long note stays in sight while it is typed.
        let width = area.width as usize;
        let shown = line.width();
        let scroll = shown.saturating_sub(width) as u16;
        frame.render_widget(Paragraph::new(line).scroll((0, scroll)), area);
        return;
    }
    if let Some(n) = &app.notice {
        frame.render_widget(
            Paragraph::new(Span::styled(format!(" {n}"), Style::default().fg(t.warning))),
            area,
        );
        return;
    }
    let mut main = vec![
        (Action::PauseResume, "pause/resume"),
        (Action::StepOnce, "step"),
        (Action::Abort, "abort"),
        (Action::Help, "help"),
        (Action::Quit, "quit"),
    ];
    let extra: &[(Action, &str)] = match app.focus {
        Pane::Scan => &[(Action::Cursor, "cursor"), (Action::AddManual, "add point")],
        Pane::Queue => &[(Action::Drop, "drop"), (Action::MoveUp, "move up")],
        _ => &[(Action::NextPane, "next pane")],
    };
    main.splice(3..3, extra.iter().copied());
    let mut spans = Vec::new();
    for (a, label) in main {
        let key = app.keymap.keys_for(a).into_iter().next().unwrap_or_default();
        spans.push(Span::styled(format!(" {key} "), Style::default().fg(t.bg).bg(t.accent)));
        spans.push(Span::styled(format!(" {label}  "), Style::default().fg(t.fg)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
