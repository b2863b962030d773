//! How much memory a plan will need, worked out before anything starts, so a
//! plan that cannot fit (a 4096² survey with 64-px patches on every pixel asks
//! for hundreds of GB) is refused with the key and the figure instead of
//! aborting half-way.
//!
//! The figures are the sizes of what the run really keeps per survey pixel and
//! per candidate (see the comments at each term); they are estimates to a
//! factor well under two, which is what a refusal needs.

use super::{PolicyKind, SessionPlan};

const MIB: u64 = 1 << 20;

/// Bytes a session needs, split as the refusal explains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    pub candidates: u64,
    pub survey_bytes: u64,
    pub candidate_bytes: u64,
}

impl Need {
    pub fn total(&self) -> u64 {
        self.survey_bytes + self.candidate_bytes
    }
}

/// Candidates of a full grid: every `stride`-th pixel where a whole patch fits.
pub fn grid_candidates(rows: u32, cols: u32, patch_px: u32, stride_px: u32) -> u64 {
    let fit = |n: u32| {
        let span = n.saturating_sub(patch_px) as u64;
        if n < patch_px {
            0
        } else {
            span / stride_px.max(1) as u64 + 1
        }
    };
    fit(rows) * fit(cols)
}

/// Bytes kept per survey pixel: the image (f64) in the engine, the console and
/// the store's frame, and the f32 copies the policy and the analysis normalise.
pub const BYTES_PER_PIXEL: u64 = 8 * 3 + 4 * 2 + 12;

/// What one candidate costs under `plan`.
pub fn bytes_per_candidate(plan: &SessionPlan) -> u64 {
    let p = &plan.policy;
    let side = p.patch_px as u64;
    // Its patch (f32) and its place in the index.
    let mut bytes = side * side * 4 + 64;
    // SSIM's window means and variances (f32), for the policies that use them.
    if matches!(p.name, PolicyKind::DnDkl | PolicyKind::Structure | PolicyKind::DklUcb) && side >= 7 {
        bytes += 2 * (side - 6) * (side - 6) * 4 + 48;
    }
    // The feature extractor's activations of every candidate (f32, two
    // buffers) and its embedding (f64).
    let hidden: u64 = p.dkl_hidden.iter().map(|&h| h as u64).sum();
    bytes += hidden * 4 * 2 + p.dkl_embedding as u64 * 8;
    // The rankings the policy keeps (score, mean, std, structure, ucb, exact
    // for up to four versions).
    bytes += 4 * (5 * 8 + 1);
    bytes
}

pub fn need(plan: &SessionPlan) -> Need {
    let v = &plan.survey;
    let candidates = grid_candidates(v.rows, v.cols, plan.policy.patch_px, plan.policy.stride_px);
    Need {
        candidates,
        survey_bytes: v.rows as u64 * v.cols as u64 * BYTES_PER_PIXEL,
        candidate_bytes: candidates * bytes_per_candidate(plan),
    }
}

/// This machine's memory, from `/proc/meminfo`.
fn physical_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The budget a plan runs under, in bytes: its own setting, or half of this
/// machine's memory (4 GiB where that cannot be read).
pub fn budget_bytes(plan: &SessionPlan) -> u64 {
    match plan.host.memory_budget_mb {
        0 => physical_bytes().map(|b| b / 2).unwrap_or(4 << 30),
        mb => mb.saturating_mul(MIB),
    }
}

/// The most survey pixels an instrument's reply may hold under this budget:
/// what the plan's candidates leave free, at the bytes a pixel costs.
pub fn max_survey_pixels(plan: &SessionPlan) -> u64 {
    let n = need(plan);
    budget_bytes(plan).saturating_sub(n.candidate_bytes) / BYTES_PER_PIXEL
}

pub fn mib(bytes: u64) -> String {
    let m = bytes as f64 / MIB as f64;
    if m >= 10_240.0 {
        format!("{:.0} GiB", m / 1024.0)
    } else {
        format!("{m:.0} MiB")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_grid_has_its_14641_candidates() {
        assert_eq!(grid_candidates(256, 256, 16, 2), 121 * 121);
        assert_eq!(grid_candidates(10, 10, 16, 2), 0);
        let demo = need(&SessionPlan::default());
        assert_eq!(demo.candidates, 14_641);
        // A few tens of MiB: far inside any budget.
        assert!(demo.total() < 100 * MIB, "{}", mib(demo.total()));
    }

    #[test]
    fn the_huge_plan_is_hundreds_of_gigabytes() {
        let mut plan = SessionPlan::default();
        plan.survey.rows = 4096;
        plan.survey.cols = 4096;
        plan.policy.patch_px = 64;
        plan.policy.stride_px = 1;
        let n = need(&plan);
        assert_eq!(n.candidates, 4033 * 4033);
        assert!(n.total() > 200 << 30, "{}", mib(n.total()));
    }
}
