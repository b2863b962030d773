//! What the dual VAE predicts a location would answer, measured or not.

/// One row of `property_map`: the response one model version predicts at one
/// candidate, reduced by the same scalarizers as a measured curve.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyPoint {
    /// Measurements the model was trained on (its version).
    pub model_step: u32,
    pub row: u32,
    pub col: u32,
    pub x_nm: f64,
    pub y_nm: f64,
    /// The means over the ensemble's members of each member's prediction.
    pub hysteresis_area: f64,
    pub max_current_a: f64,
    /// `None` where no member's predicted curve crosses the onset current.
    pub onset_v: Option<f64>,
    /// The spread (standard deviation) over the members; `None` with one.
    pub hysteresis_area_std: Option<f64>,
    pub max_current_a_std: Option<f64>,
    pub onset_v_std: Option<f64>,
    /// The cluster of the measured locations this patch sits among in the
    /// image latent (the members' vote).
    pub cluster: u32,
    /// Added column: `live` (retrained during the session) or `analyze`.
    pub model: String,
}

/// One model's predictions laid out on the candidate grid, for looking one
/// up by pixel (the console's map layers).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PropertyGrid {
    pub model_step: u32,
    /// The grid's rows and columns (pixels), ascending.
    rows: Vec<u32>,
    cols: Vec<u32>,
    /// Per (row index, col index), row-major: the point there, if any.
    at: Vec<Option<u32>>,
    pub points: Vec<PropertyPoint>,
}

impl PropertyGrid {
    pub fn new(points: Vec<PropertyPoint>) -> Self {
        let axis = |pick: fn(&PropertyPoint) -> u32| {
            let mut v: Vec<u32> = points.iter().map(pick).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let (rows, cols) = (axis(|p| p.row), axis(|p| p.col));
        let mut at = vec![None; rows.len() * cols.len()];
        for (k, p) in points.iter().enumerate() {
            let (r, c) = (rows.binary_search(&p.row), cols.binary_search(&p.col));
            if let (Ok(r), Ok(c)) = (r, c) {
                at[r * cols.len() + c] = Some(k as u32);
            }
        }
        Self {
            model_step: points.first().map_or(0, |p| p.model_step),
            rows,
            cols,
            at,
            points,
        }
    }

    /// The prediction at the grid point nearest to a pixel.
    pub fn at(&self, row: u32, col: u32) -> Option<&PropertyPoint> {
        let nearest = |axis: &[u32], v: u32| -> Option<usize> {
            let k = axis.partition_point(|&a| a < v);
            match (k.checked_sub(1), (k < axis.len()).then_some(k)) {
                (Some(lo), Some(hi)) => Some(if v - axis[lo] <= axis[hi] - v { lo } else { hi }),
                (lo, hi) => lo.or(hi),
            }
        };
        let (r, c) = (nearest(&self.rows, row)?, nearest(&self.cols, col)?);
        let k = self.at[r * self.cols.len() + c]?;
        self.points.get(k as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(row: u32, col: u32, cluster: u32) -> PropertyPoint {
        PropertyPoint {
            model_step: 5,
            row,
            col,
            x_nm: col as f64,
            y_nm: row as f64,
            hysteresis_area: 1.0,
            max_current_a: 1.0,
            onset_v: None,
            hysteresis_area_std: None,
            max_current_a_std: None,
            onset_v_std: None,
            cluster,
            model: "live".into(),
        }
    }

    #[test]
    fn a_pixel_reads_the_nearest_grid_point() {
        let points: Vec<PropertyPoint> = [(8, 8), (8, 10), (10, 8), (10, 10)]
            .iter()
            .enumerate()
            .map(|(k, &(r, c))| point(r, c, k as u32))
            .collect();
        let g = PropertyGrid::new(points);
        assert_eq!(g.model_step, 5);
        assert_eq!(g.at(0, 0).map(|p| p.cluster), Some(0));
        assert_eq!(g.at(9, 11).map(|p| p.cluster), Some(1), "a tie goes to the lower row");
        assert_eq!(g.at(10, 9).map(|p| p.cluster), Some(2));
        assert_eq!(g.at(200, 200).map(|p| p.cluster), Some(3));
        assert!(PropertyGrid::new(Vec::new()).at(3, 3).is_none());
    }
}
