//! Regions of the frame kept free of seeds and policy points
//! (`[[policy.exclude]]`, and those the console adds): which candidates
//! they bar.

use crate::plan::Exclusion;
use crate::record::{Candidates, Survey};

/// Per candidate: its position (the centre of its pixel) is inside a region.
pub fn barred(regions: &[Exclusion], candidates: &Candidates, survey: &Survey) -> Vec<bool> {
    candidates
        .sites()
        .iter()
        .map(|&(row, col)| inside(regions, survey, row, col))
        .collect()
}

/// Whether a survey pixel's centre is inside one of `regions`.
pub fn inside(regions: &[Exclusion], survey: &Survey, row: u32, col: u32) -> bool {
    let (x_nm, y_nm) = survey.pixel_to_nm(row, col);
    regions.iter().any(|r| r.contains(x_nm, y_nm))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarter_of_the_frame_bars_about_a_quarter_of_the_candidates() {
        let survey = Survey {
            width_nm: 1000.0,
            height_nm: 1000.0,
            heights_nm: ndarray::Array2::zeros((64, 64)),
        };
        let c = Candidates::new(64, 64, 8, 2, None);
        let quarter = Exclusion {
            x_nm: [0.0, 500.0],
            y_nm: [0.0, 500.0],
        };
        let b = barred(&[quarter], &c, &survey);
        for (k, &is) in b.iter().enumerate() {
            let (x, y) = survey.pixel_to_nm(c.site(k).0, c.site(k).1);
            assert_eq!(is, x <= 500.0 && y <= 500.0);
        }
        let share = b.iter().filter(|&&x| x).count() as f64 / b.len() as f64;
        assert!((0.2..0.3).contains(&share), "{share}");
        assert!(barred(&[], &c, &survey).iter().all(|&x| !x));
    }
}
