//! `dualscope run` and `dualscope resume`.

use super::headless;
use crate::engine::{self, Resume};
use crate::plan::{InstrumentSpec, PolicyKind, SessionPlan};
use clap::Args;
use color_eyre::eyre::{WrapErr, eyre};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The session plan (TOML), e.g. sessions/demo.toml.
    pub plan: PathBuf,
    /// Print progress lines instead of opening the console.
    #[arg(long)]
    pub headless: bool,
    /// Console theme: dark, light, high-contrast, or a theme TOML file.
    #[arg(long)]
    pub theme: Option<String>,
    /// Override the instrument: sim, replay:DIR or serial:PATH.
    #[arg(long)]
    pub instrument: Option<String>,
    /// Override the policy.
    #[arg(long, value_parser = parse_policy)]
    pub policy: Option<PolicyKind>,
    /// Override the number of measurements in all (seeds included).
    #[arg(long)]
    pub budget: Option<u32>,
    /// Override the master seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override the folder sessions are written to.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The session folder to continue.
    pub session: PathBuf,
    /// Print progress lines instead of opening the console.
    #[arg(long)]
    pub headless: bool,
    /// Console theme: dark, light, high-contrast, or a theme TOML file.
    #[arg(long)]
    pub theme: Option<String>,
}

fn parse_policy(text: &str) -> Result<PolicyKind, String> {
    PolicyKind::parse(text).ok_or_else(|| {
        let names: Vec<&str> = PolicyKind::ALL.iter().map(|p| p.label()).collect();
        format!("unknown policy `{text}`; one of: {}", names.join(", "))
    })
}

/// The plan file with the command line's overrides applied and checked.
pub fn plan_with_overrides(args: &RunArgs) -> color_eyre::Result<SessionPlan> {
    let mut plan = SessionPlan::load(&args.plan)?;
    if let Some(i) = &args.instrument {
        InstrumentSpec::parse(i)?;
        plan.instrument = i.clone();
    }
    if let Some(p) = args.policy {
        plan.policy.name = p;
    }
    if let Some(b) = args.budget {
        plan.policy.budget = b;
        plan.policy.seeds = plan.policy.seeds.min(b);
    }
    if let Some(s) = args.seed {
        plan.seed = s;
    }
    if let Some(o) = &args.out {
        plan.output.dir = o.to_string_lossy().to_string();
    }
    if let Some(t) = &args.theme {
        plan.console.theme = t.clone();
    }
    plan.validate()?;
    Ok(plan)
}

/// The console's settings, checked (terminal, theme, keymap) before any
/// session folder exists.
fn prepare_console(plan: &SessionPlan, theme: Option<String>) -> color_eyre::Result<crate::tui::Console> {
    let c = &plan.console;
    crate::tui::Console::prepare(&crate::tui::ConsoleOptions {
        theme: theme.unwrap_or_else(|| c.theme.clone()),
        keymap: c.keymap.as_ref().map(PathBuf::from),
        tick: std::time::Duration::from_millis(c.tick_ms),
    })
}

pub fn run(args: RunArgs) -> color_eyre::Result<i32> {
    let plan = plan_with_overrides(&args)?;
    let console_ready = if args.headless {
        None
    } else {
        Some(prepare_console(&plan, None)?)
    };
    super::init_logging(std::path::Path::new(&plan.output.dir));
    let engine = engine::prepare_new(plan)
        .map_err(|e| eyre!("{e}"))
        .wrap_err("cannot start the session")?;
    match console_ready {
        None => headless::drive(engine),
        Some(c) => console(engine, c),
    }
}

pub fn resume(args: ResumeArgs) -> color_eyre::Result<i32> {
    let console_ready = if args.headless {
        None
    } else {
        let (_, plan) = crate::store::meta::read(&args.session)
            .map_err(|e| eyre!("{e}"))
            .wrap_err("cannot resume the session")?;
        Some(prepare_console(&plan, args.theme.clone())?)
    };
    if let Some(parent) = args.session.parent() {
        super::init_logging(parent);
    }
    match engine::prepare_resume(&args.session)
        .map_err(|e| eyre!("{e}"))
        .wrap_err("cannot resume the session")?
    {
        Resume::Finished { steps } => {
            println!(
                "{}: already finished ({steps} measurements); nothing to resume.",
                args.session.display()
            );
            Ok(0)
        }
        Resume::Ready(engine) => match console_ready {
            None => headless::drive(*engine),
            Some(c) => console(*engine, c),
        },
    }
}

/// The console on a terminal; the same summary as headless afterwards.
fn console(engine: engine::Engine, ready: crate::tui::Console) -> color_eyre::Result<i32> {
    let dir = engine.session_dir().to_path_buf();
    let outcome = crate::tui::run(engine, ready)?;
    println!("{}", headless::summary(&outcome, &dir));
    Ok(headless::exit_code(&outcome))
}
