//! Grains marked on the survey, as Gwyddion's "mark grains" does by hand:
//! the valleys (grooves, pits) found by a morphological black top-hat, and
//! the connected regions between them. The property map's residual field
//! uses them because a grain's own conductance holds wherever the tip lands
//! on it and stops at its boundary, which a length scale over x and y
//! cannot say.

use crate::record::Survey;
use ndarray::Array2;

/// Regions smaller than this (pixels) are left unmarked: a speck between
/// two grooves is not a grain.
const MIN_GRAIN_PX: usize = 24;

/// Each pixel's grain (`None` only where no grain was marked at all).
#[derive(Debug, Clone)]
pub struct Grains {
    labels: Array2<u32>,
    /// How many grains were marked.
    pub count: u32,
    /// The survey's pixel (nm), for distances.
    px_nm: f64,
}

impl Grains {
    /// Marks the grains of `survey`. A boundary is a valley, where the
    /// closing with a square of side `2·closing_nm` stands more than
    /// `depth_share` of the top-hat's 98th percentile above the surface, or
    /// (with `step_share` above 0) a step, where the morphological gradient
    /// (3 × 3 max − min) passes `step_share` of its 98th percentile: an
    /// asymmetric boundary rides up from one grain to the other with hardly
    /// a groove.
    pub fn mark(survey: &Survey, closing_nm: f64, depth_share: f64, step_share: f64) -> Self {
        let h = &survey.heights_nm;
        let (rows, cols) = h.dim();
        let px_nm = survey.width_nm / cols.max(1) as f64;
        let radius = ((closing_nm / px_nm).round() as usize).max(1);
        let closed = erode(&dilate(h, radius), radius);
        let top_hat = &closed - h;
        let valley = percentile_98(&top_hat).map_or(f64::INFINITY, |p98| (depth_share * p98).max(f64::MIN_POSITIVE));
        let mut open = top_hat.mapv(|v| v < valley);
        if step_share > 0.0 {
            let gradient = &dilate(h, 1) - &erode(h, 1);
            if let Some(p98) = percentile_98(&gradient) {
                let step = step_share * p98;
                ndarray::Zip::from(&mut open)
                    .and(&gradient)
                    .for_each(|o, &d| *o = *o && d < step);
            }
        }
        let mut labels = Array2::<u32>::zeros((rows, cols));
        let mut count = 0;
        let mut stack = Vec::new();
        let mut region = Vec::new();
        for start in 0..rows * cols {
            let (r0, c0) = (start / cols, start % cols);
            if !open[(r0, c0)] || labels[(r0, c0)] != 0 {
                continue;
            }
            count += 1;
            region.clear();
            stack.push((r0, c0));
            labels[(r0, c0)] = count;
            while let Some((r, c)) = stack.pop() {
                region.push((r, c));
                let near = [(r.wrapping_sub(1), c), (r + 1, c), (r, c.wrapping_sub(1)), (r, c + 1)];
                for (nr, nc) in near {
                    if nr < rows && nc < cols && open[(nr, nc)] && labels[(nr, nc)] == 0 {
                        labels[(nr, nc)] = count;
                        stack.push((nr, nc));
                    }
                }
            }
            if region.len() < MIN_GRAIN_PX {
                // A speck: unmark it (with u32::MAX, so the scan does not
                // start it again) and give its number back.
                for &p in &region {
                    labels[p] = u32::MAX;
                }
                count -= 1;
            }
        }
        labels.mapv_inplace(|v| if v == u32::MAX { 0 } else { v });
        grow_into_valleys(&mut labels);
        Self { labels, count, px_nm }
    }

    /// The grain at a pixel, if it is in one.
    pub fn at(&self, row: u32, col: u32) -> Option<u32> {
        self.labels
            .get((row as usize, col as usize))
            .copied()
            .filter(|&g| g != 0)
    }

    /// The boundary or junction a pixel is on: the grains that reach within
    /// `radius_nm` of it (its own and the nearest one or two others), as one
    /// number, the same for every pixel where the same grains meet; `None`
    /// inside a grain, farther than that from any other. A boundary's kind
    /// (a groove, or a step that blocks the current) and a junction's pit
    /// hold along it as a grain's conductance holds over the grain.
    pub fn band_at(&self, row: u32, col: u32, radius_nm: f64) -> Option<u64> {
        let own = self.at(row, col)?;
        let (rows, cols) = self.labels.dim();
        let radius = (radius_nm / self.px_nm).round().max(1.0) as i64;
        let mut others: Vec<(i64, u32)> = Vec::new();
        for dr in -radius..=radius {
            for dc in -radius..=radius {
                let (r, c) = (row as i64 + dr, col as i64 + dc);
                let d2 = dr * dr + dc * dc;
                if d2 > radius * radius || r < 0 || c < 0 || r as usize >= rows || c as usize >= cols {
                    continue;
                }
                let g = self.labels[(r as usize, c as usize)];
                if g != 0 && g != own {
                    others.push((d2, g));
                }
            }
        }
        others.sort_unstable();
        let mut met = vec![own];
        for (_, g) in others {
            if !met.contains(&g) {
                met.push(g);
            }
            if met.len() == 3 {
                break;
            }
        }
        if met.len() < 2 {
            return None;
        }
        met.sort_unstable();
        // Up to three grain numbers of 21 bits each; the count keeps a
        // boundary's number apart from a junction's.
        Some(
            met.iter()
                .fold(met.len() as u64, |id, &g| (id << 21) | (g as u64 & 0x1f_ffff)),
        )
    }
}

/// The 98th percentile of the finite values of `a`; `None` when none is.
fn percentile_98(a: &Array2<f64>) -> Option<f64> {
    let mut v: Vec<f64> = a.iter().copied().filter(|v| v.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let k = (v.len() * 98 / 100).min(v.len() - 1);
    let (_, p98, _) = v.select_nth_unstable_by(k, f64::total_cmp);
    Some(*p98)
}

/// Gives every unmarked pixel (valley or speck) the grain that reaches it
/// first, growing all grains a pixel a round: the two grains of a groove
/// meet near its middle, so a location on a groove's flank belongs to the
/// grain on its side, as its current does (a grain's conductance holds up
/// to the boundary line).
fn grow_into_valleys(labels: &mut Array2<u32>) {
    let (rows, cols) = labels.dim();
    let mut front: Vec<(usize, usize)> = labels
        .indexed_iter()
        .filter(|(_, v)| **v != 0)
        .map(|(p, _)| p)
        .collect();
    while !front.is_empty() {
        let mut next = Vec::new();
        for &(r, c) in &front {
            let label = labels[(r, c)];
            for (nr, nc) in [(r.wrapping_sub(1), c), (r + 1, c), (r, c.wrapping_sub(1)), (r, c + 1)] {
                if nr < rows && nc < cols && labels[(nr, nc)] == 0 {
                    labels[(nr, nc)] = label;
                    next.push((nr, nc));
                }
            }
        }
        front = next;
    }
}

/// Grey-level dilation by a square of side `2·radius + 1` (max filter), done
/// along rows then columns.
fn dilate(h: &Array2<f64>, radius: usize) -> Array2<f64> {
    filter(h, radius, f64::max, f64::NEG_INFINITY)
}

/// Grey-level erosion by the same square (min filter).
fn erode(h: &Array2<f64>, radius: usize) -> Array2<f64> {
    filter(h, radius, f64::min, f64::INFINITY)
}

fn filter(h: &Array2<f64>, radius: usize, pick: fn(f64, f64) -> f64, none: f64) -> Array2<f64> {
    let (rows, cols) = h.dim();
    let along_rows = Array2::from_shape_fn((rows, cols), |(r, c)| {
        (c.saturating_sub(radius)..(c + radius + 1).min(cols)).fold(none, |m, k| pick(m, h[(r, k)]))
    });
    Array2::from_shape_fn((rows, cols), |(r, c)| {
        (r.saturating_sub(radius)..(r + radius + 1).min(rows)).fold(none, |m, k| pick(m, along_rows[(k, c)]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A square survey of `side` px over `width_nm`, its heights from `height`.
    fn frame(side: usize, width_nm: f64, height: impl Fn(usize, usize) -> f64) -> Survey {
        Survey {
            width_nm,
            height_nm: width_nm,
            heights_nm: Array2::from_shape_fn((side, side), |(r, c)| height(r, c)),
        }
    }

    /// Four flat squares of 32 px (250 nm) of different heights, parted by a
    /// 2 px groove below them all.
    fn four_squares() -> Survey {
        frame(64, 500.0, |r, c| {
            let groove = (31..=32).contains(&r) || (31..=32).contains(&c);
            let base = 10.0 * ((r / 32) * 2 + c / 32) as f64;
            if groove {
                -20.0
            } else {
                base + 0.1 * ((r * 7 + c * 3) % 5) as f64
            }
        })
    }

    /// The four squares are four grains, each pixel of a square in its own, each side
    /// of the groove in the grain on that side.
    #[test]
    fn four_squares_parted_by_grooves_are_four_grains() {
        let grains = Grains::mark(&four_squares(), 30.0, 0.3, 0.0);
        assert_eq!(grains.count, 4);
        let corners = [(5, 5), (5, 60), (60, 5), (60, 60)].map(|(r, c)| grains.at(r, c).expect("in a grain"));
        let mut distinct = corners.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 4, "{corners:?}");
        assert_eq!(grains.at(10, 10), grains.at(25, 20));
        // The groove's flanks go to the grain on their side.
        assert_eq!(grains.at(31, 10), Some(corners[0]));
        assert_eq!(grains.at(32, 10), Some(corners[2]));
        assert_eq!(grains.at(500, 10), None);
    }

    /// On the four squares: a place on a groove between two of them is on
    /// that boundary, the same one all along it and another one across the
    /// cross; the cross's middle is where three or four meet; a square's
    /// inside is on none.
    #[test]
    fn places_on_one_boundary_share_it_and_a_grains_inside_is_on_none() {
        let grains = Grains::mark(&four_squares(), 30.0, 0.3, 0.0);
        // 500 nm over 64 px: 7.8 nm a pixel, so 16 nm reaches 2 px.
        let band = |r, c| grains.band_at(r, c, 16.0);
        let top = band(10, 31).expect("on the groove between the top squares");
        assert_eq!(band(20, 32), Some(top), "the other side, further along");
        assert_eq!(band(5, 30), Some(top), "a pixel off the groove's middle");
        let left = band(31, 10).expect("on the groove between the left squares");
        assert_ne!(left, top);
        let middle = band(31, 31).expect("where the squares meet");
        assert_ne!(middle, top);
        assert_ne!(middle, left);
        assert_eq!(band(10, 10), None, "inside a square");
        assert_eq!(band(10, 28), None, "3 px from the groove's edge");
        assert_eq!(band(500, 10), None, "off the survey");
    }

    /// Two flat terraces 20 nm apart, no groove between them: valleys alone
    /// do not part them, steps do.
    #[test]
    fn a_step_parts_two_grains_when_steps_count() {
        // A groove along the top edge sets the scale of a valley.
        let survey = frame(48, 400.0, |r, c| {
            let terrace = if c < 24 { 0.0 } else { 20.0 };
            if r < 2 {
                -30.0
            } else {
                terrace + 0.2 * ((r * 5 + c * 3) % 7) as f64
            }
        });
        let valleys_only = Grains::mark(&survey, 25.0, 0.15, 0.0);
        assert!(valleys_only.count < 2 && valleys_only.at(10, 5) == valleys_only.at(10, 40));
        let grains = Grains::mark(&survey, 25.0, 0.15, 0.2);
        assert_eq!(grains.count, 2);
        assert_ne!(grains.at(10, 5), grains.at(10, 40));
    }
}
