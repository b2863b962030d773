//! The replay dataset `dualscope-grid/1` (CONTRACTS §2): one topography image,
//! I–V curves at many locations and, optionally, the true motif of each pixel.

use super::StoreError;
use super::frame::*;
use ndarray::Array2;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const GRID_FORMAT: &str = "dualscope-grid/1";

/// `labels.parquet`'s words by (row, col).
pub type LabelWords = BTreeMap<(u32, u32), String>;

/// The `[sweep]` table of `dataset.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GridSweep {
    pub v_start: f64,
    pub v_max: f64,
    pub v_end: f64,
    pub points: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct DatasetToml {
    format: String,
    rows: u32,
    cols: u32,
    width_nm: f64,
    height_nm: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sweep: Option<GridSweep>,
    /// Several sweeps per location (CONTRACTS §2): `[[protocol]]`; `[sweep]`
    /// is then the first of them, for readers from before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    protocol: Vec<GridSweep>,
}

/// A curve stored in the dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct GridCurve {
    pub bias_v: Vec<f64>,
    pub current_a: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GridDataset {
    pub width_nm: f64,
    pub height_nm: f64,
    pub description: Option<String>,
    pub sweep: Option<GridSweep>,
    /// The sweeps every location holds, in order (`[[protocol]]`); empty
    /// for a dataset of one sweep a location.
    pub protocols: Vec<GridSweep>,
    /// `rows × cols` heights.
    pub topography_nm: Array2<f64>,
    /// Curves by (row, col): the only ones, or the first protocol's.
    pub spectra: BTreeMap<(u32, u32), GridCurve>,
    /// The other protocols' curves by (row, col, protocol ≥ 1).
    pub more: BTreeMap<(u32, u32, u32), GridCurve>,
    /// Ground-truth motif by (row, col), when known.
    pub labels: Option<BTreeMap<(u32, u32), String>>,
    /// Stored curves that cannot be served (empty, not finite, off the
    /// image), with why: left out of `spectra`, so never measured.
    pub unusable: Vec<((u32, u32), String)>,
}

impl GridDataset {
    pub fn rows(&self) -> u32 {
        self.topography_nm.nrows() as u32
    }

    pub fn cols(&self) -> u32 {
        self.topography_nm.ncols() as u32
    }

    /// Reads a dataset folder, with a clear error for what is missing or
    /// wrong; an image of more than `max_pixels` pixels is refused before
    /// anything is allocated for it.
    pub fn read(dir: &Path, max_pixels: u64) -> Result<Self, StoreError> {
        if !dir.is_dir() {
            return Err(StoreError::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such dataset folder"),
            });
        }
        let toml_path = dir.join("dataset.toml");
        let text = std::fs::read_to_string(&toml_path).map_err(|e| StoreError::io(&toml_path, e))?;
        let head: DatasetToml = toml::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("{}: {}", toml_path.display(), e.message())))?;
        if head.format != GRID_FORMAT {
            return Err(StoreError::Corrupt(format!(
                "{}: format `{}`, expected `{GRID_FORMAT}`",
                toml_path.display(),
                head.format
            )));
        }
        let pixels = head.rows as u64 * head.cols as u64;
        if pixels == 0 || pixels > max_pixels {
            return Err(StoreError::Corrupt(format!(
                "{}: an image of {}×{} px; 1 ..= {max_pixels} pixels fit the memory budget (host.memory_budget_mb)",
                toml_path.display(),
                head.rows,
                head.cols
            )));
        }
        for (key, v) in [("width_nm", head.width_nm), ("height_nm", head.height_nm)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(StoreError::Corrupt(format!(
                    "{}: {key} = {v}, must be a positive number",
                    toml_path.display()
                )));
            }
        }
        let topo = read_parquet(&dir.join("topography.parquet"))?;
        let (r, c, h) = (
            get_u32(&topo, "row")?,
            get_u32(&topo, "col")?,
            get_f64(&topo, "height_nm")?,
        );
        if r.len() as u64 != pixels {
            return Err(StoreError::Corrupt(format!(
                "topography.parquet has {} rows for a {}×{} image",
                r.len(),
                head.rows,
                head.cols
            )));
        }
        let mut topography_nm = Array2::from_elem((head.rows as usize, head.cols as usize), f64::NAN);
        for k in 0..r.len() {
            if r[k] >= head.rows || c[k] >= head.cols {
                return Err(StoreError::Corrupt(format!(
                    "topography pixel ({}, {}) outside {}×{}",
                    r[k], c[k], head.rows, head.cols
                )));
            }
            topography_nm[[r[k] as usize, c[k] as usize]] = h[k];
        }
        if topography_nm.iter().any(|v| !v.is_finite()) {
            return Err(StoreError::Corrupt(
                "topography.parquet does not give a finite height for every pixel".into(),
            ));
        }
        let sp = read_parquet(&dir.join("spectra.parquet"))?;
        let (r, c) = (get_u32(&sp, "row")?, get_u32(&sp, "col")?);
        let (bias, current) = (get_list_f64(&sp, "bias_v")?, get_list_f64(&sp, "current_a")?);
        let protocol = get_opt_u32(&sp, "protocol")?;
        let held = head.protocol.len().max(1) as u32;
        let mut spectra = BTreeMap::new();
        let mut more = BTreeMap::new();
        let mut unusable = Vec::new();
        for (k, (b, i)) in bias.into_iter().zip(current).enumerate() {
            let p = protocol[k].unwrap_or(0);
            let why = if r[k] >= head.rows || c[k] >= head.cols {
                Some(format!("outside the {}×{} image", head.rows, head.cols))
            } else if b.len() != i.len() {
                Some(format!("{} biases but {} currents", b.len(), i.len()))
            } else if b.is_empty() {
                Some("an empty curve".to_string())
            } else if !b.iter().chain(&i).all(|v| v.is_finite()) {
                Some("values that are not numbers".to_string())
            } else if p >= held {
                Some(format!("protocol {p}, but dataset.toml names {held}"))
            } else {
                None
            };
            if let Some(why) = why {
                unusable.push(((r[k], c[k]), why));
                continue;
            }
            let curve = GridCurve {
                bias_v: b,
                current_a: i,
            };
            if p == 0 {
                spectra.insert((r[k], c[k]), curve);
            } else {
                more.insert((r[k], c[k], p), curve);
            }
        }
        let labels = Self::read_labels(dir)?;
        Ok(Self {
            width_nm: head.width_nm,
            height_nm: head.height_nm,
            description: head.description,
            sweep: head.sweep,
            protocols: head.protocol,
            topography_nm,
            spectra,
            more,
            labels,
            unusable,
        })
    }

    /// `labels.parquet` alone: the true motif of each labelled pixel.
    pub fn read_labels(dir: &Path) -> Result<Option<LabelWords>, StoreError> {
        let labels_path = dir.join("labels.parquet");
        if !labels_path.exists() {
            return Ok(None);
        }
        let lb = read_parquet(&labels_path)?;
        let (r, c, m) = (get_u32(&lb, "row")?, get_u32(&lb, "col")?, get_str(&lb, "motif")?);
        Ok(Some((0..r.len()).map(|k| ((r[k], c[k]), m[k].clone())).collect()))
    }

    /// Writes the dataset; `dataset.toml` goes last, so a folder without it is
    /// an unfinished export, never a wrong dataset.
    pub fn write(&self, dir: &Path) -> Result<(), StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let mut topo = {
            let mut r = Vec::new();
            let mut c = Vec::new();
            let mut h = Vec::new();
            for ((row, col), v) in self.topography_nm.indexed_iter() {
                r.push(row as u32);
                c.push(col as u32);
                h.push(*v);
            }
            DataFrame::new_infer_height(vec![col_u32("row", r), col_u32("col", c), col_f64("height_nm", h)])
                .map_err(|e| StoreError::Polars(e.to_string()))?
        };
        write_parquet_atomic(&mut topo, &dir.join("topography.parquet"), None)?;
        // One row per (location, protocol); the `protocol` column only where
        // the dataset holds several.
        let rows: Vec<((u32, u32, u32), &GridCurve)> = self
            .spectra
            .iter()
            .map(|(&(r, c), s)| ((r, c, 0), s))
            .chain(self.more.iter().map(|(&k, s)| (k, s)))
            .collect();
        let bias: Vec<&[f64]> = rows.iter().map(|(_, s)| s.bias_v.as_slice()).collect();
        let current: Vec<&[f64]> = rows.iter().map(|(_, s)| s.current_a.as_slice()).collect();
        let mut columns = vec![
            col_u32("row", rows.iter().map(|(k, _)| k.0).collect()),
            col_u32("col", rows.iter().map(|(k, _)| k.1).collect()),
            col_list_f64("bias_v", &bias),
            col_list_f64("current_a", &current),
        ];
        if !self.protocols.is_empty() {
            columns.push(col_u32("protocol", rows.iter().map(|(k, _)| k.2).collect()));
        }
        let mut sp = DataFrame::new_infer_height(columns).map_err(|e| StoreError::Polars(e.to_string()))?;
        write_parquet_atomic(&mut sp, &dir.join("spectra.parquet"), None)?;
        if let Some(labels) = &self.labels {
            let mut lb = DataFrame::new_infer_height(vec![
                col_u32("row", labels.keys().map(|k| k.0).collect()),
                col_u32("col", labels.keys().map(|k| k.1).collect()),
                col_str("motif", labels.values().cloned().collect()),
            ])
            .map_err(|e| StoreError::Polars(e.to_string()))?;
            write_parquet_atomic(&mut lb, &dir.join("labels.parquet"), None)?;
        }
        let head = DatasetToml {
            format: GRID_FORMAT.into(),
            rows: self.rows(),
            cols: self.cols(),
            width_nm: self.width_nm,
            height_nm: self.height_nm,
            description: self.description.clone(),
            sweep: self.sweep,
            protocol: self.protocols.clone(),
        };
        let text = toml::to_string_pretty(&head).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        write_file_atomic(&dir.join("dataset.toml"), text.as_bytes()).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut spectra = BTreeMap::new();
        spectra.insert(
            (1, 2),
            GridCurve {
                bias_v: vec![0.0, 1.0, 0.0],
                current_a: vec![0.0, 1e-9, 2e-10],
            },
        );
        spectra.insert(
            (3, 0),
            GridCurve {
                bias_v: vec![0.0, 1.0],
                current_a: vec![0.0, 1e-9],
            },
        );
        let mut labels = BTreeMap::new();
        labels.insert((1, 2), "gb_groove".to_string());
        let ds = GridDataset {
            width_nm: 100.0,
            height_nm: 50.0,
            description: Some("test".into()),
            sweep: Some(GridSweep {
                v_start: 0.0,
                v_max: 1.0,
                v_end: 0.0,
                points: 3,
            }),
            protocols: Vec::new(),
            topography_nm: Array2::from_shape_fn((4, 3), |(r, c)| (r * 3 + c) as f64),
            spectra,
            more: BTreeMap::new(),
            labels: Some(labels),
            unusable: Vec::new(),
        };
        ds.write(dir.path()).unwrap();
        assert_eq!(GridDataset::read(dir.path(), 1 << 20).unwrap(), ds);
    }

    #[test]
    fn a_huge_claimed_image_is_refused_before_allocating_and_bad_curves_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut spectra = BTreeMap::new();
        for (k, (b, i)) in [
            (vec![0.0, 1.0], vec![0.0, 1e-9]),
            (vec![], vec![]),
            (vec![0.0, 1.0], vec![f64::NAN, 1e-9]),
        ]
        .into_iter()
        .enumerate()
        {
            spectra.insert(
                (k as u32, 0),
                GridCurve {
                    bias_v: b,
                    current_a: i,
                },
            );
        }
        let ds = GridDataset {
            width_nm: 10.0,
            height_nm: 10.0,
            description: None,
            sweep: None,
            protocols: Vec::new(),
            topography_nm: Array2::zeros((4, 4)),
            spectra,
            more: Default::default(),
            labels: None,
            unusable: Vec::new(),
        };
        ds.write(dir.path()).unwrap();
        let read = GridDataset::read(dir.path(), 16).unwrap();
        assert_eq!(read.spectra.len(), 1);
        assert_eq!(read.unusable.len(), 2, "{:?}", read.unusable);
        assert!(read.unusable.iter().any(|(_, why)| why.contains("empty")));
        // dataset.toml claiming 200 000² px: refused by its header alone.
        let toml = dir.path().join("dataset.toml");
        let text = std::fs::read_to_string(&toml)
            .unwrap()
            .replace("rows = 4", "rows = 200000")
            .replace("cols = 4", "cols = 200000");
        std::fs::write(&toml, text).unwrap();
        let err = GridDataset::read(dir.path(), 1 << 30).unwrap_err().to_string();
        assert!(err.contains("200000×200000") && err.contains("memory"), "{err}");
    }

    #[test]
    fn missing_folder_is_a_clear_error() {
        let err = GridDataset::read(Path::new("/nonexistent/dataset"), 1 << 20).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/dataset"), "{err}");
    }
}
