//! `dualscope run` and `dualscope resume`.

use super::headless;
use crate::engine::{self, Resume};
use crate::plan::{InstrumentSpec, PolicyKind, SessionPlan};
use clap::Args;
use clap::builder::TypedValueParser;
use color_eyre::eyre::{WrapErr, eyre};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The session plan (TOML), e.g. sessions/demo.toml.
    pub plan: PathBuf,
    /// Print progress lines instead of opening the console.
    #[arg(long)]
    pub headless: bool,
    /// Console theme: dark, light, high-contrast, or a theme TOML file
    /// [default: the plan's console.theme, built in dark].
    #[arg(long, value_name = "NAME|FILE")]
    pub theme: Option<String>,
    /// Override the instrument: sim, replay:DIR, serial:PATH or
    /// nanonis:HOST[:PORT] (port 6501 if left out) [default: the plan's
    /// `instrument`, built in "sim"].
    #[arg(long, value_name = "SPEC")]
    pub instrument: Option<String>,
    /// Override the policy that chooses where the tip goes next [default: the
    /// plan's policy.name, built in dn-dkl].
    #[arg(long, value_parser = policy_names().map(|name: String| PolicyKind::parse(&name).expect("listed names parse")))]
    pub policy: Option<PolicyKind>,
    /// Override the number of locations to measure, seeds included (1 ..=
    /// 100000): one curve each, or one per `[[sweep.protocol]]` [default:
    /// the plan's policy.budget, built in 210].
    #[arg(long, value_name = "LOCATIONS")]
    pub budget: Option<u32>,
    /// Override the master seed that every random choice of the session
    /// follows [default: the plan's `seed`, built in 1].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override the folder sessions are written to [default: the plan's
    /// output.dir, built in sessions/runs].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Check everything that is checked before the first move (plan ranges,
    /// instrument limits, output folder, disk space), print the plan in words
    /// with an estimate of its duration and disk use, and start nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: print the same as one JSON object (`estimated_s`,
    /// `estimated_bytes`, …).
    #[arg(long, requires = "dry_run")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The session folder to continue.
    pub session: PathBuf,
    /// Print progress lines instead of opening the console.
    #[arg(long)]
    pub headless: bool,
    /// Console theme: dark, light, high-contrast, or a theme TOML file
    /// [default: the plan's console.theme, built in dark].
    #[arg(long, value_name = "NAME|FILE")]
    pub theme: Option<String>,
}

/// The policies' names, for clap to list under `--help` and check.
fn policy_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(PolicyKind::ALL.map(|p| p.label()))
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

/// `dualscope watch`: the session's own console settings, read-only.
pub fn watch(session: &std::path::Path, exit_at_end: bool, theme: Option<String>) -> color_eyre::Result<i32> {
    let (_, plan) = crate::store::meta::read(session)
        .map_err(|e| color_eyre::eyre::eyre!(e))
        .wrap_err_with(|| format!("cannot watch {}", session.display()))?;
    let console = prepare_console(&plan, theme)?;
    crate::tui::watch::watch(session, console, exit_at_end)?;
    Ok(0)
}

pub fn run(args: RunArgs) -> color_eyre::Result<i32> {
    let plan = plan_with_overrides(&args)?;
    if args.dry_run {
        return super::dry_run::dry_run(&args.plan, &plan, args.json);
    }
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
