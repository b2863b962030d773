//! `dualscope sim serve --nanonis`: the simulator (or a replay dataset)
//! served as a Nanonis controller's TCP interface on loopback.

use super::sim::ServeArgs;
use crate::instrument::Instrument;
use crate::instrument::nanonis::emulator::Emulator;
use crate::instrument::nanonis::serve::{self, NanonisFaults};
use crate::instrument::replay::ReplayInstrument;
use crate::instrument::sim::{SimConfig, SimInstrument};
use crate::plan::SessionPlan;
use color_eyre::eyre::{WrapErr, eyre};
use std::io::Write;

fn faults_of(args: &ServeArgs) -> color_eyre::Result<NanonisFaults> {
    let mut f = if args.faults {
        NanonisFaults::standard(args.fault_seed)
    } else {
        NanonisFaults {
            seed: args.fault_seed,
            ..NanonisFaults::default()
        }
    };
    if let Some(v) = args.error {
        f.error = v;
    }
    if let Some(v) = args.delay {
        f.delay = v;
    }
    f.delay_ms = args.delay_ms;
    if !args.drop_at.is_empty() {
        f.drop_at = args.drop_at.clone();
    }
    for (name, v) in [("--error", f.error), ("--delay", f.delay)] {
        if !(0.0..=1.0).contains(&v) {
            return Err(eyre!("{name} = {v}: must be a share between 0 and 1"));
        }
    }
    Ok(f)
}

pub fn serve(args: &ServeArgs, plan: &SessionPlan) -> color_eyre::Result<i32> {
    let faults = faults_of(args)?;
    let report = faults.error > 0.0 || faults.delay > 0.0 || !faults.drop_at.is_empty();
    // A Nanonis controller has no compliance of its own: the simulator behind
    // it limits the current only where its amplifier would (1 mA).
    let mut served = plan.clone();
    served.safety.current_max_a = 1e-3;
    let (instrument, rows, cols): (Box<dyn Instrument>, u32, u32) = match &args.replay {
        Some(dir) => {
            let r = ReplayInstrument::open(
                dir,
                plan.safety.bias_max_v,
                1e-3,
                crate::plan::memory::max_survey_pixels(plan),
            )?;
            let (rows, cols) = (r.dataset().rows(), r.dataset().cols());
            (Box::new(r), rows, cols)
        }
        None => (
            Box::new(SimInstrument::new(SimConfig::from_plan(&served))?),
            plan.survey.rows,
            plan.survey.cols,
        ),
    };
    let (cx, cy) = args.centre_um;
    let mut emulator = Emulator::new(instrument, rows, cols, (cx * 1e-6, cy * 1e-6))?;
    let (listener, local) = serve::bind(&args.listen).wrap_err_with(|| format!("cannot listen on {}", args.listen))?;
    // Whoever started us may have stopped reading: never die of a closed pipe.
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "serving the simulator as a Nanonis controller on {local} ({rows}×{cols} px frame centred at {cx}, {cy} µm)"
    );
    let _ = out.flush();
    let served = serve::serve(&listener, &mut emulator, &faults, None, |what| {
        if report {
            eprintln!("fault {what}");
        }
    })?;
    println!(
        "served {} commands ({} dropped connections, {} controller errors, {} delayed)",
        served.commands, served.dropped, served.errors, served.delayed
    );
    Ok(0)
}
