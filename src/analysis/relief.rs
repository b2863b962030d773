//! A topography patch as the image VAE sees it: the relief around the tip.
//!
//! Two choices, each found on simulated films where the true motif of every
//! location is known (docs/RESULTS.md):
//!
//! - Relief, not height: the patch minus its own mean height, scaled by the
//!   survey's height range. With patches min–max scaled over the survey alone,
//!   grain-to-grain height differences dominated the image latent and the
//!   clusters followed grains, not motifs.
//! - Around the tip: the relief is weighted by a Gaussian centred on the tip
//!   position. Current flows within a few tens of nm of the contact, so what
//!   goes with an I–V curve is the structure under the tip; a 16 px patch
//!   (125 nm on the demo survey) almost always holds some boundary, and an
//!   evenly weighted patch of a grain interior 3 px from a groove looks like
//!   that groove's patch moved by 3 px. The 2-D latent of an MLP spent itself
//!   on where in the patch the boundary ran: clustered alone, the image latent
//!   matched the motifs at ARI 0.03 on films 1–5 and 6–10; weighted with
//!   σ = 2 px, at 0.10 and 0.13. The joint map's clusters, which the spectral
//!   view leads, moved within their run-to-run spread.

/// The patch (row-major, `side × side`, in nm) as relief in [0, 1]: 0.5 is
/// the weighted mean height, ±0.5 the survey's whole height range, and the
/// relief fades with the distance from the centre as a Gaussian of standard
/// deviation `window_px` (0 or less: no fading).
pub fn tip_relief(patch_nm: &[f32], side: usize, span_nm: f32, window_px: f32) -> Vec<f32> {
    tip_relief_about(patch_nm, side, span_nm, window_px, (side as f32 - 1.0) / 2.0)
}

/// [`tip_relief`] with the window about `centre` (px from the first row and
/// column; the tip's own pixel is `side / 2`, as `patches::patch_at` cuts,
/// half a pixel off the patch's middle, `(side − 1) / 2`, which the image
/// VAE's view is windowed about).
pub fn tip_relief_about(patch_nm: &[f32], side: usize, span_nm: f32, window_px: f32, centre: f32) -> Vec<f32> {
    let weights = window(side, window_px, centre);
    let total: f32 = weights.iter().sum();
    let mean = patch_nm.iter().zip(&weights).map(|(h, w)| h * w).sum::<f32>() / total.max(f32::MIN_POSITIVE);
    let span = span_nm.max(1e-6);
    patch_nm
        .iter()
        .zip(&weights)
        .map(|(h, w)| (0.5 + w * (h - mean) / span).clamp(0.0, 1.0))
        .collect()
}

/// The relief (as [`tip_relief`] gives it) on rings around the tip: per
/// whole pixel of distance from the centre out to the inscribed circle, the
/// ring's mean relief about 0.5 and its spread. A groove, a step or a pit
/// reads the same whichever way it runs through the patch, as the current
/// under the tip does; the raw patch of a groove turned by 90° is as far
/// from the first as a flat grain is.
/// The rings are about `centre` (px, as in [`tip_relief_about`]): about the
/// tip's own pixel the first ring is that pixel alone, about the patch's
/// middle it is the 2 × 2 block around it.
pub fn rings(relief: &[f32], side: usize, centre: f32) -> Vec<f32> {
    let count = (side / 2).max(1);
    let (mut n, mut sum, mut sq) = (vec![0f32; count], vec![0f32; count], vec![0f32; count]);
    for (k, v) in relief.iter().enumerate() {
        let (dr, dc) = ((k / side) as f32 - centre, (k % side) as f32 - centre);
        let ring = (dr * dr + dc * dc).sqrt() as usize;
        if ring < count {
            let x = v - 0.5;
            n[ring] += 1.0;
            sum[ring] += x;
            sq[ring] += x * x;
        }
    }
    (0..count)
        .flat_map(|r| {
            let m = if n[r] > 0.0 { sum[r] / n[r] } else { 0.0 };
            let var = if n[r] > 0.0 {
                (sq[r] / n[r] - m * m).max(0.0)
            } else {
                0.0
            };
            [m, var.sqrt()]
        })
        .collect()
}

/// Gaussian weights around `centre` (px), 1 there; all 1 for a window of 0.
fn window(side: usize, window_px: f32, centre: f32) -> Vec<f32> {
    (0..side * side)
        .map(|k| {
            if window_px <= 0.0 {
                return 1.0;
            }
            let dr = (k / side) as f32 - centre;
            let dc = (k % side) as f32 - centre;
            (-(dr * dr + dc * dc) / (2.0 * window_px * window_px)).exp()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 16 px patch with a 10 nm deep, 2 px wide groove along column `col`.
    fn groove_at(col: usize) -> Vec<f32> {
        (0..256usize)
            .map(|k| if (k % 16).abs_diff(col) <= 1 { 90.0 } else { 100.0 })
            .collect()
    }

    #[test]
    fn without_a_window_the_patch_is_its_relief_about_its_mean() {
        let p = groove_at(7);
        let r = tip_relief(&p, 16, 50.0, 0.0);
        let mean = p.iter().sum::<f32>() / 256.0;
        for (h, v) in p.iter().zip(&r) {
            assert!((v - (0.5 + (h - mean) / 50.0)).abs() < 1e-6);
        }
        // Height offsets do not matter, only relief.
        let raised: Vec<f32> = p.iter().map(|h| h + 40.0).collect();
        assert_eq!(tip_relief(&raised, 16, 50.0, 0.0), r);
    }

    #[test]
    fn a_groove_under_the_tip_shows_and_one_at_the_edge_fades() {
        let centre = tip_relief(&groove_at(7), 16, 50.0, 2.0);
        let edge = tip_relief(&groove_at(1), 16, 50.0, 2.0);
        let depth = |r: &[f32]| {
            let (lo, hi) = r.iter().fold((1.0f32, 0.0f32), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
            hi - lo
        };
        // Centred, the groove keeps most of its 0.2 of the range...
        assert!(depth(&centre) > 0.15, "{}", depth(&centre));
        // ...at the patch's edge, 6 px from the tip, it all but vanishes.
        assert!(depth(&edge) < 0.02, "{}", depth(&edge));
        // Unweighted, both grooves are equally deep.
        let plain = |c| depth(&tip_relief(&groove_at(c), 16, 50.0, 0.0));
        assert!((plain(7) - plain(1)).abs() < 1e-6);
    }

    #[test]
    fn rings_read_a_groove_the_same_whichever_way_it_runs_and_a_pit_otherwise() {
        let along = tip_relief(&groove_at(7), 16, 50.0, 2.0);
        // The same groove along a row: the patch transposed.
        let across: Vec<f32> = (0..256).map(|k| along[(k % 16) * 16 + k / 16]).collect();
        assert_ne!(along, across);
        let (a, b) = (rings(&along, 16, 7.5), rings(&across, 16, 7.5));
        assert_eq!(a.len(), 16, "mean and spread on 8 rings");
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
        }
        // A pit as deep as the groove: lower in the middle, even on each ring.
        let pit: Vec<f32> = (0..256usize)
            .map(|k| {
                let (r, c) = ((k / 16) as f32 - 7.5, (k % 16) as f32 - 7.5);
                if r * r + c * c < 4.0 { 90.0 } else { 100.0 }
            })
            .collect();
        let p = rings(&tip_relief(&pit, 16, 50.0, 2.0), 16, 7.5);
        assert!(p[0] < a[0], "the pit's centre lies deeper: {} vs {}", p[0], a[0]);
        assert!(p[3] < a[3], "its rings vary less: {} vs {}", p[3], a[3]);
        // Flat ground: nothing on any ring.
        assert!(
            rings(&tip_relief(&[100.0; 256], 16, 50.0, 2.0), 16, 7.5)
                .iter()
                .all(|v| v.abs() < 1e-6)
        );
    }

    /// A pit one pixel wide under the tip (`patch_at` puts the tip at
    /// (8, 8) of a 16 px patch): about the tip its first ring is the pit
    /// alone at its full depth; about the patch's middle the pit is one
    /// pixel of four, and the tip's neighbours reach the same ring.
    #[test]
    fn rings_about_the_tip_see_the_tips_own_pixel() {
        let pit: Vec<f32> = (0..256usize)
            .map(|k| if k == 8 * 16 + 8 { 80.0 } else { 100.0 })
            .collect();
        let about_tip = rings(&tip_relief_about(&pit, 16, 50.0, 2.0, 8.0), 16, 8.0);
        let about_middle = rings(&tip_relief(&pit, 16, 50.0, 2.0), 16, 7.5);
        assert!(about_tip[1].abs() < 1e-6, "one pixel, no spread: {}", about_tip[1]);
        assert!(
            about_tip[0] < 1.5 * about_middle[0],
            "about the tip {} vs about the middle {}",
            about_tip[0],
            about_middle[0]
        );
        assert!(
            about_tip[0] < -0.3,
            "nearly the pit's 20 nm of the 50 nm range: {}",
            about_tip[0]
        );
    }

    #[test]
    fn relief_stays_in_the_unit_interval() {
        let cliff: Vec<f32> = (0..64).map(|k| if k < 32 { 0.0 } else { 500.0 }).collect();
        for w in [0.0, 1.0, 3.0] {
            assert!(tip_relief(&cliff, 8, 100.0, w).iter().all(|v| (0.0..=1.0).contains(v)));
        }
    }
}
