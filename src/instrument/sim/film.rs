//! A synthetic halide-perovskite film: Voronoi grains with their own heights,
//! grooves along the boundaries, pits at triple junctions and a minority of
//! asymmetric boundaries with a height step.
//!
//! The geometry is continuous (grain centres in nm), so the same film can be
//! imaged at any resolution and probed at any point; the survey image and the
//! ground-truth motifs are rendered from it.

use crate::plan::FilmPlan;
use crate::record::{GroundTruth, Motif};
use crate::seed;
use ndarray::Array2;
use rand::Rng;
use rand_distr::{Distribution, LogNormal, Normal};

/// The local geometry at one point, which the I–V physics reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Site {
    pub motif: Motif,
    /// Distance to the nearest grain boundary.
    pub boundary_nm: f64,
    /// Distance-like measure to the nearest triple junction.
    pub junction_nm: f64,
    /// Whether the nearest boundary is asymmetric.
    pub asymmetric: bool,
    /// Conductance factor of the grain the point lies in.
    pub grain_conductance: f64,
    /// Depth factor of the nearest junction's pit (about 0.6–1.4).
    pub pit_factor: f64,
}

#[derive(Debug, Clone)]
struct Grain {
    x_nm: f64,
    y_nm: f64,
    height_nm: f64,
    conductance: f64,
}

/// A film over a frame of `width_nm × height_nm`.
#[derive(Debug, Clone)]
pub struct Film {
    pub width_nm: f64,
    pub height_nm: f64,
    plan: FilmPlan,
    seed: u64,
    grains: Vec<Grain>,
}

/// A rendering of the film at a given resolution.
#[derive(Debug, Clone)]
pub struct FilmImage {
    pub heights_nm: Array2<f64>,
    pub motifs: Array2<Motif>,
}

impl Film {
    pub fn new(plan: &FilmPlan, master_seed: u64, width_nm: f64, height_nm: f64) -> Self {
        let plan = &crate::plan::physics::drawn(plan);
        let seed = plan.seed.unwrap_or_else(|| seed::derive(master_seed, "film", &[]));
        let mut rng = seed::rng(seed, "grains", &[]);
        let heights = Normal::new(0.0, plan.grain_height_spread_nm.max(1e-9)).expect("finite spread");
        let conductance = LogNormal::new(0.0, plan.physics.conductance_spread.max(0.0)).expect("valid log-normal");
        // Grain centres by dart throwing with a minimum spacing, so grains have
        // comparable sizes as in a real film (a pure Poisson process gives slivers).
        let area = width_nm * height_nm;
        let spacing = 0.55 * (area / plan.grains as f64).sqrt();
        let mut grains: Vec<Grain> = Vec::with_capacity(plan.grains as usize);
        let mut tries = 0;
        while grains.len() < plan.grains as usize {
            let x_nm = rng.random::<f64>() * width_nm;
            let y_nm = rng.random::<f64>() * height_nm;
            tries += 1;
            let crowded = grains.iter().any(|g| (g.x_nm - x_nm).hypot(g.y_nm - y_nm) < spacing);
            if crowded && tries < 50_000 {
                continue;
            }
            grains.push(Grain {
                x_nm,
                y_nm,
                height_nm: heights.sample(&mut rng),
                conductance: conductance.sample(&mut rng),
            });
        }
        Self {
            width_nm,
            height_nm,
            plan: plan.clone(),
            seed,
            grains,
        }
    }

    /// Whether the boundary between grains `a` and `b` is asymmetric, and which
    /// side is the high one (+1 for `a`).
    fn asymmetry(&self, a: usize, b: usize) -> Option<f64> {
        let (lo, hi) = (a.min(b) as u64, a.max(b) as u64);
        let h = seed::derive(self.seed, "asymmetric", &[lo, hi]);
        let u = (h >> 11) as f64 / (1u64 << 53) as f64;
        if u < self.plan.asymmetric_fraction {
            let high_is_lo = h & 1 == 0;
            Some(if (a as u64 == lo) == high_is_lo { 1.0 } else { -1.0 })
        } else {
            None
        }
    }

    fn pit_factor(&self, a: usize, b: usize, c: usize) -> f64 {
        let mut ids = [a as u64, b as u64, c as u64];
        ids.sort_unstable();
        let h = seed::derive(self.seed, "pit", &ids);
        0.6 + 0.8 * ((h >> 11) as f64 / (1u64 << 53) as f64)
    }

    /// Nearest three grains and the distances to the two bisectors.
    fn neighbourhood(&self, x_nm: f64, y_nm: f64) -> ([usize; 3], f64, f64) {
        let mut best = [(f64::INFINITY, 0usize); 3];
        for (i, g) in self.grains.iter().enumerate() {
            let d2 = (g.x_nm - x_nm).powi(2) + (g.y_nm - y_nm).powi(2);
            if d2 < best[2].0 {
                best[2] = (d2, i);
                if best[2].0 < best[1].0 {
                    best.swap(1, 2);
                }
                if best[1].0 < best[0].0 {
                    best.swap(0, 1);
                }
            }
        }
        let ids = [best[0].1, best[1].1, best[2].1];
        let bisector = |other: usize, d2_other: f64| {
            let (a, b) = (&self.grains[ids[0]], &self.grains[other]);
            let sep = (a.x_nm - b.x_nm).hypot(a.y_nm - b.y_nm).max(1e-9);
            (d2_other - best[0].0) / (2.0 * sep)
        };
        let b12 = bisector(ids[1], best[1].0);
        let b13 = bisector(ids[2], best[2].0);
        (ids, b12, b13)
    }

    /// The local geometry at a point.
    /// The film's settings: the plan's, or those its `draw` picked.
    pub fn plan(&self) -> &FilmPlan {
        &self.plan
    }

    pub fn site(&self, x_nm: f64, y_nm: f64) -> Site {
        let (ids, b12, b13) = self.neighbourhood(x_nm, y_nm);
        let asymmetric = self.asymmetry(ids[0], ids[1]).is_some();
        // Near a triple junction both bisectors are close.
        let junction_nm = b12.max(b13);
        let p = &self.plan;
        let motif = if junction_nm < 0.8 * p.pit_radius_nm {
            Motif::TripleJunction
        } else if b12 < p.groove_width_nm {
            if asymmetric {
                Motif::GbAsymmetric
            } else {
                Motif::GbGroove
            }
        } else {
            Motif::GrainInterior
        };
        Site {
            motif,
            boundary_nm: b12,
            junction_nm,
            asymmetric,
            grain_conductance: self.grains[ids[0]].conductance,
            pit_factor: self.pit_factor(ids[0], ids[1], ids[2]),
        }
    }

    /// Height of the ideal surface (no roughness or artefacts) at a point.
    fn surface_nm(&self, x_nm: f64, y_nm: f64) -> f64 {
        let p = &self.plan;
        let (ids, b12, b13) = self.neighbourhood(x_nm, y_nm);
        let grain = &self.grains[ids[0]];
        // Grains are gently domed: higher towards their middle.
        let dome = 0.35 * p.groove_depth_nm * (1.0 - (-b12 / (4.0 * p.groove_width_nm)).exp());
        let groove_shape = (-(b12 / p.groove_width_nm).powi(2)).exp();
        let mut h = grain.height_nm + dome;
        match self.asymmetry(ids[0], ids[1]) {
            Some(side) => {
                // A step: one grain rides up to the boundary, the other drops to it.
                let step = side * 0.5 * p.asymmetric_step_nm * (-(b12 / (3.0 * p.groove_width_nm))).exp();
                h += step - 0.3 * p.groove_depth_nm * groove_shape;
            }
            None => h -= p.groove_depth_nm * groove_shape,
        }
        let junction = b12.max(b13);
        let pit = self.pit_factor(ids[0], ids[1], ids[2]);
        h -= pit * p.pit_depth_nm * (-(junction / p.pit_radius_nm).powi(2)).exp();
        h
    }

    /// Renders the survey image and the ground truth at `rows × cols`.
    pub fn render(&self, rows: u32, cols: u32) -> FilmImage {
        self.render_drifted(rows, cols, [0.0, 0.0])
    }

    /// The same with the film drifted by (dx, dy) nm under the frame: each
    /// pixel shows the film point that far back. The roughness and line
    /// offsets are the scan's own and stay in place.
    pub fn render_drifted(&self, rows: u32, cols: u32, [dx, dy]: [f64; 2]) -> FilmImage {
        let (r, c) = (rows as usize, cols as usize);
        let mut heights = Array2::<f64>::zeros((r, c));
        let mut motifs = Array2::from_elem((r, c), Motif::GrainInterior);
        for row in 0..r {
            for col in 0..c {
                let (x, y) =
                    crate::record::pixel_to_nm(row as u32, col as u32, rows, cols, self.width_nm, self.height_nm);
                let (x, y) = (x - dx, y - dy);
                heights[[row, col]] = self.surface_nm(x, y);
                motifs[[row, col]] = self.site(x, y).motif;
            }
        }
        let p = &self.plan;
        if p.roughness_nm > 0.0 {
            let rough = smooth_noise(r, c, seed::derive(self.seed, "roughness", &[rows as u64, cols as u64]));
            heights.zip_mut_with(&rough, |h, n| *h += p.roughness_nm * n);
        }
        if p.line_offset_nm > 0.0 {
            let mut rng = seed::rng(self.seed, "line-offset", &[rows as u64]);
            let normal = Normal::new(0.0, p.line_offset_nm).expect("finite offset");
            for mut line in heights.rows_mut() {
                let offset = normal.sample(&mut rng);
                line.mapv_inplace(|h| h + offset);
            }
        }
        if p.tilt_nm != 0.0 {
            for ((_, col), h) in heights.indexed_iter_mut() {
                *h += p.tilt_nm * ((col as f64 + 0.5) / c as f64 - 0.5);
            }
        }
        FilmImage {
            heights_nm: heights,
            motifs,
        }
    }
}

/// Unit-variance noise with a correlation length of a few pixels.
fn smooth_noise(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
    let mut rng = seed::rng(seed, "noise", &[]);
    let normal = Normal::new(0.0, 1.0).expect("unit normal");
    let mut a = Array2::from_shape_fn((rows, cols), |_| normal.sample(&mut rng));
    for _ in 0..2 {
        let src = a.clone();
        for row in 0..rows {
            for col in 0..cols {
                let mut sum = 0.0;
                let mut n = 0.0;
                for dr in -1i64..=1 {
                    for dc in -1i64..=1 {
                        let (rr, cc) = (row as i64 + dr, col as i64 + dc);
                        if rr >= 0 && cc >= 0 && (rr as usize) < rows && (cc as usize) < cols {
                            sum += src[[rr as usize, cc as usize]];
                            n += 1.0;
                        }
                    }
                }
                a[[row, col]] = sum / n;
            }
        }
    }
    let sd = (a.iter().map(|v| v * v).sum::<f64>() / a.len() as f64)
        .sqrt()
        .max(1e-12);
    a.mapv_inplace(|v| v / sd);
    a
}

/// The simulator knows the motif under every point of its film.
impl GroundTruth for Film {
    fn motif_at(&self, _row: u32, _col: u32, x_nm: f64, y_nm: f64) -> Option<Motif> {
        Some(self.site(x_nm, y_nm).motif)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn film(seed: u64) -> Film {
        Film::new(&FilmPlan::default(), seed, 2000.0, 2000.0)
    }

    #[test]
    fn every_motif_is_present_in_sensible_proportions() {
        let image = film(3).render(128, 128);
        let n = image.motifs.len() as f64;
        for motif in Motif::ALL {
            let share = image.motifs.iter().filter(|m| **m == motif).count() as f64 / n;
            assert!(share > 0.005, "{motif:?} covers only {share}");
            if motif != Motif::GrainInterior {
                assert!(share < 0.35, "{motif:?} covers {share}");
            }
        }
    }

    #[test]
    fn junctions_are_pits_and_grooves_are_low() {
        let f = film(5);
        let image = f.render(128, 128);
        let mean = |m: Motif| {
            let v: Vec<f64> = image
                .motifs
                .iter()
                .zip(image.heights_nm.iter())
                .filter(|(k, _)| **k == m)
                .map(|(_, h)| *h)
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        assert!(mean(Motif::TripleJunction) < mean(Motif::GbGroove));
        assert!(mean(Motif::GbGroove) < mean(Motif::GrainInterior));
    }

    #[test]
    fn same_seed_same_film_other_seed_other_film() {
        let a = film(7).render(32, 32).heights_nm;
        let b = film(7).render(32, 32).heights_nm;
        let c = film(8).render(32, 32).heights_nm;
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
