//! `dualscope analyze` and `dualscope report`: the dual VAE, clusters and
//! figures, offline, on one session or several together.

use crate::analysis::pipeline::{self, Gathered};
use crate::analysis::{Analysis, Clustered, Sample, report};
use crate::plan::AnalysisPlan;
use crate::record::{PropertyGrid, Survey};
use clap::Args;
use color_eyre::eyre::{WrapErr, eyre};
use std::path::{Path, PathBuf};

use std::time::Duration;

#[derive(Debug, Args, Clone)]
pub struct TrainArgs {
    /// Training epochs (default: the first session's plan, 1000; 1 ..= 1000000).
    #[arg(long)]
    pub epochs: Option<u32>,
    /// Fix the number of clusters instead of choosing it by BIC (1 ..= 64;
    /// 0 chooses by BIC as the plan's default does).
    #[arg(long)]
    pub clusters: Option<u32>,
    /// Use the rotation/translation-aware decoder for the image VAE. Slow: it
    /// decodes every pixel on its own, ~0.35 s an epoch for 210 locations on
    /// 2 cores (~6 min for 1000 epochs) against ~7 ms for the MLP decoder.
    #[arg(long)]
    pub spatial_decoder: bool,
    /// Train this many dual VAEs from different seeds and cluster by their
    /// consensus (default: the first session's plan, 1; 1 ..= 64). Each
    /// training takes as long as one: ~7 s at 210 locations on 2 cores.
    #[arg(long)]
    pub ensemble: Option<u32>,
}

impl TrainArgs {
    /// Checks the overrides against the plan's ranges before any session is
    /// opened (opening one compacts its journal).
    fn check(&self) -> color_eyre::Result<()> {
        let mut probe = AnalysisPlan::default();
        self.apply(&mut probe);
        probe.validate().map_err(|e| eyre!("bad training option: {e}"))
    }

    /// Whether any training option was given.
    fn any(&self) -> bool {
        self.epochs.is_some() || self.clusters.is_some() || self.spatial_decoder || self.ensemble.is_some()
    }

    fn apply(&self, a: &mut AnalysisPlan) {
        if let Some(e) = self.epochs {
            a.vae_epochs = e;
        }
        if let Some(c) = self.clusters {
            a.clusters = c;
        }
        if self.spatial_decoder {
            a.vae_spatial_decoder = true;
        }
        if let Some(n) = self.ensemble {
            a.vae_ensemble = n;
        }
    }
}

/// Reads the sessions (read-only), after checking the options.
fn gather(dirs: &[PathBuf], train: &TrainArgs) -> color_eyre::Result<Gathered> {
    train.check()?;
    let g = pipeline::gather(dirs, |a| train.apply(a))?;
    for log in &g.logs {
        for d in &log.damage {
            eprintln!("{}: {d}", log.dir.display());
        }
    }
    Ok(g)
}

/// Trains with a progress line every 10 s on stderr.
fn train(g: &Gathered) -> color_eyre::Result<Analysis> {
    let members = g.settings.vae_ensemble.max(1) as usize;
    let what = if members > 1 {
        format!("{members} dual VAEs (clusters by their consensus)")
    } else {
        "the dual VAE".to_string()
    };
    eprintln!(
        "training {what} on {} locations from {} session(s), {} epochs …",
        g.samples.len(),
        g.logs.len(),
        g.settings.vae_epochs
    );
    let a = pipeline::train(g, Duration::from_secs(10), |p| {
        let which = if p.members > 1 {
            format!("training {}/{}, ", p.member, p.members)
        } else {
            String::new()
        };
        eprintln!(
            "  {which}epoch {}/{}, {:.0} s so far, about {:.0} s to go",
            p.epoch, p.epochs, p.elapsed_s, p.left_s
        );
    })?;
    Ok(a)
}

pub fn analyze(dirs: &[PathBuf], args: &TrainArgs) -> color_eyre::Result<i32> {
    let g = gather(dirs, args)?;
    let a = train(&g)?;
    println!("{}\n", Clustered::of(&a).headline());
    print!("{}", crate::analysis::summary::table(&a.summaries));
    if let Some(log) = g.logs.first() {
        print!("{}", crate::analysis::summary::protocol_table(&a.summaries, &log.plan));
    }
    for saved in pipeline::save(&g, &a) {
        match saved.result {
            Ok(path) => eprintln!("wrote {} {} rows to {}", saved.rows, saved.table, path.display()),
            Err(e) => eprintln!(
                "{}: the {} rows were not saved ({e}); the summary above stands",
                saved.session.display(),
                saved.table
            ),
        }
    }
    Ok(0)
}

/// The clusters a report shows, the samples they were made on, the
/// predicted maps, and what the reader should know about where they came from.
struct Shown {
    clusters: Option<Clustered>,
    samples: Vec<Sample>,
    grid: Option<PropertyGrid>,
    notes: Vec<String>,
}

/// The saved model unless told to train, or none was saved; a session too
/// short to cluster gets no clusters, and says so.
fn shown(g: &Gathered, survey: &Survey, retrain: bool) -> color_eyre::Result<Shown> {
    let mut notes = Vec::new();
    let n = g.samples.len();
    if !retrain {
        let saved = crate::store::saved::newest_model(&g.logs[0].dir)
            .wrap_err_with(|| format!("cannot read the saved model of {}", g.logs[0].dir.display()))?;
        if let Some((model, (clusters, samples))) =
            saved.and_then(|m| Clustered::saved(&g.samples, &m).map(|shown| (m, shown)))
        {
            if samples.len() < n {
                notes.push(format!(
                    "The saved `{}` model was trained on {} of the {n} curves; the {} later ones are not \
                     in its clusters (`dualscope report --retrain` trains on all).",
                    model.model,
                    samples.len(),
                    n - samples.len()
                ));
            }
            let grid = (!model.properties.is_empty()).then(|| PropertyGrid::new(model.properties));
            return Ok(Shown {
                clusters: Some(clusters),
                samples,
                grid,
                notes,
            });
        }
        if n >= 4 {
            eprintln!("the session saved no model: training one now");
        }
    }
    if n < 4 {
        notes.push(format!(
            "{n} curve(s): too few to cluster (the dual VAE needs at least 4); the path and the curves are shown."
        ));
        return Ok(Shown {
            clusters: None,
            samples: g.samples.clone(),
            grid: None,
            notes,
        });
    }
    let a = train(g)?;
    let max_only = g.max_current_only(0);
    let points =
        crate::analysis::property_map::of_frame(&a, &g.samples, &max_only, &g.logs[0].plan, survey, n as u32, "report");
    Ok(Shown {
        clusters: Some(Clustered::of(&a)),
        samples: g.samples.clone(),
        grid: Some(PropertyGrid::new(points)),
        notes,
    })
}

pub fn report(dir: &Path, out: &Path, retrain: bool, args: &TrainArgs) -> color_eyre::Result<i32> {
    let g = gather(&[dir.to_path_buf()], args)?;
    let survey = g.logs[0]
        .survey
        .clone()
        .ok_or_else(|| eyre!("{} has no survey yet: nothing to report", dir.display()))?;
    if g.samples.is_empty() {
        return Err(eyre!("{} has no measured curve yet: nothing to report", dir.display()));
    }
    let shown = shown(&g, &survey, retrain || args.any())?;
    let stems = report::figures(
        out,
        &survey,
        &shown.samples,
        shown.clusters.as_ref(),
        shown.grid.as_ref(),
        g.logs[0].plan.policy.seeds as usize,
        &g.logs[0]
            .plan
            .sweep
            .protocols()
            .iter()
            .map(|p| p.top_v())
            .collect::<Vec<_>>(),
    )
    .map_err(|e| eyre!("drawing the figures: {e}"))?;
    let meta = &g.logs[0].meta;
    let started = chrono::DateTime::from_timestamp_millis(meta.started_ms)
        .map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M %Z").to_string())
        .unwrap_or_else(|| "at an unknown time".into());
    let from = report::Provenance {
        session_id: &meta.session_id,
        started,
        instrument: &meta.instrument_idn,
        plan: &g.logs[0].plan,
    };
    let md = report::markdown(&from, shown.clusters.as_ref(), g.samples.len(), &stems, &shown.notes);
    std::fs::write(out.join("report.md"), md)
        .wrap_err_with(|| format!("cannot write {}", out.join("report.md").display()))?;
    for note in &shown.notes {
        println!("{note}");
    }
    if let Some(c) = &shown.clusters {
        println!("{}\n", c.headline());
        print!("{}", crate::analysis::summary::table(&c.summaries));
        print!(
            "{}",
            crate::analysis::summary::protocol_table(&c.summaries, &g.logs[0].plan)
        );
    }
    println!(
        "\nwrote report.md and {} figures (SVG + PNG) to {}",
        stems.len(),
        out.display()
    );
    Ok(0)
}
