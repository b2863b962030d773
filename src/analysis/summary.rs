//! What each cluster is, in numbers and in one line a scientist can read:
//! its size, the spread of the physics scalars, its mean I–V curve, and a
//! topography descriptor of its patches.

use super::Sample;
use crate::record::Motif;

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
    /// The loop area of each protocol's curves (`[[sweep.protocol]]`), in
    /// the plan's order; one entry with one protocol.
    pub protocol_areas: Vec<Stat>,
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
    /// How the surface under the tip bends, across and along its strongest
    /// bend (see [`bend`]): a groove bends one way, a pit both.
    pub bend_across_nm: Stat,
    pub bend_along_nm: Stat,
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

/// The centre's height against the patch's mean (nm, positive = raised) and
/// the patch's mean against its lowest point (nm): how far the tip stands
/// out, and how deep the ground around it falls.
pub fn relief(patch: &[f64]) -> (f64, f64) {
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

/// The surface's bend at the tip (nm per px², positive = hollow): the two
/// eigenvalues of the Hessian of a quadratic surface fitted by least squares
/// to the heights within 3 px of the tip, largest first. A fit over a disk
/// rather than second differences on the grid: a narrow groove running
/// diagonally then bends the same as one along a row (finite differences over
/// ±2 px read it as half a pit), and roughness averages out.
pub fn bend(patch: &[f64]) -> (f64, f64) {
    bend_within(patch, 3.0)
}

/// [`bend`] fitted to the pixels within `radius_px` of the tip (at least
/// √2: the 3 × 3 block, the least on which the twist is defined).
pub fn bend_within(patch: &[f64], radius_px: f64) -> (f64, f64) {
    let side = (patch.len() as f64).sqrt() as usize;
    let radius_px = radius_px.max(std::f64::consts::SQRT_2);
    let r = radius_px.floor() as i64;
    let r2 = radius_px * radius_px;
    if side < (2 * r + 1) as usize {
        return (f64::NAN, f64::NAN);
    }
    // The tip's pixel, as `patches::patch_at` cuts the patch.
    let centre = (side / 2) as i64;
    // On a disk the odd moments vanish and x², y² share their moments, so the
    // normal equations of z = a + bx + cy + dx² + exy + fy² fall apart into
    // e alone, d − f alone, and (a, d + f) together.
    let (mut n, mut s2, mut s4, mut s22) = (0.0, 0.0, 0.0, 0.0);
    let (mut z0, mut zxx, mut zyy, mut zxy) = (0.0, 0.0, 0.0, 0.0);
    for dy in -r..=r {
        for dx in -r..=r {
            if (dx * dx + dy * dy) as f64 > r2 {
                continue;
            }
            // In bounds: side ≥ 2·r + 1 and the centre is side / 2.
            let (row, col) = ((centre + dy) as usize, (centre + dx) as usize);
            let z = patch[row * side + col];
            let (x, y) = (dx as f64, dy as f64);
            n += 1.0;
            s2 += x * x;
            s4 += x.powi(4);
            s22 += x * x * y * y;
            z0 += z;
            zxx += x * x * z;
            zyy += y * y * z;
            zxy += x * y * z;
        }
    }
    let e = zxy / s22;
    let d_minus_f = (zxx - zyy) / (s4 - s22);
    let d_plus_f = (n * (zxx + zyy) - 2.0 * s2 * z0) / (n * (s4 + s22) - 2.0 * s2 * s2);
    // Hessian [[2d, e], [e, 2f]]: mean curvature d + f, half-gap √((d−f)² + e²).
    let half_gap = (d_minus_f * d_minus_f + e * e).sqrt();
    (d_plus_f + half_gap, d_plus_f - half_gap)
}

/// A hollow is a pit when it is a bowl, rising along its valley as well as
/// across it (both bends positive), and a groove when its floor runs level or
/// falls away. The small margin keeps a straight, level groove a groove. On
/// ten simulated DN-DKL sessions the per-motif means of along/across were
/// 0.12 for triple junctions, −0.17 for grooves, −0.32 for asymmetric
/// boundaries and −2.9 for grain interiors (domes: no hollow at all).
const PIT_BEND_RATIO: f64 = 0.05;

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
            let bends: Vec<(f64, f64)> = members.iter().map(|s| bend(&s.patch_nm)).collect();
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
                protocol_areas: (0..members.iter().map(|s| s.protocol_areas.len()).max().unwrap_or(0))
                    .map(|p| Stat::of(members.iter().filter_map(|s| s.protocol_areas.get(p).copied())))
                    .collect(),
                onset_v: Stat::of(members.iter().filter_map(|s| s.onset_v)),
                max_current_a: Stat::of(members.iter().map(|s| s.max_current_a)),
                bias_v: longest,
                mean_current_a,
                sd_current_a,
                relief_nm: Stat::of(reliefs.iter().map(|r| r.0)),
                depth_nm: Stat::of(reliefs.iter().map(|r| r.1)),
                bend_across_nm: Stat::of(bends.iter().map(|b| b.0)),
                bend_along_nm: Stat::of(bends.iter().map(|b| b.1)),
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
    let (across, along) = (s.bend_across_nm.mean, s.bend_along_nm.mean);
    let hollow = if across > 0.0 && along >= PIT_BEND_RATIO * across {
        "pits"
    } else {
        "grooves"
    };
    let ground = match s.relief_nm.mean {
        r if r < -6.0 => format!("deep {hollow}"),
        r if r < -2.0 => format!("shallow {hollow}"),
        r if r > 2.0 => "raised ground".into(),
        _ if s.depth_nm.mean > 8.0 => "flat ground beside a step or groove".into(),
        _ => "flat grain tops".into(),
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

/// With several sweeps a location: each cluster's loop area under each
/// protocol (mean ± sd, V·pA), and the third finding where the truth is
/// known; empty with one protocol.
pub fn protocol_table(summaries: &[ClusterSummary], plan: &crate::plan::SessionPlan) -> String {
    let protocols = plan.sweep.protocols();
    if protocols.len() < 2 {
        return String::new();
    }
    let mut t = String::from("\nLoop area per protocol (V·pA):\n\n| cluster |");
    for p in &protocols {
        t.push_str(&format!(" {}→{}→{} V |", p.v_start, p.v_max, p.v_end));
    }
    t.push_str(&format!("\n| ---: |{}\n", " ---: |".repeat(protocols.len())));
    for s in summaries {
        t.push_str(&format!("| {} |", s.cluster));
        for a in &s.protocol_areas {
            t.push_str(&format!(" {:.1} ± {:.1} |", a.mean * 1e12, a.sd * 1e12));
        }
        t.push('\n');
    }
    let tops: Vec<f64> = protocols.iter().map(|p| p.top_v()).collect();
    if let Some(f) = super::findings::junctions_loop_under_every_bias(summaries, &tops) {
        t.push_str(&format!(
            "\nJunction-led cluster {} loops under every bias range, the interior-led cluster not under the lowest: {}.\n",
            f.cluster,
            if f.holds { "holds" } else { "does not hold" }
        ));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 16 px patch 100 nm high with `depth_nm(r, c)` taken out of it.
    fn patch(depth_nm: impl Fn(f64, f64) -> f64) -> Vec<f64> {
        (0..256)
            .map(|k| 100.0 - depth_nm((k / 16) as f64 - 8.0, (k % 16) as f64 - 8.0))
            .collect()
    }

    #[test]
    fn a_groove_bends_one_way_and_a_pit_both() {
        let groove = patch(|_, c| 15.0 * (-c * c / 4.0).exp());
        let (across, along) = bend(&groove);
        assert!(across > 1.0 && along.abs() < 0.05 * across, "groove {across} {along}");
        let diagonal = patch(|r, c| 15.0 * (-(r - c).powi(2) / 8.0).exp());
        let (across_d, along_d) = bend(&diagonal);
        assert!(
            across_d > 1.0 && along_d.abs() < 0.05 * across_d,
            "diagonal {across_d} {along_d}"
        );
        let pit = patch(|r, c| 25.0 * (-(r * r + c * c) / 9.0).exp());
        let (across, along) = bend(&pit);
        assert!(
            across > 1.0 && (along - across).abs() < 0.05 * across,
            "pit {across} {along}"
        );
        let flat = patch(|_, _| 0.0);
        assert_eq!(bend(&flat), (0.0, 0.0));
    }

    #[test]
    fn a_bowl_bends_the_same_on_any_disk_and_a_narrow_groove_most_on_a_small_one() {
        // z = 0.4 x² + 0.1 y² (nm, px): Hessian eigenvalues 0.8 and 0.2.
        let bowl = patch(|r, c| -(0.4 * c * c + 0.1 * r * r));
        for radius_px in [1.5, 2.0, 2.5, 3.0, 5.0] {
            let (across, along) = bend_within(&bowl, radius_px);
            assert!(
                (across - 0.8).abs() < 1e-9 && (along - 0.2).abs() < 1e-9,
                "{radius_px}: {across} {along}"
            );
        }
        // A groove about a pixel wide: a wide disk averages it with its flat flanks.
        let groove = patch(|_, c| 10.0 * (-c * c / 1.5).exp());
        let (narrow, _) = bend_within(&groove, 2.0);
        let (wide, _) = bend_within(&groove, 3.0);
        assert!(narrow > 1.5 * wide && wide > 0.0, "{narrow} {wide}");
        assert_eq!(bend(&groove), bend_within(&groove, 3.0));
        // Too small a disk is the 3 × 3 block; too wide a one for the patch has no fit.
        assert_eq!(bend_within(&groove, 0.5), bend_within(&groove, 1.5));
        assert!(bend_within(&groove, 8.0).0.is_nan());
    }

    #[test]
    fn hollows_read_as_pits_or_grooves_by_their_bend() {
        let hollow = |reliefs: &[(f64, f64)]| -> String {
            let samples: Vec<Sample> = reliefs
                .iter()
                .map(|&(depth, spread)| Sample {
                    session: 0,
                    step: 0,
                    row: 8,
                    col: 8,
                    x_nm: 0.0,
                    y_nm: 0.0,
                    patch_nm: patch(|r, c| depth * (-(c * c) / 4.0 - r * r / spread).exp()),
                    patch01: vec![0.5; 256],
                    bias_v: vec![0.0, 1.0, 0.0],
                    current_a: vec![0.0, 1e-10, 0.0],
                    hysteresis_area: 1e-12,
                    protocol_areas: vec![1e-12],
                    onset_v: Some(0.5),
                    max_current_a: 1e-10,
                    truth: None,
                })
                .collect();
            summarise(&samples, &vec![0; samples.len()])[0].reading.clone()
        };
        // Long in one direction: a groove; round: a pit.
        assert!(hollow(&[(20.0, 1e9), (22.0, 1e9)]).starts_with("deep grooves"));
        assert!(hollow(&[(30.0, 4.0), (28.0, 4.0)]).starts_with("deep pits"));
        assert!(hollow(&[(6.0, 1e9)]).starts_with("shallow grooves"));
    }
}
