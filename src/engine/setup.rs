//! Getting a run ready: open the instrument the plan names, check the plan
//! against the instrument's limits, and create or reopen the session log.

use super::Engine;
use crate::instrument::{self, Instrument, InstrumentError};
use crate::plan::{PlanError, SessionPlan};
use crate::record::Limits;
use crate::store::{SessionLog, SessionStatus, SessionWriter, StoreError, meta};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("plan: {0}")]
    Plan(#[from] PlanError),
    #[error("instrument: {0}")]
    Instrument(#[from] InstrumentError),
    #[error("session log: {0}")]
    Store(#[from] StoreError),
    #[error("the plan exceeds the instrument's limits: {0}")]
    Limits(String),
    #[error(
        "the session was recorded on `{recorded}` but `{found}` answers now; refusing to mix instruments in one session"
    )]
    OtherInstrument { recorded: String, found: String },
}

/// Refuses a plan that asks the instrument for more than it allows, and
/// limits that cannot be right (NaN passes every comparison).
fn check_limits(plan: &SessionPlan, limits: &Limits) -> Result<(), SetupError> {
    instrument::check::limits(limits)?;
    for (key, v) in [
        ("sweep.v_start", plan.sweep.v_start),
        ("sweep.v_max", plan.sweep.v_max),
        ("sweep.v_end", plan.sweep.v_end),
    ] {
        if v.abs() > limits.bias_max_v {
            return Err(SetupError::Limits(format!(
                "{key} = {v} V, the instrument allows ±{} V",
                limits.bias_max_v
            )));
        }
    }
    // Controllers keep their frame in float32: a part in a million is their rounding.
    if plan.survey.width_nm > limits.x_max_nm * (1.0 + 1e-6) || plan.survey.height_nm > limits.y_max_nm * (1.0 + 1e-6) {
        return Err(SetupError::Limits(format!(
            "survey {}×{} nm, the instrument's frame is {}×{} nm",
            plan.survey.width_nm, plan.survey.height_nm, limits.x_max_nm, limits.y_max_nm
        )));
    }
    Ok(())
}

/// The plan checked, the instrument opened, asked who it is and what it
/// allows, and the plan checked against that.
fn open_checked(plan: &SessionPlan) -> Result<(Box<dyn Instrument>, crate::record::Identity, Limits), SetupError> {
    plan.validate()?;
    let mut instrument = instrument::open(plan)?;
    let idn = instrument.identity()?;
    instrument::check::identity(&idn)?;
    let limits = instrument.limits()?;
    check_limits(plan, &limits)?;
    Ok((instrument, idn, limits))
}

/// Everything [`prepare_new`] checks before it creates a session, and none
/// of what it does after (for a dry run): the instrument is closed again.
pub fn check_new(plan: &SessionPlan) -> Result<(crate::record::Identity, Limits), SetupError> {
    let (_, idn, limits) = open_checked(plan)?;
    Ok((idn, limits))
}

/// A new session for `plan`, its folder created under `plan.output.dir`.
pub fn prepare_new(plan: SessionPlan) -> Result<Engine, SetupError> {
    let (instrument, idn, limits) = open_checked(&plan)?;
    let writer = SessionWriter::create(Path::new(&plan.output.dir), &plan, &idn, limits)?;
    Ok(Engine::new(plan, instrument, writer, limits, None))
}

/// The plan in `session.toml`, validated like a plan file: a tampered
/// session (a sweep past its safety limit) is refused before anything starts.
fn meta_plan_check(dir: &Path) -> Result<(), SetupError> {
    let (_, plan) = meta::read(dir)?;
    plan.validate().map_err(|e| e.in_file(&dir.join(meta::SESSION_FILE)))?;
    Ok(())
}

/// What resuming a session found.
pub enum Resume {
    /// The session already finished; nothing to do.
    Finished {
        steps: u32,
    },
    Ready(Box<Engine>),
}

/// Reopens a paused, crashed, aborted or failed session to continue it.
pub fn prepare_resume(dir: &Path) -> Result<Resume, SetupError> {
    let (meta, _) = meta::read(dir)?;
    if meta.status == SessionStatus::Finished {
        let log = SessionLog::load(dir)?;
        return Ok(Resume::Finished { steps: log.next_step() });
    }
    // A session.toml edited by hand (or by anything else) is checked as a new
    // plan is, before the instrument is touched.
    meta_plan_check(dir)?;
    let (mut writer, log) = SessionWriter::reopen(dir)?;
    let plan = log.plan.clone();
    let mut instrument = instrument::open(&plan)?;
    let idn = instrument.identity()?;
    let recorded = crate::record::Identity::parse_idn(&log.meta.instrument_idn);
    if let Some(recorded) = recorded
        && (recorded.vendor, recorded.model, recorded.serial)
            != (idn.vendor.clone(), idn.model.clone(), idn.serial.clone())
    {
        return Err(SetupError::OtherInstrument {
            recorded: log.meta.instrument_idn.clone(),
            found: idn.idn(),
        });
    }
    let limits = instrument.limits()?;
    check_limits(&plan, &limits)?;
    writer.set_instrument(&idn, limits)?;
    writer.set_status(SessionStatus::Running, None)?;
    Ok(Resume::Ready(Box::new(Engine::new(
        plan,
        instrument,
        writer,
        limits,
        Some(log),
    ))))
}
