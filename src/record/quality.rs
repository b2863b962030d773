//! The quality gate's verdict on one curve (`measurements.quality`): whether
//! the tip was in contact and the sweep ran its course. A curve that fails is
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
}

impl Quality {
    pub const ALL: [Quality; 3] = [Self::Ok, Self::NoContact, Self::Compliance];

    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::NoContact => "no_contact",
            Self::Compliance => "compliance",
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

/// The verdict on a curve: compliance when the sweep stopped at the limit,
/// no contact when its contact score is under `min_contact_score` (or
/// cannot be computed because the sweep never left 0 V), else ok.
pub fn judge(bias_v: &[f64], current_a: &[f64], end: SweepEnd, min_contact_score: f64) -> Quality {
    if end == SweepEnd::Compliance {
        return Quality::Compliance;
    }
    match contact_score(bias_v, current_a) {
        Some(score) if score >= min_contact_score => Quality::Ok,
        _ => Quality::NoContact,
    }
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
        assert_eq!(judge(&bias, &only_noise, SweepEnd::Complete, 4.0), Quality::NoContact);
        assert_eq!(judge(&bias, &weak, SweepEnd::Complete, 4.0), Quality::Ok);
        assert_eq!(judge(&bias, &weak, SweepEnd::Compliance, 4.0), Quality::Compliance);
        // A sweep that never leaves 0 V tells nothing about contact.
        assert_eq!(
            judge(&[0.0; 10], &[1e-12; 10], SweepEnd::Complete, 4.0),
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
}
