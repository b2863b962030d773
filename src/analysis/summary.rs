//! What each cluster is, in numbers and in one line a scientist can read:
//! its size, the spread of the physics scalars, its mean I–V curve, and a
//! topography descriptor of its patches.

use super::Sample;
use crate::instrument::sim::film::Motif;

#[derive(Debug, Clone, PartialEq)]
pub struct Stat {
    pub mean: f64,
    pub sd: f64,
    pub n: usize,
}

impl Stat {
    fn of(values: impl Iterator<Item = f64>) -> Self {
        let v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
        let n = v.len();
        if n == 0 {
            return Self {
                mean: f64::NAN,
                sd: f64::NAN,
                n,
            };
        }
        let mean = v.iter().sum::<f64>() / n as f64;
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n.max(2) - 1) as f64).sqrt();
        Self { mean, sd, n }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSummary {
    pub cluster: usize,
    pub size: usize,
    pub hysteresis_area: Stat,
    pub onset_v: Stat,
    pub max_current_a: Stat,
    /// Bias of the mean curve's samples (from the cluster's longest curve).
    pub bias_v: Vec<f64>,
    pub mean_current_a: Vec<f64>,
    pub sd_current_a: Vec<f64>,
    /// Height of the patch centre relative to its surroundings (negative: a pit or groove).
    pub relief_nm: Stat,
    /// Patch mean minus patch minimum: how deep the lowest feature in view goes.
    pub depth_nm: Stat,
    /// Most common true motif and its share, where the truth is known.
    pub dominant: Option<(Motif, f64)>,
    pub reading: String,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn relief(patch: &[f64]) -> (f64, f64) {
    let side = (patch.len() as f64).sqrt() as usize;
    let mean = patch.iter().sum::<f64>() / patch.len() as f64;
    let lo = side / 2 - 2.min(side / 2);
    let centre: Vec<f64> = (lo..(lo + 4).min(side))
        .flat_map(|r| (lo..(lo + 4).min(side)).map(move |c| patch[r * side + c]))
        .collect();
    let centre_mean = centre.iter().sum::<f64>() / centre.len().max(1) as f64;
    let min = patch.iter().copied().fold(f64::INFINITY, f64::min);
    (centre_mean - mean, mean - min)
}

/// Summaries of every cluster, in cluster order.
pub fn summarise(samples: &[Sample], labels: &[usize]) -> Vec<ClusterSummary> {
    let k = labels.iter().copied().max().map_or(0, |m| m + 1);
    let all_area = median(samples.iter().map(|s| s.hysteresis_area).collect());
    let all_current = median(samples.iter().map(|s| s.max_current_a).collect());
    (0..k)
        .map(|c| {
            let members: Vec<&Sample> = samples
                .iter()
                .zip(labels)
                .filter(|(_, l)| **l == c)
                .map(|(s, _)| s)
                .collect();
            let longest = members
                .iter()
                .max_by_key(|s| s.bias_v.len())
                .map(|s| s.bias_v.clone())
                .unwrap_or_default();
            let points = longest.len();
            let curves: Vec<Vec<f64>> = members
                .iter()
                .map(|s| crate::ml::spectra::to_length(&s.current_a, points))
                .collect();
            let mean_current_a: Vec<f64> = (0..points)
                .map(|p| curves.iter().map(|v| v[p]).sum::<f64>() / curves.len().max(1) as f64)
                .collect();
            let sd_current_a: Vec<f64> = (0..points)
                .map(|p| {
                    (curves.iter().map(|v| (v[p] - mean_current_a[p]).powi(2)).sum::<f64>()
                        / curves.len().max(2).saturating_sub(1) as f64)
                        .sqrt()
                })
                .collect();
            let reliefs: Vec<(f64, f64)> = members.iter().map(|s| relief(&s.patch_nm)).collect();
            let dominant = if members.iter().all(|s| s.truth.is_some()) && !members.is_empty() {
                Motif::ALL
                    .iter()
                    .map(|m| {
                        (
                            *m,
                            members.iter().filter(|s| s.truth == Some(*m)).count() as f64 / members.len() as f64,
                        )
                    })
                    .max_by(|a, b| a.1.total_cmp(&b.1))
            } else {
                None
            };
            let mut s = ClusterSummary {
                cluster: c,
                size: members.len(),
                hysteresis_area: Stat::of(members.iter().map(|s| s.hysteresis_area)),
                onset_v: Stat::of(members.iter().filter_map(|s| s.onset_v)),
                max_current_a: Stat::of(members.iter().map(|s| s.max_current_a)),
                bias_v: longest,
                mean_current_a,
                sd_current_a,
                relief_nm: Stat::of(reliefs.iter().map(|r| r.0)),
                depth_nm: Stat::of(reliefs.iter().map(|r| r.1)),
                dominant,
                reading: String::new(),
            };
            s.reading = reading(&s, all_area, all_current);
            s
        })
        .collect()
}

/// "deep pits, strong hysteresis, high current" and the like.
fn reading(s: &ClusterSummary, median_area: f64, median_current: f64) -> String {
    let ground = match s.relief_nm.mean {
        r if r < -6.0 => "deep pits",
        r if r < -2.0 => "grooves and hollows",
        r if r > 2.0 => "raised ground",
        _ if s.depth_nm.mean > 8.0 => "flat ground beside a step or groove",
        _ => "flat grain tops",
    };
    let loops = match s.hysteresis_area.mean / median_area {
        x if x > 2.0 => "strong hysteresis",
        x if x > 1.25 => "enhanced hysteresis",
        x if x < 0.6 => "little hysteresis",
        _ => "typical hysteresis",
    };
    let current = match s.max_current_a.mean / median_current {
        x if x > 1.5 => "high current",
        x if x < 0.5 => "suppressed current",
        _ => "typical current",
    };
    format!("{ground}, {loops}, {current}")
}

/// The summary as a Markdown table (also what `analyze` prints).
pub fn table(summaries: &[ClusterSummary]) -> String {
    let mut t = String::from(
        "| cluster | size | hysteresis area (V·pA) | onset (V) | max current (pA) | relief (nm) | depth (nm) | dominant motif | reading |\n\
         | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n",
    );
    for s in summaries {
        let dominant = s
            .dominant
            .map(|(m, share)| format!("{} ({:.0}%)", m.label(), share * 100.0))
            .unwrap_or_else(|| "—".into());
        t.push_str(&format!(
            "| {} | {} | {:.1} ± {:.1} | {:.2} ± {:.2} | {:.1} ± {:.1} | {:.1} | {:.1} | {} | {} |\n",
            s.cluster,
            s.size,
            s.hysteresis_area.mean * 1e12,
            s.hysteresis_area.sd * 1e12,
            s.onset_v.mean,
            s.onset_v.sd,
            s.max_current_a.mean * 1e12,
            s.max_current_a.sd * 1e12,
            s.relief_nm.mean,
            s.depth_nm.mean,
            dominant,
            s.reading
        ));
    }
    t
}
