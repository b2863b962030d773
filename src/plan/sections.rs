//! The tables of a session plan. Defaults are the safe, published settings.

use serde::{Deserialize, Serialize};

/// The survey topography image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SurveyPlan {
    pub rows: u32,
    pub cols: u32,
    pub width_nm: f64,
    pub height_nm: f64,
}

impl Default for SurveyPlan {
    fn default() -> Self {
        Self {
            rows: 256,
            cols: 256,
            width_nm: 2_000.0,
            height_nm: 2_000.0,
        }
    }
}

/// Hard limits the host never exceeds, whatever the plan or the policy asks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SafetyPlan {
    /// Largest |bias| any sweep may reach.
    pub bias_max_v: f64,
    /// Current compliance: a sweep is cut short and ramped to 0 V above this.
    pub current_max_a: f64,
}

impl Default for SafetyPlan {
    fn default() -> Self {
        Self {
            bias_max_v: 2.0,
            current_max_a: 5e-9,
        }
    }
}

/// Which policy chooses the next point, and how many points in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    /// Dual-novelty deep kernel learning (the published method).
    #[default]
    DnDkl,
    /// Deep kernel UCB on spectral novelty alone.
    DklUcb,
    /// Structural novelty (1 − max SSIM) alone.
    Structure,
    /// Uniformly random unmeasured candidate.
    Random,
    /// Raster order over the candidate grid.
    Grid,
}

impl PolicyKind {
    pub const ALL: [PolicyKind; 5] = [Self::DnDkl, Self::DklUcb, Self::Structure, Self::Random, Self::Grid];

    pub fn label(self) -> &'static str {
        match self {
            Self::DnDkl => "dn-dkl",
            Self::DklUcb => "dkl-ucb",
            Self::Structure => "structure",
            Self::Random => "random",
            Self::Grid => "grid",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.label() == text)
    }
}

impl std::fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// What the deep kernel learns to predict from a patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DklTarget {
    /// Isolation-forest novelty of the curve among all curves measured so far.
    #[default]
    Novelty,
    HysteresisArea,
    OnsetV,
    MaxCurrentA,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyPlan {
    pub name: PolicyKind,
    /// Latin-hypercube seed points measured before the policy takes over.
    pub seeds: u32,
    /// Locations in all, seeds included: one curve each, or one per
    /// `[[sweep.protocol]]` (`SessionPlan::curves_budget`).
    pub budget: u32,
    /// Side of the square topography patch around a candidate.
    pub patch_px: u32,
    /// Candidates sit on every `stride_px`-th pixel.
    pub stride_px: u32,
    /// UCB exploration weight: spectral score = μ + √β·σ.
    pub beta: f64,
    /// What the deep kernel learns from a patch.
    pub target: DklTarget,
    /// Start the next sweep on a decision computed while the previous curve was
    /// measured, instead of waiting for a fit that includes the newest curve.
    pub pipelined: bool,
    /// Hidden layer widths of the feature extractor (its input is patch_px²).
    pub dkl_hidden: Vec<u32>,
    /// Dimension of the learned embedding the kernel works on.
    pub dkl_embedding: u32,
    /// Adam learning rate of the marginal-likelihood fit.
    pub dkl_learning_rate: f64,
    /// Most optimiser steps of the first fit, and of each warm-started refit
    /// (a fit stops earlier once the objective settles).
    pub dkl_first_fit_steps: u32,
    pub dkl_refit_steps: u32,
    /// Every this many curves, also fit a fresh model from a seeded start (with
    /// the first fit's steps) and keep whichever explains the data better: a warm
    /// fit alone can settle in a flat kernel (every candidate the same mean and
    /// variance) and never leave it. 0 turns this off.
    pub dkl_restart_every: u32,
    /// Past this many curves the GP is no longer exact: it conditions on every
    /// curve through `dkl_inducing_points` of them (DTC), grown by one rank-one
    /// update per curve, and the deep kernel refits beside the acquisition
    /// every `dkl_sparse_refit_every` curves instead of on the decision's path.
    /// Sessions of the paper's size (a few hundred curves) stay exact.
    pub dkl_exact_max_points: u32,
    pub dkl_inducing_points: u32,
    pub dkl_sparse_refit_every: u32,
    /// How many top candidates the acquisition queue shows.
    pub queue_len: u32,
    /// Regions of the frame no seed and no policy decision may land in
    /// (`[[policy.exclude]]`); the console adds and removes them too.
    pub exclude: Vec<Exclusion>,
}

/// A rectangle of the frame kept free of seeds and policy points: a scratch,
/// an electrode, dirt, a region already studied.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exclusion {
    /// From and to, in nm from the frame's left edge.
    pub x_nm: [f64; 2],
    /// From and to, in nm from the frame's top edge.
    pub y_nm: [f64; 2],
}

impl Exclusion {
    /// Whether a position in the frame is inside (edges included).
    pub fn contains(&self, x_nm: f64, y_nm: f64) -> bool {
        (self.x_nm[0]..=self.x_nm[1]).contains(&x_nm) && (self.y_nm[0]..=self.y_nm[1]).contains(&y_nm)
    }
}

impl std::fmt::Display for Exclusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "x_nm = [{:.1}, {:.1}], y_nm = [{:.1}, {:.1}]",
            self.x_nm[0], self.x_nm[1], self.y_nm[0], self.y_nm[1]
        )
    }
}

impl Default for PolicyPlan {
    fn default() -> Self {
        Self {
            name: PolicyKind::DnDkl,
            seeds: 10,
            budget: 210,
            patch_px: 16,
            stride_px: 2,
            beta: 0.25,
            target: DklTarget::Novelty,
            pipelined: false,
            dkl_hidden: vec![64, 64],
            dkl_embedding: 2,
            dkl_learning_rate: 0.01,
            dkl_first_fit_steps: 200,
            dkl_refit_steps: 6,
            dkl_restart_every: 25,
            dkl_exact_max_points: 500,
            dkl_inducing_points: 256,
            dkl_sparse_refit_every: 25,
            queue_len: 12,
            exclude: Vec::new(),
        }
    }
}

/// Settings of the analysis: the curve scalarizers, the dual VAE and the
/// clustering of its joint latent map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisPlan {
    /// The onset voltage is the first bias on the up branch where |I| exceeds this.
    pub onset_current_a: f64,
    /// Retrain the dual VAE in the background every this many new measurements
    /// during a session (0: never during the session).
    pub retrain_every: u32,
    pub vae_epochs: u32,
    /// Width of both hidden layers of every encoder and decoder.
    pub vae_hidden: u32,
    pub vae_latent: u32,
    pub vae_learning_rate: f64,
    /// Weight of the KL term.
    pub vae_beta: f64,
    /// Weight of the L1 alignment of the two latent means.
    pub vae_gamma: f64,
    /// Use the rotation/translation-aware ("spatial") decoder for patches; slow:
    /// ~0.35 s an epoch at 210 locations on 2 cores (~6 min for 1000 epochs),
    /// against ~7 ms for the MLP.
    pub vae_spatial_decoder: bool,
    /// The image VAE sees each patch's relief faded with the distance from the
    /// tip, as a Gaussian of this standard deviation: the structure under the
    /// tip, not a boundary at the patch's edge, goes with the I–V curve. 0 sees
    /// the whole patch evenly.
    pub patch_window_nm: f64,
    /// Train this many dual VAEs, each from its own seed, and cluster by their
    /// consensus: locations go together as often as the trainings' mixtures
    /// put them together. 1 trains one and keeps its mixture's clusters. Each
    /// training costs the same (~7 s at 210 locations, 1000 epochs, 2 cores).
    pub vae_ensemble: u32,
    /// Past this many curves the dual VAE trains on mini-batches of
    /// `vae_batch` curves, `vae_epochs` steps in all, so that a training costs
    /// what one on `vae_batch` curves costs, however long the session, and
    /// each training's mixture is chosen on this many curves spread evenly
    /// over the session, then labels every curve (0: always full batch, every
    /// curve). Sessions of a few hundred curves train full batch, as published.
    pub vae_batch_above: u32,
    pub vae_batch: u32,
    /// Number of clusters; 0 chooses it by BIC.
    pub clusters: u32,
    /// Largest number of clusters BIC may choose.
    pub clusters_max: u32,
    /// The mixture sees, beside each location's place in the joint latent
    /// map, its measured curve's log loop area and log max current: on films
    /// the project did not tune on, the map alone missed motifs the curves
    /// plainly carry. `false` clusters the map alone, as published.
    pub cluster_scalars: bool,
    /// The mixture also sees the surface's two bends at the tip (across and
    /// along, nm per px², fitted within 2.5 px of it): a pit bends both ways,
    /// a groove one, flat ground neither, which the image view's two latent
    /// numbers keep only in part. `false` leaves them out.
    pub cluster_relief: bool,
    /// How an ensemble's consensus decides its number of clusters:
    /// `median` (of the trainings' own BIC choices), `lifetime` (the k that
    /// lives longest in the co-association's tree) or `agreement` (the k
    /// whose consensus agrees best with the trainings). A fixed `clusters`
    /// overrides it.
    pub consensus_k: ConsensusK,
    /// How the property map carries a patch's image latent to the spectral
    /// latent its decoder reads: `fitted` (a least-squares map from the
    /// image latents to the spectral views of the measured locations) or
    /// `adapter` (the inverse of the learned alignment A alone).
    pub property_latent: PropertyLatent,
    /// Adds to the property map what the measured curves say its relief does
    /// not (each grain's own conductance): the log residuals at the measured
    /// locations, interpolated over x and y by a Gaussian process (see
    /// `analysis::residual_field`). `false` keeps the decoder's map alone,
    /// as published.
    pub property_kriging: bool,
}

/// See [`AnalysisPlan::consensus_k`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConsensusK {
    #[default]
    Median,
    Lifetime,
    Agreement,
}

impl ConsensusK {
    pub const ALL: [ConsensusK; 3] = [Self::Median, Self::Lifetime, Self::Agreement];

    pub fn label(self) -> &'static str {
        match self {
            Self::Median => "median",
            Self::Lifetime => "lifetime",
            Self::Agreement => "agreement",
        }
    }
}

/// See [`AnalysisPlan::property_latent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PropertyLatent {
    #[default]
    Fitted,
    Adapter,
}

impl Default for AnalysisPlan {
    fn default() -> Self {
        Self {
            onset_current_a: 2e-11,
            retrain_every: 25,
            vae_epochs: 1000,
            vae_hidden: 256,
            vae_latent: 2,
            vae_learning_rate: 1e-4,
            vae_beta: 1.0,
            vae_gamma: 10.0,
            vae_spatial_decoder: false,
            patch_window_nm: 16.0,
            vae_ensemble: 1,
            vae_batch_above: 500,
            vae_batch: 200,
            clusters: 0,
            clusters_max: 8,
            cluster_scalars: true,
            cluster_relief: true,
            consensus_k: ConsensusK::default(),
            property_latent: PropertyLatent::default(),
            property_kriging: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputPlan {
    /// Sessions are written to `<dir>/<session_id>/`.
    pub dir: String,
    /// Rows gathered in the journal before a Parquet part file is written.
    pub flush_rows: u32,
    /// Longest time a journaled row waits for its part file.
    pub flush_ms: u64,
    /// When the session is done (finished or aborted), rewrite each table's
    /// many small parts as one, so readers open a few files, not thousands.
    pub compact: bool,
    /// While the session runs, a table whose part files pass this many is
    /// compacted to one at the next checkpoint between curves, so a night's
    /// session never holds thousands of files (0: only when it is done).
    pub max_parts: u32,
}

impl Default for OutputPlan {
    fn default() -> Self {
        Self {
            dir: "sessions/runs".into(),
            flush_rows: 16,
            flush_ms: 3_000,
            compact: true,
            max_parts: 48,
        }
    }
}

/// A word when something happens: each hook a command (program and
/// arguments, not through a shell; empty: nothing runs) with the session in
/// its environment (`DUALSCOPE_SESSION`, `DUALSCOPE_STATUS`,
/// `DUALSCOPE_MEASUREMENTS`, `DUALSCOPE_DETAIL`): a mail, a chat message, a
/// sound. Its exit status and output become an `events` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyPlan {
    /// Run when the budget is spent or nothing is left to measure, once the
    /// status is on disk.
    pub on_finish: Vec<String>,
    /// Run when the run stops on an error, once the status is on disk.
    pub on_fail: Vec<String>,
    /// Run when the session pauses (a pause in the console, or a run that
    /// ends resumable); beside the paused run, which goes on taking commands.
    pub on_pause: Vec<String>,
    /// Run at every end of a run (finished, aborted, failed or paused), after
    /// the hook of that end.
    pub on_end: Vec<String>,
    /// Longest a hook may run before it is killed, with anything it started
    /// (the session goes on, or closes, either way).
    pub timeout_s: f64,
}

impl NotifyPlan {
    /// Each hook by its key.
    pub fn hooks(&self) -> [(&'static str, &[String]); 4] {
        [
            ("on_finish", &self.on_finish),
            ("on_fail", &self.on_fail),
            ("on_pause", &self.on_pause),
            ("on_end", &self.on_end),
        ]
    }
}

impl Default for NotifyPlan {
    fn default() -> Self {
        Self {
            on_finish: Vec::new(),
            on_fail: Vec::new(),
            on_pause: Vec::new(),
            on_end: Vec::new(),
            timeout_s: 30.0,
        }
    }
}

/// The computer the console runs on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct HostPlan {
    /// Most memory a session's survey, candidates and models may take, in MiB;
    /// a plan that needs more is refused before anything starts. 0: half of
    /// this machine's memory.
    pub memory_budget_mb: u64,
}

/// The console (TUI).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsolePlan {
    /// `dark`, `light`, `high-contrast`, or a path to a theme TOML file.
    pub theme: String,
    /// A TOML file rebinding keys (see `dualscope run --help`).
    pub keymap: Option<String>,
    /// Redraw at least this often while nothing changes.
    pub tick_ms: u64,
}

impl Default for ConsolePlan {
    fn default() -> Self {
        Self {
            theme: "dark".into(),
            keymap: None,
            tick_ms: 1_000,
        }
    }
}
