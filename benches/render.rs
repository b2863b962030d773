//! What the console costs: a full 160×48 frame rendered (50 and 10 000
//! measured points), and the bytes one frame puts on the wire while a run
//! progresses (ratatui sends only the cells that changed).

use criterion::{Criterion, criterion_group, criterion_main};
use dualscope::engine::{EngineEvent, RunState, StepReport};
use dualscope::instrument::Instrument;
use dualscope::instrument::sim::{SimConfig, SimInstrument};
use dualscope::plan::SessionPlan;
use dualscope::record::SweepEnd;
use dualscope::record::{Measurement, Source};
use dualscope::tui::CountingWriter;
use dualscope::tui::app::App;
use dualscope::tui::keymap::Keymap;
use dualscope::tui::snapshot::Snapshot;
use dualscope::tui::theme::Theme;
use dualscope::tui::ui;
use ratatui::backend::{CrosstermBackend, TestBackend};
use ratatui::{Terminal, TerminalOptions, Viewport};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

struct Session {
    plan: SessionPlan,
    sim: SimInstrument,
    survey: Arc<dualscope::record::Survey>,
    step: u32,
}

impl Session {
    fn new() -> Self {
        let mut plan = SessionPlan::default();
        plan.sim.time_scale = 0.0;
        let mut sim = SimInstrument::new(SimConfig::from_plan(&plan)).unwrap();
        let survey = Arc::new(sim.survey(256, 256).unwrap());
        Self {
            plan,
            sim,
            survey,
            step: 0,
        }
    }

    /// The events one measured step sends the console.
    fn next(&mut self) -> Vec<EngineEvent> {
        let step = self.step;
        self.step += 1;
        let budget: u32 = if step < 210 { 210 } else { 10_000 };
        let (row, col) = (8 + (step * 37) % 240, 8 + (step * 91) % 240);
        let (x, y) = self.survey.pixel_to_nm(row, col);
        let s = self.sim.sweep_at(x, y, &self.plan.sweep.first(), 0);
        let m = Measurement::of_sweep(step, step as i64 * 700, (row, col), (x, y), Source::Policy, s, 2e-11);
        vec![
            EngineEvent::Decided {
                step,
                row,
                col,
                source: Source::Policy,
            },
            EngineEvent::Measured(Arc::new(m.clone())),
            EngineEvent::Step(StepReport {
                step,
                budget,
                row,
                col,
                x_nm: x,
                y_nm: y,
                source: Source::Policy,
                policy: "dn-dkl".into(),
                sweep_end: SweepEnd::Complete,
                points: 251,
                max_current_a: m.max_current_a,
                hysteresis_area: m.hysteresis_area,
                onset_v: m.onset_v,
                took: Duration::from_millis(700),
                elapsed: Duration::from_millis(700 * step as u64),
                eta: Duration::from_millis(700 * (budget - step) as u64),
            }),
        ]
    }
}

fn app(session: &mut Session) -> App {
    app_after(session, 50)
}

/// The console after `curves` measured steps.
fn app_after(session: &mut Session, curves: usize) -> App {
    let mut snap = Snapshot::new("bench".into(), &session.plan);
    snap.apply(EngineEvent::State(RunState::Running));
    snap.apply(EngineEvent::SurveyImage(session.survey.clone()));
    let mut app = App::new(snap, Theme::builtin("dark", true).unwrap(), Keymap::default());
    for _ in 0..curves {
        for e in session.next() {
            app.on_engine(e);
        }
    }
    app
}

fn render(c: &mut Criterion) {
    let mut session = Session::new();
    let app = app(&mut session);
    let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap();
    c.bench_function("console_full_frame_160x48", |b| {
        b.iter(|| {
            // Forget the previous frame so every cell is drawn and diffed again.
            term.clear().unwrap();
            term.draw(|f| ui::draw(f, &app)).unwrap();
        })
    });

    // A night's session: 10 000 measured points on the map and in the panes.
    let big = app_after(&mut Session::new(), 10_000);
    c.bench_function("console_full_frame_160x48_10000_curves", |b| {
        b.iter(|| {
            term.clear().unwrap();
            term.draw(|f| ui::draw(f, &big)).unwrap();
        })
    });
    drop(big);

    // Bytes on the wire: a real crossterm backend writing into memory, one
    // frame per measured step (what a running session redraws).
    let mut app = app;
    let count = Arc::new(AtomicU64::new(0));
    let bytes = || count.load(Ordering::Relaxed);
    // A fixed viewport: there is no terminal to ask for its size here.
    let mut term = Terminal::with_options(
        CrosstermBackend::new(CountingWriter::new(std::io::sink(), count.clone())),
        TerminalOptions {
            viewport: Viewport::Fixed(ratatui::layout::Rect::new(0, 0, 160, 48)),
        },
    )
    .unwrap();
    term.draw(|f| ui::draw(f, &app)).unwrap();
    let first = bytes();
    let steps = 50;
    for _ in 0..steps {
        for e in session.next() {
            app.on_engine(e);
        }
        term.draw(|f| ui::draw(f, &app)).unwrap();
    }
    let per_step = (bytes() - first) as f64 / steps as f64;
    let before_idle = bytes();
    for _ in 0..10 {
        term.draw(|f| ui::draw(f, &app)).unwrap();
    }
    let idle = (bytes() - before_idle) as f64 / 10.0;
    eprintln!(
        "160x48: first frame {first} bytes; {per_step:.0} bytes per frame while running (one frame per curve); {idle:.0} bytes per redraw with nothing new"
    );
}

criterion_group! {
    name = benches;
    // Plots need a system font this build does not load; the numbers are what we report.
    config = Criterion::default().without_plots();
    targets = render
}
criterion_main!(benches);
