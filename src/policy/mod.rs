//! Where the tip goes next. A policy sees the candidate grid, what has been
//! measured, and learns from each new curve; it never touches the instrument.

mod baseline;
pub mod dn_dkl;
pub mod exclude;
mod seeds;

use crate::record::Candidates;
pub use baseline::{GridPolicy, RandomPolicy};
pub use dn_dkl::{DecisionTimes, DnDkl, DnDklSettings};
pub use seeds::latin_hypercube;

use crate::plan::{PolicyKind, SessionPlan};
use crate::record::{Measurement, Source};

/// What a policy decided for one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// Index into [`Candidates`].
    pub candidate: usize,
    pub source: Source,
    pub score: Option<f64>,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub structure_novelty: Option<f64>,
    pub spectral_novelty: Option<f64>,
    /// Time spent fitting the model for this decision (`None`: nothing fitted).
    pub fit_ms: Option<f64>,
    /// Time spent scoring every candidate.
    pub score_ms: Option<f64>,
}

impl Choice {
    /// A choice that was not scored (seed, manual point, baseline).
    pub fn unscored(candidate: usize, source: Source) -> Self {
        Self {
            candidate,
            source,
            score: None,
            mean: None,
            std: None,
            structure_novelty: None,
            spectral_novelty: None,
            fit_ms: None,
            score_ms: None,
        }
    }
}

/// A candidate near the top of the policy's ranking, for the acquisition queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub candidate: usize,
    pub score: f64,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub structure_novelty: Option<f64>,
    pub spectral_novelty: Option<f64>,
}

/// Everything a policy may look at when deciding.
pub struct DecideContext<'a> {
    pub step: u32,
    pub candidates: &'a Candidates,
    /// Per candidate: already measured (or given up on).
    pub taken: &'a [bool],
}

impl DecideContext<'_> {
    pub fn open(&self) -> impl Iterator<Item = usize> + '_ {
        self.taken.iter().enumerate().filter(|(_, t)| !**t).map(|(k, _)| k)
    }
}

pub trait Policy: Send {
    fn kind(&self) -> PolicyKind;
    /// Learns from a new curve (`candidate` is `None` for a manual point off the grid).
    fn observe(&mut self, candidate: Option<usize>, measurement: &Measurement);
    /// Learns from the curves of a resumed session at once.
    fn observe_history(&mut self, history: &[(Option<usize>, &Measurement)]) {
        for (candidate, m) in history {
            self.observe(*candidate, m);
        }
    }
    /// Chooses the next candidate; `None` once every candidate is taken.
    fn decide(&mut self, ctx: &DecideContext<'_>) -> Option<Choice>;
    /// The best-ranked open candidates after the last decision (or the last
    /// [`Policy::rank_now`]).
    fn queue(&self, _taken: &[bool]) -> Vec<Ranked> {
        Vec::new()
    }
    /// Ranks the candidates on every curve observed so far, waiting for the
    /// fit if need be, so [`Policy::queue`] shows what the policy would choose
    /// now: for a paused run, where a user reads and edits the queue.
    fn rank_now(&mut self) {}
    /// Why the policy can no longer decide (its worker died), once it cannot.
    fn failure(&self) -> Option<String> {
        None
    }
}

/// The policy to continue with when `kind` fails: the structural half of
/// DN-DKL needs no fit; random needs nothing at all.
pub fn fallback(kind: PolicyKind) -> Option<PolicyKind> {
    match kind {
        PolicyKind::DnDkl | PolicyKind::DklUcb => Some(PolicyKind::Structure),
        PolicyKind::Structure | PolicyKind::Grid => Some(PolicyKind::Random),
        PolicyKind::Random => None,
    }
}

/// Seconds a decision of the plan's policy takes after `n` curves, for each
/// of `sizes`, timed on a throw-away copy, and at the last size inside
/// `beside` (see [`dn_dkl::time_decisions`]); nothing for the policies
/// whose decision costs nothing worth timing (random, grid).
pub fn time_decisions(
    kind: PolicyKind,
    plan: &SessionPlan,
    survey: &crate::record::Survey,
    candidates: &Candidates,
    sizes: &[usize],
    beside: impl FnOnce(&mut dyn FnMut()),
) -> DecisionTimes {
    match kind {
        PolicyKind::DnDkl | PolicyKind::DklUcb | PolicyKind::Structure => {
            dn_dkl::time_decisions(&DnDklSettings::from_plan(kind, plan), survey, candidates, sizes, beside)
        }
        PolicyKind::Random | PolicyKind::Grid => DecisionTimes::default(),
    }
}

/// Builds the policy a plan names.
pub fn build(
    kind: PolicyKind,
    plan: &SessionPlan,
    survey: &crate::record::Survey,
    candidates: &Candidates,
) -> Box<dyn Policy> {
    match kind {
        PolicyKind::DnDkl | PolicyKind::DklUcb | PolicyKind::Structure => {
            let barred = exclude::barred(&plan.policy.exclude, candidates, survey);
            Box::new(DnDkl::new(
                DnDklSettings::from_plan(kind, plan),
                survey,
                candidates,
                barred,
            ))
        }
        PolicyKind::Random => Box::new(RandomPolicy::new(plan.seed)),
        PolicyKind::Grid => {
            let points = plan.policy.budget.saturating_sub(plan.policy.seeds).max(1);
            Box::new(GridPolicy::new(candidates, points))
        }
    }
}
