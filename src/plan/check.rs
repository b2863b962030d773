//! Range checks of a plan: each error names the key, the value and what is allowed.

use super::{AnalysisPlan, SessionPlan};
use std::fmt::Display;
use std::ops::RangeInclusive;
use std::path::Path;

/// A plan that cannot be run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}{key} = {value}: {allowed}")]
pub struct PlanError {
    /// `section.key` of the offending value.
    pub key: String,
    pub value: String,
    /// What would have been accepted.
    pub allowed: String,
    file: String,
}

impl PlanError {
    pub fn new(key: impl Into<String>, value: impl Display, allowed: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.to_string(),
            allowed: allowed.into(),
            file: String::new(),
        }
    }

    /// Adds the file name in front of the message.
    pub fn in_file(mut self, path: &Path) -> Self {
        self.file = format!("{}: ", path.display());
        self
    }

    /// A TOML error placed the way an editor shows it: `table.key`, line and
    /// column (toml's own span is in bytes, which nobody can find in a file).
    pub(super) fn from_toml(err: toml::de::Error, text: &str) -> Self {
        // toml's message already names the problem (e.g. "unknown field
        // `pionts`, expected one of ..."); keep it whole.
        let message = err.message().trim().to_string();
        let Some(span) = err.span() else {
            return Self::new("plan", "?", message);
        };
        let at = TomlPlace::find(text, span.start);
        // A span on the key (an unknown field) shows the value written after it.
        let spanned = text.get(span.clone()).map(str::trim);
        let value = match (&at.value, spanned) {
            (Some(v), Some(s)) if at.key.ends_with(s) => Some(v.as_str()),
            (_, s) => s,
        };
        let value = value.filter(|v| !v.is_empty() && v.len() <= 60).unwrap_or("?");
        Self::new(
            format!("{} (line {}, column {})", at.key, at.line, at.column),
            value,
            message,
        )
    }
}

/// Where in a TOML text a byte offset lies.
struct TomlPlace {
    /// `table.key` of the line, as far as it can be told from the text.
    key: String,
    /// What the line sets its key to, comment left off.
    value: Option<String>,
    line: usize,
    column: usize,
}

impl TomlPlace {
    fn find(text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = before.matches('\n').count() + 1;
        let column = before[line_start..].chars().count() + 1;
        let this_line = text[line_start..].lines().next().unwrap_or("");
        let table = before[..line_start].lines().rev().find_map(|l| {
            let l = l.trim();
            let inner = l.strip_prefix('[')?.strip_suffix(']')?;
            Some(inner.trim_matches(|c| c == '[' || c == ']').trim().to_string())
        });
        let value = this_line
            .split_once('=')
            .map(|(_, v)| v.split(" #").next().unwrap_or(v).trim().to_string());
        let key = match (this_line.trim_start().starts_with('['), this_line.split_once('=')) {
            (true, _) => this_line
                .trim()
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string(),
            (false, Some((k, _))) => match table {
                Some(t) => format!("{t}.{}", k.trim()),
                None => k.trim().to_string(),
            },
            (false, None) => table.unwrap_or_else(|| "plan".to_string()),
        };
        Self {
            key,
            value,
            line,
            column,
        }
    }
}

fn within<T: PartialOrd + Display + Copy>(key: &str, value: T, range: RangeInclusive<T>) -> Result<(), PlanError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(PlanError::new(
            key,
            value,
            format!("must be in {} ..= {}", range.start(), range.end()),
        ))
    }
}

fn finite_within(key: &str, value: f64, range: RangeInclusive<f64>) -> Result<(), PlanError> {
    if !value.is_finite() {
        return Err(PlanError::new(key, value, "must be a finite number"));
    }
    within(key, value, range)
}

pub(super) fn validate(plan: &SessionPlan) -> Result<(), PlanError> {
    plan.instrument_spec()?;

    let f = &plan.film;
    within("film.grains", f.grains, 2..=2_000)?;
    finite_within("film.grain_height_spread_nm", f.grain_height_spread_nm, 0.0..=500.0)?;
    finite_within("film.groove_depth_nm", f.groove_depth_nm, 0.0..=500.0)?;
    finite_within("film.groove_width_nm", f.groove_width_nm, 0.1..=500.0)?;
    finite_within("film.pit_depth_nm", f.pit_depth_nm, 0.0..=500.0)?;
    finite_within("film.pit_radius_nm", f.pit_radius_nm, 0.1..=500.0)?;
    finite_within("film.asymmetric_fraction", f.asymmetric_fraction, 0.0..=1.0)?;
    finite_within("film.asymmetric_step_nm", f.asymmetric_step_nm, 0.0..=500.0)?;
    finite_within("film.roughness_nm", f.roughness_nm, 0.0..=100.0)?;
    finite_within("film.current_noise_a", f.current_noise_a, 0.0..=1e-6)?;
    finite_within("film.line_offset_nm", f.line_offset_nm, 0.0..=100.0)?;
    finite_within("film.tilt_nm", f.tilt_nm, -1_000.0..=1_000.0)?;
    within("film.draw", f.draw, 0..=1_000_000)?;
    let p = &f.physics;
    finite_within("film.physics.interior_current_a", p.interior_current_a, 1e-15..=1e-6)?;
    finite_within("film.physics.conductance_spread", p.conductance_spread, 0.0..=3.0)?;
    finite_within("film.physics.onset_v", p.onset_v, 0.0..=10.0)?;
    finite_within("film.physics.onset_width_v", p.onset_width_v, 0.001..=5.0)?;
    finite_within("film.physics.groove_gain", p.groove_gain, -0.99..=100.0)?;
    finite_within(
        "film.physics.asymmetric_suppression",
        p.asymmetric_suppression,
        0.0..=0.999,
    )?;
    finite_within("film.physics.junction_gain", p.junction_gain, -0.99..=100.0)?;
    for (key, v) in [
        ("film.physics.groove_onset_shift_v", p.groove_onset_shift_v),
        ("film.physics.asymmetric_onset_shift_v", p.asymmetric_onset_shift_v),
        ("film.physics.junction_onset_shift_v", p.junction_onset_shift_v),
    ] {
        finite_within(key, v, -5.0..=5.0)?;
    }
    for (key, v) in [
        ("film.physics.loop_base", p.loop_base),
        ("film.physics.loop_groove", p.loop_groove),
        ("film.physics.loop_asymmetric", p.loop_asymmetric),
        ("film.physics.loop_junction", p.loop_junction),
    ] {
        finite_within(key, v, 0.0..=100.0)?;
    }
    finite_within("film.physics.trap_v", p.trap_v, 0.0..=10.0)?;
    finite_within("film.physics.trap_width_v", p.trap_width_v, 0.01..=10.0)?;
    finite_within("film.physics.reverse_ratio", p.reverse_ratio, 0.0..=10.0)?;
    finite_within("film.physics.slow_noise_share", p.slow_noise_share, 0.0..=1.0)?;

    let s = &plan.sim;
    finite_within("sim.time_scale", s.time_scale, 0.0..=1.0)?;
    finite_within("sim.settle_ms", s.settle_ms, 0.0..=60_000.0)?;
    finite_within("sim.move_speed_nm_per_s", s.move_speed_nm_per_s, 1.0..=1e9)?;
    within("sim.slow_reply_ms", s.slow_reply_ms, 0..=600_000)?;
    finite_within("sim.settle_grid_nm", s.settle_grid_nm, 0.0..=1e5)?;
    let a = &s.artefacts;
    for v in a.drift_nm_per_min {
        finite_within("sim.artefacts.drift_nm_per_min[]", v, -1e4..=1e4)?;
    }
    finite_within(
        "sim.artefacts.drift_wobble_nm_per_min",
        a.drift_wobble_nm_per_min,
        0.0..=1e4,
    )?;
    finite_within("sim.artefacts.drift_period_min", a.drift_period_min, 0.1..=1e6)?;
    finite_within("sim.artefacts.creep_fraction", a.creep_fraction, 0.0..=0.5)?;
    finite_within("sim.artefacts.creep_tau_s", a.creep_tau_s, 0.01..=1e5)?;
    finite_within("sim.artefacts.contact_loss", a.contact_loss, 0.0..=1.0)?;
    finite_within("sim.artefacts.noisy_share", a.noisy_share, 0.0..=1.0)?;
    finite_within("sim.artefacts.noisy_factor", a.noisy_factor, 1.0..=1e3)?;
    finite_within("sim.artefacts.tip_change_factor", a.tip_change_factor, 0.0..=10.0)?;
    for v in s.settle_offset_nm {
        finite_within("sim.settle_offset_nm[]", v, -1e5..=1e5)?;
    }

    let l = &plan.serial;
    within("serial.baud", l.baud, 50..=4_000_000)?;
    within("serial.timeout_ms", l.timeout_ms, 10..=600_000)?;
    within("serial.sweep_margin_ms", l.sweep_margin_ms, 0..=600_000)?;
    within("serial.retries", l.retries, 0..=100)?;
    within("serial.reconnect_s", l.reconnect_s, 0..=86_400)?;
    within("serial.band_rows", l.band_rows, 1..=4_096)?;

    let n = &plan.nanonis;
    within("nanonis.timeout_ms", n.timeout_ms, 10..=600_000)?;
    within("nanonis.sweep_margin_ms", n.sweep_margin_ms, 0..=600_000)?;
    within("nanonis.retries", n.retries, 0..=100)?;
    within("nanonis.reconnect_s", n.reconnect_s, 0..=86_400)?;
    if let Some(z) = n.z_channel {
        within("nanonis.z_channel", z, 0..=127)?;
    }

    let v = &plan.survey;
    within("survey.rows", v.rows, 16..=4_096)?;
    within("survey.cols", v.cols, 16..=4_096)?;
    finite_within("survey.width_nm", v.width_nm, 1.0..=1e6)?;
    finite_within("survey.height_nm", v.height_nm, 1.0..=1e6)?;

    let safety = &plan.safety;
    finite_within("safety.bias_max_v", safety.bias_max_v, 0.01..=20.0)?;
    finite_within("safety.current_max_a", safety.current_max_a, 1e-13..=1e-3)?;

    // Every sweep a location gets, each against the safety limits, before
    // anything moves: the table's own, and each protocol as it resolves.
    let sweeps = std::iter::once(("sweep".to_string(), plan.sweep.base())).chain(
        plan.sweep
            .protocols()
            .into_iter()
            .enumerate()
            .filter(|_| !plan.sweep.protocol.is_empty())
            .map(|(k, w)| (format!("sweep.protocol[{k}]"), w)),
    );
    for (table, w) in sweeps {
        check_sweep(&table, &w, safety.bias_max_v)?;
    }
    within("sweep.protocol (entries)", plan.sweep.protocol.len(), 0..=16)?;

    let p = &plan.policy;
    within("policy.patch_px", p.patch_px, 4..=64)?;
    within("policy.stride_px", p.stride_px, 1..=64)?;
    if p.patch_px > v.rows.min(v.cols) {
        return Err(PlanError::new(
            "policy.patch_px",
            p.patch_px,
            format!("must fit in the survey ({}×{} px)", v.rows, v.cols),
        ));
    }
    within("policy.budget", p.budget, 1..=100_000)?;
    within("policy.seeds", p.seeds, 1..=p.budget.max(1))?;
    finite_within("policy.beta", p.beta, 0.0..=100.0)?;
    if p.dkl_hidden.is_empty() || p.dkl_hidden.len() > 6 {
        return Err(PlanError::new(
            "policy.dkl_hidden",
            format!("{:?}", p.dkl_hidden),
            "1 to 6 layer widths",
        ));
    }
    for &h in &p.dkl_hidden {
        within("policy.dkl_hidden[]", h, 1..=4_096)?;
    }
    within("policy.dkl_embedding", p.dkl_embedding, 1..=16)?;
    finite_within("policy.dkl_learning_rate", p.dkl_learning_rate, 1e-6..=1.0)?;
    within("policy.dkl_first_fit_steps", p.dkl_first_fit_steps, 1..=100_000)?;
    within("policy.dkl_refit_steps", p.dkl_refit_steps, 1..=100_000)?;
    within("policy.dkl_restart_every", p.dkl_restart_every, 0..=100_000)?;
    within("policy.dkl_exact_max_points", p.dkl_exact_max_points, 3..=20_000)?;
    within("policy.dkl_inducing_points", p.dkl_inducing_points, 8..=4_096)?;
    within("policy.dkl_sparse_refit_every", p.dkl_sparse_refit_every, 1..=100_000)?;
    within("policy.queue_len", p.queue_len, 1..=1_000)?;
    within("policy.exclude", p.exclude.len(), 0..=1_000)?;
    for (k, region) in p.exclude.iter().enumerate() {
        exclusion(&format!("policy.exclude[{k}]"), region, v.width_nm, v.height_nm)?;
    }
    if p.patch_px < 7 && matches!(p.name, super::PolicyKind::DnDkl | super::PolicyKind::Structure) {
        return Err(PlanError::new(
            "policy.patch_px",
            p.patch_px,
            "at least 7 for SSIM's 7×7 window",
        ));
    }

    validate_analysis(&plan.analysis)?;

    let o = &plan.output;
    if o.dir.trim().is_empty() {
        return Err(PlanError::new("output.dir", "\"\"", "a folder path"));
    }
    within("output.flush_rows", o.flush_rows, 1..=100_000)?;
    within("output.flush_ms", o.flush_ms, 10..=3_600_000)?;
    if o.max_parts == 1 {
        return Err(PlanError::new(
            "output.max_parts",
            1,
            "0 (compact only when done) or 2 ..= 100000",
        ));
    }
    within("output.max_parts", o.max_parts, 0..=100_000)?;
    within("console.tick_ms", plan.console.tick_ms, 50..=60_000)?;
    within("host.memory_budget_mb", plan.host.memory_budget_mb, 0..=1 << 30)?;
    finite_within("notify.timeout_s", plan.notify.timeout_s, 0.1..=3_600.0)?;
    finite_within("quality.min_contact_score", plan.quality.min_contact_score, 0.0..=1e6)?;
    finite_within("quality.max_noise_ratio", plan.quality.max_noise_ratio, 0.0..=1e6)?;
    if plan.quality.max_noise_ratio > 0.0 && plan.quality.max_noise_ratio <= 1.0 {
        // At 1 or under, half of all curves would be noisy.
        return Err(PlanError::new(
            "quality.max_noise_ratio",
            plan.quality.max_noise_ratio,
            "0 (never judge a curve noisy) or over 1",
        ));
    }
    within("quality.pause_after", plan.quality.pause_after, 0..=10_000)?;
    within("quality.reference_every", plan.quality.reference_every, 0..=100_000)?;
    let d = &plan.drift;
    within("drift.every", d.every, 0..=100_000)?;
    finite_within("drift.every_min", d.every_min, 0.0..=1e6)?;
    within("drift.coarse_factor", d.coarse_factor, 1..=16)?;
    within("drift.max_shift_px", d.max_shift_px, 1..=64)?;
    finite_within("drift.min_score", d.min_score, -1.0..=1.0)?;
    finite_within("quality.tip_drop", plan.quality.tip_drop, 0.01..=1.0)?;
    for (key, argv) in plan.notify.hooks() {
        if argv.first().is_some_and(|p| p.trim().is_empty()) {
            return Err(PlanError::new(
                format!("notify.{key}"),
                "[\"\", …]",
                "a program first, then its arguments",
            ));
        }
    }
    check_memory(plan)
}

/// A region of the frame: each range ordered, within the frame (`key` names it).
pub fn exclusion(key: &str, region: &super::Exclusion, width_nm: f64, height_nm: f64) -> Result<(), PlanError> {
    for (axis, [from, to], size) in [("x_nm", region.x_nm, width_nm), ("y_nm", region.y_nm, height_nm)] {
        let ok = from.is_finite() && to.is_finite() && 0.0 <= from && from < to && to <= size;
        if !ok {
            return Err(PlanError::new(
                format!("{key}.{axis}"),
                format!("[{from}, {to}]"),
                format!("[from, to] with 0 ≤ from < to ≤ {size} nm (the frame)"),
            ));
        }
    }
    Ok(())
}

/// Refuses a plan whose survey and candidates would not fit the memory budget.
fn check_memory(plan: &SessionPlan) -> Result<(), PlanError> {
    use super::memory;
    let need = memory::need(plan);
    let budget = memory::budget_bytes(plan);
    if need.total() <= budget {
        return Ok(());
    }
    let (v, p) = (&plan.survey, &plan.policy);
    let budget_words = match plan.host.memory_budget_mb {
        0 => format!(
            "{} (half of this machine's memory; host.memory_budget_mb sets it)",
            memory::mib(budget)
        ),
        _ => format!("{} (host.memory_budget_mb)", memory::mib(budget)),
    };
    let why = format!(
        "a {}×{} px survey with {} px patches every {} px gives {} candidates, which need about {}          ({} for the survey); the memory budget is {budget_words}: raise policy.stride_px,          lower policy.patch_px or the survey size",
        v.rows,
        v.cols,
        p.patch_px,
        p.stride_px,
        need.candidates,
        memory::mib(need.total()),
        memory::mib(need.survey_bytes),
    );
    let (key, value) = if need.candidate_bytes >= need.survey_bytes {
        ("policy.stride_px", p.stride_px.to_string())
    } else {
        ("survey.rows", v.rows.to_string())
    };
    Err(PlanError::new(key, value, why))
}

/// The `[analysis]` section alone: `analyze` and `report` check it again after
/// their command-line overrides.
pub(super) fn validate_analysis(a: &AnalysisPlan) -> Result<(), PlanError> {
    finite_within("analysis.onset_current_a", a.onset_current_a, 1e-15..=1e-3)?;
    within("analysis.vae_epochs", a.vae_epochs, 1..=1_000_000)?;
    within("analysis.vae_hidden", a.vae_hidden, 1..=4_096)?;
    within("analysis.vae_latent", a.vae_latent, 1..=16)?;
    finite_within("analysis.vae_learning_rate", a.vae_learning_rate, 1e-9..=1.0)?;
    finite_within("analysis.vae_beta", a.vae_beta, 0.0..=1e3)?;
    finite_within("analysis.vae_gamma", a.vae_gamma, 0.0..=1e4)?;
    finite_within("analysis.patch_window_nm", a.patch_window_nm, 0.0..=1e5)?;
    within("analysis.vae_ensemble", a.vae_ensemble, 1..=64)?;
    within("analysis.vae_batch_above", a.vae_batch_above, 0..=10_000_000)?;
    within("analysis.vae_batch", a.vae_batch, 8..=100_000)?;
    within("analysis.clusters", a.clusters, 0..=64)?;
    within("analysis.clusters_max", a.clusters_max, 2..=64)?;
    Ok(())
}

/// One sweep against the bias limit and the sample counts it may have.
fn check_sweep(table: &str, w: &super::SweepRequest, bias_max_v: f64) -> Result<(), PlanError> {
    let bias = -bias_max_v..=bias_max_v;
    let why = format!("must stay within ±safety.bias_max_v = ±{bias_max_v} V");
    for (key, value) in [("v_start", w.v_start), ("v_max", w.v_max), ("v_end", w.v_end)] {
        if !value.is_finite() || !bias.contains(&value) {
            return Err(PlanError::new(format!("{table}.{key}"), value, why.clone()));
        }
    }
    if w.v_max == w.v_start {
        return Err(PlanError::new(
            format!("{table}.v_max"),
            w.v_max,
            format!("must differ from {table}.v_start"),
        ));
    }
    within(&format!("{table}.points"), w.points, 11..=10_001)?;
    finite_within(&format!("{table}.dwell_ms"), w.dwell_ms, 0.01..=10_000.0)?;
    Ok(())
}
