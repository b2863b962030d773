//! `dualscope sim …`: the simulated film as a replay dataset.

use crate::instrument::Instrument;
use crate::instrument::replay::ReplayInstrument;
use crate::instrument::sim::{SimConfig, SimInstrument};
use crate::instrument::wire::serve::{Faults, ServeOptions, serve_port, serve_pty};
use crate::instrument::wire::server::WireServer;
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
        /// Member N (≥ 1) of the simulator's family of films: geometry,
        /// physics and noise drawn from wide ranges (the plan's `[film] draw`;
        /// 0 is the plan's film as written).
        #[arg(long)]
        draw: Option<u32>,
        /// Several sweeps per location, by their maximum bias in V
        /// ("1.0,1.5,2.0"): each the plan's sweep up to that bias, stored
        /// as `[[protocol]]` tables and a `protocol` column (default: the
        /// plan's `[[sweep.protocol]]`, or its one sweep).
        #[arg(long, value_delimiter = ',')]
        protocols: Option<Vec<f64>>,
    },
    /// Serve the simulator (or a replay dataset) over dualscope-wire/1 on a
    /// pseudo-terminal or a real port, as if it were the microscope.
    Serve(Box<ServeArgs>),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Create a pseudo-terminal pair and print the path to connect to.
    #[arg(long, conflicts_with_all = ["port", "nanonis"])]
    pub pty: bool,
    /// Serve as a SPECS Nanonis controller's TCP interface instead (the
    /// subset dualscope uses; see docs/NANONIS.md).
    #[arg(long, conflicts_with = "port")]
    pub nanonis: bool,
    /// With --nanonis: the address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:6501")]
    pub listen: String,
    /// With --nanonis: the scan frame's centre in the piezo range, x,y in µm
    /// (a real frame need not be centred at 0).
    #[arg(long, default_value = "3.2,-1.7", value_parser = parse_pair)]
    pub centre_um: (f64, f64),
    /// With --nanonis: share of commands answered with a controller error.
    #[arg(long)]
    pub error: Option<f64>,
    /// With --nanonis: drop the connection (without a reply) on this command
    /// of the session; may be given several times.
    #[arg(long)]
    pub drop_at: Vec<u64>,
    /// Serve on this real serial port instead.
    #[arg(long)]
    pub port: Option<String>,
    /// Baud rate of --port.
    #[arg(long, default_value_t = 115_200)]
    pub baud: u32,
    /// Keep a symlink here pointing at the current pty (it survives a reconnect).
    #[arg(long)]
    pub link: Option<PathBuf>,
    /// Film and time settings from this plan (default: built-in defaults).
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Master seed of the film (default: the plan's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Serve a dualscope-grid/1 dataset instead of the simulator.
    #[arg(long)]
    pub replay: Option<PathBuf>,
    /// Emulate this line rate on the pty (10 bits a byte); default: as fast as it goes.
    #[arg(long)]
    pub line_baud: Option<u32>,
    /// Switch on the standard faults: 2% garbled and 2% dropped lines, 1% delayed
    /// replies, one disconnect (line 150) and one instrument reset (line 400).
    #[arg(long)]
    pub faults: bool,
    /// Share of lines garbled (overrides --faults).
    #[arg(long)]
    pub garble: Option<f64>,
    /// Share of lines dropped (overrides --faults).
    #[arg(long)]
    pub drop: Option<f64>,
    /// Share of replies delayed by --delay-ms (overrides --faults).
    #[arg(long)]
    pub delay: Option<f64>,
    #[arg(long, default_value_t = 300)]
    pub delay_ms: u64,
    /// Drop the connection once, on this received line.
    #[arg(long)]
    pub disconnect_after: Option<u64>,
    /// Reset the instrument once, on this received line.
    #[arg(long)]
    pub reset_after: Option<u64>,
    /// Seed of the fault pattern.
    #[arg(long, default_value_t = 7)]
    pub fault_seed: u64,
    /// Append every request the instrument acts on (not the repeats it answers
    /// from its cache) to this file, one `seq body` line each.
    #[arg(long)]
    pub log_requests: Option<PathBuf>,
}

pub fn main(command: SimCommand) -> color_eyre::Result<i32> {
    match command {
        SimCommand::Serve(args) => serve(*args),
        SimCommand::Export {
            out,
            plan,
            seed,
            rows,
            cols,
            stride,
            draw,
            protocols,
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
            if let Some(d) = draw {
                plan.film.draw = d;
            }
            if let Some(tops) = protocols {
                plan.sweep.protocol = tops
                    .into_iter()
                    .map(|v_max| crate::plan::ProtocolPlan {
                        v_max: Some(v_max),
                        ..Default::default()
                    })
                    .collect();
            }
            plan.validate()?;
            if stride == 0 {
                return Err(eyre!("--stride must be at least 1"));
            }
            let n = export(&plan, stride, &out).wrap_err_with(|| format!("cannot write {}", out.display()))?;
            println!(
                "wrote {}: {}×{} px survey, {n} curves ({} a location), labels (seed {})",
                out.display(),
                plan.survey.rows,
                plan.survey.cols,
                plan.sweep.protocols().len(),
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
    let protocols = plan.sweep.protocols();
    let mut spectra = BTreeMap::new();
    let mut more = BTreeMap::new();
    let mut labels = BTreeMap::new();
    for row in 0..rows {
        for col in 0..cols {
            labels.insert(
                (row, col),
                image.motifs[[row as usize, col as usize]].label().to_string(),
            );
            if row % stride == 0 && col % stride == 0 {
                let (x, y) =
                    crate::record::pixel_to_nm(row, col, rows, cols, plan.survey.width_nm, plan.survey.height_nm);
                // Protocol k on visit k: the very curves a live simulator gives
                // on a location's first set of sweeps there.
                for (k, request) in protocols.iter().enumerate() {
                    let s = sim.sweep_at(x, y, request, k as u64);
                    let curve = GridCurve {
                        bias_v: s.bias_v,
                        current_a: s.current_a,
                    };
                    if k == 0 {
                        spectra.insert((row, col), curve);
                    } else {
                        more.insert((row, col, k as u32), curve);
                    }
                }
            }
        }
    }
    let n = spectra.len() + more.len();
    let data = GridDataset {
        width_nm: plan.survey.width_nm,
        height_nm: plan.survey.height_nm,
        description: Some(match plan.film.draw {
            0 => format!("dualscope simulated perovskite film, seed {}", plan.seed),
            d => format!(
                "dualscope simulated perovskite film, seed {}, family draw {d}",
                plan.seed
            ),
        }),
        sweep: Some(grid_sweep(&protocols[0])),
        protocols: if protocols.len() > 1 {
            protocols.iter().map(grid_sweep).collect()
        } else {
            Vec::new()
        },
        topography_nm: image.heights_nm,
        spectra,
        more,
        labels: Some(labels),
        unusable: Vec::new(),
    };
    data.write(out)?;
    Ok(n)
}

fn grid_sweep(w: &crate::instrument::SweepRequest) -> GridSweep {
    GridSweep {
        v_start: w.v_start,
        v_max: w.v_max,
        v_end: w.v_end,
        points: w.points,
    }
}

fn faults_of(args: &ServeArgs) -> color_eyre::Result<Faults> {
    let mut f = if args.faults {
        Faults::standard(args.fault_seed)
    } else {
        Faults {
            seed: args.fault_seed,
            ..Faults::default()
        }
    };
    if let Some(v) = args.garble {
        f.garble = v;
    }
    if let Some(v) = args.drop {
        f.drop = v;
    }
    if let Some(v) = args.delay {
        f.delay = v;
    }
    f.delay_ms = args.delay_ms;
    if args.disconnect_after.is_some() {
        f.disconnect_after = args.disconnect_after;
    }
    if args.reset_after.is_some() {
        f.reset_after = args.reset_after;
    }
    for (name, v) in [("--garble", f.garble), ("--drop", f.drop), ("--delay", f.delay)] {
        if !(0.0..=1.0).contains(&v) {
            return Err(eyre!("{name} = {v}: must be a share between 0 and 1"));
        }
    }
    Ok(f)
}

fn parse_pair(text: &str) -> Result<(f64, f64), String> {
    let (a, b) = text.split_once(',').ok_or("x,y")?;
    let p = |s: &str| s.trim().parse::<f64>().map_err(|e| format!("{s}: {e}"));
    Ok((p(a)?, p(b)?))
}

fn serve(args: ServeArgs) -> color_eyre::Result<i32> {
    if !args.pty && !args.nanonis && args.port.is_none() {
        return Err(eyre!("say where to serve: --pty, --port PATH or --nanonis"));
    }
    let mut plan = match &args.plan {
        Some(p) => SessionPlan::load(p)?,
        None => SessionPlan::default(),
    };
    if let Some(s) = args.seed {
        plan.seed = s;
    }
    plan.validate()?;
    if args.nanonis {
        return super::serve_nanonis::serve(&args, &plan);
    }
    let faults = faults_of(&args)?;
    let report_faults = faults
        != Faults {
            seed: faults.seed,
            delay_ms: faults.delay_ms,
            ..Faults::default()
        };
    let options = ServeOptions {
        faults,
        line_baud: args.line_baud,
        link: args.link.clone(),
        max_lines: None,
        report_faults,
    };
    let instrument: Box<dyn Instrument> = match &args.replay {
        Some(dir) => Box::new(ReplayInstrument::open(
            dir,
            plan.safety.bias_max_v,
            plan.safety.current_max_a,
            crate::plan::memory::max_survey_pixels(&plan),
        )?),
        None => Box::new(SimInstrument::new(SimConfig::from_plan(&plan))?),
    };
    let mut server = WireServer::new(instrument);
    if let Some(path) = &args.log_requests {
        let file = crate::store::frame::open_append_nofollow(path)
            .wrap_err_with(|| format!("cannot open {}", path.display()))?;
        server.log_requests(file);
    }
    let idn = {
        let line = server.handle_line(crate::instrument::wire::frame::encode(0, "*IDN?").as_bytes());
        crate::instrument::wire::frame::decode(line.trim_end().as_bytes())
            .map(|(_, b)| b)
            .unwrap_or_default()
    };
    let count = if let Some(port) = &args.port {
        println!(
            "serving {} on {port} at {} baud",
            idn.trim_start_matches("OK "),
            args.baud
        );
        serve_port(&mut server, port, args.baud, &options)?
    } else {
        let link = args.link.clone();
        serve_pty(&mut server, &options, |path| {
            // Whoever started us may have stopped reading: never die of a closed pipe.
            use std::io::Write;
            let mut out = std::io::stdout();
            let _ = match &link {
                Some(l) => writeln!(
                    out,
                    "serving {} on {path} (link {})",
                    idn.trim_start_matches("OK "),
                    l.display()
                ),
                None => writeln!(out, "serving {} on {path}", idn.trim_start_matches("OK ")),
            };
            let _ = out.flush();
        })?
    };
    println!(
        "served {} lines ({} garbled, {} dropped, {} delayed, {} disconnects, {} resets)",
        count.lines, count.garbled, count.dropped, count.delayed, count.disconnects, count.resets
    );
    Ok(0)
}
