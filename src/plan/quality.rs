//! `[quality]`: the gate every curve passes before any model learns from
//! it, and the check of the tip on a reference place.

use serde::{Deserialize, Serialize};

/// The quality gate (`measurements.quality`): a curve without contact (or
/// stopped at the current limit) stays in the log, is left out of the
/// policy's target and novelty and of the dual VAE, and its place is
/// measured once more; failures in a row suspend the session, since the tip
/// then needs a person rather than more of the budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualityPlan {
    /// Judge every curve (false: no verdict, every curve is learned from).
    pub gate: bool,
    /// A curve whose contact score (`record::quality::contact_score`) is
    /// under this has no contact. Chosen on the simulator's tuning films
    /// (draws 1–10, 3000 curves each way: in contact 1st percentile 8.2,
    /// out of contact at most 2.16) by `examples/quality_gate.rs`; on draws
    /// 101–110 it failed 1 of 3000 curves in contact and passed none of 3000
    /// without; on the demo film the lowest curve in contact scores 13.
    pub min_contact_score: f64,
    /// A curve whose noise (`record::quality::noise_a`) is over this many
    /// times the median of the session's recent curves' is noisy (0 = never
    /// judged so). Chosen on the tuning films (draws 1–10, 2997 curves each
    /// way: ordinary curves at most 1.52, curves with 3× the noise at least
    /// 2.13) by `examples/quality_gate.rs`; on draws 101–110 it judged none
    /// of 2997 ordinary curves noisy (max 1.32) and every curve with 3× the
    /// noise noisy (min 2.20), 85 % of those with 2×.
    pub max_noise_ratio: f64,
    /// Measure a failed curve's place once more.
    pub remeasure: bool,
    /// This many failed curves in a row end the run, resumable, with a
    /// `suspended` event (0 = never).
    pub pause_after: u32,
    /// Before those failures end the run, the place of the first good curve
    /// is measured again: a curve there that passes the gate and conducts at
    /// least `tip_drop` of what it did says the tip is sound and the failed
    /// curves are the film's (a dim film's weakest places), and the run goes
    /// on. On the simulator's family, whose tip never loses contact, DN-DKL
    /// sessions on three dim films of draws 101-170 (115, 116, 153) were
    /// suspended after 193, 180 and 96 of their 210 curves without it; with
    /// it each ran to 210 after one check.
    pub check_tip_before_pausing: bool,
    /// Every this many curves the place of the first good curve is measured
    /// again to check the tip (0 = never).
    pub reference_every: u32,
    /// A check whose max current is under this share of the reference's (or
    /// of the last changed tip's) is a tip change (`tip_changed` event).
    pub tip_drop: f64,
    /// A tip change ends the run, resumable, for a person to look.
    pub tip_change_pauses: bool,
}

impl Default for QualityPlan {
    fn default() -> Self {
        Self {
            gate: true,
            min_contact_score: 2.6,
            max_noise_ratio: 1.8,
            remeasure: true,
            pause_after: 3,
            check_tip_before_pausing: true,
            reference_every: 0,
            tip_drop: 0.6,
            tip_change_pauses: true,
        }
    }
}
