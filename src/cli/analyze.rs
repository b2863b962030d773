//! `dualscope analyze` and `dualscope report`: the dual VAE, clusters and
//! figures, offline, on one session or several together.

use crate::analysis::{self, Analysis, Sample, report};
use crate::plan::AnalysisPlan;
use crate::store::SessionLog;
use crate::store::schema::embeddings_frame;
use clap::Args;
use color_eyre::eyre::{WrapErr, eyre};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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

/// Everything read from the sessions, ready for training.
struct Input {
    logs: Vec<SessionLog>,
    samples: Vec<Sample>,
    settings: AnalysisPlan,
    seed: u64,
}

/// Reads the sessions, read-only: no lock is taken and nothing under a
/// session changes, so a running session can be analysed as it goes, and a
/// session someone else owns can be read.
fn gather(dirs: &[PathBuf], train: &TrainArgs) -> color_eyre::Result<Input> {
    train.check()?;
    let mut logs = Vec::new();
    for dir in dirs {
        let log = SessionLog::load(dir).wrap_err_with(|| format!("cannot read {}", dir.display()))?;
        for d in &log.damage {
            eprintln!("{}: {d}", dir.display());
        }
        logs.push(log);
    }
    let mut samples = Vec::new();
    for (k, log) in logs.iter().enumerate() {
        let Some(survey) = &log.survey else { continue };
        let truth = crate::instrument::ground_truth(&log.plan, survey);
        samples.extend(analysis::samples(
            k,
            &log.plan,
            survey,
            &log.measurements,
            truth.as_deref(),
        ));
    }
    let mut settings = logs.first().map(|l| l.plan.analysis.clone()).unwrap_or_default();
    train.apply(&mut settings);
    let seed = logs.first().map(|l| l.meta.seed).unwrap_or(1);
    Ok(Input {
        logs,
        samples,
        settings,
        seed,
    })
}

fn train(input: &Input) -> color_eyre::Result<Analysis> {
    let members = input.settings.vae_ensemble.max(1) as usize;
    let what = if members > 1 {
        format!("{members} dual VAEs (clusters by their consensus)")
    } else {
        "the dual VAE".to_string()
    };
    eprintln!(
        "training {what} on {} locations from {} session(s), {} epochs …",
        input.samples.len(),
        input.logs.len(),
        input.settings.vae_epochs
    );
    // Progress counts the epochs of every training.
    let epochs = input.settings.vae_epochs as usize * members;
    let done = AtomicUsize::new(0);
    let finished = AtomicBool::new(false);
    let started = Instant::now();
    /// Stops the progress lines however training ends, a panic included.
    struct Finish<'a>(&'a AtomicBool);
    impl Drop for Finish<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let result = std::thread::scope(|scope| {
        // A line every 10 s once training has run that long: the spatial
        // decoder or several sessions together take minutes, not seconds.
        scope.spawn(|| {
            let mut next = Duration::from_secs(10);
            while !finished.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let elapsed = started.elapsed();
                let k = done.load(Ordering::Relaxed);
                if elapsed >= next && k > 0 && k < epochs {
                    let left = elapsed.as_secs_f64() * (epochs - k) as f64 / k as f64;
                    let per = epochs / members;
                    let which = if members > 1 {
                        format!("training {}/{members}, ", k / per + 1)
                    } else {
                        String::new()
                    };
                    eprintln!(
                        "  {which}epoch {}/{per}, {:.0} s so far, about {left:.0} s to go",
                        k % per,
                        elapsed.as_secs_f64()
                    );
                    next = elapsed + Duration::from_secs(10);
                }
            }
        });
        let _finish = Finish(&finished);
        let never = AtomicBool::new(false);
        analysis::analyze_watched(&input.samples, &input.settings, input.seed, &done, &never)
    });
    Ok(result?)
}

/// Writes each session's rows of `embeddings` as `analyze`'s own part,
/// replacing the one an earlier `analyze` wrote. A session this user cannot
/// write to keeps its files; the summary above is all there is then.
fn save_embeddings(input: &Input, a: &Analysis) -> color_eyre::Result<()> {
    for (k, log) in input.logs.iter().enumerate() {
        let model_step = input.samples.iter().filter(|t| t.session == k).count() as u32;
        let rows = a.embedding_rows(&input.samples, k, model_step, "analyze");
        match crate::store::derived::save_analyze_part(&log.dir, "embeddings", &mut embeddings_frame(&rows)?) {
            Ok(path) => eprintln!("wrote {} embeddings to {}", rows.len(), path.display()),
            Err(e) => eprintln!(
                "{}: the embeddings were not saved ({e}); the summary above stands",
                log.dir.display()
            ),
        }
    }
    Ok(())
}

fn headline(a: &Analysis) -> String {
    let mut s = format!(
        "{} clusters {}, trained in {:.1} s",
        a.summaries.len(),
        a.how,
        a.train_s
    );
    if let Some(ari) = a.ari {
        s.push_str(&format!("; adjusted Rand index vs. the simulator's motifs: {ari:.3}"));
    }
    s
}

pub fn analyze(dirs: &[PathBuf], args: &TrainArgs) -> color_eyre::Result<i32> {
    let input = gather(dirs, args)?;
    let a = train(&input)?;
    println!("{}\n", headline(&a));
    print!("{}", crate::analysis::summary::table(&a.summaries));
    save_embeddings(&input, &a)?;
    Ok(0)
}

pub fn report(dir: &Path, out: &Path, args: &TrainArgs) -> color_eyre::Result<i32> {
    let input = gather(&[dir.to_path_buf()], args)?;
    let survey = input.logs[0]
        .survey
        .clone()
        .ok_or_else(|| eyre!("{} has no survey yet", dir.display()))?;
    let a = train(&input)?;
    let stems = report::figures(out, &survey, &input.samples, &a).map_err(|e| eyre!("drawing the figures: {e}"))?;
    let title = format!("dualscope report: session {}", input.logs[0].meta.session_id);
    std::fs::write(
        out.join("report.md"),
        report::markdown(&title, &a, input.samples.len(), &stems),
    )
    .wrap_err_with(|| format!("cannot write {}", out.join("report.md").display()))?;
    println!("{}\n", headline(&a));
    print!("{}", crate::analysis::summary::table(&a.summaries));
    println!(
        "\nwrote report.md and {} figures (SVG + PNG) to {}",
        stems.len(),
        out.display()
    );
    Ok(0)
}
