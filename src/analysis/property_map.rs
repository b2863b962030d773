//! The dense structure–property map: every candidate patch of the survey
//! through each trained dual VAE (image encoder → shared latent → spectral
//! decoder), its predicted curve reduced by the same scalarizers as a
//! measured one, the members' mean and spread.

use super::{Analysis, PatchView, Sample};
use crate::plan::SessionPlan;
use crate::record::{Measurement, PropertyPoint, Survey};
use crate::scalar::CurveSummary;

/// Candidates pushed through the networks at once: the activations of a
/// block stay a few MB.
const BLOCK: usize = 2048;

/// Running mean and spread of one quantity over the members.
#[derive(Debug, Clone, Copy, Default)]
struct Spread {
    n: u32,
    sum: f64,
    sum_sq: f64,
}

impl Spread {
    fn add(&mut self, v: f64) {
        self.n += 1;
        self.sum += v;
        self.sum_sq += v * v;
    }

    fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }

    /// Over the members that gave a value; none from one member alone.
    fn std(&self) -> Option<f64> {
        let mean = self.mean()?;
        (self.n > 1).then(|| (self.sum_sq / self.n as f64 - mean * mean).max(0.0).sqrt())
    }
}

/// The predicted response at each of `sites` (survey pixels, the session's
/// candidates) of the trainings in `a`, which were trained on `samples`.
/// `bias_v` is the sweep the predicted curves are read against (as long as
/// the training's curves). Empty when no training gives a predictor.
#[allow(clippy::too_many_arguments)]
pub fn predict(
    a: &Analysis,
    samples: &[Sample],
    plan: &SessionPlan,
    survey: &Survey,
    sites: &[(u32, u32)],
    bias_v: &[f64],
    model_step: u32,
    model: &str,
) -> Vec<PropertyPoint> {
    let fitted = plan.analysis.property_latent == crate::plan::PropertyLatent::Fitted;
    let members: Vec<_> = a
        .trainings()
        .filter_map(|e| {
            let p = e.predictor.as_ref()?;
            let p = if fitted {
                p.fitted(&e.z_image, &e.z_spectrum)
            } else {
                p.clone()
            };
            Some((p, &e.z_image))
        })
        .collect();
    if members.is_empty() || samples.is_empty() {
        return Vec::new();
    }
    let view = PatchView::new(plan, survey);
    let threshold_a = plan.analysis.onset_current_a;
    let clusters = a.labels.iter().copied().max().unwrap_or(0) + 1;
    let mut rows = Vec::with_capacity(sites.len());
    for block in sites.chunks(BLOCK) {
        let patches: Vec<f32> = block
            .iter()
            .flat_map(|&(r, c)| view.seen(&view.patch_nm(r, c)))
            .collect();
        let mut quantities = vec![[Spread::default(); 3]; block.len()];
        let mut votes = vec![vec![0u32; clusters]; block.len()];
        for (predictor, measured) in &members {
            let z = predictor.image_latent(&patches);
            for (k, curve) in predictor.curves(&z).iter().enumerate() {
                let current_a = a.scale.to_current_a(curve);
                let n = current_a.len().min(bias_v.len());
                let s = CurveSummary::of(&bias_v[..n], &current_a[..n], threshold_a);
                let q = &mut quantities[k];
                q[0].add(s.hysteresis_area);
                q[1].add(s.max_current_a);
                if let Some(v) = s.onset_v {
                    q[2].add(v);
                }
            }
            for (k, zk) in z.iter().enumerate() {
                if let Some(j) = nearest(zk, measured) {
                    votes[k][a.labels[j]] += 1;
                }
            }
        }
        for ((&(row, col), q), vote) in block.iter().zip(&quantities).zip(&votes) {
            let (x_nm, y_nm) = survey.pixel_to_nm(row, col);
            // The most votes; a tie goes to the lower cluster number.
            let cluster = (0..clusters).rev().max_by_key(|&c| vote[c]).unwrap_or(0);
            rows.push(PropertyPoint {
                model_step,
                row,
                col,
                x_nm,
                y_nm,
                hysteresis_area: q[0].mean().unwrap_or(f64::NAN),
                max_current_a: q[1].mean().unwrap_or(f64::NAN),
                onset_v: q[2].mean(),
                hysteresis_area_std: q[0].std(),
                max_current_a_std: q[1].std(),
                onset_v_std: q[2].std(),
                cluster: cluster as u32,
                model: model.into(),
            });
        }
    }
    rows
}

/// [`predict`] at every candidate of the frame, the plan's grid of patch
/// centres (where a replay instrument can measure only some of them, the
/// map still covers the field of view), against the sweep of `samples`.
/// `max_only`: the session's curves kept for their max current alone
/// ([`crate::record::learned::max_current_only`]: cut at the current limit,
/// or at a dim place), which the max current's residual field learns from
/// beside the samples.
#[allow(clippy::too_many_arguments)]
pub fn of_frame(
    a: &Analysis,
    samples: &[Sample],
    max_only: &[crate::record::Measurement],
    plan: &SessionPlan,
    survey: &Survey,
    model_step: u32,
    model: &str,
) -> Vec<PropertyPoint> {
    let p = &plan.policy;
    let grid = crate::record::Candidates::new(survey.rows(), survey.cols(), p.patch_px, p.stride_px, None);
    let bias_v = sweep_of(samples);
    let mut rows = predict(a, samples, plan, survey, grid.sites(), &bias_v, model_step, model);
    if plan.analysis.property_kriging {
        // A night's thousands of curves: the field learns from an even
        // spread of them (its fit grows as the cube of its points).
        let step = samples.len().div_ceil(FIELD_POINTS_MAX).max(1);
        let picked: Vec<&Sample> = samples.iter().step_by(step).collect();
        let at_samples: Vec<(u32, u32)> = picked.iter().map(|s| (s.row, s.col)).collect();
        let predicted = predict(a, samples, plan, survey, &at_samples, &bias_v, model_step, model);
        let every = max_only.len().div_ceil(MAX_ONLY_POINTS_MAX).max(1);
        let max_only: Vec<&crate::record::Measurement> = max_only
            .iter()
            .step_by(every)
            .filter(|m| !at_samples.contains(&(m.row, m.col)))
            .collect();
        let at_them: Vec<(u32, u32)> = max_only.iter().map(|m| (m.row, m.col)).collect();
        let predicted_there = predict(a, samples, plan, survey, &at_them, &bias_v, model_step, model);
        krige(
            &mut rows,
            &picked,
            &predicted,
            (&max_only, &predicted_there),
            plan,
            survey,
        );
    }
    rows
}

/// Adds to each row's loop area and max current what the measured curves
/// say the decoder misses (see [`super::residual_field`]): the log residuals
/// of `predicted` (the map at each of `samples`) regressed on position and
/// relief. The spread becomes the members' and the field's together. The
/// max current's field also learns from the curves kept for their max
/// current alone (`max_only`, with the map at each of them): where the film
/// conducts past the limit, or hardly at all, the map is to say so, not the
/// decoder's guess from the curves it learned.
fn krige(
    rows: &mut [PropertyPoint],
    samples: &[&Sample],
    predicted: &[PropertyPoint],
    max_only: (&[&crate::record::Measurement], &[PropertyPoint]),
    plan: &SessionPlan,
    survey: &Survey,
) {
    use super::residual_field::{Censor, ResidualField, Site};
    if predicted.len() != samples.len() || rows.is_empty() {
        return;
    }
    let view = PatchView::new(plan, survey);
    // On rings around the tip: tuning draws 1-10 read r² 0.534 / 0.260 (log
    // loop area / log max current) with them, 0.521 / 0.246 on the raw patch.
    // About the tip's own pixel, not the patch's middle half a pixel off it
    // (a groove is 9-20 nm wide, the pixel 7.8): draws 1-20 read 0.578 /
    // 0.321 against 0.543 / 0.309.
    let side = view.side();
    let tip = view.tip_px();
    let relief = |row: u32, col: u32| super::relief::rings(&view.about_tip(&view.patch_nm(row, col)), side, tip);
    let grains = super::grains::Grains::mark(survey, GRAIN_CLOSING_NM, GRAIN_VALLEY_SHARE, GRAIN_STEP_SHARE);
    let sample_reliefs: Vec<Vec<f32>> = samples.iter().map(|s| relief(s.row, s.col)).collect();
    let measured_sites: Vec<Site> = samples
        .iter()
        .zip(&sample_reliefs)
        .map(|(s, r)| site(s.x_nm, s.y_nm, (s.row, s.col), &grains, r))
        .collect();
    let (max_only, predicted_there) = max_only;
    let max_only = if predicted_there.len() == max_only.len() {
        max_only
    } else {
        &[]
    };
    let their_reliefs: Vec<Vec<f32>> = max_only.iter().map(|m| relief(m.row, m.col)).collect();
    let with_them: Vec<Site> = max_only
        .iter()
        .zip(&their_reliefs)
        .map(|(m, r)| site(m.x_nm, m.y_nm, (m.row, m.col), &grains, r))
        .chain(measured_sites.iter().copied())
        .collect();
    let row_reliefs: Vec<Vec<f32>> = rows.iter().map(|p| relief(p.row, p.col)).collect();
    let row_sites: Vec<Site> = rows
        .iter()
        .zip(&row_reliefs)
        .map(|(p, r)| site(p.x_nm, p.y_nm, (p.row, p.col), &grains, r))
        .collect();
    let log = |v: f64, floor: f64| v.abs().max(floor).ln();
    for quantity in [Quantity::LoopArea, Quantity::MaxCurrent] {
        let floor = quantity.floor();
        let mut residuals: Vec<f64> = samples
            .iter()
            .zip(predicted)
            .map(|(s, p)| log(quantity.measured(s), floor) - log(quantity.predicted(p), floor))
            .collect();
        let mut censor = vec![Censor::Exact; residuals.len()];
        let sites = match quantity {
            Quantity::MaxCurrent if !max_only.is_empty() => {
                let theirs = max_only
                    .iter()
                    .zip(predicted_there)
                    .map(|(m, p)| log(m.max_current_a, floor) - log(quantity.predicted(p), floor));
                residuals = theirs.chain(residuals).collect();
                // A cut curve's film conducts past the limit; a dim place's
                // current is the noise's, the film's at most that.
                censor = max_only
                    .iter()
                    .map(|m| match m.quality {
                        Some(crate::record::Quality::Compliance) => Censor::AtLeast,
                        _ => Censor::AtMost,
                    })
                    .chain(censor)
                    .collect();
                &with_them
            }
            _ => &measured_sites,
        };
        let Some(field) = ResidualField::fit_censored(sites, &residuals, &censor) else {
            continue;
        };
        tracing::debug!(
            ?quantity,
            space_nm = field.space_nm,
            relief = field.relief_scale,
            space_share = field.space_share,
            grain_share = field.grain_share,
            band_share = field.band_share,
            noise_share = field.noise_share,
            noise_roughness_power = field.noise_roughness_power,
            "residual field"
        );
        let (shift, sd) = field.at(&row_sites);
        for ((row, shift), sd) in rows.iter_mut().zip(shift).zip(sd) {
            let (value, std) = quantity.of(row);
            if !value.is_finite() {
                continue;
            }
            let corrected = (log(*value, floor) + shift).exp();
            // The field's spread in log units is a relative one; the members'
            // spread scales with the value.
            let field_sd = corrected * sd;
            let members = std.map(|s| s * corrected / value.abs().max(floor));
            *std = Some(members.map_or(field_sd, |m| m.hypot(field_sd)));
            *value = corrected;
        }
    }
}

/// A location as the residual field reads it, `rings` its relief on rings
/// around the tip. Its roughness, how far the rings stand from flat ground,
/// is what the field's noise grows with (tuning draws 1-10: r² of log max
/// current 0.260 -> 0.291, of log loop area 0.534 -> 0.531).
fn site<'a>(
    x_nm: f64,
    y_nm: f64,
    (row, col): (u32, u32),
    grains: &super::grains::Grains,
    rings: &'a [f32],
) -> super::residual_field::Site<'a> {
    super::residual_field::Site {
        x_nm,
        y_nm,
        relief: rings,
        grain: grains.at(row, col),
        band: grains.band_at(row, col, BAND_NM),
        roughness: rings.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt(),
    }
}

/// The most measured locations the residual field is fitted on.
const FIELD_POINTS_MAX: usize = 300;
/// The most curves kept for their max current alone it is fitted on beside them.
const MAX_ONLY_POINTS_MAX: usize = 100;

/// How grains are marked for the residual field ([`super::grains`]): the
/// closing's half side (nm), the valley's depth and the step's height as
/// shares of their 98th percentiles. Chosen on the tuning films (draws 1-10)
/// against their true grains: 96 % of the pixels of a marked grain on one
/// true grain, 97 % of a true grain's pixels in one marked grain (30 nm,
/// 0.3 and no steps: 76 %, 97 %; r² of log max current 0.199 there, 0.244
/// at 25 nm and 0.12 without steps). With the boundaries marked too
/// ([`BAND_NM`]) a shallower valley parts grains better for the field (draws
/// 1-20, the field on the measured logs alone: r² of log max current 0.385
/// at 0.15, 0.373 at 0.1, 0.415 at 0.25, 0.409-0.419 from 0.3 to 0.45;
/// closing 32 nm 0.366, steps at 0.3 0.382).
const GRAIN_CLOSING_NM: f64 = 25.0;
const GRAIN_VALLEY_SHARE: f64 = 0.25;
const GRAIN_STEP_SHARE: f64 = 0.2;
/// How near (nm) another grain must come for a place to be on its boundary
/// with it ([`super::grains::Grains::band_at`]): about a groove's width.
/// Chosen on the tuning films (draws 1-20, the field fitted to the measured
/// log max current alone): r² at the unmeasured candidates 0.331 without
/// boundaries, 0.357 / 0.385 / 0.382 at 8 / 16 / 24 nm (better on 18 of 20
/// films at 16); a junction's third grain reached from 24 or 32 nm, 0.370
/// and 0.364.
const BAND_NM: f64 = 16.0;

/// The two quantities the residual field corrects.
#[derive(Debug, Clone, Copy)]
enum Quantity {
    LoopArea,
    MaxCurrent,
}

impl Quantity {
    fn floor(self) -> f64 {
        match self {
            Self::LoopArea => crate::scalar::LOG_FLOOR_LOOP_AREA_VA,
            Self::MaxCurrent => crate::scalar::LOG_FLOOR_CURRENT_A,
        }
    }

    fn measured(self, s: &Sample) -> f64 {
        match self {
            Self::LoopArea => s.hysteresis_area,
            Self::MaxCurrent => s.max_current_a,
        }
    }

    fn predicted(self, p: &PropertyPoint) -> f64 {
        match self {
            Self::LoopArea => p.hysteresis_area,
            Self::MaxCurrent => p.max_current_a,
        }
    }

    fn of(self, p: &mut PropertyPoint) -> (&mut f64, &mut Option<f64>) {
        match self {
            Self::LoopArea => (&mut p.hysteresis_area, &mut p.hysteresis_area_std),
            Self::MaxCurrent => (&mut p.max_current_a, &mut p.max_current_a_std),
        }
    }
}

/// The measured location nearest in the latent map.
fn nearest(z: &[f32], measured: &[Vec<f32>]) -> Option<usize> {
    measured
        .iter()
        .map(|m| m.iter().zip(z).map(|(a, b)| (a - b) * (a - b)).sum::<f32>())
        .enumerate()
        .filter(|(_, d)| d.is_finite())
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(j, _)| j)
}

/// The sweep the curves of `samples` were taken on: the longest one's bias
/// (a compliance stop cuts a curve short, never the sweep).
fn sweep_of(samples: &[Sample]) -> Vec<f64> {
    samples
        .iter()
        .max_by_key(|s| s.bias_v.len())
        .map(|s| s.bias_v.clone())
        .unwrap_or_default()
}

/// Seconds one property map of the plan's frame takes (every member's image
/// encoder, the latent map and the decoder at every candidate), timed on one
/// candidate in `SUBSET` and scaled up (the work is the same at each), with a
/// one-epoch model of 24 made-up curves: the part of a training that grows
/// with the frame, not with the curves. `None` when that model cannot be made.
pub fn time_property_map(plan: &SessionPlan, survey: &Survey) -> Option<f64> {
    const SUBSET: usize = 16;
    let p = &plan.policy;
    let grid = crate::record::Candidates::new(survey.rows(), survey.cols(), p.patch_px, p.stride_px, None);
    if grid.len() < 24 {
        return None;
    }
    let bias_v = made_up_sweep(plan);
    let curves: Vec<Measurement> = (0..24u32)
        .map(|n| {
            let gain = 1.0 + 0.15 * (n % 5) as f64;
            made_up_curve(n, grid.site(n as usize * grid.len() / 24), survey, &bias_v, gain)
        })
        .collect();
    let samples = super::samples(0, plan, survey, &curves, None);
    let mut settings = plan.analysis.clone();
    settings.vae_epochs = 1;
    let a = super::analyze(&samples, &settings, plan.seed).ok()?;
    let sites: Vec<(u32, u32)> = grid.sites().iter().step_by(SUBSET).copied().collect();
    let t0 = std::time::Instant::now();
    let mut map = predict(&a, &samples, plan, survey, &sites, &bias_v, 24, "probe");
    let mut took = t0.elapsed().as_secs_f64();
    if plan.analysis.property_kriging && !map.is_empty() {
        // The field's regression at each candidate grows with the points it
        // learned from: priced at the session's end.
        let at_samples: Vec<(u32, u32)> = samples.iter().map(|s| (s.row, s.col)).collect();
        let t1 = std::time::Instant::now();
        let predicted = predict(&a, &samples, plan, survey, &at_samples, &bias_v, 24, "probe");
        krige(
            &mut map,
            &samples.iter().collect::<Vec<_>>(),
            &predicted,
            (&[], &[]),
            plan,
            survey,
        );
        let points = (plan.policy.budget as usize).clamp(24, FIELD_POINTS_MAX);
        took += t1.elapsed().as_secs_f64() * points as f64 / 24.0;
    }
    (!map.is_empty()).then(|| took * grid.len() as f64 / sites.len() as f64)
}

/// The plan's first sweep, bias only: up to its top and back.
fn made_up_sweep(plan: &SessionPlan) -> Vec<f64> {
    let w = plan.sweep.first();
    let half = (w.points as usize / 2).max(2);
    (0..half)
        .map(|k| w.v_start + (w.v_max - w.v_start) * k as f64 / (half - 1) as f64)
        .chain((0..half).map(|k| w.v_max + (w.v_end - w.v_max) * k as f64 / (half - 1) as f64))
        .collect()
}

/// A made-up curve of step `n` at `at`: a parabola in the bias, `gain`
/// times a 10 pA scale.
fn made_up_curve(n: u32, at: (u32, u32), survey: &Survey, bias_v: &[f64], gain: f64) -> Measurement {
    let (x_nm, y_nm) = survey.pixel_to_nm(at.0, at.1);
    let current_a: Vec<f64> = bias_v.iter().map(|v| 1e-11 * gain * (v * v + 0.1 * v)).collect();
    Measurement {
        step: n,
        t_ms: 0,
        row: at.0,
        col: at.1,
        x_nm,
        y_nm,
        source: crate::record::Source::Seed,
        max_current_a: current_a.iter().fold(0.0, |m: f64, a| m.max(a.abs())),
        bias_v: bias_v.to_vec(),
        current_a,
        sweep_end: crate::record::SweepEnd::Complete,
        hysteresis_area: 0.0,
        onset_v: None,
        quality: None,
        protocol: None,
        location: None,
    }
}

#[cfg(test)]
mod probe_tests {
    use super::*;

    /// One small training and a 64 × 64 px made-up survey over 500 nm.
    fn small() -> (SessionPlan, Survey) {
        let mut plan = SessionPlan::default();
        plan.analysis.vae_ensemble = 1;
        plan.analysis.vae_hidden = 16;
        let survey = Survey {
            width_nm: 500.0,
            height_nm: 500.0,
            heights_nm: ndarray::Array2::from_shape_fn((64, 64), |(r, c)| ((r * 7 + c * 3) % 11) as f64),
        };
        (plan, survey)
    }

    #[test]
    fn the_map_is_timed_on_a_made_up_model() {
        let (plan, survey) = small();
        let t = time_property_map(&plan, &survey).expect("timed");
        // A debug build on the 2-core VM read 65-82 s in one hour and under
        // 60 s in a quieter one (2026-12-07): the bound is for a figure off by
        // an order of magnitude, not for the machine's speed.
        assert!(t > 0.0 && t < 600.0, "{t}");
        // Too small a frame for the made-up curves: nothing to time.
        let tiny = Survey {
            heights_nm: ndarray::Array2::zeros((16, 16)),
            ..survey
        };
        assert_eq!(time_property_map(&plan, &tiny), None);
    }

    /// Curves cut at the current limit lift the max current the map gives
    /// where they were taken: no model learned their shape, but the film
    /// conducts up to the limit there, far above every learned curve.
    #[test]
    fn the_curves_cut_at_the_limit_lift_the_max_current_where_they_were_taken() {
        let (mut plan, survey) = small();
        plan.analysis.vae_epochs = 20;
        let p = &plan.policy;
        let grid = crate::record::Candidates::new(64, 64, p.patch_px, p.stride_px, None);
        let bias_v = made_up_sweep(&plan);
        let site = |k: usize| grid.site(k * grid.len() / 32);
        let curves: Vec<Measurement> = (0..24u32)
            .map(|n| made_up_curve(n, site(n as usize), &survey, &bias_v, 1.0 + 0.15 * (n % 5) as f64))
            .collect();
        // Ten times the brightest learned curve's current, cut there.
        let cut: Vec<Measurement> = (24..32u32)
            .map(|n| Measurement {
                quality: Some(crate::record::Quality::Compliance),
                sweep_end: crate::record::SweepEnd::Compliance,
                ..made_up_curve(n, site(n as usize), &survey, &bias_v, 16.0)
            })
            .collect();
        let samples = crate::analysis::samples(0, &plan, &survey, &curves, None);
        let a = crate::analysis::analyze(&samples, &plan.analysis, 3).expect("a model");
        let at = |map: &[PropertyPoint]| -> Vec<f64> {
            cut.iter()
                .map(|m| {
                    map.iter()
                        .find(|p| (p.row, p.col) == (m.row, m.col))
                        .expect("a candidate")
                        .max_current_a
                })
                .collect()
        };
        let with = at(&of_frame(&a, &samples, &cut, &plan, &survey, 24, "test"));
        let without = at(&of_frame(&a, &samples, &[], &plan, &survey, 24, "test"));
        let brightest = curves.iter().map(|m| m.max_current_a).fold(0.0, f64::max);
        let median = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        assert!(median(&without) < 1.5 * brightest, "{without:?} against {brightest:e}");
        assert!(median(&with) > 3.0 * brightest, "{with:?} against {brightest:e}");
    }
}
