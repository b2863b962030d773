//! The command line: `run`, `resume`, `sessions`, `export`, `analyze`,
//! `report`, `note`, `sim`.

mod analyze;
mod dry_run;
mod headless;
mod note;
mod run;
mod serve_nanonis;
mod sessions;
mod sim;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "dualscope",
    version,
    about = "Self-driving conductive-AFM console: survey, choose, sweep, learn, repeat.",
    long_about = "dualscope runs an autonomous C-AFM experiment: it takes a survey topography \
image, chooses where the tip goes next, sweeps the bias and records a local I–V curve, \
learns and chooses again. Every session is kept as Parquet tables (README.md, section Session log).\n\n\
Start with:  dualscope run sessions/demo.toml --headless"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a new session from a plan file.
    Run(run::RunArgs),
    /// Continue a paused, crashed, aborted or failed session from its next step.
    Resume(run::ResumeArgs),
    /// List sessions with their status and counts.
    Sessions {
        /// A folder of sessions, or one session.
        #[arg(default_value = "sessions/runs")]
        dir: PathBuf,
    },
    /// Write a session in another form: one consolidated Parquet table
    /// (measurements joined with their decisions), a Gwyddion .gwy file, Igor
    /// binary waves (.ibw), or — with --dataset — many sessions into one
    /// Hive-partitioned Parquet dataset for DuckDB, polars and Spark. Reads the
    /// sessions only: a running session can be exported.
    Export(sessions::ExportArgs),
    /// Train the dual VAE on one or more sessions, cluster its latent map, print
    /// the cluster summary and save the embeddings.
    Analyze {
        /// Session folders (several are analysed together).
        #[arg(required = true)]
        sessions: Vec<PathBuf>,
        #[command(flatten)]
        train: analyze::TrainArgs,
    },
    /// Figures (SVG + PNG) and report.md of a session: its path and curves,
    /// and its latent map, clusters and predicted maps drawn from the newest
    /// model the session saved (live or by `analyze`); trains one only with
    /// --retrain, a training option, or when none was saved. Any session
    /// with a curve gets a report; clusters need at least 4.
    Report {
        /// The session folder.
        session: PathBuf,
        /// Folder for the figures and report.md.
        #[arg(long)]
        out: PathBuf,
        /// Train the dual VAE again instead of using the saved model (implied
        /// by --epochs, --clusters, --ensemble or --spatial-decoder).
        #[arg(long)]
        retrain: bool,
        #[command(flatten)]
        train: analyze::TrainArgs,
    },
    /// Add a timestamped note to a session's events (kind `note`), running
    /// or not, from any login: a running session logs it after the curve it
    /// is taking (at once while paused); its lock is never needed.
    Note {
        /// The session folder.
        session: PathBuf,
        /// The note (the words are joined with spaces).
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
    },
    /// Watch a session from a second login: the console's panes fed by the
    /// session log as it grows (a new curve shows within a second). Read-only:
    /// it takes no lock, writes nothing under the session, and keys that would
    /// command the run say so. It follows pauses, a resume by another process
    /// and the end; q leaves.
    Watch {
        /// The session folder.
        session: PathBuf,
        /// Leave by itself once the session has ended (finished, aborted or
        /// failed) and no process holds it.
        #[arg(long)]
        exit_at_end: bool,
        /// Console theme: dark, light, high-contrast, or a theme TOML file
        /// [default: the session plan's console.theme].
        #[arg(long)]
        theme: Option<String>,
    },
    /// The built-in simulated instrument.
    Sim {
        #[command(subcommand)]
        command: sim::SimCommand,
    },
}

/// Runs a command; returns the process exit code.
pub fn main(cli: Cli) -> color_eyre::Result<i32> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Resume(args) => run::resume(args),
        Command::Sessions { dir } => sessions::list(&dir),
        Command::Export(args) => sessions::export(&args),
        Command::Sim { command } => sim::main(command),
        Command::Note { session, text } => note::note(&session, &text),
        Command::Watch {
            session,
            exit_at_end,
            theme,
        } => run::watch(&session, exit_at_end, theme),
        Command::Analyze { sessions, train } => analyze::analyze(&sessions, &train),
        Command::Report {
            session,
            out,
            retrain,
            train,
        } => analyze::report(&session, &out, retrain, &train),
    }
}

/// Logs go to a file beside the sessions, never to the screen (the console
/// owns the terminal, and progress lines must stay readable).
pub(crate) fn init_logging(dir: &std::path::Path) {
    use tracing_subscriber::EnvFilter;
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let Ok(file) = crate::store::frame::open_append_nofollow(&dir.join("dualscope.log")) else {
        return;
    };
    let filter = EnvFilter::try_from_env("DUALSCOPE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
}
