//! What the decoder misses, taken from where the tip has been.
//!
//! The dual VAE predicts a location's response from the patch under the tip,
//! through a 2-D latent that its alignment squeezes (docs/RESULTS.md: the
//! decoder alone reads r² 0.05 of the true log loop area on the tuning
//! films). Two things the measured curves carry that it does not: each
//! grain's own conductance (a log-normal spread of 0.15–0.6 in the
//! simulator's family, no relation to its relief), which a grain holds
//! wherever the tip lands on it, and the fine relief of grooves and pits a
//! few pixels wide. So the map's log residuals at the measured locations
//! (measured minus predicted) are regressed by a Gaussian process on where
//! each location is (x, y in nm) and on the relief the image VAE sees there
//! (as the caller gives it: the property map reads it on rings around the
//! tip's own pixel, [`super::relief::rings`], so a groove counts whichever
//! way it runs),
//! and on the grain and the boundary each location is on (as the caller
//! marks them: a boundary's kind, a groove that conducts or a step that
//! blocks, and a junction's pit hold all along it, which the relief under
//! the tip tells poorly: on the tuning films the field told each place's
//! exact geometry reads r² 0.87 of log max current, from the relief 0.33),
//! and the regression is added to the prediction at every candidate:
//! regression kriging, with the decoder as the trend. The length scales,
//! the share of noise and how the noise grows with the roughness under the
//! tip are chosen by the marginal likelihood of the session's own residuals,
//! never on a film a result is reported on.
//!
//! Some residuals are bounds, not values ([`Censor`]): a curve cut at the
//! current limit says its place conducts at least that much, a dim place's
//! noise that it conducts at most that much. Taken as exact they pull the
//! field towards the limit and the noise floor; the field instead replaces
//! each by what it expects beyond its bound given every other residual (a
//! censored, Tobit-like regression, by iterated conditional expectation).

use faer::linalg::solvers::Solve;
use faer::{Mat, Side};

/// Length scales over x, y (nm) tried: a groove's width to several grains.
const SPACE_NM: [f64; 3] = [50.0, 200.0, 800.0];
/// Length scales over the relief, in units of the median distance between
/// two measured locations' relief.
const RELIEF: [f64; 3] = [0.35, 0.7, 1.4];
/// Shares of the field's variance that follow position, grain and band
/// (the rest follows the relief).
const SHARES: [(f64, f64, f64); 15] = [
    (0.0, 0.0, 0.0),
    (0.25, 0.0, 0.0),
    (0.5, 0.0, 0.0),
    (0.0, 0.25, 0.0),
    (0.0, 0.5, 0.0),
    (0.25, 0.25, 0.0),
    (0.5, 0.25, 0.0),
    (0.25, 0.5, 0.0),
    (0.0, 0.75, 0.0),
    (0.0, 0.0, 0.25),
    (0.0, 0.0, 0.5),
    (0.0, 0.25, 0.25),
    (0.0, 0.5, 0.25),
    (0.25, 0.25, 0.25),
    (0.0, 0.25, 0.5),
];
/// Shares of the residuals' variance taken as noise.
const NOISE_SHARES: [f64; 4] = [0.05, 0.2, 0.5, 0.8];
/// How the noise grows with a site's roughness: a site's share of the noise
/// is `((roughness + 0.1·mean) / (1.1·mean))^p` for each `p` tried. A curve
/// on a groove's flank answers to where exactly the tip sits in it, which no
/// pixel-sized relief tells; one on flat ground says its grain's own
/// conductance plainly.
const NOISE_ROUGHNESS_POWERS: [i32; 3] = [0, 1, 2];

/// What a residual says of its location's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Censor {
    /// The value itself (with the field's noise).
    Exact,
    /// The value is this or more (a curve cut at the current limit).
    AtLeast,
    /// The value is this or less (a current within the noise).
    AtMost,
}

/// Rounds of conditional expectation for censored residuals: each moves
/// a bound's value by the others' last move, and they settle in a few.
const CENSOR_ROUNDS: usize = 50;

/// A location as the field reads it: where it is and the relief there.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    pub x_nm: f64,
    pub y_nm: f64,
    pub relief: &'a [f32],
    /// The grain it is on (see [`super::grains`]), if any.
    pub grain: Option<u32>,
    /// The boundary or junction it is on, if any: the grains that meet
    /// within a groove's width of it ([`super::grains::Grains::band_at`]).
    pub band: Option<u64>,
    /// How much relief is under the tip (any unit; 0 is flat ground).
    pub roughness: f64,
}

/// The kernel's settings: the field is a sum of one Matérn-5/2 term over
/// position and one over relief (a grain's conductance and the groove under
/// the tip act together, each wherever the other is), plus noise.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    space_nm: f64,
    relief_l: f64,
    space_var: f64,
    relief_var: f64,
    grain_var: f64,
    band_var: f64,
    noise_var: f64,
}

impl Settings {
    fn kernel(&self, d_space: f64, d_relief: f64, same_grain: bool, same_band: bool) -> f64 {
        self.space_var * matern52(d_space / self.space_nm)
            + self.relief_var * matern52(d_relief / self.relief_l)
            + if same_grain { self.grain_var } else { 0.0 }
            + if same_band { self.band_var } else { 0.0 }
    }
}

fn same_grain<T: PartialEq>(a: Option<T>, b: Option<T>) -> bool {
    a.is_some() && a == b
}

fn matern52(r: f64) -> f64 {
    let s = 5f64.sqrt() * r;
    (1.0 + s + s * s / 3.0) * (-s).exp()
}

/// A GP over the log residuals of one quantity at the measured locations.
pub struct ResidualField {
    settings: Settings,
    xy: Vec<[f64; 2]>,
    reliefs: Vec<Vec<f32>>,
    grains: Vec<Option<u32>>,
    bands: Vec<Option<u64>>,
    mean: f64,
    alpha: Vec<f64>,
    /// Lower Cholesky factor of K + σ²I.
    l: Mat<f64>,
    /// The chosen length scales (nm, and relief units), the shares of the
    /// field that follow position, grain and boundary, and the share of
    /// noise (for the log).
    pub space_nm: f64,
    pub relief_scale: f64,
    pub space_share: f64,
    pub grain_share: f64,
    pub band_share: f64,
    pub noise_share: f64,
    /// How the noise was taken to grow with roughness (0: evenly).
    pub noise_roughness_power: i32,
}

/// The grid's values a setting was built from, as the field reports them.
#[derive(Debug, Clone, Copy)]
struct Chosen {
    space_nm: f64,
    relief_scale: f64,
    space_share: f64,
    grain_share: f64,
    band_share: f64,
    noise_share: f64,
}

/// One setting of the grid, conditioned: −log p of the residuals (up to a
/// constant), the factor and weights, and the grid's values that chose it.
struct Tried {
    nll: f64,
    settings: Settings,
    l: Mat<f64>,
    alpha: Vec<f64>,
    chosen: Chosen,
    power: i32,
}

fn distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(p, q)| ((p - q) as f64).powi(2))
        .sum::<f64>()
        .sqrt()
}

impl ResidualField {
    /// Fits the field to `residuals` at `sites` (all with reliefs of one
    /// length); `None` with fewer than 3 finite residuals or none that vary.
    pub fn fit(sites: &[Site], residuals: &[f64]) -> Option<Self> {
        Self::fit_censored(sites, residuals, &vec![Censor::Exact; residuals.len()])
    }

    /// [`Self::fit`] where `censor` says which residuals are bounds. The
    /// kernel's settings are chosen on the residuals as given; then each
    /// bound takes the value the field expects beyond it.
    pub fn fit_censored(sites: &[Site], residuals: &[f64], censor: &[Censor]) -> Option<Self> {
        let kept: Vec<(&Site, f64, Censor)> = sites
            .iter()
            .zip(residuals)
            .zip(censor.iter().chain(std::iter::repeat(&Censor::Exact)))
            .filter(|((s, r), _)| r.is_finite() && s.x_nm.is_finite() && s.y_nm.is_finite())
            .map(|((s, r), c)| (s, *r, *c))
            .collect();
        let n = kept.len();
        if n < 3 {
            return None;
        }
        let y: Vec<f64> = kept.iter().map(|(_, r, _)| *r).collect();
        let mean = y.iter().sum::<f64>() / n as f64;
        let var = y.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
        if var <= 0.0 {
            return None;
        }
        let reliefs: Vec<&[f32]> = kept.iter().map(|(s, _, _)| s.relief).collect();
        let unit = median_relief_distance(&reliefs);
        let d_space = Mat::from_fn(n, n, |i, j| {
            let (a, b) = (kept[i].0, kept[j].0);
            (a.x_nm - b.x_nm).hypot(a.y_nm - b.y_nm)
        });
        let d_relief = Mat::from_fn(n, n, |i, j| distance(reliefs[i], reliefs[j]));
        let centred = Mat::from_fn(n, 1, |i, _| y[i] - mean);
        let mean_roughness = kept.iter().map(|(s, _, _)| s.roughness.max(0.0)).sum::<f64>() / n as f64;
        let weight = |s: &Site, p: i32| {
            if p == 0 || mean_roughness <= 0.0 {
                1.0
            } else {
                ((s.roughness.max(0.0) + 0.1 * mean_roughness) / (1.1 * mean_roughness)).powi(p)
            }
        };
        let mut best: Option<Tried> = None;
        for power in NOISE_ROUGHNESS_POWERS {
            let noise_weights: Vec<f64> = kept.iter().map(|(s, _, _)| weight(s, power)).collect();
            for space_nm in SPACE_NM {
                for relief_scale in RELIEF {
                    for (space_share, grain_share, band_share) in SHARES {
                        for noise_share in NOISE_SHARES {
                            let field_var = (1.0 - noise_share) * var;
                            let settings = Settings {
                                space_nm,
                                relief_l: (relief_scale * unit).max(1e-9),
                                space_var: space_share * field_var,
                                relief_var: (1.0 - space_share - grain_share - band_share) * field_var,
                                grain_var: grain_share * field_var,
                                band_var: band_share * field_var,
                                noise_var: noise_share * var,
                            };
                            let k = Mat::from_fn(n, n, |i, j| {
                                let (a, b) = (kept[i].0, kept[j].0);
                                settings.kernel(
                                    d_space[(i, j)],
                                    d_relief[(i, j)],
                                    same_grain(a.grain, b.grain),
                                    same_grain(a.band, b.band),
                                ) + if i == j {
                                    settings.noise_var * noise_weights[i]
                                } else {
                                    0.0
                                }
                            });
                            let Ok(llt) = k.llt(Side::Lower) else {
                                continue;
                            };
                            let alpha_m = llt.solve(&centred);
                            let alpha: Vec<f64> = (0..n).map(|i| alpha_m[(i, 0)]).collect();
                            let l = llt.L().to_owned();
                            let log_det: f64 = (0..n).map(|i| 2.0 * l[(i, i)].ln()).sum();
                            let fit: f64 = (0..n).map(|i| (y[i] - mean) * alpha[i]).sum();
                            let nll = 0.5 * (fit + log_det);
                            if best.as_ref().is_none_or(|b| nll < b.nll) {
                                best = Some(Tried {
                                    nll,
                                    settings,
                                    l,
                                    alpha,
                                    chosen: Chosen {
                                        space_nm,
                                        relief_scale,
                                        space_share,
                                        grain_share,
                                        band_share,
                                        noise_share,
                                    },
                                    power,
                                });
                            }
                        }
                    }
                }
            }
        }
        let Tried {
            settings,
            l,
            mut alpha,
            chosen,
            power,
            ..
        } = best?;
        let censor: Vec<Censor> = kept.iter().map(|(_, _, c)| *c).collect();
        let mut mean = mean;
        if censor.iter().any(|c| *c != Censor::Exact) {
            (mean, alpha) = beyond_bounds(&l, &y, &censor);
        }
        Some(Self {
            settings,
            xy: kept.iter().map(|(s, _, _)| [s.x_nm, s.y_nm]).collect(),
            reliefs: reliefs.iter().map(|r| r.to_vec()).collect(),
            grains: kept.iter().map(|(s, _, _)| s.grain).collect(),
            bands: kept.iter().map(|(s, _, _)| s.band).collect(),
            mean,
            alpha,
            l,
            space_nm: chosen.space_nm,
            relief_scale: chosen.relief_scale,
            space_share: chosen.space_share,
            grain_share: chosen.grain_share,
            band_share: chosen.band_share,
            noise_share: chosen.noise_share,
            noise_roughness_power: power,
        })
    }

    /// The field's mean and standard deviation at each of `sites`.
    pub fn at(&self, sites: &[Site]) -> (Vec<f64>, Vec<f64>) {
        const BATCH: usize = 512;
        let n = self.alpha.len();
        let field_var =
            self.settings.space_var + self.settings.relief_var + self.settings.grain_var + self.settings.band_var;
        let (mut mean, mut sd) = (Vec::with_capacity(sites.len()), Vec::with_capacity(sites.len()));
        for block in sites.chunks(BATCH) {
            let mut k = Mat::from_fn(n, block.len(), |i, j| {
                let s = &block[j];
                let d_space = (s.x_nm - self.xy[i][0]).hypot(s.y_nm - self.xy[i][1]);
                self.settings.kernel(
                    d_space,
                    distance(s.relief, &self.reliefs[i]),
                    same_grain(s.grain, self.grains[i]),
                    same_grain(s.band, self.bands[i]),
                )
            });
            for j in 0..block.len() {
                mean.push(self.mean + (0..n).map(|i| k[(i, j)] * self.alpha[i]).sum::<f64>());
            }
            faer::linalg::triangular_solve::solve_lower_triangular_in_place(
                self.l.as_ref(),
                k.as_mut(),
                faer::Par::Seq,
            );
            for j in 0..block.len() {
                let explained: f64 = (0..n).map(|i| k[(i, j)] * k[(i, j)]).sum();
                sd.push((field_var - explained).max(0.0).sqrt());
            }
        }
        (mean, sd)
    }
}

/// The field's mean and weights once every censored residual of `y` is
/// replaced by its expectation beyond its bound, given all the others, under
/// the covariance whose lower Cholesky factor is `l`: the leave-one-out
/// prediction of a residual is `y_i − α_i / K⁻¹_ii` with variance
/// `1 / K⁻¹_ii`, and a normal beyond a bound `c` has mean
/// `μ ± σ φ(a) / Φ(∓a)`, `a = (c − μ) / σ`. Repeated until the values
/// settle (or [`CENSOR_ROUNDS`]).
fn beyond_bounds(l: &Mat<f64>, y: &[f64], censor: &[Censor]) -> (f64, Vec<f64>) {
    let n = y.len();
    let mut inverse_l = Mat::<f64>::identity(n, n);
    faer::linalg::triangular_solve::solve_lower_triangular_in_place(l.as_ref(), inverse_l.as_mut(), faer::Par::Seq);
    let k_inv = inverse_l.transpose() * &inverse_l;
    let mut values = y.to_vec();
    let weights = |values: &[f64]| {
        let mean = values.iter().sum::<f64>() / n as f64;
        let centred = Mat::from_fn(n, 1, |i, _| values[i] - mean);
        let alpha = &k_inv * &centred;
        (mean, (0..n).map(|i| alpha[(i, 0)]).collect::<Vec<f64>>())
    };
    for _ in 0..CENSOR_ROUNDS {
        let (_, alpha) = weights(&values);
        let mut moved = 0f64;
        for i in 0..n {
            let bound = y[i];
            let precision = k_inv[(i, i)];
            if precision <= 0.0 {
                continue;
            }
            let mu = values[i] - alpha[i] / precision;
            let sigma = precision.recip().sqrt();
            let a = (bound - mu) / sigma;
            let density = (-0.5 * a * a).exp() / (2.0 * std::f64::consts::PI).sqrt();
            // The expectation lies beyond the bound; rounding (or a tail too
            // thin to divide by) must not put it back inside.
            let expected = match censor[i] {
                Censor::Exact => continue,
                Censor::AtLeast => {
                    let beyond = 0.5 * libm::erfc(a / std::f64::consts::SQRT_2);
                    let mean = if beyond > 1e-300 {
                        mu + sigma * density / beyond
                    } else {
                        bound
                    };
                    mean.max(bound)
                }
                Censor::AtMost => {
                    let below = 0.5 * libm::erfc(-a / std::f64::consts::SQRT_2);
                    let mean = if below > 1e-300 {
                        mu - sigma * density / below
                    } else {
                        bound
                    };
                    mean.min(bound)
                }
            };
            moved = moved.max((expected - values[i]).abs());
            values[i] = expected;
        }
        if moved < 1e-6 {
            break;
        }
    }
    weights(&values)
}

/// The median Euclidean distance between the reliefs of pairs of locations
/// (every pair up to 200 locations, then a spread subset): the unit the
/// relief's length scales are tried in. 1 when all are alike.
fn median_relief_distance(reliefs: &[&[f32]]) -> f64 {
    let step = reliefs.len().div_ceil(200).max(1);
    let picked: Vec<&[f32]> = reliefs.iter().step_by(step).copied().collect();
    let mut d = Vec::new();
    for (i, a) in picked.iter().enumerate() {
        for b in &picked[i + 1..] {
            d.push(distance(a, b));
        }
    }
    if d.is_empty() {
        return 1.0;
    }
    let mid = d.len() / 2;
    let (_, m, _) = d.select_nth_unstable_by(mid, f64::total_cmp);
    if *m > 0.0 { *m } else { 1.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two "grains" (left and right halves) with their own offsets, and a
    /// relief that says nothing: the field learns each half's offset from a
    /// few points in it and returns it between them.
    #[test]
    fn the_field_carries_each_grains_offset_to_where_no_curve_was_taken() {
        let flat = [0.5f32; 4];
        let mut xy = Vec::new();
        let mut r = Vec::new();
        for k in 0..40 {
            let x = (k % 8) as f64 * 60.0 + if k % 2 == 0 { 0.0 } else { 520.0 };
            let y = (k / 8) as f64 * 90.0;
            xy.push((x, y));
            let offset = if x < 500.0 { -0.8 } else { 0.9 };
            r.push(offset + 0.05 * ((k * 7 % 5) as f64 - 2.0));
        }
        let sites: Vec<Site> = xy
            .iter()
            .map(|&(x_nm, y_nm)| Site {
                x_nm,
                y_nm,
                relief: &flat,
                grain: None,
                band: None,
                roughness: 0.0,
            })
            .collect();
        let field = ResidualField::fit(&sites, &r).expect("a field");
        let probe = |x_nm, y_nm| Site {
            x_nm,
            y_nm,
            relief: &flat,
            grain: None,
            band: None,
            roughness: 0.0,
        };
        let (mean, sd) = field.at(&[probe(200.0, 200.0), probe(800.0, 200.0), probe(5000.0, 5000.0)]);
        assert!((mean[0] + 0.8).abs() < 0.25, "{mean:?}");
        assert!((mean[1] - 0.9).abs() < 0.25, "{mean:?}");
        // Far from every point the field knows nothing: its prior mean (the
        // residuals' mean) and its widest spread.
        assert!(mean[2].abs() < 0.2, "{mean:?}");
        assert!(sd[2] > sd[0] && sd[2] > sd[1], "{sd:?}");
        assert!(field.space_share > 0.0, "{}", field.space_share);
    }

    /// Locations scattered at random, whose residual is set by their relief
    /// (a groove under the tip or not), not by where they are: the field
    /// reads the relief of a candidate it never saw.
    #[test]
    fn the_field_reads_the_relief_where_position_says_nothing() {
        let groove = [0.5f32, 0.2, 0.5, 0.5];
        let flat = [0.5f32, 0.5, 0.5, 0.5];
        let mut sites = Vec::new();
        let mut r = Vec::new();
        for k in 0..60u64 {
            let x = (k * 7919 % 2000) as f64;
            let y = (k * 104_729 % 2000) as f64;
            let in_groove = k % 3 == 0;
            sites.push(Site {
                x_nm: x,
                y_nm: y,
                relief: if in_groove { &groove } else { &flat },
                grain: None,
                band: None,
                roughness: 0.0,
            });
            r.push(if in_groove { 1.0 } else { -0.5 } + 0.02 * ((k % 5) as f64 - 2.0));
        }
        let field = ResidualField::fit(&sites, &r).expect("a field");
        let (mean, _) = field.at(&[
            Site {
                x_nm: 1234.0,
                y_nm: 321.0,
                relief: &groove,
                grain: None,
                band: None,
                roughness: 0.0,
            },
            Site {
                x_nm: 1234.0,
                y_nm: 321.0,
                relief: &flat,
                grain: None,
                band: None,
                roughness: 0.0,
            },
        ]);
        assert!((mean[0] - 1.0).abs() < 0.2 && (mean[1] + 0.5).abs() < 0.2, "{mean:?}");
    }

    /// Two grains, each with flat places that say its offset and rough ones
    /// (a groove's flank) whose residuals scatter widely: told which are
    /// rough, the field leans on the flat ones and finds each grain's offset
    /// closer than when every residual counts alike.
    #[test]
    fn a_rough_sites_residual_counts_for_less_than_a_flat_ones() {
        let flat = [0.0f32; 4];
        let mut sites = Vec::new();
        let mut r = Vec::new();
        for k in 0..80u64 {
            let grain = (k % 2) as u32;
            let rough = k % 4 >= 2;
            let x = grain as f64 * 1000.0 + (k * 7919 % 800) as f64;
            let y = (k * 104_729 % 2000) as f64;
            let offset = if grain == 0 { -0.6 } else { 0.6 };
            let scatter = if rough {
                1.5 * ((k * 37 % 7) as f64 - 3.0) / 3.0
            } else {
                0.0
            };
            sites.push((x, y, grain, if rough { 1.0 } else { 0.0 }));
            r.push(offset + scatter);
        }
        let error = |told: bool| {
            let fitted: Vec<Site> = sites
                .iter()
                .map(|&(x_nm, y_nm, g, rough)| Site {
                    x_nm,
                    y_nm,
                    relief: &flat,
                    grain: Some(g),
                    band: None,
                    roughness: if told { rough } else { 0.0 },
                })
                .collect();
            let field = ResidualField::fit(&fitted, &r).expect("a field");
            let probe = |x_nm, g| Site {
                x_nm,
                y_nm: 1000.0,
                relief: &flat,
                grain: Some(g),
                band: None,
                roughness: 0.0,
            };
            let (mean, _) = field.at(&[probe(400.0, 0), probe(1400.0, 1)]);
            (
                (mean[0] + 0.6).abs() + (mean[1] - 0.6).abs(),
                field.noise_roughness_power,
            )
        };
        let ((told, power), (untold, _)) = (error(true), error(false));
        assert!(power > 0, "the rough sites' scatter is put down to their roughness");
        assert!(told < untold, "{told} vs {untold}");
        assert!(told < 0.15, "{told}");
    }

    /// Boundaries of two kinds threaded through one frame: places on the
    /// first kind's boundaries conduct far less (a step that blocks the
    /// current), on the second's more (a groove), elsewhere neither; the
    /// relief and the position say nothing of which. Told each place's
    /// boundary, the field carries a boundary's offset to a place on it no
    /// curve was taken at; untold, it can only give the mean.
    #[test]
    fn the_field_carries_each_boundarys_offset_along_it() {
        let flat = [0.5f32; 2];
        // Eight boundaries, even ones blocking; places on them and between.
        let offset = |b: u64| if b.is_multiple_of(2) { -1.2 } else { 0.7 };
        let place = |k: u64| {
            let x = (k * 7919 % 2000) as f64;
            let y = (k * 104_729 % 2000) as f64;
            let band = (!k.is_multiple_of(3)).then_some(k % 8);
            (x, y, band)
        };
        let r: Vec<f64> = (0..90u64)
            .map(|k| place(k).2.map_or(0.0, offset) + 0.03 * ((k % 5) as f64 - 2.0))
            .collect();
        let error = |told: bool| {
            let site = |(x_nm, y_nm, band): (f64, f64, Option<u64>)| Site {
                x_nm,
                y_nm,
                relief: &flat,
                grain: None,
                band: if told { band } else { None },
                roughness: 0.0,
            };
            let sites: Vec<Site> = (0..90u64).map(|k| site(place(k))).collect();
            let field = ResidualField::fit(&sites, &r).expect("a field");
            let probes: Vec<(f64, f64, Option<u64>)> = (1000..1040u64).map(place).filter(|p| p.2.is_some()).collect();
            let (mean, _) = field.at(&probes.iter().map(|&p| site(p)).collect::<Vec<_>>());
            let e = mean
                .iter()
                .zip(&probes)
                .map(|(m, p)| (m - p.2.map_or(0.0, offset)).abs())
                .sum::<f64>()
                / probes.len() as f64;
            (e, field.band_share)
        };
        let ((told, share), (untold, _)) = (error(true), error(false));
        assert!(share > 0.0, "the boundaries' offsets are put down to them");
        assert!(told < 0.25, "{told}");
        assert!(told < 0.3 * untold, "{told} vs {untold}");
    }

    /// A smooth field over position whose tops are cut at a limit (curves
    /// that hit the current limit) and whose troughs sit under a floor (a
    /// dim place's noise): told which residuals are bounds, the field finds
    /// the tops above the limit and the troughs below the floor between the
    /// measured places; taking the bounds as values flattens both.
    #[test]
    fn residuals_known_only_as_bounds_lift_the_tops_and_sink_the_troughs() {
        let flat = [0.0f32; 2];
        let truth = |x: f64| 1.5 * (x / 250.0).sin();
        let (limit, floor) = (0.6, -0.9);
        let xs: Vec<f64> = (0..70).map(|k| k as f64 * 29.0).collect();
        let mut residuals = Vec::new();
        let mut censor = Vec::new();
        for &x in &xs {
            let v = truth(x);
            let (r, c) = if v > limit {
                (limit, Censor::AtLeast)
            } else if v < floor {
                (floor, Censor::AtMost)
            } else {
                (v, Censor::Exact)
            };
            residuals.push(r);
            censor.push(c);
        }
        assert!(censor.iter().filter(|c| **c == Censor::AtLeast).count() > 10);
        assert!(censor.iter().filter(|c| **c == Censor::AtMost).count() > 5);
        let on_line = |x_nm: f64| on_x_axis(x_nm, &flat);
        let sites: Vec<Site> = xs.iter().map(|&x| on_line(x)).collect();
        // Between the measured places, at the tops and the troughs.
        let probes_x: Vec<f64> = (0..140)
            .map(|k| 14.5 + k as f64 * 14.5)
            .filter(|x| *x < 2000.0 && (truth(*x) > limit + 0.3 || truth(*x) < floor - 0.2))
            .collect();
        let probes: Vec<Site> = probes_x.iter().map(|&x| on_line(x)).collect();
        let error = |field: &ResidualField| {
            let (mean, _) = field.at(&probes);
            mean.iter()
                .zip(&probes_x)
                .map(|(m, x)| (m - truth(*x)).abs())
                .sum::<f64>()
                / mean.len() as f64
        };
        let censored = ResidualField::fit_censored(&sites, &residuals, &censor).expect("a field");
        let exact = ResidualField::fit(&sites, &residuals).expect("a field");
        let (told, untold) = (error(&censored), error(&exact));
        assert!(told < 0.6 * untold, "{told} vs {untold}");
        let (mean, _) = censored.at(&probes);
        let above = mean
            .iter()
            .zip(&probes_x)
            .filter(|(m, x)| truth(**x) > limit && **m > limit + 0.1)
            .count();
        let below = mean
            .iter()
            .zip(&probes_x)
            .filter(|(m, x)| truth(**x) < floor && **m < floor - 0.05)
            .count();
        let (tops, troughs) = (
            probes_x.iter().filter(|x| truth(**x) > limit).count(),
            probes_x.iter().filter(|x| truth(**x) < floor).count(),
        );
        assert!(above * 10 >= tops * 8, "{above} of {tops} tops above the limit");
        assert!(
            below * 10 >= troughs * 8,
            "{below} of {troughs} troughs below the floor"
        );
    }

    /// A place on the x axis with `relief`, on no grain or boundary, flat.
    fn on_x_axis(x_nm: f64, relief: &[f32]) -> Site<'_> {
        Site {
            x_nm,
            y_nm: 0.0,
            relief,
            grain: None,
            band: None,
            roughness: 0.0,
        }
    }

    #[test]
    fn too_few_or_flat_residuals_give_no_field() {
        let flat = [0.5f32; 2];
        let s = |x_nm| on_x_axis(x_nm, &flat);
        assert!(ResidualField::fit(&[s(0.0), s(1.0)], &[0.1, 0.2]).is_none());
        assert!(ResidualField::fit(&[s(0.0), s(1.0), s(2.0)], &[0.3, 0.3, 0.3]).is_none());
        assert!(ResidualField::fit(&[s(0.0), s(1.0), s(2.0)], &[0.3, f64::NAN, 0.1]).is_none());
    }
}
