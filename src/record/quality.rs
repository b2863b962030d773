//! The quality gate's verdict on one curve (`measurements.quality`): whether
//! the tip was in contact, the curve no noisier than its neighbours in time,
//! and the sweep ran its course. A curve that fails is
//! kept in the log but no model learns from it; active learners take noise
//! for novelty, so a no-contact curve would otherwise look like the most
//! interesting place on the film.

use super::SweepEnd;
use serde::{Deserialize, Serialize};

/// What the gate says of a curve. The labels are the column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    /// In contact, swept to the end.
    Ok,
    /// No current above the noise where the bias is high: the tip was not
    /// in contact (or picked up dirt that insulates it).
    NoContact,
    /// The sweep stopped at the current limit: what the loop would have
    /// been is not known.
    Compliance,
    /// Its sample-to-sample noise is several times that of the session's
    /// recent curves: an unstable contact or electrical pickup, whose
    /// wiggles a novelty score would take for a new response.
    Noisy,
}

impl Quality {
    pub const ALL: [Quality; 4] = [Self::Ok, Self::NoContact, Self::Compliance, Self::Noisy];

    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::NoContact => "no_contact",
            Self::Compliance => "compliance",
            Self::Noisy => "noisy",
        }
    }

    pub fn parse(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|q| q.label() == label)
    }

    pub fn is_ok(self) -> bool {
        self == Self::Ok
    }
}

/// The contact statistic of a curve: how far the mean current where the
/// bias is highest (|V| at least ¾ of the sweep's largest) stands from the
/// mean where it is lowest (|V| at most ¼), in units of the spread of the
/// current there. Both branches count, so a loop is no disadvantage. The low
/// part's spread holds the white and the slow noise alike: a curve of only
/// noise scores a few units, a conducting one tens (see
/// `examples/quality_gate.rs` for the distributions on the simulator's
/// family of films). `None` when either part has fewer than 4 samples.
pub fn contact_score(bias_v: &[f64], current_a: &[f64]) -> Option<f64> {
    let n = bias_v.len().min(current_a.len());
    let v_top = bias_v[..n].iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if v_top <= 0.0 {
        return None;
    }
    let part = |keep: &dyn Fn(f64) -> bool| -> Vec<f64> {
        (0..n)
            .filter(|&k| keep(bias_v[k].abs() / v_top))
            .map(|k| current_a[k])
            .collect()
    };
    let (high, low) = (part(&|r| r >= 0.75), part(&|r| r <= 0.25));
    if high.len() < 4 || low.len() < 4 {
        return None;
    }
    let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len() as f64;
    let (m_high, m_low) = (mean(&high), mean(&low));
    let spread = (low.iter().map(|i| (i - m_low).powi(2)).sum::<f64>() / (low.len() - 1) as f64).sqrt();
    // A noiseless curve (a test's, or a replayed model curve) has no spread:
    // any current at all is contact.
    let floor = spread.max(1e-18);
    Some((m_high - m_low).abs() / floor)
}

/// The white noise of a curve (A): the spread of its second differences,
/// taken robustly (median absolute value) and scaled to one sample's σ
/// (a second difference of white noise has σ·√6). Second differences
/// cancel the curve's level and slope, and the median ignores the few
/// samples where the onset bends it, so a smooth curve of any size reads as
/// its noise alone. `None` under 8 samples.
pub fn noise_a(current_a: &[f64]) -> Option<f64> {
    if current_a.len() < 8 {
        return None;
    }
    let mut d2: Vec<f64> = current_a.windows(3).map(|w| (w[0] - 2.0 * w[1] + w[2]).abs()).collect();
    let mid = d2.len() / 2;
    let (_, median, _) = d2.select_nth_unstable_by(mid, f64::total_cmp);
    // 0.6745: the median of |N(0, 1)|.
    Some(*median / (0.6745 * 6f64.sqrt()))
}

/// The lines a curve is held to (`[quality]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lines {
    /// Under this contact score: no contact.
    pub min_contact_score: f64,
    /// Over this many times the noise of the session's recent curves:
    /// noisy (0: never judged so).
    pub max_noise_ratio: f64,
}

/// The verdict on a curve: compliance when the sweep stopped at the limit;
/// noisy when its noise is over `max_noise_ratio` times
/// `noise_reference_a` (the typical noise of the curves just before it;
/// `None` while there are too few to tell); no contact when its contact
/// score is under `min_contact_score` (or cannot be computed because the
/// sweep never left 0 V); else ok. Noise comes before contact: excess
/// noise also lowers the contact score, and the cause to report is the noise.
pub fn judge(
    bias_v: &[f64],
    current_a: &[f64],
    end: SweepEnd,
    lines: Lines,
    noise_reference_a: Option<f64>,
) -> Quality {
    if end == SweepEnd::Compliance {
        return Quality::Compliance;
    }
    if lines.max_noise_ratio > 0.0
        && let (Some(reference), Some(noise)) = (noise_reference_a, noise_a(current_a))
        && reference > 0.0
        && noise > lines.max_noise_ratio * reference
    {
        return Quality::Noisy;
    }
    match contact_score(bias_v, current_a) {
        Some(score) if score >= lines.min_contact_score => Quality::Ok,
        _ => Quality::NoContact,
    }
}

/// Curves the noise reference is taken over (the newest of them).
pub const NOISE_REFERENCE_CURVES: usize = 32;
/// Curves needed before the gate can tell a noisy curve.
pub const NOISE_REFERENCE_MIN: usize = 5;

/// The typical noise of a session's recent curves, what the next one is
/// held to: the median noise of the newest [`NOISE_REFERENCE_CURVES`]
/// curves the gate judged ok or out of contact (a noisy or cut curve is no
/// measure of the instrument's floor; a lost contact is nothing but it).
/// `None` under [`NOISE_REFERENCE_MIN`] such curves. The median lets a
/// minority of odd curves pass unnoticed, and taking it over the log
/// itself means a resumed run holds the next curve to the same figure.
pub fn noise_reference_a<'a>(history: impl DoubleEndedIterator<Item = (Option<Quality>, &'a [f64])>) -> Option<f64> {
    let mut noise: Vec<f64> = history
        .rev()
        .filter(|(q, _)| matches!(q, None | Some(Quality::Ok | Quality::NoContact)))
        .filter_map(|(_, current_a)| noise_a(current_a))
        .take(NOISE_REFERENCE_CURVES)
        .collect();
    if noise.len() < NOISE_REFERENCE_MIN {
        return None;
    }
    let mid = noise.len() / 2;
    let (_, median, _) = noise.select_nth_unstable_by(mid, f64::total_cmp);
    Some(*median)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};

    fn triangle(points: usize, v_max: f64) -> Vec<f64> {
        (0..points)
            .map(|k| v_max * (1.0 - (2.0 * k as f64 / (points - 1) as f64 - 1.0).abs()))
            .collect()
    }

    #[test]
    fn noise_alone_scores_low_and_a_weak_curve_high() {
        let bias = triangle(251, 1.5);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let noise = Normal::new(0.0, 2e-12).unwrap();
        let only_noise: Vec<f64> = bias.iter().map(|_| noise.sample(&mut rng)).collect();
        // 40 pA at the top, onset at 1.1 V: the demo film's weakest kind.
        let weak: Vec<f64> = bias
            .iter()
            .map(|v| 40e-12 / (1.0 + (-(v - 1.1) * 12.0).exp()) + noise.sample(&mut rng))
            .collect();
        let (s_noise, s_weak) = (
            contact_score(&bias, &only_noise).unwrap(),
            contact_score(&bias, &weak).unwrap(),
        );
        assert!(s_noise < 2.0 && s_weak > 5.0, "{s_noise} {s_weak}");
        let lines = Lines {
            min_contact_score: 4.0,
            max_noise_ratio: 0.0,
        };
        assert_eq!(
            judge(&bias, &only_noise, SweepEnd::Complete, lines, None),
            Quality::NoContact
        );
        assert_eq!(judge(&bias, &weak, SweepEnd::Complete, lines, None), Quality::Ok);
        assert_eq!(
            judge(&bias, &weak, SweepEnd::Compliance, lines, None),
            Quality::Compliance
        );
        // A sweep that never leaves 0 V tells nothing about contact.
        assert_eq!(
            judge(&[0.0; 10], &[1e-12; 10], SweepEnd::Complete, lines, None),
            Quality::NoContact
        );
    }

    #[test]
    fn labels_round_trip() {
        for q in Quality::ALL {
            assert_eq!(Quality::parse(q.label()), Some(q));
        }
        assert_eq!(Quality::parse("fine"), None);
    }

    /// The noise estimate reads the noise, not the curve: a strong curve
    /// with a sharp onset and a weak one with the same noise agree within a
    /// few per cent, and 5× the noise reads 5×.
    #[test]
    fn the_noise_estimate_sees_through_the_curve() {
        let bias = triangle(251, 1.5);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let curve = |top_a: f64, noise_a: f64, rng: &mut rand_chacha::ChaCha8Rng| -> Vec<f64> {
            let noise = Normal::new(0.0, noise_a).unwrap();
            bias.iter()
                .map(|v| top_a / (1.0 + (-(v - 0.6) * 30.0).exp()) + noise.sample(rng))
                .collect()
        };
        let strong = noise_a(&curve(400e-12, 2e-12, &mut rng)).unwrap();
        let weak = noise_a(&curve(10e-12, 2e-12, &mut rng)).unwrap();
        let loud = noise_a(&curve(10e-12, 10e-12, &mut rng)).unwrap();
        assert!((strong / 2e-12 - 1.0).abs() < 0.15, "{strong}");
        assert!((weak / 2e-12 - 1.0).abs() < 0.15, "{weak}");
        assert!((loud / weak - 5.0).abs() < 1.0, "{loud} {weak}");
        assert_eq!(noise_a(&[1.0; 7]), None);
    }

    /// Noisy is judged against the reference and before contact; with no
    /// reference yet, or the ratio at 0, it is never said.
    #[test]
    fn a_curve_much_noisier_than_its_neighbours_is_noisy() {
        let bias = triangle(251, 1.5);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let loud = Normal::new(0.0, 12e-12).unwrap();
        let curve: Vec<f64> = bias
            .iter()
            .map(|v| 60e-12 / (1.0 + (-(v - 0.8) * 12.0).exp()) + loud.sample(&mut rng))
            .collect();
        let lines = Lines {
            min_contact_score: 2.6,
            max_noise_ratio: 2.5,
        };
        assert_eq!(
            judge(&bias, &curve, SweepEnd::Complete, lines, Some(2e-12)),
            Quality::Noisy
        );
        assert_eq!(
            judge(&bias, &curve, SweepEnd::Complete, lines, Some(10e-12)),
            Quality::Ok
        );
        assert_eq!(judge(&bias, &curve, SweepEnd::Complete, lines, None), Quality::Ok);
        let off = Lines {
            max_noise_ratio: 0.0,
            ..lines
        };
        assert_eq!(judge(&bias, &curve, SweepEnd::Complete, off, Some(2e-12)), Quality::Ok);
        assert_eq!(
            judge(&bias, &curve, SweepEnd::Compliance, lines, Some(2e-12)),
            Quality::Compliance
        );
    }

    #[test]
    fn the_reference_is_the_median_of_recent_curves_that_measure_the_floor() {
        let flat = |sigma: f64, seed: u64| -> Vec<f64> {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let n = Normal::new(0.0, sigma).unwrap();
            (0..251).map(|_| n.sample(&mut rng)).collect()
        };
        let mut log: Vec<(Option<Quality>, Vec<f64>)> = Vec::new();
        for k in 0..4 {
            log.push((Some(Quality::Ok), flat(1e-12, k)));
        }
        let of = |log: &[(Option<Quality>, Vec<f64>)]| noise_reference_a(log.iter().map(|(q, c)| (*q, c.as_slice())));
        assert_eq!(of(&log), None, "four curves are too few");
        // Noisy and cut curves do not count, however many.
        for k in 0..10 {
            log.push((Some(Quality::Noisy), flat(9e-12, 100 + k)));
            log.push((Some(Quality::Compliance), flat(9e-12, 200 + k)));
        }
        assert_eq!(of(&log), None);
        log.push((Some(Quality::NoContact), flat(1e-12, 50)));
        let reference = of(&log).unwrap();
        assert!((reference / 1e-12 - 1.0).abs() < 0.2, "{reference}");
        // Only the newest 32 count: a floor that rose long ago is the floor.
        for k in 0..40 {
            log.push((None, flat(3e-12, 300 + k)));
        }
        let risen = of(&log).unwrap();
        assert!((risen / 3e-12 - 1.0).abs() < 0.2, "{risen}");
    }
}
