//! `dualscope run PLAN --dry-run`: everything that is checked before the
//! first move, checked (the plan's ranges, the instrument's limits where it
//! answers, the output folder, the disk), the plan in words, and how long the
//! session will take and how much disk it will fill, by the same time model
//! the running session's ETA uses (`engine::eta`), fed by the same timings
//! of the dual VAE and the policy. Nothing is created and the tip never moves.

use crate::engine::eta::{self, DecisionCost};
use crate::plan::{InstrumentSpec, SessionPlan};
use crate::record::{Candidates, Survey};
use color_eyre::eyre::{WrapErr, eyre};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What the session will cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub survey_s: f64,
    /// The drift tracking's re-images of the frame (`[drift]`).
    pub reimage_s: f64,
    /// Every curve: the instrument's move, settle and sweep, and the decision.
    pub acquisition_s: f64,
    /// After the last curve: the dual VAE the session waits for.
    pub final_training_s: f64,
    /// The timings the session takes at its start, as this dry run took them.
    pub probes_s: f64,
    pub estimated_s: f64,
    pub estimated_bytes: u64,
    /// The instrument's part of one curve.
    pub instrument_step_s: f64,
    pub decision: Option<DecisionCost>,
    pub trainings: usize,
    /// What the estimate leaves out, in words.
    pub caveats: Vec<String>,
}

/// The instrument's own seconds: the survey, and one curve's move, settle
/// and sweep (the simulator's time model; a controller's own moves and
/// survey are not known here, only the sweep the plan asks for).
fn instrument_times(plan: &SessionPlan) -> (f64, f64, Option<String>) {
    // A location's whole set of sweeps (one with a single protocol).
    let sweep_ms = plan.sweep.set_duration_ms();
    match plan.instrument_spec() {
        Ok(InstrumentSpec::Sim) => {
            let s = &plan.sim;
            let survey_ms = plan.survey.rows as f64 * 10.0 + s.settle_ms;
            // Mean distance between two points uniform in the frame (0.5214 of
            // the side of a square): seeds and policy points go all over it.
            let move_nm = 0.5214 * (plan.survey.width_nm * plan.survey.height_nm).sqrt();
            let step_ms = move_nm / s.move_speed_nm_per_s * 1000.0 + s.settle_ms + sweep_ms;
            (survey_ms * s.time_scale / 1000.0, step_ms * s.time_scale / 1000.0, None)
        }
        Ok(InstrumentSpec::Replay(_)) => (0.0, 0.0, None),
        _ => (
            0.0,
            sweep_ms / 1000.0,
            Some("the controller's survey, moves and settling are its own: only the sweeps are counted".into()),
        ),
    }
}

/// How many times drift tracking images the frame again: every `every`
/// curves, or every `every_min` minutes of a run that takes `acquisition_s`,
/// whichever is more often. A coarse image costs the survey's time divided
/// by `coarse_factor` (the time goes with the rows scanned).
fn reimages(plan: &SessionPlan, acquisition_s: f64) -> f64 {
    let d = &plan.drift;
    let by_count = plan.policy.budget.checked_div(d.every).unwrap_or(0) as f64;
    let by_time = if d.every_min > 0.0 {
        (acquisition_s / 60.0 / d.every_min).floor()
    } else {
        0.0
    };
    by_count.max(by_time)
}

/// Bytes a finished session holds, by what each row costs on disk: measured
/// on the demo session (210 curves of 251 points, 2026-12-01) as 10.3 B per
/// curve value in the journal (CBOR), 4.0 B per value in the zstd Parquet of
/// `measurements`, ~100 B per `decisions` row, 7.8 B per survey pixel and
/// 43 B per `property_map` row.
fn disk_bytes(plan: &SessionPlan, candidates: usize, trainings: usize) -> u64 {
    let curves = plan.curves_budget() as f64;
    let values = 2.0 * plan.sweep.set_points() as f64 / plan.sweep.protocols().len() as f64;
    let journal = curves * (values * 10.5 + 400.0);
    let measurements = curves * (values * 4.0 + 100.0);
    let decisions = curves * 100.0;
    let survey = (plan.survey.rows * plan.survey.cols) as f64 * 8.0;
    let models = trainings as f64 * (candidates as f64 * 45.0 + curves * 40.0);
    (journal + measurements + decisions + survey + models + 8_192.0) as u64
}

/// A made-up survey of the plan's size, for timing decisions (their cost
/// depends on the frame's shape, not on what it shows).
fn made_up_survey(plan: &SessionPlan) -> Survey {
    let (rows, cols) = (plan.survey.rows as usize, plan.survey.cols as usize);
    Survey {
        width_nm: plan.survey.width_nm,
        height_nm: plan.survey.height_nm,
        heights_nm: ndarray::Array2::from_shape_fn((rows, cols), |(r, c)| {
            10.0 * ((r as f64 * 0.21).sin() + (c as f64 * 0.17).cos())
        }),
    }
}

/// How often a dry run times the dual VAE's epochs (a session's start: twice).
const DRY_RUN_EPOCH_TRIES: usize = 5;

/// Times the work as the session's start will, and plays the session forward.
pub fn estimate(plan: &SessionPlan) -> Estimate {
    let (survey_s, instrument_step_s, caveat) = instrument_times(plan);
    let t0 = Instant::now();
    let survey = made_up_survey(plan);
    let p = &plan.policy;
    let candidates = Candidates::new(survey.rows(), survey.cols(), p.patch_px, p.stride_px, None);
    let (cost, decision, extra_s) =
        eta::probe::time_the_work_with(plan, &survey, Some(&candidates), DRY_RUN_EPOCH_TRIES);
    // The run's start pays for two tries, not for the dry run's extra ones.
    let probes_s = t0.elapsed().as_secs_f64() - extra_s;
    let mut pace = eta::Pace::with_probe(cost);
    pace.decisions_timed(decision);
    // What the first seed will show: the instrument's time alone.
    pace.step_taken(0, std::time::Duration::from_secs_f64(instrument_step_s), false, false);
    let now = eta::Now::at(plan, 0, p.budget as usize, &pace);
    let forecast = eta::forecast(&now, pace.cost());
    let (acquisition_s, final_training_s) = (
        forecast.acquisition.as_secs_f64(),
        forecast.final_training.as_secs_f64(),
    );
    let reimage_s = reimages(plan, acquisition_s) * survey_s / (plan.drift.coarse_factor.max(1) as f64);
    let mut caveats: Vec<String> = caveat.into_iter().collect();
    if plan.analysis.retrain_every > 0 {
        caveats.push(
            "trainings beside the acquisition slow both on a machine with few cores; the running ETA \
             corrects for it as it measures"
                .into(),
        );
    }
    Estimate {
        survey_s,
        reimage_s,
        acquisition_s,
        final_training_s,
        probes_s,
        estimated_s: survey_s + reimage_s + probes_s + acquisition_s + final_training_s,
        estimated_bytes: disk_bytes(plan, candidates.len(), forecast.trainings),
        instrument_step_s,
        decision,
        trainings: forecast.trainings,
        caveats,
    }
}

/// The nearest path of `dir` that exists (`dir` itself once created); the
/// run would create the rest under it, so it must be a folder.
fn existing_ancestor(dir: &Path) -> color_eyre::Result<PathBuf> {
    let absolute = std::path::absolute(dir).wrap_err_with(|| format!("output.dir {}", dir.display()))?;
    let first = absolute
        .ancestors()
        .find(|p| p.exists())
        .ok_or_else(|| eyre!("output.dir {}: nothing above it exists", dir.display()))?;
    if !first.is_dir() {
        return Err(eyre!(
            "output.dir {}: {} is not a folder",
            dir.display(),
            first.display()
        ));
    }
    Ok(first.to_path_buf())
}

/// Bytes free to this user on the file system holding `dir`.
#[allow(unsafe_code)] // statvfs, see its SAFETY note
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a statvfs the call fills in.
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut stat) };
    (rc == 0).then(|| stat.f_bavail as u64 * stat.f_frsize as u64)
}

#[allow(unsafe_code)] // access, see its SAFETY note
fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a NUL-terminated path.
    unsafe { libc::access(path.as_ptr(), libc::W_OK) == 0 }
}

fn clock(s: f64) -> String {
    let s = s.round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

fn megabytes(b: u64) -> String {
    format!("{:.1} MB", b as f64 / 1e6)
}

/// Runs the checks and prints the plan and the estimate (in words, or as one
/// JSON object); exit code 0 when everything passed.
pub fn dry_run(plan_path: &Path, plan: &SessionPlan, json: bool) -> color_eyre::Result<i32> {
    let (idn, limits) = crate::engine::check_new(plan)
        .map_err(|e| eyre!("{e}"))
        .wrap_err("the plan cannot start")?;
    let out = Path::new(&plan.output.dir);
    let base = existing_ancestor(out)?;
    if !writable(&base) {
        return Err(eyre!(
            "output.dir {}: {} is not writable",
            out.display(),
            base.display()
        ));
    }
    let free = free_bytes(&base);
    let e = estimate(plan);
    let enough = free.is_none_or(|f| f >= e.estimated_bytes);
    if json {
        let object = serde_json::json!({
            "plan": plan_path.display().to_string(),
            "instrument": idn.idn(),
            "budget": plan.policy.budget,
            "curves": plan.curves_budget(),
            "protocols": plan.sweep.protocols().len(),
            "estimated_s": e.estimated_s,
            "estimated_bytes": e.estimated_bytes,
            "survey_s": e.survey_s,
            "reimage_s": e.reimage_s,
            "acquisition_s": e.acquisition_s,
            "final_training_s": e.final_training_s,
            "probes_s": e.probes_s,
            "instrument_step_s": e.instrument_step_s,
            "trainings": e.trainings,
            "output_dir": plan.output.dir,
            "free_bytes": free,
            "disk_ok": enough,
            "caveats": e.caveats,
        });
        println!("{object}");
    } else {
        let p = plan;
        println!(
            "plan        {} — checked: ranges, instrument limits, output folder, disk",
            plan_path.display()
        );
        println!(
            "instrument  {} (limits ±{} V, {:.1e} A, frame {}×{} nm)",
            idn.idn(),
            limits.bias_max_v,
            limits.current_max_a,
            limits.x_max_nm,
            limits.y_max_nm
        );
        println!(
            "survey      {}×{} px over {}×{} nm, ~{:.1} s",
            p.survey.rows, p.survey.cols, p.survey.width_nm, p.survey.height_nm, e.survey_s
        );
        let protocols = p.sweep.protocols();
        for (k, w) in protocols.iter().enumerate() {
            let head = if k == 0 { "sweep      " } else { "           " };
            println!(
                "{head} {} V → {} V → {} V in {} points of {} ms",
                w.v_start, w.v_max, w.v_end, w.points, w.dwell_ms
            );
        }
        println!(
            "            a location ~{:.0} ms of instrument time ({} sweep{} there)",
            e.instrument_step_s * 1e3,
            protocols.len(),
            if protocols.len() == 1 { "" } else { "s" }
        );
        let decision = e.decision.map_or("no fit to time".to_string(), |d| {
            let beside = if d.beside_factor > 1.0 {
                format!(", ×{:.1} beside a training", d.beside_factor)
            } else {
                String::new()
            };
            format!(
                "a decision ~{:.0} ms + {:.2} ms a curve{beside}",
                d.alone.fixed_s * 1e3,
                d.alone.per_curve_s * 1e3
            )
        });
        println!(
            "policy      {}, {} seeds, {} locations, {} curves in all; {decision}",
            p.policy.name.label(),
            p.policy.seeds,
            p.policy.budget,
            p.curves_budget()
        );
        if p.analysis.retrain_every > 0 {
            println!(
                "analysis    {} dual VAE(s) of {} epochs every {} curves: {} training(s), the last ~{:.0} s after the last curve",
                p.analysis.vae_ensemble.max(1),
                p.analysis.vae_epochs,
                p.analysis.retrain_every,
                e.trainings,
                e.final_training_s
            );
        }
        let room = free.map_or("free space unknown".into(), |f| format!("{} free", megabytes(f)));
        println!(
            "output      {} (writable; {room}); the session ~{}",
            plan.output.dir,
            megabytes(e.estimated_bytes)
        );
        println!(
            "estimate    ~{} in all: survey {}, re-images {}, curves {}, final training {}, timings {}",
            clock(e.estimated_s),
            clock(e.survey_s),
            clock(e.reimage_s),
            clock(e.acquisition_s),
            clock(e.final_training_s),
            clock(e.probes_s)
        );
        for c in &e.caveats {
            println!("note        {c}");
        }
    }
    if !enough {
        eprintln!(
            "not enough disk: the session needs ~{}, {} has {}",
            megabytes(e.estimated_bytes),
            base.display(),
            megabytes(free.unwrap_or(0))
        );
        return Ok(1);
    }
    Ok(0)
}
