//! A survey topography image of the scan frame, and where its pixels lie.

use ndarray::Array2;

/// A survey topography image of the scan frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Survey {
    pub width_nm: f64,
    pub height_nm: f64,
    /// Heights, `rows × cols`, row 0 at the top of the frame.
    pub heights_nm: Array2<f64>,
}

impl Survey {
    /// The lowest and highest height (nm): the heat map's colours span this,
    /// and its scale says so.
    pub fn height_range_nm(&self) -> (f64, f64) {
        self.heights_nm
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)))
    }

    pub fn rows(&self) -> u32 {
        self.heights_nm.nrows() as u32
    }

    pub fn cols(&self) -> u32 {
        self.heights_nm.ncols() as u32
    }

    /// Centre of a pixel in the frame (CONTRACTS: origin top-left, centre of pixel).
    pub fn pixel_to_nm(&self, row: u32, col: u32) -> (f64, f64) {
        pixel_to_nm(row, col, self.rows(), self.cols(), self.width_nm, self.height_nm)
    }

    /// The pixel whose centre is nearest to a position in the frame.
    pub fn nm_to_pixel(&self, x_nm: f64, y_nm: f64) -> (u32, u32) {
        nm_to_pixel(x_nm, y_nm, self.rows(), self.cols(), self.width_nm, self.height_nm)
    }
}

/// `x_nm = (col + 0.5) * width_nm / cols`, `y_nm = (row + 0.5) * height_nm / rows`.
pub fn pixel_to_nm(row: u32, col: u32, rows: u32, cols: u32, width_nm: f64, height_nm: f64) -> (f64, f64) {
    (
        (col as f64 + 0.5) * width_nm / cols as f64,
        (row as f64 + 0.5) * height_nm / rows as f64,
    )
}

/// Inverse of [`pixel_to_nm`], clamped to the frame.
pub fn nm_to_pixel(x_nm: f64, y_nm: f64, rows: u32, cols: u32, width_nm: f64, height_nm: f64) -> (u32, u32) {
    let col = (x_nm / width_nm * cols as f64).floor().clamp(0.0, cols as f64 - 1.0);
    let row = (y_nm / height_nm * rows as f64).floor().clamp(0.0, rows as f64 - 1.0);
    (row as u32, col as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Identity;

    #[test]
    fn pixel_centres_round_trip() {
        for (row, col) in [(0, 0), (5, 7), (255, 255), (128, 3)] {
            let (x, y) = pixel_to_nm(row, col, 256, 256, 2000.0, 2000.0);
            assert_eq!(nm_to_pixel(x, y, 256, 256, 2000.0, 2000.0), (row, col));
        }
        let (x, y) = pixel_to_nm(0, 0, 256, 256, 2000.0, 2000.0);
        assert!((x - 3.90625).abs() < 1e-12 && (y - 3.90625).abs() < 1e-12);
    }

    #[test]
    fn idn_round_trips() {
        let id = Identity {
            vendor: "dualscope".into(),
            model: "SimAFM".into(),
            serial: "s1".into(),
            firmware: "0.1".into(),
        };
        assert_eq!(Identity::parse_idn(&id.idn()), Some(id));
    }
}
