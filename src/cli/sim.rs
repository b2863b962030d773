//! `dualscope sim …`: the simulated film as a replay dataset.

use crate::instrument::sim::{SimConfig, SimInstrument};
use crate::plan::SessionPlan;
use crate::store::grid::{GridCurve, GridDataset, GridSweep};
use clap::Subcommand;
use color_eyre::eyre::{WrapErr, eyre};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Write a simulated film as a dualscope-grid/1 dataset (ground-truth labels included).
    Export {
        /// The dataset folder to write.
        #[arg(long)]
        out: PathBuf,
        /// Film, sweep and safety settings from this plan (default: built-in defaults).
        #[arg(long)]
        plan: Option<PathBuf>,
        /// Master seed of the film (default: the plan's).
        #[arg(long)]
        seed: Option<u64>,
        /// Survey rows (default: the plan's).
        #[arg(long)]
        rows: Option<u32>,
        /// Survey columns (default: the plan's).
        #[arg(long)]
        cols: Option<u32>,
        /// Store a curve on every Nth pixel of every Nth row.
        #[arg(long, default_value_t = 2)]
        stride: u32,
    },
}

pub fn main(command: SimCommand) -> color_eyre::Result<i32> {
    match command {
        SimCommand::Export {
            out,
            plan,
            seed,
            rows,
            cols,
            stride,
        } => {
            let mut plan = match plan {
                Some(p) => SessionPlan::load(&p)?,
                None => SessionPlan::default(),
            };
            if let Some(s) = seed {
                plan.seed = s;
            }
            if let Some(r) = rows {
                plan.survey.rows = r;
            }
            if let Some(c) = cols {
                plan.survey.cols = c;
            }
            plan.validate()?;
            if stride == 0 {
                return Err(eyre!("--stride must be at least 1"));
            }
            let n = export(&plan, stride, &out)
                .wrap_err_with(|| format!("cannot write {}", out.display()))?;
            println!(
                "wrote {}: {}×{} px survey, {n} curves, labels (seed {})",
                out.display(),
                plan.survey.rows,
                plan.survey.cols,
                plan.seed
            );
            Ok(0)
        }
    }
}

/// Builds and writes the dataset; returns the number of curves.
pub fn export(plan: &SessionPlan, stride: u32, out: &std::path::Path) -> color_eyre::Result<usize> {
    let sim = SimInstrument::new(SimConfig::from_plan(plan))?;
    let (rows, cols) = (plan.survey.rows, plan.survey.cols);
    let image = sim.film().render(rows, cols);
    let mut spectra = BTreeMap::new();
    let mut labels = BTreeMap::new();
    for row in 0..rows {
        for col in 0..cols {
            labels.insert(
                (row, col),
                image.motifs[[row as usize, col as usize]]
                    .label()
                    .to_string(),
            );
            if row % stride == 0 && col % stride == 0 {
                let (x, y) = crate::instrument::pixel_to_nm(
                    row,
                    col,
                    rows,
                    cols,
                    plan.survey.width_nm,
                    plan.survey.height_nm,
                );
                // Visit 0: the very curve a live simulator gives on its first sweep there.
                let s = sim.sweep_at(x, y, &plan.sweep, 0);
                spectra.insert(
                    (row, col),
                    GridCurve {
                        bias_v: s.bias_v,
                        current_a: s.current_a,
                    },
                );
            }
        }
    }
    let n = spectra.len();
    let data = GridDataset {
        width_nm: plan.survey.width_nm,
        height_nm: plan.survey.height_nm,
        description: Some(format!(
            "dualscope simulated perovskite film, seed {}",
            plan.seed
        )),
        sweep: Some(GridSweep {
            v_start: plan.sweep.v_start,
            v_max: plan.sweep.v_max,
            v_end: plan.sweep.v_end,
            points: plan.sweep.points,
        }),
        topography_nm: image.heights_nm,
        spectra,
        labels: Some(labels),
    };
    data.write(out)?;
    Ok(n)
}
