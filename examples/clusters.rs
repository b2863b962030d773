//! Do the dual VAE's clusters find the film's motifs? For several simulated
//! films, a DN-DKL session (10 seeds + 200 steps) runs through the real engine;
//! then the dual VAE (published settings unless overridden) is trained, its
//! joint latent map clustered, and the clusters compared with the simulator's
//! ground truth: adjusted Rand index, training time, and the paper's two
//! findings — the triple-junction cluster has the largest hysteresis, the
//! asymmetric-boundary cluster the lowest current.
//!
//! Beside the dual VAE's ARI, two references clustered the same way (Gaussian
//! mixture, BIC): the three physical quantities measured on every curve (log
//! max current, log loop area, onset), and the simulator's own noise-free
//! response parameters at each measured point (log current scale, onset, log
//! hysteresis, trap bias). The second is what the curves are made of, so no
//! clustering of the electrical response can be expected to beat it by much:
//! it tells how far the motifs, as this policy samples them, separate at all.
//!
//! Beside them, the yardstick of issue #18: the same mixture on four numbers
//! per curve (log loop area, log max current, onset bias, minimum current).
//!
//! And the dense property map (`property_map`): at every candidate no curve
//! was taken at, the dual VAE's predicted log loop area and log max current
//! against the film's noise-free truth there (squared Pearson r), beside a
//! plain baseline on the same measured points: k-nearest-neighbour regression
//! (k = 5) from the raw patches in nm.
//!
//! Where the max-current map loses, from the simulator's side: a ceiling
//! (each place's geometry exact, the measured grains' conductance), and the
//! map's own residual field told each place's exact geometry and its true
//! grain (then either alone), fitted on the same measured curves: against
//! the map's r², whether the regression or the relief it reads holds it back.
//!
//! `--family` takes the films from the simulator's family (`[film] draw`,
//! physics and geometry drawn from wide ranges): draws 1–10 are where the
//! project chooses its settings, 101–110 where it reports them.
//!
//! `--protocols 1.0,1.5,2.0` sweeps every location that many times (each
//! the plan's sweep up to that bias), the models learn from each location's
//! set as one curve, and the third finding is judged: the junction-led
//! cluster loops under every bias range, the interior-led one not under the
//! lowest (the property map is not scored then).
//!
//! `cargo run --release --example clusters [-- --films 5 --first 1 --family --policy dn-dkl --epochs 1000 --lr 3e-3 --ensemble 8 --gamma 10 --beta 1 --latent 2 --protocols 1.0,1.5,2.0 --cluster-scalars off --cluster-relief off --consensus-k median|lifetime|agreement --variants --no-map]`
//!
//! With an ensemble, each rule of the consensus' number of clusters
//! (`[analysis] consensus_k`) is scored on the same trainings.

use dualscope::analysis;
use dualscope::analysis::Sample;
use dualscope::engine;
use dualscope::instrument::sim::film::Film;
use dualscope::instrument::sim::iv::Response;
use dualscope::ml::cluster;
use dualscope::plan::{ConsensusK, PolicyKind, PropertyLatent, SessionPlan};
use dualscope::record::Motif;
use dualscope::scalar::{LOG_FLOOR_CURRENT_A, LOG_FLOOR_LOOP_AREA_VA};
use dualscope::store::SessionLog;

#[path = "common/args.rs"]
mod args;
use args::arg;

/// ARI of a BIC-chosen Gaussian mixture on `features` against the true motifs.
fn reference_ari(features: &[Vec<f64>], samples: &[Sample], max_clusters: usize, seed: u64) -> f64 {
    reference_ari_in(features, samples, 2..=max_clusters, seed)
}

/// The same with the mixture's number of clusters chosen from `k_range`.
fn reference_ari_in(
    features: &[Vec<f64>],
    samples: &[Sample],
    k_range: std::ops::RangeInclusive<usize>,
    seed: u64,
) -> f64 {
    let truth: Vec<usize> = samples
        .iter()
        .map(|s| Motif::ALL.iter().position(|m| Some(*m) == s.truth).unwrap_or(0))
        .collect();
    let mut rng = dualscope::seed::rng(seed, "reference-mixture", &[]);
    cluster::choose(features, k_range, &mut rng)
        .map(|m| cluster::adjusted_rand_index(&m.labels, &truth))
        .unwrap_or(f64::NAN)
}

/// The three quantities every curve's row carries.
fn measured_features(samples: &[Sample]) -> Vec<Vec<f64>> {
    samples
        .iter()
        .map(|s| {
            let top_v = s.bias_v.iter().copied().fold(0.0, f64::max);
            vec![
                s.max_current_a.abs().max(LOG_FLOOR_CURRENT_A).ln(),
                s.hysteresis_area.abs().max(LOG_FLOOR_LOOP_AREA_VA).ln(),
                s.onset_v.unwrap_or(top_v),
            ]
        })
        .collect()
}

/// The yardstick's four numbers per curve.
fn four_numbers(samples: &[Sample]) -> Vec<Vec<f64>> {
    samples
        .iter()
        .map(|s| {
            let top_v = s.bias_v.iter().copied().fold(0.0, f64::max);
            let min_a = s.current_a.iter().copied().fold(f64::INFINITY, f64::min);
            vec![
                s.hysteresis_area.abs().max(LOG_FLOOR_LOOP_AREA_VA).ln(),
                s.max_current_a.abs().max(LOG_FLOOR_CURRENT_A).ln(),
                s.onset_v.unwrap_or(top_v),
                min_a,
            ]
        })
        .collect()
}

/// Each sample's two bends at the tip, fitted within `radius_px`.
fn bends_within(samples: &[Sample], radius_px: f64) -> Vec<Vec<f64>> {
    samples
        .iter()
        .map(|s| {
            let (across, along) = analysis::summary::bend_within(&s.patch_nm, radius_px);
            vec![across, along]
        })
        .collect()
}

/// One way of drawing the clusters scored over the films: the mean ARI and,
/// per finding, the films where it held and those with a cluster to judge it on.
struct Tally {
    name: &'static str,
    ari: f64,
    held: [u32; 2],
    judged: [u32; 2],
}

/// Adds one film's ARI share and findings to the `k`-th tally, made on first use.
fn tally(sums: &mut Vec<Tally>, k: usize, name: &'static str, ari_share: f64, findings: [Option<bool>; 2]) {
    if sums.len() <= k {
        sums.push(Tally {
            name,
            ari: 0.0,
            held: [0; 2],
            judged: [0; 2],
        });
    }
    sums[k].ari += ari_share;
    for (q, f) in findings.iter().enumerate() {
        if let Some(holds) = f {
            sums[k].judged[q] += 1;
            sums[k].held[q] += *holds as u32;
        }
    }
}

/// A finding on one film, in a word.
fn said(f: Option<bool>) -> &'static str {
    f.map_or("-", |h| if h { "yes" } else { "NO" })
}

/// ARIs of the same mixture on other features of the first training's map:
/// what the clusters would be if drawn from the image view, the spectral
/// view, or the joint map beside each curve's scalar numbers.
fn variant_aris(
    a: &analysis::Analysis,
    samples: &[Sample],
    film: &Film,
    max_k: usize,
    seed: u64,
) -> Vec<(&'static str, f64)> {
    let e = &a.embedding;
    let as64 = |z: &[Vec<f32>]| -> Vec<Vec<f64>> { z.iter().map(|v| v.iter().map(|x| *x as f64).collect()).collect() };
    let (zi, zs) = (as64(&e.z_image), as64(&e.z_spectrum));
    let four = four_numbers(samples);
    let cat = |parts: &[&Vec<Vec<f64>>]| -> Vec<Vec<f64>> {
        (0..samples.len())
            .map(|k| parts.iter().flat_map(|p| p[k].iter().copied()).collect())
            .collect()
    };
    let two: Vec<Vec<f64>> = four.iter().map(|f| f[..2].to_vec()).collect();
    let three = measured_features(samples);
    let smooth: Vec<Vec<f64>> = samples
        .iter()
        .zip(&three)
        .map(|(s, t)| {
            // A 15-point running mean (0.18 V of the published sweep) before
            // the max: does the noise in the raw maximum blur the clusters?
            let w = 15usize;
            let c = &s.current_a;
            let mut best = 0.0f64;
            for k in 0..c.len().saturating_sub(w - 1) {
                best = best.max((c[k..k + w].iter().sum::<f64>() / w as f64).abs());
            }
            vec![best.max(LOG_FLOOR_CURRENT_A).ln(), t[1], t[2]]
        })
        .collect();
    // The relief under the tip as the cluster table reads it: the surface's
    // two bends and the centre's height against the patch's mean and floor.
    let pair = |f: fn(&[f64]) -> (f64, f64)| -> Vec<Vec<f64>> {
        samples
            .iter()
            .map(|s| {
                let (a, b) = f(&s.patch_nm);
                vec![a, b]
            })
            .collect()
    };
    let (bends, heights) = (bends_within(samples, 3.0), pair(analysis::summary::relief));
    // The bends are heavy-tailed (a deep pit bends far more than a groove):
    // the same in units of their median size, through asinh.
    let soft = |f: &Vec<Vec<f64>>| -> Vec<Vec<f64>> {
        let d = f.first().map_or(0, |v| v.len());
        let mut med = vec![1.0; d];
        for (j, m) in med.iter_mut().enumerate() {
            let mut a: Vec<f64> = f.iter().map(|v| v[j].abs()).filter(|v| v.is_finite()).collect();
            if !a.is_empty() {
                let mid = a.len() / 2;
                let (_, x, _) = a.select_nth_unstable_by(mid, f64::total_cmp);
                *m = if *x > 0.0 { *x } else { 1.0 };
            }
        }
        f.iter()
            .map(|v| v.iter().zip(&med).map(|(x, m)| (x / m).asinh()).collect())
            .collect()
    };
    let soft_bends = soft(&bends);
    // The kept features with fewer numbers of clusters to choose from.
    let kept = cat(&[&zi, &zs, &two, &bends]);
    let mut fixed = vec![
        (
            "joint + two + bends, k = 4",
            reference_ari_in(&kept, samples, 4..=4, seed),
        ),
        (
            "joint + two + bends, k = 3..4",
            reference_ari_in(&kept, samples, 3..=4, seed),
        ),
    ];
    let slopes: Vec<Vec<f64>> = samples.iter().map(|s| vec![slope(&s.patch_nm)]).collect();
    let log_slopes: Vec<Vec<f64>> = slopes.iter().map(|v| vec![(v[0] + 0.05).ln()]).collect();
    // The bends fitted over smaller disks: a groove 9-20 nm wide is one to
    // three pixels, a pit's radius two to five.
    let (bends2, bends15, bends25) = (
        bends_within(samples, 2.0),
        bends_within(samples, 1.5),
        bends_within(samples, 2.5),
    );
    // What no survey says: the true distances to the boundary and the
    // junction (what the motifs are cut from), as a ceiling.
    let told: Vec<Vec<f64>> = samples
        .iter()
        .map(|s| {
            let site = film.site(s.x_nm, s.y_nm);
            vec![(site.boundary_nm.abs() + 1.0).ln(), (site.junction_nm.abs() + 1.0).ln()]
        })
        .collect();
    let variants: Vec<(&'static str, Vec<Vec<f64>>)> = vec![
        ("joint + two + bends", cat(&[&zi, &zs, &two, &bends])),
        ("joint + two + bends r2", cat(&[&zi, &zs, &two, &bends2])),
        ("joint + two + bends r1.5", cat(&[&zi, &zs, &two, &bends15])),
        ("joint + two + bends r2.5", cat(&[&zi, &zs, &two, &bends25])),
        ("joint + two + told geometry", cat(&[&zi, &zs, &two, &told])),
        (
            "joint + two + bends + told geometry",
            cat(&[&zi, &zs, &two, &bends, &told]),
        ),
        ("joint + two + bends + slope", cat(&[&zi, &zs, &two, &bends, &slopes])),
        (
            "joint + two + bends + log slope",
            cat(&[&zi, &zs, &two, &bends, &log_slopes]),
        ),
        ("joint + two + asinh bends", cat(&[&zi, &zs, &two, &soft_bends])),
        (
            "asinh joint + two + asinh bends",
            cat(&[&soft(&zi), &soft(&zs), &two, &soft_bends]),
        ),
        ("spectral + two + asinh bends", cat(&[&zs, &two, &soft_bends])),
        (
            "joint + two + bends + heights",
            cat(&[&zi, &zs, &two, &bends, &heights]),
        ),
        ("spectral + two + bends", cat(&[&zs, &two, &bends])),
        ("two + bends", cat(&[&two, &bends])),
        ("two + bends + heights", cat(&[&two, &bends, &heights])),
        ("joint", cat(&[&zi, &zs])),
        ("joint + log area, log I max", cat(&[&zi, &zs, &two])),
        ("joint + three measured", cat(&[&zi, &zs, &three])),
        ("three measured, smoothed I max", smooth.clone()),
        ("joint + three, smoothed I max", cat(&[&zi, &zs, &smooth])),
        ("spectral view + three", cat(&[&zs, &three])),
        ("image view + three", cat(&[&zi, &three])),
    ];
    let mut out: Vec<(&'static str, f64)> = variants
        .into_iter()
        .map(|(name, f)| (name, reference_ari(&f, samples, max_k, seed)))
        .collect();
    out.append(&mut fixed);
    out
}

/// The ensemble's consensus on other features, each training's mixture
/// refitted on its own map beside them (the same trainings for every
/// variant): ARI and the two findings per variant.
fn consensus_variants(
    a: &analysis::Analysis,
    samples: &[Sample],
    settings: &dualscope::plan::AnalysisPlan,
    seed: u64,
) -> Vec<(&'static str, f64, [Option<bool>; 2])> {
    let two: Vec<[f64; 2]> = four_numbers(samples).iter().map(|f| [f[0], f[1]]).collect();
    let max_k = settings.clusters_max as usize;
    // Each variant: the bends' disk and which draws of the mixtures' starts
    // each training gets (several: every one of them has a say).
    let (r3, r25) = (bends_within(samples, 3.0), bends_within(samples, 2.5));
    [
        ("bends within 3 px", &r3, 0..1),
        ("bends within 2.5 px", &r25, 0..1),
        ("bends within 2.5 px, other starts", &r25, 1..2),
        ("bends within 3 px, 3 mixtures a training", &r3, 0..3),
        ("bends within 2.5 px, 3 mixtures a training", &r25, 0..3),
    ]
    .into_iter()
    .map(|(name, bends, draws)| {
        let mut labelings = Vec::new();
        let mut ks = Vec::new();
        for ((member, e), draw) in a
            .trainings()
            .enumerate()
            .flat_map(|m| draws.clone().map(move |d| (m, d)))
        {
            let joint: Vec<Vec<f64>> = (0..samples.len())
                .map(|k| {
                    e.z_image[k]
                        .iter()
                        .chain(&e.z_spectrum[k])
                        .map(|v| *v as f64)
                        .chain(two[k])
                        .chain(bends[k].iter().copied())
                        .collect()
                })
                .collect();
            let salt: &[u64] = if draw == 0 {
                &[member as u64]
            } else {
                &[member as u64, draw]
            };
            let mut rng = dualscope::seed::rng(seed, "variant-mixture", salt);
            if let Some(m) = cluster::choose(&joint, 2..=max_k, &mut rng) {
                ks.push(m.means.len());
                labelings.push(m.labels);
            }
        }
        let (labels, _) = analysis::consensus_of(&labelings, &ks, settings, samples.len());
        let ari = analysis::ari(samples, &labels).unwrap_or(f64::NAN);
        let f = two_findings(&analysis::summary::summarise(samples, &labels));
        (name, ari, f.map(|f| f.map(|f| f.holds)))
    })
    .collect()
}

/// The surface's slope at the tip (nm per px): the plane's gradient fitted
/// within 3 px of the tip pixel, as `summary::bend` fits its quadratic (on a
/// disk x and y are orthogonal to 1, to each other and to the squares).
fn slope(patch: &[f64]) -> f64 {
    let side = (patch.len() as f64).sqrt() as usize;
    const RADIUS: i64 = 3;
    if side < (2 * RADIUS + 1) as usize {
        return f64::NAN;
    }
    let centre = (side / 2) as i64;
    let (mut sx, mut sy, mut s2) = (0.0, 0.0, 0.0);
    for dy in -RADIUS..=RADIUS {
        for dx in -RADIUS..=RADIUS {
            if dx * dx + dy * dy > RADIUS * RADIUS {
                continue;
            }
            let z = patch[((centre + dy) as usize) * side + (centre + dx) as usize];
            sx += dx as f64 * z;
            sy += dy as f64 * z;
            s2 += (dx * dx) as f64;
        }
    }
    (sx / s2).hypot(sy / s2)
}

/// The paper's two findings on one clustering: junctions loop most,
/// asymmetric boundaries conduct least.
fn two_findings(summaries: &[analysis::ClusterSummary]) -> [Option<analysis::findings::Finding>; 2] {
    [
        analysis::findings::junctions_loop_most(summaries),
        analysis::findings::asymmetric_conducts_least(summaries),
    ]
}

/// Squared Pearson correlation.
fn r_squared(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    if saa > 0.0 && sbb > 0.0 {
        sab * sab / (saa * sbb)
    } else {
        0.0
    }
}

/// r² of log loop area and of log max current at the candidates no curve
/// was taken at, in this order: the property map as the plan makes it; the
/// decoder's map alone (`property_kriging = false`, as published); k-NN
/// regression from raw patches; and kriging of the measured logs over x, y
/// alone (no model of the relief). Beside them, the property map's r² of log
/// max current where the truth stands above 3× the film's noise, and the
/// share of the candidates that is; and a ceiling for log max current: r²
/// of the truth computed with every place's geometry exact but only the
/// measured grains' own conductance (the rest at their geometric mean), and
/// the share of the candidates on grains no curve was taken on; then r² of
/// the geometry alone (every grain at that mean) and of the grains alone
/// (every place as a grain's interior).
fn property_scores(
    a: &analysis::Analysis,
    samples: &[Sample],
    taken: &[dualscope::record::Measurement],
    max_only: &[dualscope::record::Measurement],
    plan: &SessionPlan,
    survey: &dualscope::record::Survey,
    film: &Film,
) -> PropertyScores {
    let step = samples.len() as u32;
    let map = analysis::property_map::of_frame(a, samples, max_only, plan, survey, step, "example");
    let mut alone = plan.clone();
    alone.analysis.property_kriging = false;
    let decoder = analysis::property_map::of_frame(a, samples, &[], &alone, survey, step, "example");
    // The map as it was before the curves kept for their max current alone
    // had a say.
    let without = analysis::property_map::of_frame(a, samples, &[], plan, survey, step, "example");
    // Every place the tip went is measured, whatever the gate said of its curve.
    let measured: std::collections::HashSet<(u32, u32)> = taken.iter().map(|m| (m.row, m.col)).collect();
    let view = analysis::PatchView::new(plan, survey);
    let log = |v: f64, floor: f64| v.abs().max(floor).ln();
    const FLOORS: [f64; 2] = [LOG_FLOOR_LOOP_AREA_VA, LOG_FLOOR_CURRENT_A];
    let known: Vec<(Vec<f32>, [f64; 2])> = samples
        .iter()
        .map(|s| {
            let patch = view.patch_nm(s.row, s.col);
            (
                patch,
                [log(s.hysteresis_area, FLOORS[0]), log(s.max_current_a, FLOORS[1])],
            )
        })
        .collect();
    let unmeasured: Vec<usize> = (0..map.len())
        .filter(|&k| !measured.contains(&(map[k].row, map[k].col)))
        .collect();
    let flat = [0.5f32];
    let xy: Vec<analysis::residual_field::Site> = samples
        .iter()
        .map(|s| analysis::residual_field::Site {
            x_nm: s.x_nm,
            y_nm: s.y_nm,
            relief: &flat,
            grain: None,
            band: None,
            roughness: 0.0,
        })
        .collect();
    let sites: Vec<analysis::residual_field::Site> = unmeasured
        .iter()
        .map(|&k| analysis::residual_field::Site {
            x_nm: map[k].x_nm,
            y_nm: map[k].y_nm,
            relief: &flat,
            grain: None,
            band: None,
            roughness: 0.0,
        })
        .collect();
    let space: Vec<Vec<f64>> = (0..2)
        .map(|q| {
            let logs: Vec<f64> = known.iter().map(|(_, v)| v[q]).collect();
            analysis::residual_field::ResidualField::fit(&xy, &logs)
                .map(|f| f.at(&sites).0)
                .unwrap_or_else(|| vec![0.0; sites.len()])
        })
        .collect();
    let measured_grains: Vec<f64> = samples
        .iter()
        .map(|s| film.site(s.x_nm, s.y_nm).grain_conductance)
        .collect();
    let known_grains: std::collections::HashSet<u64> = measured_grains.iter().map(|g| g.to_bits()).collect();
    let typical_grain = (measured_grains.iter().map(|g| g.ln()).sum::<f64>() / measured_grains.len() as f64).exp();
    let (mut ceiling, mut unknown, mut halves) = (Vec::new(), 0usize, [Vec::new(), Vec::new()]);
    let (mut truth, mut scored) = (
        [vec![], vec![]],
        [
            [vec![], vec![]],
            [vec![], vec![]],
            [vec![], vec![]],
            [vec![], vec![]],
            [vec![], vec![]],
        ],
    );
    let summary = |site: &dualscope::instrument::sim::film::Site| {
        let sweep = Response::at(site, film.plan()).sweep(
            &plan.sweep.first(),
            plan.safety.current_max_a,
            (0.0, 0.0),
            &mut rand::rng(),
        );
        dualscope::scalar::CurveSummary::of(&sweep.bias_v, &sweep.current_a, plan.analysis.onset_current_a)
    };
    // Each place's geometry as its log max current on a grain of the typical
    // conductance, and its true grain.
    let geometry_of = |site: &dualscope::instrument::sim::film::Site| {
        let s = summary(&dualscope::instrument::sim::film::Site {
            grain_conductance: typical_grain,
            ..*site
        });
        log(s.max_current_a, FLOORS[1])
    };
    let mut row_places: Vec<TruePlace> = Vec::with_capacity(unmeasured.len());
    for (i, &k) in unmeasured.iter().enumerate() {
        let p = &map[k];
        let site = film.site(p.x_nm, p.y_nm);
        let on_known = known_grains.contains(&site.grain_conductance.to_bits());
        unknown += !on_known as usize;
        // The ceiling: every place's relief and motif known exactly, and the
        // conductance of the grains a curve was taken on; any other grain
        // at the measured grains' geometric mean.
        let oracle = summary(&dualscope::instrument::sim::film::Site {
            grain_conductance: if on_known {
                site.grain_conductance
            } else {
                typical_grain
            },
            ..site
        });
        ceiling.push(log(oracle.max_current_a, FLOORS[1]));
        // Which half the map misses: the geometry alone (every grain at the
        // typical conductance), and the grains alone (every place as a
        // grain's interior, far from any boundary or junction).
        let geometry = geometry_of(&site);
        let grains = summary(&dualscope::instrument::sim::film::Site {
            boundary_nm: 1e6,
            junction_nm: 1e6,
            ..site
        });
        halves[0].push(geometry);
        halves[1].push(log(grains.max_current_a, FLOORS[1]));
        row_places.push(TruePlace {
            x_nm: p.x_nm,
            y_nm: p.y_nm,
            geometry,
            grain: site.grain_conductance,
        });
        let s = summary(&site);
        let patch = view.patch_nm(p.row, p.col);
        let mut near: Vec<(f32, usize)> = known
            .iter()
            .enumerate()
            .map(|(k, (q, _))| (q.iter().zip(&patch).map(|(a, b)| (a - b) * (a - b)).sum::<f32>(), k))
            .collect();
        near.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (d, u) = (&decoder[k], &without[k]);
        for (q, (t, v, v_alone, v_without)) in [
            (
                s.hysteresis_area,
                p.hysteresis_area,
                d.hysteresis_area,
                u.hysteresis_area,
            ),
            (s.max_current_a, p.max_current_a, d.max_current_a, u.max_current_a),
        ]
        .into_iter()
        .enumerate()
        {
            truth[q].push(log(t, FLOORS[q]));
            scored[0][q].push(log(v, FLOORS[q]));
            scored[1][q].push(log(v_alone, FLOORS[q]));
            scored[2][q].push(near.iter().take(5).map(|(_, k)| known[*k].1[q]).sum::<f64>() / 5.0);
            scored[3][q].push(space[q][i]);
            scored[4][q].push(log(v_without, FLOORS[q]));
        }
    }
    let sample_places: Vec<TruePlace> = samples
        .iter()
        .map(|s| {
            let site = film.site(s.x_nm, s.y_nm);
            TruePlace {
                x_nm: s.x_nm,
                y_nm: s.y_nm,
                geometry: geometry_of(&site),
                grain: site.grain_conductance,
            }
        })
        .collect();
    let measured_logs: Vec<f64> = known.iter().map(|(_, v)| v[1]).collect();
    let told = told_fields(&sample_places, &measured_logs, &row_places, &truth[1]);
    // Where the true max current stands above 3× the film's noise: the
    // places a curve could tell anything about at all.
    let noise_a = film.plan().current_noise_a;
    let seen: Vec<usize> = (0..truth[1].len())
        .filter(|&i| truth[1][i] > (3.0 * noise_a).ln())
        .collect();
    let pick = |v: &[f64]| seen.iter().map(|&i| v[i]).collect::<Vec<f64>>();
    let above = (
        r_squared(&pick(&truth[1]), &pick(&scored[0][1])),
        seen.len() as f64 / truth[1].len().max(1) as f64,
    );
    PropertyScores {
        r2: scored.map(|x| [r_squared(&truth[0], &x[0]), r_squared(&truth[1], &x[1])]),
        above_noise: above,
        ceiling: (
            r_squared(&truth[1], &ceiling),
            unknown as f64 / unmeasured.len().max(1) as f64,
            r_squared(&truth[1], &halves[0]),
            r_squared(&truth[1], &halves[1]),
        ),
        told,
    }
}

/// A place as the simulator knows it: where, its geometry (log max current
/// on a grain of the typical conductance) and its grain's conductance.
struct TruePlace {
    x_nm: f64,
    y_nm: f64,
    geometry: f64,
    grain: f64,
}

/// r² of log max current at the unmeasured candidates when the map's
/// residual field (the same regression, on the measured logs about their
/// mean) is told what no survey shows: each place's exact geometry and its
/// true grain; the geometry alone; the true grains alone. Against the map's
/// own r² it says whether the regression or the relief it reads holds the
/// map back.
fn told_fields(measured: &[TruePlace], measured_logs: &[f64], rows: &[TruePlace], truth: &[f64]) -> [f64; 3] {
    use analysis::residual_field::{ResidualField, Site};
    let mut ids: std::collections::HashMap<u64, u32> = std::collections::HashMap::new();
    for p in measured.iter().chain(rows) {
        let next = ids.len() as u32;
        ids.entry(p.grain.to_bits()).or_insert(next);
    }
    // Each place's geometry as the field's one-number relief, or flat.
    fn sites<'a>(
        places: &[TruePlace],
        reliefs: &'a [[f32; 1]],
        ids: &std::collections::HashMap<u64, u32>,
        grains: bool,
    ) -> Vec<Site<'a>> {
        places
            .iter()
            .zip(reliefs)
            .map(|(p, relief)| Site {
                x_nm: p.x_nm,
                y_nm: p.y_nm,
                relief,
                grain: grains.then(|| ids[&p.grain.to_bits()]),
                band: None,
                roughness: 0.0,
            })
            .collect()
    }
    [(true, true), (true, false), (false, true)].map(|(geometry, grains)| {
        let reliefs = |places: &[TruePlace]| -> Vec<[f32; 1]> {
            places
                .iter()
                .map(|p| [if geometry { p.geometry as f32 } else { 0.0 }])
                .collect()
        };
        let (measured_reliefs, row_reliefs) = (reliefs(measured), reliefs(rows));
        ResidualField::fit(&sites(measured, &measured_reliefs, &ids, grains), measured_logs)
            .map(|f| r_squared(truth, &f.at(&sites(rows, &row_reliefs, &ids, grains)).0))
            .unwrap_or(f64::NAN)
    })
}

/// What [`property_scores`] reads.
struct PropertyScores {
    /// r² of log loop area and of log max current: the map, the decoder
    /// alone, k-NN from raw patches, kriging of x, y alone, the map without
    /// the curves kept for their max current alone.
    r2: [[f64; 2]; 5],
    /// r² of log max current where the truth stands above 3× the noise, and
    /// the share of the candidates that is.
    above_noise: (f64, f64),
    /// The ceiling's r², the share of the candidates on unmeasured grains,
    /// the geometry alone's r² and the grains alone's.
    ceiling: (f64, f64, f64, f64),
    /// [`told_fields`]: the field told the exact geometry and the true
    /// grains, the geometry alone, the grains alone.
    told: [f64; 3],
}

/// The simulator's noise-free response parameters at every measured point.
fn physics_features(samples: &[Sample], film: &Film) -> Vec<Vec<f64>> {
    samples
        .iter()
        .map(|s| {
            let r = Response::at(&film.site(s.x_nm, s.y_nm), film.plan());
            vec![r.scale_a.ln(), r.onset_v, r.hysteresis.ln(), r.trap_v]
        })
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn list(v: &[f64]) -> String {
    v.iter().map(|a| format!("{a:.3}")).collect::<Vec<_>>().join(", ")
}

fn main() {
    let films: u64 = arg("--films").and_then(|v| v.parse().ok()).unwrap_or(5);
    // Films are numbered by their seed: `--first 11 --films 10` is films 11–20.
    let first: u64 = arg("--first").and_then(|v| v.parse().ok()).unwrap_or(1);
    let policy = arg("--policy")
        .and_then(|p| PolicyKind::parse(&p))
        .unwrap_or(PolicyKind::DnDkl);
    let out = tempfile::tempdir().expect("temp dir");
    let family = std::env::args().any(|a| a == "--family");
    let with_variants = std::env::args().any(|a| a == "--variants");
    let no_map = std::env::args().any(|a| a == "--no-map");
    let mut aris = Vec::new();
    let (mut measured_aris, mut physics_aris, mut four_aris) = (Vec::new(), Vec::new(), Vec::new());
    let (mut map_r2, mut knn_r2, mut decoder_r2, mut space_r2) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut without_r2 = Vec::new();
    let mut times = Vec::new();
    let mut above_noise: Vec<(f64, f64)> = Vec::new();
    let mut ceilings: Vec<(f64, f64, f64, f64)> = Vec::new();
    let mut told_r2: Vec<[f64; 3]> = Vec::new();
    let mut variant_sums: Vec<(&'static str, f64)> = Vec::new();
    // Per variant of the consensus' features, and per rule of its k.
    let (mut consensus_sums, mut rule_sums): (Vec<Tally>, Vec<Tally>) = (Vec::new(), Vec::new());
    // Per finding: films where it held, films with a cluster to judge it on.
    let (mut held, mut judged) = ([0u32; 3], [0u32; 3]);
    for seed in first..first + films {
        let mut plan = SessionPlan {
            seed,
            ..SessionPlan::default()
        };
        plan.sim.time_scale = 0.0;
        if family {
            plan.film.draw = seed as u32;
        }
        if let Some(g) = arg("--gamma").and_then(|v| v.parse().ok()) {
            plan.analysis.vae_gamma = g;
        }
        if let Some(b) = arg("--beta").and_then(|v| v.parse().ok()) {
            plan.analysis.vae_beta = b;
        }
        if let Some(l) = arg("--latent").and_then(|v| v.parse().ok()) {
            plan.analysis.vae_latent = l;
        }
        if arg("--cluster-scalars").as_deref() == Some("off") {
            plan.analysis.cluster_scalars = false;
        }
        if arg("--cluster-relief").as_deref() == Some("off") {
            plan.analysis.cluster_relief = false;
        }
        if let Some(rule) = arg("--consensus-k") {
            plan.analysis.consensus_k = ConsensusK::ALL
                .into_iter()
                .find(|c| c.label() == rule)
                .expect("--consensus-k takes median, lifetime or agreement");
        }
        if arg("--property-latent").as_deref() == Some("adapter") {
            plan.analysis.property_latent = PropertyLatent::Adapter;
        }
        plan.analysis.retrain_every = 0;
        plan.policy.name = policy;
        if let Some(e) = arg("--epochs").and_then(|v| v.parse().ok()) {
            plan.analysis.vae_epochs = e;
        }
        if let Some(lr) = arg("--lr").and_then(|v| v.parse().ok()) {
            plan.analysis.vae_learning_rate = lr;
        }
        if let Some(k) = arg("--clusters").and_then(|v| v.parse().ok()) {
            plan.analysis.clusters = k;
        }
        if let Some(n) = arg("--ensemble").and_then(|v| v.parse().ok()) {
            plan.analysis.vae_ensemble = n;
        }
        if let Some(tops) = arg("--protocols") {
            plan.sweep.protocol = tops
                .split(',')
                .map(|v| dualscope::plan::ProtocolPlan {
                    v_max: Some(v.trim().parse().expect("--protocols takes biases in V")),
                    ..Default::default()
                })
                .collect();
        }
        let protocols = plan.sweep.protocols().len();
        plan.output.dir = out.path().to_string_lossy().to_string();
        let eng = engine::prepare_new(plan.clone()).expect("start session");
        let dir = eng.session_dir().to_path_buf();
        // The caller's ends stay held until the run is over (a dropped
        // command channel is a console that went away: the run would pause).
        let running = eng.spawn().expect("start the engine");
        running.handle.join().expect("the run ends");
        let log = SessionLog::load(&dir).expect("read session");
        let survey = log.survey.clone().expect("survey");
        let truth = dualscope::instrument::ground_truth(&plan, &survey);
        // What the models learn from: with several protocols, each
        // location's whole set as one curve.
        let learned = dualscope::record::learned::learned_from(&log.measurements, &Default::default(), protocols);
        let max_only = dualscope::record::learned::max_current_only(&log.measurements, &Default::default());
        let samples = analysis::samples(0, &plan, &survey, &learned, truth.as_deref());
        let a = analysis::analyze(&samples, &plan.analysis, seed).expect("analysis");
        let counts: Vec<String> = Motif::ALL
            .iter()
            .map(|m| {
                format!(
                    "{} {}",
                    m.label(),
                    samples.iter().filter(|s| s.truth == Some(*m)).count()
                )
            })
            .collect();
        println!("film {seed}: measured motifs: {}", counts.join(", "));
        let ari = a.ari.unwrap_or(f64::NAN);
        aris.push(ari);
        // Which motifs share a cluster: each cluster's count of each motif.
        let k = a.labels.iter().copied().max().map_or(0, |m| m + 1);
        let table: Vec<String> = (0..k)
            .map(|c| {
                let n: Vec<String> = Motif::ALL
                    .iter()
                    .map(|m| {
                        samples
                            .iter()
                            .zip(&a.labels)
                            .filter(|(s, l)| **l == c && s.truth == Some(*m))
                            .count()
                            .to_string()
                    })
                    .collect();
                format!("[{}]", n.join(" "))
            })
            .collect();
        println!(
            "film {seed}: clusters × motifs (interior groove asymmetric junction): {}",
            table.join(" ")
        );
        let max_k = plan.analysis.clusters_max as usize;
        let film = Film::new(&plan.film, plan.seed, survey.width_nm, survey.height_nm);
        measured_aris.push(reference_ari(&measured_features(&samples), &samples, max_k, seed));
        physics_aris.push(reference_ari(&physics_features(&samples, &film), &samples, max_k, seed));
        four_aris.push(reference_ari(&four_numbers(&samples), &samples, max_k, seed));
        if with_variants {
            let v = variant_aris(&a, &samples, &film, max_k, seed);
            println!(
                "film {seed}: variants: {}",
                v.iter()
                    .map(|(n, x)| format!("{n} {x:.3}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            for (k, (_, x)) in v.iter().enumerate() {
                if variant_sums.len() <= k {
                    variant_sums.push((v[k].0, 0.0));
                }
                variant_sums[k].1 += x / films as f64;
            }
        }
        if a.member_labels.len() > 1 && with_variants {
            let v = consensus_variants(&a, &samples, &plan.analysis, seed);
            println!(
                "film {seed}: consensus variants: {}",
                v.iter()
                    .map(|(n, x, f)| format!("{n} ARI {x:.3} findings {}/{}", said(f[0]), said(f[1])))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            for (k, (name, x, f)) in v.into_iter().enumerate() {
                tally(&mut consensus_sums, k, name, x / films as f64, f);
            }
        }
        if a.member_labels.len() > 1 {
            // Each rule on the same trainings: ARI, k, and the two findings.
            let ks: Vec<usize> = a
                .member_labels
                .iter()
                .map(|l| l.iter().copied().max().map_or(0, |m| m + 1))
                .collect();
            let mut line = Vec::new();
            for (r, rule) in ConsensusK::ALL.into_iter().enumerate() {
                let mut ap = plan.analysis.clone();
                ap.consensus_k = rule;
                let (labels, k) = analysis::consensus_of(&a.member_labels, &ks, &ap, samples.len());
                let x = analysis::ari(&samples, &labels).unwrap_or(f64::NAN);
                let f = two_findings(&analysis::summary::summarise(&samples, &labels)).map(|f| f.map(|f| f.holds));
                tally(&mut rule_sums, r, rule.label(), x / films as f64, f);
                line.push(format!(
                    "{} k {k} ARI {x:.3} findings {}/{}",
                    rule.label(),
                    said(f[0]),
                    said(f[1])
                ));
            }
            println!("film {seed}: consensus k (trainings chose {ks:?}): {}", line.join("; "));
        }
        println!(
            "film {seed}: references (mixture + BIC): measured max current, loop area, onset ARI {:.3}; \
             the four numbers ARI {:.3}; simulator's noise-free response parameters ARI {:.3}",
            measured_aris.last().unwrap(),
            four_aris.last().unwrap(),
            physics_aris.last().unwrap()
        );
        let t0 = std::time::Instant::now();
        if protocols > 1 {
            print!("{}", analysis::summary::table(&a.summaries));
            print!("{}", analysis::summary::protocol_table(&a.summaries, &plan));
            let tops: Vec<f64> = plan.sweep.protocols().iter().map(|p| p.top_v()).collect();
            if let Some(f) = analysis::findings::junctions_loop_under_every_bias(&a.summaries, &tops) {
                judged[2] += 1;
                held[2] += f.holds as u32;
            }
            println!(
                "film {seed}: ARI {ari:.3}, {} locations × {protocols} protocols\n",
                samples.len()
            );
            continue;
        }
        if no_map {
            println!("film {seed}: ARI {ari:.3}, {} locations\n", samples.len());
            continue;
        }
        let PropertyScores {
            r2: [map, decoder, knn, space, without],
            above_noise: above,
            ceiling: limit,
            told,
        } = property_scores(&a, &samples, &log.measurements, &max_only, &plan, &survey, &film);
        above_noise.push(above);
        ceilings.push(limit);
        told_r2.push(told);
        println!(
            "film {seed}: log max current, the field told the exact geometry and the true grains: r² {:.3}; \
             the geometry alone {:.3}; the grains alone {:.3}",
            told[0], told[1], told[2]
        );
        println!(
            "film {seed}: log max current knowing the geometry and the measured grains' conductance: r² {:.3} \
             ({:.0} % of the candidates on grains no curve was taken on); the geometry alone {:.3}, the grains alone {:.3}",
            limit.0,
            100.0 * limit.1,
            limit.2,
            limit.3
        );
        println!(
            "film {seed}: log max current where the truth stands above 3× the noise ({:.0} % of the candidates): r² {:.3}",
            100.0 * above.1,
            above.0
        );
        println!(
            "film {seed}: property map r² at unmeasured candidates: log loop area {:.3} (decoder alone {:.3}, \
             k-NN from raw patches {:.3}, kriging of x, y alone {:.3}), log max current {:.3} ({:.3}, {:.3}, {:.3}; \
             without the {} curves kept for their max current alone {:.3}); {:.1} s",
            map[0],
            decoder[0],
            knn[0],
            space[0],
            map[1],
            decoder[1],
            knn[1],
            space[1],
            max_only.len(),
            without[1],
            t0.elapsed().as_secs_f64(),
        );
        map_r2.push(map);
        knn_r2.push(knn);
        decoder_r2.push(decoder);
        space_r2.push(space);
        without_r2.push(without);
        times.push(a.train_s);
        println!(
            "film {seed}: {} measurements ({}), {} clusters, ARI {ari:.3}, dual VAE {:.1} s",
            samples.len(),
            policy,
            a.summaries.len(),
            a.train_s
        );
        print!("{}", analysis::summary::table(&a.summaries));
        let [junctions, asymmetric] = two_findings(&a.summaries);
        let checks = [
            (
                junctions,
                "triple-junction cluster",
                "has the largest mean hysteresis area",
                "triple junctions",
            ),
            (
                asymmetric,
                "asymmetric-boundary cluster",
                "has the lowest mean max current",
                "asymmetric boundaries",
            ),
        ];
        for (k, (finding, who, claim, motif)) in checks.into_iter().enumerate() {
            match finding {
                Some(f) => {
                    judged[k] += 1;
                    held[k] += f.holds as u32;
                    println!("  {who} {} {claim}: {}", f.cluster, f.holds);
                }
                None => println!("  no cluster is dominated by {motif}"),
            }
        }
        println!();
    }
    println!(
        "mean ARI {:.3} over {films} films (per film: {}); dual VAE training {:.1}–{:.1} s",
        mean(&aris),
        list(&aris),
        times.iter().copied().fold(f64::INFINITY, f64::min),
        times.iter().copied().fold(0.0, f64::max)
    );
    println!(
        "references: measured quantities mean ARI {:.3} ({}); noise-free response parameters mean ARI {:.3} ({})",
        mean(&measured_aris),
        list(&measured_aris),
        mean(&physics_aris),
        list(&physics_aris)
    );
    if !variant_sums.is_empty() {
        println!(
            "variants, mean ARI: {}",
            variant_sums
                .iter()
                .map(|(n, x)| format!("{n} {x:.3}"))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    for (what, sums) in [("consensus on", &consensus_sums), ("consensus k by", &rule_sums)] {
        for t in sums {
            println!(
                "{what} {}: mean ARI {:.3}, findings {}/{} and {}/{}",
                t.name, t.ari, t.held[0], t.judged[0], t.held[1], t.judged[1]
            );
        }
    }
    println!(
        "the four numbers: mean ARI {:.3} ({})",
        mean(&four_aris),
        list(&four_aris)
    );
    let column = |v: &[[f64; 2]], q: usize| v.iter().map(|x| x[q]).collect::<Vec<_>>();
    println!(
        "property map r² (unmeasured candidates): log loop area mean {:.3} ({}), k-NN {:.3} ({}); \
         log max current mean {:.3} ({}), k-NN {:.3} ({})",
        mean(&column(&map_r2, 0)),
        list(&column(&map_r2, 0)),
        mean(&column(&knn_r2, 0)),
        list(&column(&knn_r2, 0)),
        mean(&column(&map_r2, 1)),
        list(&column(&map_r2, 1)),
        mean(&column(&knn_r2, 1)),
        list(&column(&knn_r2, 1))
    );
    for (what, r2) in [
        ("the decoder alone", &decoder_r2),
        ("kriging of x, y alone", &space_r2),
        (
            "the map without the curves kept for their max current alone",
            &without_r2,
        ),
    ] {
        println!(
            "r² of {what}: log loop area mean {:.3} ({}); log max current mean {:.3} ({})",
            mean(&column(r2, 0)),
            list(&column(r2, 0)),
            mean(&column(r2, 1)),
            list(&column(r2, 1))
        );
    }
    if !above_noise.is_empty() {
        println!(
            "r² of log max current where the truth stands above 3× the noise: mean {:.3} ({}), on {:.0} % of the candidates",
            mean(&above_noise.iter().map(|a| a.0).collect::<Vec<_>>()),
            list(&above_noise.iter().map(|a| a.0).collect::<Vec<_>>()),
            100.0 * mean(&above_noise.iter().map(|a| a.1).collect::<Vec<_>>())
        );
    }
    if !ceilings.is_empty() {
        println!(
            "r² of log max current knowing the geometry and the measured grains' conductance: mean {:.3} ({}); \
             {:.0} % of the candidates on grains no curve was taken on; the geometry alone {:.3}, the grains alone {:.3}",
            mean(&ceilings.iter().map(|a| a.0).collect::<Vec<_>>()),
            list(&ceilings.iter().map(|a| a.0).collect::<Vec<_>>()),
            100.0 * mean(&ceilings.iter().map(|a| a.1).collect::<Vec<_>>()),
            mean(&ceilings.iter().map(|a| a.2).collect::<Vec<_>>()),
            mean(&ceilings.iter().map(|a| a.3).collect::<Vec<_>>())
        );
        let column = |j: usize| told_r2.iter().map(|t| t[j]).collect::<Vec<_>>();
        println!(
            "r² of log max current, the field told the exact geometry and the true grains: mean {:.3} ({}); \
             the geometry alone {:.3} ({}); the grains alone {:.3} ({})",
            mean(&column(0)),
            list(&column(0)),
            mean(&column(1)),
            list(&column(1)),
            mean(&column(2)),
            list(&column(2))
        );
    }
    println!(
        "finding 1 (junctions loop most) held in {}/{} films with a junction cluster",
        held[0], judged[0]
    );
    println!(
        "finding 2 (asymmetric boundaries conduct least) held in {}/{} films with an asymmetric cluster",
        held[1], judged[1]
    );
    if judged[2] > 0 {
        println!(
            "finding 3 (junctions loop under every bias range, interiors not under the lowest) held in {}/{} films \
             with a junction-led and an interior-led cluster",
            held[2], judged[2]
        );
    }
}
