//! The candidate grid: pixels on every `stride_px`-th row and column around
//! which a whole `patch_px × patch_px` patch of the survey fits.

use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Candidates {
    pub rows: u32,
    pub cols: u32,
    pub patch_px: u32,
    sites: Vec<(u32, u32)>,
    index: HashMap<(u32, u32), usize>,
}

impl Candidates {
    /// The grid for a `rows × cols` survey. Where the instrument can measure only
    /// some pixels (`measurable`), those of them where a patch fits are the
    /// candidates instead.
    pub fn new(rows: u32, cols: u32, patch_px: u32, stride_px: u32, measurable: Option<&[(u32, u32)]>) -> Self {
        let half = patch_px / 2;
        let fits =
            |r: u32, c: u32| r >= half && c >= half && r + (patch_px - half) <= rows && c + (patch_px - half) <= cols;
        let mut sites: Vec<(u32, u32)> = match measurable {
            Some(list) => list.iter().copied().filter(|&(r, c)| fits(r, c)).collect(),
            None => {
                let mut v = Vec::new();
                let mut r = half;
                while fits(r, half) {
                    let mut c = half;
                    while fits(r, c) {
                        v.push((r, c));
                        c += stride_px.max(1);
                    }
                    r += stride_px.max(1);
                }
                v
            }
        };
        sites.sort_unstable();
        sites.dedup();
        let index = sites.iter().enumerate().map(|(k, s)| (*s, k)).collect();
        Self {
            rows,
            cols,
            patch_px,
            sites,
            index,
        }
    }

    pub fn len(&self) -> usize {
        self.sites.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }

    /// (row, col) of candidate `k`.
    pub fn site(&self, k: usize) -> (u32, u32) {
        self.sites[k]
    }

    pub fn sites(&self) -> &[(u32, u32)] {
        &self.sites
    }

    pub fn find(&self, row: u32, col: u32) -> Option<usize> {
        self.index.get(&(row, col)).copied()
    }

    /// The candidate nearest to a pixel position, among those `allowed`.
    pub fn nearest(&self, row: f64, col: f64, allowed: impl Fn(usize) -> bool) -> Option<usize> {
        self.sites
            .iter()
            .enumerate()
            .filter(|(k, _)| allowed(*k))
            .min_by(|a, b| {
                let da = (a.1.0 as f64 - row).powi(2) + (a.1.1 as f64 - col).powi(2);
                let db = (b.1.0 as f64 - row).powi(2) + (b.1.1 as f64 - col).powi(2);
                da.total_cmp(&db).then(a.0.cmp(&b.0))
            })
            .map(|(k, _)| k)
    }

    /// Row-major top-left origin of candidate `k`'s patch.
    pub fn patch_origin(&self, k: usize) -> (usize, usize) {
        let (r, c) = self.sites[k];
        let half = self.patch_px / 2;
        ((r - half) as usize, (c - half) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_grid_size() {
        // 16×16 patches on every 2nd pixel of a 256×256 survey: 121² candidates.
        let c = Candidates::new(256, 256, 16, 2, None);
        assert_eq!(c.len(), 121 * 121);
        assert_eq!(c.site(0), (8, 8));
        assert_eq!(c.site(c.len() - 1), (248, 248));
        assert_eq!(c.patch_origin(0), (0, 0));
        assert_eq!(c.find(10, 12), Some(122 + 1));
    }

    #[test]
    fn measurable_sites_restrict_the_grid() {
        let c = Candidates::new(64, 64, 16, 2, Some(&[(1, 1), (20, 20), (20, 21), (60, 60)]));
        assert_eq!(c.sites(), &[(20, 20), (20, 21)]);
        assert_eq!(c.nearest(0.0, 0.0, |_| true), Some(0));
        assert_eq!(c.nearest(0.0, 0.0, |k| k != 0), Some(1));
    }
}
