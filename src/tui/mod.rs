//! The lab console: a keyboard-driven TUI that renders from a snapshot of the
//! engine's state and never blocks it.
//!
//! The engine runs on its own thread; this loop only folds its events into a
//! snapshot, turns keys into commands, and redraws when something changed or on
//! a slow tick. If the terminal goes away (SIGHUP) the run finishes its curve,
//! checkpoints and ends resumable.

pub mod app;
mod browse;
pub mod follow;
pub mod keymap;
mod notebook;
pub mod panes;
mod regions;
pub mod snapshot;
pub mod theme;
pub mod ui;
pub mod watch;

use crate::engine::{Command, Engine, RunOutcome, Running};
use app::App;
use futures::StreamExt;
use keymap::Keymap;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{Event, EventStream, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::{execute, terminal};
use snapshot::Snapshot;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use theme::Theme;
use tokio::signal::unix::{SignalKind, signal};

/// Stdout that counts what goes through it, so the console can report how many
/// bytes a second it costs an SSH link.
pub struct CountingWriter<W: Write> {
    inner: W,
    count: Arc<AtomicU64>,
}

impl<W: Write> CountingWriter<W> {
    pub fn new(inner: W, count: Arc<AtomicU64>) -> Self {
        Self { inner, count }
    }
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

type Term = Terminal<CrosstermBackend<CountingWriter<std::io::Stdout>>>;

fn enter() -> std::io::Result<()> {
    terminal::enable_raw_mode()?;
    execute!(
        std::io::stdout(),
        terminal::EnterAlternateScreen,
        ratatui::crossterm::cursor::Hide
    )
}

fn leave() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        terminal::LeaveAlternateScreen,
        ratatui::crossterm::cursor::Show
    );
}

/// Restores the terminal before the previous panic hook (color-eyre's) prints
/// its report, so a panic never leaves a scrambled screen. A panic on another
/// thread (the engine, a worker) is caught there and becomes an event; it goes
/// to the log file, not over the console.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() != Some("main") {
            tracing::error!(thread = ?std::thread::current().name(), %info, "panic");
            return;
        }
        leave();
        previous(info);
    }));
}

/// Ctrl-Z: give the terminal back, stop, and take it again on `fg`.
#[allow(unsafe_code)] // the call below, see its SAFETY note
fn suspend(term: &mut Term) -> std::io::Result<()> {
    leave();
    // SAFETY: raising a signal on our own process; SIGTSTP stops it until SIGCONT.
    unsafe {
        libc::raise(libc::SIGTSTP);
    }
    enter()?;
    term.clear()
}

/// Console settings from the command line and the plan.
pub struct ConsoleOptions {
    pub theme: String,
    pub keymap: Option<std::path::PathBuf>,
    pub tick: Duration,
}

/// Everything the console needs that can be wrong before a session starts:
/// a terminal, the theme, the keymap. Checked first, so a typo in a theme
/// never leaves a session folder behind.
pub struct Console {
    theme: Theme,
    keymap: Keymap,
    tick: Duration,
}

impl Console {
    pub fn prepare(options: &ConsoleOptions) -> color_eyre::Result<Self> {
        use std::io::IsTerminal;
        if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
            return Err(color_eyre::eyre::eyre!(
                "the console needs a terminal; use --headless for scripts and pipes"
            ));
        }
        let theme = Theme::load(&options.theme)?;
        let keymap = match &options.keymap {
            Some(p) => Keymap::load(p)?,
            None => Keymap::default(),
        };
        Ok(Self {
            theme,
            keymap,
            tick: options.tick,
        })
    }
}

/// Runs the console until the user quits (or the terminal goes away); returns
/// how the run ended.
pub fn run(engine: Engine, console: Console) -> color_eyre::Result<RunOutcome> {
    let Console { theme, keymap, tick } = console;
    let session = engine
        .session_dir()
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let snapshot = Snapshot::new(session, engine.plan());
    let mut app = App::new(snapshot, theme, keymap);

    let Running {
        commands,
        mut events,
        handle,
    } = engine.spawn()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;

    install_panic_hook();
    enter()?;
    let bytes = Arc::new(AtomicU64::new(0));
    let mut term: Term = Terminal::new(CrosstermBackend::new(CountingWriter::new(
        std::io::stdout(),
        bytes.clone(),
    )))?;
    term.clear()?;

    // A bug in the console must not end the process under a running sweep:
    // the panic is held until the engine has parked the tip and closed the log.
    let send = |c: Command| {
        let _ = commands.send(c);
    };
    let ui = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> color_eyre::Result<()> {
        runtime.block_on(drive(&mut app, &mut term, &mut events, &send, tick, bytes))
    }));
    leave();
    // Quitting the console ends the run (resumable), whatever state it was in.
    let _ = commands.send(Command::Quit);
    drop(commands);
    let outcome = handle.join()?;
    match ui {
        Ok(result) => result?,
        Err(panic) => std::panic::resume_unwind(panic),
    }
    Ok(outcome)
}

/// The console's loop: draws when something changed, turns keys into
/// commands (`send`), folds `events` in, until the user quits, the terminal
/// goes away with the run over, or — for a watch — the events end.
async fn drive(
    app: &mut App,
    term: &mut Term,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<crate::engine::EngineEvent>,
    send: &dyn Fn(Command),
    tick: Duration,
    bytes: Arc<AtomicU64>,
) -> color_eyre::Result<()> {
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(tick);
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut gone = false;
    let (mut last_bytes, mut last_at) = (0u64, Instant::now());
    loop {
        if app.dirty && !gone {
            app.dirty = false;
            // A terminal that went away cannot be drawn on; the run carries on.
            if term.draw(|f| ui::draw(f, app)).is_err() {
                gone = true;
            }
        }
        // Nobody to show the ended run to (the terminal hung up, or a
        // signal asked us to go): leave, or the process outlives its
        // terminal and its session.
        if app.exit || (gone && app.engine_done) {
            break;
        }
        tokio::select! {
            key = keys.next(), if !gone => match key {
                Some(Ok(Event::Key(k))) if k.kind == KeyEventKind::Press => {
                    if k.code == KeyCode::Char('z') && k.modifiers.contains(KeyModifiers::CONTROL) {
                        suspend(term)?;
                        app.dirty = true;
                        continue;
                    }
                    if app.typing.is_some() {
                        for c in app.on_typed(&k) {
                            send(c);
                        }
                    } else if let Some(action) = app.keymap.action(&k) {
                        for c in app.on_action(action) {
                            send(c);
                        }
                    }
                }
                Some(Ok(Event::Resize(..))) => {
                    term.autoresize()?;
                    app.dirty = true;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => gone = true,
            },
            // Once the engine is gone its channel answers `None` at once,
            // forever: stop asking, or the loop spins a core.
            event = events.recv(), if !app.engine_done => match event {
                Some(e) => app.on_engine(e),
                None => {
                    // The run is over; after a quit or a hang-up we leave with it.
                    app.engine_done = true;
                    app.dirty = true;
                    if gone || app.read_only || app.snap.state == crate::engine::RunState::Paused {
                        break;
                    }
                }
            },
            _ = tick.tick() => {
                let now = Instant::now();
                let total = bytes.load(Ordering::Relaxed);
                let dt = now.duration_since(last_at).as_secs_f64();
                if dt > 0.0 {
                    let rate = (total - last_bytes) as f64 / dt;
                    if (rate - app.tty_bytes_per_s).abs() > 50.0 {
                        app.dirty = true;
                    }
                    app.tty_bytes_per_s = rate;
                    tracing::debug!(bytes_per_s = rate, "terminal output");
                }
                (last_bytes, last_at) = (total, now);
            }
            _ = hangup.recv() => {
                if app.read_only {
                    break;
                }
                tracing::warn!("terminal hung up: finishing the current curve and leaving a resumable session");
                gone = true;
                send(Command::Quit);
            }
            _ = terminate.recv() => {
                send(Command::Quit);
                if app.engine_done || app.read_only {
                    break;
                }
            }
        }
    }
    Ok(())
}
