//! The console rendered from a scripted engine state: every pane and the whole
//! screen at 80×24 (tabs) and 160×48 (all panes), with insta snapshots; and
//! what the keys do.

use dualscope::engine::{ClusterView, Command, EngineEvent, QueueEntry, QueueKind, RunState, StepReport};
use dualscope::instrument::Instrument;
use dualscope::instrument::sim::{SimConfig, SimInstrument};
use dualscope::plan::SessionPlan;
use dualscope::record::SweepEnd;
use dualscope::record::{Event, Measurement, Source};
use dualscope::tui::app::{App, Pane, Popup};
use dualscope::tui::keymap::{Action, Keymap};
use dualscope::tui::snapshot::Snapshot;
use dualscope::tui::theme::Theme;
use dualscope::tui::ui;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::sync::Arc;
use std::time::Duration;

/// A session 24 curves in, built from the simulator so the numbers are real.
fn scripted() -> App {
    let mut plan = SessionPlan::default();
    plan.sim.time_scale = 0.0;
    plan.survey.rows = 64;
    plan.survey.cols = 64;
    plan.survey.width_nm = 500.0;
    plan.survey.height_nm = 500.0;
    plan.film.grains = 6;
    plan.policy.budget = 60;
    let mut sim = SimInstrument::new(SimConfig::from_plan(&plan)).unwrap();
    let survey = Arc::new(sim.survey(64, 64).unwrap());
    let mut history = Vec::new();
    for step in 0..24u32 {
        let (row, col) = (8 + (step * 7) % 48, 8 + (step * 13) % 48);
        let (x, y) = survey.pixel_to_nm(row, col);
        let s = sim.sweep_at(x, y, &plan.sweep.first(), 0);
        let source = if step < 10 { Source::Seed } else { Source::Policy };
        history.push(Measurement::of_sweep(
            step,
            1_000 * step as i64,
            (row, col),
            (x, y),
            source,
            s,
            2e-11,
        ));
    }
    let truth = dualscope::instrument::ground_truth(&plan, &survey);
    let samples = dualscope::analysis::samples(0, &plan, &survey, &history, truth.as_deref());
    let labels: Vec<usize> = history
        .iter()
        .map(|m| if m.hysteresis_area > 2e-11 { 1 } else { 0 })
        .collect();
    let summaries = dualscope::analysis::summary::summarise(&samples, &labels);
    let points = labels
        .iter()
        .enumerate()
        .map(|(k, l)| (k as f32 * 0.1, (*l as f32) + 0.05 * k as f32, *l as u32))
        .collect();

    let mut snap = Snapshot::new("20261127-120000-s1".into(), &plan);
    let events = vec![
        EngineEvent::State(RunState::Running),
        EngineEvent::Connected {
            idn: "dualscope,SimAFM,film-0000000000000001,0.1.0".into(),
            link: "in-process simulator".into(),
        },
        EngineEvent::SurveyImage(survey.clone()),
        EngineEvent::History(Arc::new(history.clone())),
        EngineEvent::Step(StepReport {
            step: 23,
            budget: 60,
            row: 8,
            col: 8,
            x_nm: 66.4,
            y_nm: 66.4,
            source: Source::Policy,
            policy: "dn-dkl".into(),
            sweep_end: SweepEnd::Complete,
            points: 251,
            max_current_a: 2.5e-10,
            hysteresis_area: 8e-12,
            onset_v: Some(0.5),
            took: Duration::from_millis(700),
            elapsed: Duration::from_secs(83),
            eta: Duration::from_secs(25),
        }),
        EngineEvent::Queue(vec![
            QueueEntry {
                row: 30,
                col: 30,
                kind: QueueKind::Manual,
                score: None,
                mean: None,
                std: None,
                structure_novelty: None,
                spectral_novelty: None,
            },
            QueueEntry {
                row: 12,
                col: 40,
                kind: QueueKind::Policy,
                score: Some(0.412),
                mean: Some(0.701),
                std: Some(0.122),
                structure_novelty: Some(0.52),
                spectral_novelty: Some(0.762),
            },
            QueueEntry {
                row: 50,
                col: 22,
                kind: QueueKind::Policy,
                score: Some(0.398),
                mean: Some(0.655),
                std: Some(0.141),
                structure_novelty: Some(0.55),
                spectral_novelty: Some(0.726),
            },
        ]),
        EngineEvent::Clusters(Arc::new(ClusterView {
            model_step: 24,
            summaries,
            points,
            steps: (0..24).collect(),
            ari: Some(0.61),
            properties: Arc::new(truth_as_prediction(&plan, &sim, &survey)),
        })),
        EngineEvent::Logged(Event {
            t_ms: 0,
            kind: dualscope::record::EventKind::parse("start"),
            detail: "new session on the simulator".into(),
        }),
        EngineEvent::Logged(Event {
            t_ms: 61_000,
            kind: dualscope::record::EventKind::parse("retry"),
            detail: "seq 88 IV: no reply within 1.0 s; sending again (1/5)".into(),
        }),
        EngineEvent::Logged(Event {
            t_ms: 75_000,
            kind: dualscope::record::EventKind::parse("retrain"),
            detail: "dual VAE on 24 curves: 2 clusters in 3.1 s".into(),
        }),
    ];
    for e in events {
        snap.apply(e);
    }
    App::new(snap, Theme::builtin("dark", true).unwrap(), Keymap::default())
}

/// A property map with the film's own noise-free response at every
/// candidate (a model that predicted perfectly), its spread a tenth of it.
fn truth_as_prediction(
    plan: &SessionPlan,
    sim: &SimInstrument,
    survey: &dualscope::record::Survey,
) -> dualscope::record::PropertyGrid {
    let grid = dualscope::record::Candidates::new(64, 64, 16, 2, None);
    let points = grid
        .sites()
        .iter()
        .map(|&(row, col)| {
            let (x_nm, y_nm) = survey.pixel_to_nm(row, col);
            let s = sim
                .response_at(x_nm, y_nm)
                .sweep(&plan.sweep.first(), 1.0, (0.0, 0.0), &mut rand::rng());
            let c = dualscope::scalar::CurveSummary::of(&s.bias_v, &s.current_a, 2e-11);
            dualscope::record::PropertyPoint {
                model_step: 24,
                row,
                col,
                x_nm,
                y_nm,
                hysteresis_area: c.hysteresis_area,
                max_current_a: c.max_current_a,
                onset_v: c.onset_v,
                hysteresis_area_std: Some(0.1 * c.hysteresis_area),
                max_current_a_std: Some(0.1 * c.max_current_a),
                onset_v_std: None,
                cluster: (c.hysteresis_area > 2e-11) as u32,
                model: "live".into(),
            }
        })
        .collect();
    dualscope::record::PropertyGrid::new(points)
}

fn screen(app: &App, width: u16, height: u16) -> TestBackend {
    let mut t = Terminal::new(TestBackend::new(width, height)).unwrap();
    t.draw(|f| ui::draw(f, app)).unwrap();
    t.backend().clone()
}

#[test]
fn whole_screen_at_160x48() {
    let app = scripted();
    insta::assert_snapshot!("wide_160x48", screen(&app, 160, 48));
}

#[test]
fn every_tab_at_80x24() {
    let mut app = scripted();
    for pane in Pane::ALL {
        app.focus = pane;
        insta::assert_snapshot!(
            format!("narrow_80x24_{}", pane.title().replace('–', "-").to_lowercase()),
            screen(&app, 80, 24)
        );
    }
}

#[test]
fn popups_and_cursor() {
    let mut app = scripted();
    app.on_action(Action::Cursor);
    insta::assert_snapshot!("cursor_80x24", screen(&app, 80, 24));
    app.popup = Popup::Help;
    insta::assert_snapshot!("help_80x24", screen(&app, 80, 24));
    app.popup = Popup::ConfirmAbort;
    insta::assert_snapshot!("confirm_abort_160x48", screen(&app, 160, 48));
}

/// After the last curve: the wait for the final map is a state of its own,
/// with the member under way and the time still to come.
#[test]
fn the_final_training_at_both_sizes() {
    let mut app = scripted();
    app.on_engine(EngineEvent::State(RunState::Finishing));
    app.on_engine(EngineEvent::Finishing(dualscope::engine::FinalTraining {
        curves: 60,
        member: 3,
        members: 8,
        elapsed: Duration::from_secs(95),
        eta: Duration::from_secs(41),
    }));
    let wide = screen(&app, 160, 48);
    insta::assert_snapshot!("finishing_160x48", wide);
    let narrow = screen(&app, 80, 24);
    insta::assert_snapshot!("finishing_80x24", narrow);
    let text = format!("{narrow:?}");
    assert!(
        text.contains("FINISHING") && text.contains("3/8 on 60 curves"),
        "{text}"
    );
    assert!(text.contains("ETA 0:41"), "{text}");
    // Once it has landed: nothing to go, and the clock does not jump back to
    // the last curve's.
    app.on_engine(EngineEvent::State(RunState::Finished));
    let done = format!("{:?}", screen(&app, 80, 24));
    assert!(done.contains("elapsed 1:35  ETA 0:00"), "{done}");
}

/// `[` and `]` step through the session's curves, `g` puts |I| on a log
/// axis; the strip below shares one scale and the sweep's bias axis.
#[test]
fn older_curves_and_the_log_axis() {
    let mut app = scripted();
    let newest = format!("{:?}", screen(&app, 80, 24));
    assert!(!newest.contains("curve 24/24"), "following the run shows no place");
    assert!(app.on_action(Action::OlderCurve).is_empty());
    assert_eq!(app.focus, Pane::Curves);
    assert_eq!(app.shown_curve(), Some(22));
    for _ in 0..30 {
        app.on_action(Action::OlderCurve);
    }
    assert_eq!(app.shown_curve(), Some(0), "the first curve is as far back as it goes");
    app.on_action(Action::NewerCurve);
    app.on_action(Action::NewerCurve);
    let older = screen(&app, 80, 24);
    let text = format!("{older:?}");
    assert!(text.contains("curve 3/24 · step 2 "), "{text}");
    insta::assert_snapshot!("curves_older_80x24", older);
    // A new curve does not pull the view away from the one being read.
    let mut next = (*app.snap.curves[23]).clone();
    next.step = 24;
    app.on_engine(EngineEvent::Measured(Arc::new(next)));
    assert_eq!(app.shown_curve(), Some(2));
    for _ in 0..30 {
        app.on_action(Action::NewerCurve);
    }
    assert_eq!(app.curve_shown, None, "past the newest it follows the run again");
    app.on_action(Action::LogCurrent);
    let log = screen(&app, 160, 48);
    let text = format!("{log:?}");
    assert!(text.contains("|I|") && text.contains("one scale ≤"), "{text}");
    insta::assert_snapshot!("curves_log_160x48", log);
}

/// `i` on the map shows the curve measured nearest the cursor, marks it ◆,
/// and leaves the map in focus for the next pick.
#[test]
fn picking_a_measured_point_on_the_map_shows_its_curve() {
    let mut app = scripted();
    app.on_action(Action::PickCurve);
    assert!(app.curve_shown.is_none(), "no cursor, nothing picked");
    assert!(app.notice.as_deref().unwrap_or("").contains("m shows it"));
    app.on_action(Action::Cursor);
    let target = app.snap.curves[5].clone();
    // The cursor one pixel off the 6th curve's location: that curve is nearest.
    app.cursor = Some((target.row + 1, target.col));
    assert!(app.on_action(Action::PickCurve).is_empty());
    assert_eq!(app.shown_curve(), Some(5));
    assert_eq!(app.focus, Pane::Scan, "the map keeps the keys");
    let notice = app.notice.clone().unwrap();
    assert!(
        notice.starts_with(&format!("curve 6 of 24 (step {})", target.step)),
        "{notice}"
    );
    // The cursor goes on; the pick stays.
    for _ in 0..6 {
        app.on_action(Action::Right);
    }
    assert_eq!(app.shown_curve(), Some(5));
    let wide = screen(&app, 160, 48);
    let text = format!("{wide:?}");
    assert!(text.contains("◆") && text.contains("curve 6/24"), "{text}");
    assert!(text.contains("curve shown"), "the legend says what ◆ is: {text}");
    insta::assert_snapshot!("picked_curve_160x48", wide);
    // At 80×24 one pane at a time: the map marks it, the I–V tab shows it.
    let map = format!("{:?}", screen(&app, 80, 24));
    assert!(map.contains("◆"), "{map}");
    app.on_action(Action::FocusCurves);
    let curves = screen(&app, 80, 24);
    assert!(format!("{curves:?}").contains("curve 6/24"), "{curves:?}");
    insta::assert_snapshot!("picked_curve_80x24", curves);
}

/// Where the cursor glyph is on the screen.
fn cursor_cell(t: &TestBackend) -> (u16, u16) {
    let b = t.buffer();
    (0..b.area.height)
        .flat_map(|y| (0..b.area.width).map(move |x| (x, y)))
        .find(|&(x, y)| b[(x, y)].symbol() == "✚")
        .expect("the cursor is drawn")
}

/// Every cursor key moves the cursor one cell of the map as drawn, at 80×24
/// and at 160×48, and the title says where that is in nm and how high.
#[test]
fn the_cursor_steps_one_cell_and_reads_in_nm() {
    for (width, height) in [(80, 24), (160, 48)] {
        let mut app = scripted();
        app.on_action(Action::Cursor);
        let mut at = cursor_cell(&screen(&app, width, height));
        for (key, dx, dy) in [
            (Action::Right, 1i32, 0i32),
            (Action::Down, 0, 1),
            (Action::Left, -1, 0),
            (Action::Up, 0, -1),
        ] {
            for _ in 0..5 {
                app.on_action(key);
                let now = cursor_cell(&screen(&app, width, height));
                assert_eq!(
                    (now.0 as i32 - at.0 as i32, now.1 as i32 - at.1 as i32),
                    (dx, dy),
                    "{key:?} at {width}×{height}"
                );
                at = now;
            }
        }
        let (r, c) = app.cursor.unwrap();
        let survey = app.snap.survey.clone().unwrap();
        let (x, y) = survey.pixel_to_nm(r, c);
        let text = format!("{:?}", screen(&app, width, height));
        let want = format!(
            "cursor ({r}, {c}) {x:.0}, {y:.0} nm · {:.1} nm",
            survey.heights_nm[[r as usize, c as usize]]
        );
        assert!(text.contains(&want), "{want} in {text}");
        assert!(text.contains("height") && text.contains("◉ tip"), "{text}");
    }
}

#[test]
fn keys_become_the_right_commands() {
    let mut app = scripted();
    assert_eq!(app.on_action(Action::PauseResume), vec![Command::Pause]);
    // Abort and quit ask first; "no" sends nothing.
    assert!(app.on_action(Action::Abort).is_empty());
    assert_eq!(app.popup, Popup::ConfirmAbort);
    assert!(app.on_action(Action::Cancel).is_empty());
    // Enter is not "yes": the dialog offers y/n only.
    app.on_action(Action::Abort);
    assert!(app.on_action(Action::AddManual).is_empty());
    assert_eq!(app.popup, Popup::None);
    assert!(app.on_action(Action::Quit).is_empty());
    assert_eq!(app.on_action(Action::Confirm), vec![Command::Quit]);
    // A manual point at the cursor, moved with the keys.
    app.on_action(Action::Cursor);
    let start = app.cursor.unwrap();
    app.on_action(Action::Down);
    app.on_action(Action::Right);
    assert_eq!(
        app.on_action(Action::AddManual),
        vec![Command::AddManual {
            row: start.0 + 4,
            col: start.1 + 4
        }]
    );
    // Queue editing works on the selected entry.
    app.on_action(Action::FocusQueue);
    app.on_action(Action::Down);
    assert_eq!(app.on_action(Action::Drop), vec![Command::Drop { row: 12, col: 40 }]);
    assert_eq!(
        app.on_action(Action::MoveUp),
        vec![Command::MoveUp { row: 12, col: 40 }]
    );
    // Paused: resume and single steps.
    app.on_engine(EngineEvent::State(RunState::Paused));
    assert_eq!(app.on_action(Action::StepOnce), vec![Command::StepOnce]);
    assert_eq!(app.on_action(Action::PauseResume), vec![Command::Resume]);
    assert!(matches!(
        app.on_action(Action::NextPolicy).as_slice(),
        [Command::SetPolicy(_)]
    ));
    assert_eq!(app.on_action(Action::BetaUp), vec![Command::SetBeta(0.375)]);
    // Keys act on the state they were pressed in: three presses, three policies,
    // before the engine has answered any of them.
    let policies: Vec<Command> = (0..3).flat_map(|_| app.on_action(Action::NextPolicy)).collect();
    let mut distinct = policies.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{policies:?}");
    let up: Vec<Command> = (0..2).flat_map(|_| app.on_action(Action::BetaUp)).collect();
    assert_ne!(up[0], up[1], "{up:?}");
}

#[test]
fn no_color_still_draws_the_map() {
    let mut app = scripted();
    app.theme = Theme::builtin("dark", false).unwrap().without_colour();
    let text = screen(&app, 160, 48).to_string();
    assert!(text.contains('█') || text.contains('▓') || text.contains('▒'), "{text}");
}

/// The map's layer key steps through the predicted properties, each with
/// its scale and units, and back to the topography.
#[test]
fn the_map_layers_at_both_sizes() {
    let mut app = scripted();
    app.on_action(Action::Cursor);
    for (k, name) in ["loop_area", "max_current", "cluster", "spread"].iter().enumerate() {
        app.on_action(Action::MapLayer);
        insta::assert_snapshot!(format!("layer_{k}_{name}_80x24"), screen(&app, 80, 24));
        if k < 2 {
            insta::assert_snapshot!(format!("layer_{k}_{name}_160x48"), screen(&app, 160, 48));
        }
    }
    app.on_action(Action::MapLayer);
    assert_eq!(app.layer, dualscope::tui::panes::layer::MapLayer::Topography);
    // The colours are the layer's: the map's cells change with it.
    let colours = |app: &App| -> Vec<ratatui::style::Color> {
        let b = screen(app, 80, 24);
        let buf = b.buffer();
        (6..20).flat_map(|y| (26..54).map(move |x| buf[(x, y)].fg)).collect()
    };
    let topography = colours(&app);
    app.on_action(Action::MapLayer);
    let loop_area = colours(&app);
    assert_ne!(topography, loop_area);
    let distinct: std::collections::BTreeSet<String> = loop_area.iter().map(|c| format!("{c:?}")).collect();
    assert!(distinct.len() > 5, "a flat layer: {distinct:?}");
    // Before any training there is nothing to show but the topography.
    let mut bare = scripted();
    bare.snap.clusters = None;
    bare.on_action(Action::MapLayer);
    assert_eq!(
        bare.notice.as_deref(),
        Some("no property map yet: the dual VAE has not trained")
    );
}

/// `v` draws a region from the cursor, enter asks the engine to exclude it;
/// the map outlines the engine's regions, `V` lists them and takes one back,
/// and a manual point inside one asks first.
#[test]
fn excluding_a_region_from_the_map() {
    use dualscope::plan::Exclusion;
    let mut app = scripted();
    app.on_action(Action::Exclude);
    assert!(app.drawing.is_none(), "no cursor, no region");
    app.on_action(Action::Cursor);
    app.cursor = Some((8, 8));
    app.on_action(Action::Exclude);
    for _ in 0..3 {
        app.on_action(Action::Down);
        app.on_action(Action::Right);
    }
    let (r1, c1) = app.cursor.unwrap();
    let drawn = app.drawn_region().unwrap();
    let px = 500.0 / 64.0;
    assert_eq!(drawn.x_nm, [8.0 * px, (c1 + 1) as f64 * px]);
    assert_eq!(drawn.y_nm, [8.0 * px, (r1 + 1) as f64 * px]);
    insta::assert_snapshot!("drawing_region_80x24", screen(&app, 80, 24));
    assert_eq!(app.on_action(Action::AddManual), vec![Command::Exclude(drawn)]);
    assert!(app.drawing.is_none());
    // Esc drops a region being drawn; nothing is sent.
    app.on_action(Action::Exclude);
    assert!(app.on_action(Action::Cancel).is_empty());
    assert!(app.drawing.is_none());

    // The engine's answer: the region is drawn and listed.
    let region = Exclusion {
        x_nm: [0.0, 250.0],
        y_nm: [0.0, 250.0],
    };
    app.on_engine(EngineEvent::Regions(vec![drawn, region]));
    let wide = screen(&app, 160, 48);
    assert!(format!("{wide:?}").contains("┌") && format!("{wide:?}").contains("excluded"));
    insta::assert_snapshot!("regions_160x48", wide);
    app.on_action(Action::Regions);
    app.on_action(Action::Down);
    assert_eq!(app.popup, Popup::Regions(1));
    insta::assert_snapshot!("regions_list_80x24", screen(&app, 80, 24));
    assert_eq!(app.on_action(Action::Drop), vec![Command::Include(1)]);

    // A manual point inside a region asks; yes sends it, anything else not.
    app.cursor = Some((10, 10));
    assert!(app.on_action(Action::AddManual).is_empty());
    assert_eq!(app.popup, Popup::ConfirmManual(10, 10));
    assert!(app.on_action(Action::Note).is_empty(), "n answers no");
    app.on_action(Action::AddManual);
    assert_eq!(
        app.on_action(Action::Confirm),
        vec![Command::AddManual { row: 10, col: 10 }]
    );
    // Outside every region it goes at once.
    app.cursor = Some((50, 50));
    assert_eq!(
        app.on_action(Action::AddManual),
        vec![Command::AddManual { row: 50, col: 50 }]
    );
}

/// `n` opens the note line; typed keys go to it, enter sends the note.
#[test]
fn a_note_from_the_console() {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let key = |c| KeyEvent::new(c, KeyModifiers::NONE);
    let mut app = scripted();
    app.on_action(Action::Note);
    for c in "tip  dull?x".chars() {
        app.on_typed(&key(KeyCode::Char(c)));
    }
    app.on_typed(&key(KeyCode::Backspace));
    insta::assert_snapshot!("note_80x24", screen(&app, 80, 24));
    assert_eq!(
        app.on_typed(&key(KeyCode::Enter)),
        vec![Command::Note("tip dull?".into())]
    );
    assert!(app.typing.is_none());
    app.on_action(Action::Note);
    app.on_typed(&key(KeyCode::Char('x')));
    assert!(app.on_typed(&key(KeyCode::Esc)).is_empty());
    assert!(app.typing.is_none());
}

/// `x` on the I–V pane rejects the curve shown (asking first), `x` again
/// takes it back, `R` repeats its location; a watch refuses all three.
#[test]
fn rejecting_and_repeating_the_curve_shown() {
    let mut app = scripted();
    app.on_action(Action::OlderCurve);
    let step = app.snap.curves[app.shown_curve().unwrap()].step;
    assert!(app.on_action(Action::Reject).is_empty());
    assert_eq!(app.popup, Popup::ConfirmReject(step, true));
    insta::assert_snapshot!("confirm_reject_80x24", screen(&app, 80, 24));
    assert_eq!(app.on_action(Action::Confirm), vec![Command::Reject(step)]);
    app.on_engine(EngineEvent::Rejected(vec![step]));
    let shown = format!("{:?}", screen(&app, 80, 24));
    assert!(shown.contains(&format!("REJECTED · step {step}")), "{shown}");
    app.on_action(Action::Reject);
    assert_eq!(app.popup, Popup::ConfirmReject(step, false));
    assert!(app.on_action(Action::Cancel).is_empty(), "no answer, nothing sent");
    app.on_action(Action::Reject);
    assert_eq!(app.on_action(Action::Confirm), vec![Command::Restore(step)]);
    assert_eq!(app.on_action(Action::Repeat), vec![Command::Repeat(step)]);
    // The map marks a rejected point, and says what ✕ is.
    app.focus = Pane::Scan;
    let map = format!("{:?}", screen(&app, 80, 24));
    assert!(map.contains("✕") && map.contains("rejected"), "{map}");

    app.read_only = true;
    for action in [Action::Reject, Action::Repeat, Action::PauseResume, Action::Note] {
        assert!(app.on_action(action).is_empty());
        assert_eq!(app.notice.as_deref(), Some("read-only: this is a watch"));
    }
    app.on_action(Action::Quit);
    assert!(app.exit, "a watch leaves at once");
}

/// A curve the quality gate failed says so on the I–V pane.
#[test]
fn a_curve_the_gate_failed_says_so() {
    let mut app = scripted();
    let latest = app.snap.curves.last().unwrap().clone();
    let failed = Measurement {
        step: latest.step + 1,
        quality: Some(dualscope::record::Quality::NoContact),
        ..(*latest).clone()
    };
    app.on_engine(EngineEvent::Measured(Arc::new(failed)));
    app.focus = Pane::Curves;
    let shown = format!("{:?}", screen(&app, 120, 40));
    assert!(
        shown.contains(&format!("FAILED no_contact · step {}", latest.step + 1)),
        "{shown}"
    );
}

/// The scan pane shows the latest drift estimate, ahead of the instrument.
#[test]
fn the_drift_estimate_is_on_the_scan_pane() {
    let mut app = scripted();
    app.on_engine(EngineEvent::Drift([12.34, -5.0]));
    app.focus = Pane::Scan;
    let shown = format!("{:?}", screen(&app, 80, 24));
    assert!(shown.contains("drift +12.3, -5.0 nm"), "{shown}");
}

/// With three sweeps a location, the cluster pane gives each cluster's loop
/// under each sweep, in the plan's order.
#[test]
fn the_cluster_pane_gives_the_loop_under_each_sweep() {
    let mut app = scripted();
    let mut view = (**app.snap.clusters.as_ref().unwrap()).clone();
    for (k, s) in view.summaries.iter_mut().enumerate() {
        s.protocol_areas = [0.05, 0.4, 1.0]
            .iter()
            .map(|share| dualscope::analysis::summary::Stat {
                mean: share * (k as f64 + 1.0) * 90e-12,
                sd: 0.0,
                n: s.size,
            })
            .collect();
    }
    app.snap.clusters = Some(Arc::new(view));
    app.snap.protocols = 3;
    app.focus = Pane::Clusters;
    let shown = screen(&app, 120, 40);
    insta::assert_snapshot!("clusters_three_sweeps_120x40", shown);
}
