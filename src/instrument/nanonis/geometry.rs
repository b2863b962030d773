//! Where the survey frame lies in the controller's coordinates, and the one
//! place positions and images are converted between the two.
//!
//! dualscope (CONTRACTS): nanometres, origin at the frame's top-left corner,
//! x along the columns, y *down* the rows. Nanonis: metres in piezo
//! coordinates, the frame placed by its *centre* (which need not be 0), y
//! *up*, and a frame angle, positive clockwise. So the image's top-left corner
//! is at (cx − w/2, cy + h/2) before rotation, and a frame point is rotated
//! clockwise by the angle about the centre. Frame values come as float32.
//!
//! `Scan.FrameDataGrab` sends rows in the order they were scanned: an upward
//! scan's first row is the bottom line, so it is flipped to put row 0 at the
//! top, as a survey's row 0 is.

use super::command::{Frame, Grab};
use ndarray::Array2;

/// The scan frame in piezo coordinates (m, rad).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    pub centre_x_m: f64,
    pub centre_y_m: f64,
    pub width_m: f64,
    pub height_m: f64,
    pub angle_rad: f64,
}

impl Placement {
    pub fn of(f: &Frame) -> Self {
        Self {
            centre_x_m: f.centre_x_m as f64,
            centre_y_m: f.centre_y_m as f64,
            width_m: f.width_m as f64,
            height_m: f.height_m as f64,
            angle_rad: (f.angle_deg as f64).to_radians(),
        }
    }

    /// The frame as `Scan.FrameGet` sends it.
    pub fn frame(&self) -> Frame {
        Frame {
            centre_x_m: self.centre_x_m as f32,
            centre_y_m: self.centre_y_m as f32,
            width_m: self.width_m as f32,
            height_m: self.height_m as f32,
            angle_deg: self.angle_rad.to_degrees() as f32,
        }
    }

    pub fn width_nm(&self) -> f64 {
        self.width_m * 1e9
    }

    pub fn height_nm(&self) -> f64 {
        self.height_m * 1e9
    }

    /// Whether the frame makes sense (finite, a positive size).
    pub fn is_real(&self) -> bool {
        [self.centre_x_m, self.centre_y_m, self.angle_rad]
            .iter()
            .all(|v| v.is_finite())
            && self.width_m.is_finite()
            && self.width_m > 0.0
            && self.height_m.is_finite()
            && self.height_m > 0.0
    }

    /// A frame point (nm, top-left origin, y down) in piezo metres.
    pub fn to_piezo(&self, x_nm: f64, y_nm: f64) -> (f64, f64) {
        // Offsets from the centre, y turned up.
        let dx = x_nm * 1e-9 - self.width_m / 2.0;
        let dy = self.height_m / 2.0 - y_nm * 1e-9;
        let (s, c) = self.angle_rad.sin_cos();
        // Clockwise by the angle.
        (self.centre_x_m + dx * c + dy * s, self.centre_y_m - dx * s + dy * c)
    }

    /// A piezo position (m) as a frame point (nm): the inverse of [`Placement::to_piezo`].
    pub fn to_frame(&self, x_m: f64, y_m: f64) -> (f64, f64) {
        let (ex, ey) = (x_m - self.centre_x_m, y_m - self.centre_y_m);
        let (s, c) = self.angle_rad.sin_cos();
        let dx = ex * c - ey * s;
        let dy = ex * s + ey * c;
        ((dx + self.width_m / 2.0) * 1e9, (self.height_m / 2.0 - dy) * 1e9)
    }
}

/// A grabbed channel as a survey image: metres to nm, row 0 at the top.
pub fn heights_nm(g: &Grab) -> Array2<f64> {
    Array2::from_shape_fn((g.rows, g.cols), |(r, c)| {
        let from = if g.scan_up { g.rows - 1 - r } else { r };
        g.data[from * g.cols + c] as f64 * 1e9
    })
}

/// A survey image as `Scan.FrameDataGrab` sends it for a scan in direction
/// `scan_up`: nm to metres, rows in scan order.
pub fn grab_of(channel: &str, heights_nm: &Array2<f64>, scan_up: bool) -> Grab {
    let (rows, cols) = heights_nm.dim();
    let mut data = Vec::with_capacity(rows * cols);
    for k in 0..rows {
        let r = if scan_up { rows - 1 - k } else { k };
        data.extend(heights_nm.row(r).iter().map(|h| (h * 1e-9) as f32));
    }
    Grab {
        channel: channel.to_string(),
        rows,
        cols,
        data,
        scan_up,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(angle_deg: f64) -> Placement {
        Placement {
            centre_x_m: 3.2e-6,
            centre_y_m: -1.7e-6,
            width_m: 2e-6,
            height_m: 1e-6,
            angle_rad: angle_deg.to_radians(),
        }
    }

    #[test]
    fn the_top_left_corner_is_up_and_left_of_the_centre() {
        let p = frame(0.0);
        let (x, y) = p.to_piezo(0.0, 0.0);
        assert!((x - (3.2e-6 - 1e-6)).abs() < 1e-15 && (y - (-1.7e-6 + 0.5e-6)).abs() < 1e-15);
        // Down the frame is down in piezo y.
        let (_, y2) = p.to_piezo(0.0, 1000.0);
        assert!((y2 - (-1.7e-6 - 0.5e-6)).abs() < 1e-15);
        // The centre is the centre.
        let (cx, cy) = p.to_piezo(1000.0, 500.0);
        assert!((cx - 3.2e-6).abs() < 1e-15 && (cy + 1.7e-6).abs() < 1e-15);
    }

    #[test]
    fn a_positive_angle_turns_the_frame_clockwise() {
        // The right-hand middle of a frame turned 90° clockwise lies below the centre.
        let p = frame(90.0);
        let (x, y) = p.to_piezo(2000.0, 500.0);
        assert!((x - 3.2e-6).abs() < 1e-12, "{x}");
        assert!((y - (-1.7e-6 - 1e-6)).abs() < 1e-12, "{y}");
    }

    #[test]
    fn an_upward_scan_is_flipped_so_row_zero_is_the_top() {
        let img = Array2::from_shape_fn((3, 2), |(r, c)| (r * 10 + c) as f64);
        for up in [true, false] {
            let g = grab_of("Z (m)", &img, up);
            assert_eq!(g.data[0] == 20e-9, up, "an upward scan sends the bottom line first");
            let back = heights_nm(&g);
            for (a, b) in back.iter().zip(img.iter()) {
                assert!((a - b).abs() < 1e-4, "{a} vs {b}");
            }
        }
    }

    proptest! {
        #[test]
        fn positions_round_trip_at_any_angle(x in 0.0f64..2000.0, y in 0.0f64..1000.0, angle in -180.0f64..180.0) {
            let p = frame(angle);
            let (px, py) = p.to_piezo(x, y);
            let (bx, by) = p.to_frame(px, py);
            prop_assert!((bx - x).abs() < 1e-6 && (by - y).abs() < 1e-6, "({x}, {y}) → ({bx}, {by})");
        }
    }
}
