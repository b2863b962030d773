//! `dualscope sessions` and `dualscope export`.

use crate::store::{SessionLog, SessionStatus, export, lock::SessionLock, reader::find_sessions};
use color_eyre::eyre::WrapErr;
use std::path::{Path, PathBuf};

pub fn list(root: &Path) -> color_eyre::Result<i32> {
    let dirs = find_sessions(root).wrap_err_with(|| format!("cannot list sessions in {}", root.display()))?;
    if dirs.is_empty() {
        println!("no sessions in {}", root.display());
        return Ok(0);
    }
    println!(
        "{:<28} {:<12} {:>11} {:<9} {:>6} {:>7} {:>7}  instrument",
        "session", "status", "steps", "policy", "seed", "events", "compl."
    );
    for dir in dirs {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        match SessionLog::load(&dir) {
            Ok(log) => {
                let mut status = log.meta.status.label().to_string();
                // "running" with nobody holding the lock: the writer died.
                if log.meta.status == SessionStatus::Running && !SessionLock::is_held(&dir) {
                    status = "interrupted".into();
                }
                let compliance = log
                    .measurements
                    .iter()
                    .filter(|m| m.sweep_end == crate::record::SweepEnd::Compliance)
                    .count();
                println!(
                    "{:<28} {:<12} {:>11} {:<9} {:>6} {:>7} {:>7}  {}",
                    name,
                    status,
                    format!("{}/{}", log.next_step(), log.plan.curves_budget()),
                    log.plan.policy.name.label(),
                    log.meta.seed,
                    log.events.len(),
                    compliance,
                    log.meta.instrument_idn
                );
                for d in &log.damage {
                    println!("  damaged: {d}");
                }
            }
            Err(e) => println!("{name:<28} unreadable: {e}"),
        }
    }
    Ok(0)
}

/// What `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One Parquet table: each measurement joined with its decision.
    Parquet,
    /// A Gwyddion file: the survey as a channel, every curve as point spectra.
    Gwy,
    /// A folder of Igor binary waves: the survey, one iv####.ibw per curve, index.csv.
    Ibw,
}

/// Which table a Parquet export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportTable {
    /// Each measurement joined with the decision that chose it, and its cluster.
    Measurements,
    /// The dual VAE's predicted response at every candidate, one row per
    /// candidate and model (`model_step`).
    #[value(name = "property_map")]
    PropertyMap,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The session folder (several with --dataset).
    #[arg(required = true)]
    pub sessions: Vec<PathBuf>,
    /// The file (parquet, gwy) or folder (ibw) to write.
    #[arg(long, required_unless_present = "dataset")]
    pub out: Option<PathBuf>,
    /// What to write.
    #[arg(long, value_enum, default_value_t = Format::Parquet)]
    pub format: Format,
    /// The table a Parquet export writes.
    #[arg(long, value_enum, default_value_t = ExportTable::Measurements)]
    pub table: ExportTable,
    /// Add the sessions to this dataset folder as Hive partitions
    /// (DIR/<table>/session=<id>/), leaving every other session's as it is.
    #[arg(long, conflicts_with_all = ["out", "format", "table"])]
    pub dataset: Option<PathBuf>,
}

pub fn export(args: &ExportArgs) -> color_eyre::Result<i32> {
    if let Some(dataset) = &args.dataset {
        for session in &args.sessions {
            let written = export::dataset::export(session, dataset)
                .wrap_err_with(|| format!("cannot add {} to {}", session.display(), dataset.display()))?;
            let rows: Vec<String> = written.iter().map(|(t, n)| format!("{t} {n}")).collect();
            println!(
                "added {} to {}: {}",
                session.display(),
                dataset.display(),
                rows.join(", ")
            );
        }
        return Ok(0);
    }
    let [session] = args.sessions.as_slice() else {
        return Err(color_eyre::eyre::eyre!(
            "--out takes one session; several go into a --dataset"
        ));
    };
    let out = args.out.as_ref().expect("clap requires --out without --dataset");
    let what = |e: crate::store::StoreError| {
        color_eyre::eyre::eyre!("cannot export {} to {}: {e}", session.display(), out.display())
    };
    match args.format {
        Format::Parquet if args.table == ExportTable::PropertyMap => {
            let rows = export::export_property_map(session, out).map_err(what)?;
            println!("wrote {rows} property_map rows to {}", out.display());
        }
        Format::Parquet => {
            let rows = export::export(session, out).map_err(what)?;
            println!("wrote {rows} rows to {}", out.display());
        }
        _ if args.table != ExportTable::Measurements => {
            return Err(color_eyre::eyre::eyre!(
                "--table property_map is written as Parquet only (leave out --format)"
            ));
        }
        Format::Gwy => {
            let curves = export::gwy::export(session, out).map_err(what)?;
            println!("wrote the survey and {curves} curves to {}", out.display());
        }
        Format::Ibw => {
            let curves = export::ibw::export(session, out).map_err(what)?;
            println!(
                "wrote topography.ibw, {curves} iv####.ibw and index.csv to {}",
                out.display()
            );
        }
    }
    Ok(0)
}
