//! The newest model a session's log holds: its `embeddings` rows (one per
//! measured location it was trained on) and its `property_map` rows, so a
//! report can be drawn from what was already learned instead of training again.

use super::StoreError;
use super::frame::{get_f64, get_list_f32, get_str, get_u32};
use super::reader::table_frame;
use crate::record::{LatentPoint, PropertyPoint};
use std::path::Path;

/// One model's rows, as the session logged them.
#[derive(Debug, Clone)]
pub struct SavedModel {
    /// `live` or `analyze`.
    pub model: String,
    /// The curves it was trained on.
    pub model_step: u32,
    /// Its latent position and cluster of each location it was trained on.
    pub latent: Vec<LatentPoint>,
    /// Its predictions at every candidate (empty when it made none).
    pub properties: Vec<PropertyPoint>,
}

/// The model trained on the most curves; between two on as many, `analyze`'s
/// (trained offline with the full settings, where a live one may be cut short).
/// `None` when the session has logged no model.
pub fn newest_model(session: &Path) -> Result<Option<SavedModel>, StoreError> {
    let Some(emb) = table_frame(session, "embeddings")? else {
        return Ok(None);
    };
    let latent = latent_points(&emb)?;
    let Some((model_step, model)) = latent
        .iter()
        .map(|p| (p.model_step, p.model.clone()))
        .max_by_key(|(step, model)| (*step, model == "analyze"))
    else {
        return Ok(None);
    };
    let same = |step: u32, name: &str| step == model_step && name == model;
    let latent: Vec<LatentPoint> = latent.into_iter().filter(|p| same(p.model_step, &p.model)).collect();
    let properties = match table_frame(session, "property_map")? {
        Some(df) => property_points(&df)?
            .into_iter()
            .filter(|p| same(p.model_step, &p.model))
            .collect(),
        None => Vec::new(),
    };
    Ok(Some(SavedModel {
        model,
        model_step,
        latent,
        properties,
    }))
}

fn latent_points(df: &polars::prelude::DataFrame) -> Result<Vec<LatentPoint>, StoreError> {
    let (model_step, row, col) = (get_u32(df, "model_step")?, get_u32(df, "row")?, get_u32(df, "col")?);
    let (z_image, z_spectrum) = (get_list_f32(df, "z_image")?, get_list_f32(df, "z_spectrum")?);
    let (cluster, step, model) = (get_u32(df, "cluster")?, get_u32(df, "step")?, get_str(df, "model")?);
    Ok((0..df.height())
        .map(|k| LatentPoint {
            model_step: model_step[k],
            row: row[k],
            col: col[k],
            z_image: z_image[k].clone(),
            z_spectrum: z_spectrum[k].clone(),
            cluster: cluster[k],
            step: step[k],
            model: model[k].clone(),
        })
        .collect())
}

fn property_points(df: &polars::prelude::DataFrame) -> Result<Vec<PropertyPoint>, StoreError> {
    let opt = |v: f64| v.is_finite().then_some(v);
    let f = |name: &str| get_f64(df, name);
    let (area, current, onset) = (f("hysteresis_area")?, f("max_current_a")?, f("onset_v")?);
    let (area_sd, current_sd, onset_sd) = (f("hysteresis_area_std")?, f("max_current_a_std")?, f("onset_v_std")?);
    let (x_nm, y_nm) = (f("x_nm")?, f("y_nm")?);
    let (model_step, row, col) = (get_u32(df, "model_step")?, get_u32(df, "row")?, get_u32(df, "col")?);
    let (cluster, model) = (get_u32(df, "cluster")?, get_str(df, "model")?);
    Ok((0..df.height())
        .map(|k| PropertyPoint {
            model_step: model_step[k],
            row: row[k],
            col: col[k],
            x_nm: x_nm[k],
            y_nm: y_nm[k],
            hysteresis_area: area[k],
            max_current_a: current[k],
            onset_v: opt(onset[k]),
            hysteresis_area_std: opt(area_sd[k]),
            max_current_a_std: opt(current_sd[k]),
            onset_v_std: opt(onset_sd[k]),
            cluster: cluster[k],
            model: model[k].clone(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::frame::{parquet_bytes, part_name, write_file_atomic};
    use crate::store::schema::embeddings_frame;

    fn rows(model: &str, model_step: u32, cluster: u32) -> Vec<LatentPoint> {
        (0..model_step)
            .map(|step| LatentPoint {
                model_step,
                row: step,
                col: 2 * step,
                z_image: vec![step as f32, 1.0],
                z_spectrum: vec![0.0, -1.0],
                cluster: cluster + step % 2,
                step,
                model: model.into(),
            })
            .collect()
    }

    fn write(dir: &Path, part: u32, points: &[LatentPoint]) {
        let folder = dir.join("embeddings");
        std::fs::create_dir_all(&folder).unwrap();
        let mut df = embeddings_frame(points).unwrap();
        write_file_atomic(&folder.join(part_name(part)), &parquet_bytes(&mut df, None).unwrap()).unwrap();
    }

    #[test]
    fn the_model_on_the_most_curves_wins_and_analyze_breaks_a_tie() {
        let dir = tempfile::tempdir().unwrap();
        assert!(newest_model(dir.path()).unwrap().is_none(), "no table, no model");
        write(dir.path(), 1, &[rows("live", 4, 0), rows("live", 8, 10)].concat());
        let m = newest_model(dir.path()).unwrap().unwrap();
        assert_eq!((m.model.as_str(), m.model_step, m.latent.len()), ("live", 8, 8));
        assert!(m.latent.iter().all(|p| p.cluster >= 10), "only the newest model's rows");
        assert!(m.properties.is_empty(), "no property_map table");
        write(dir.path(), 900_000, &rows("analyze", 8, 20));
        let m = newest_model(dir.path()).unwrap().unwrap();
        assert_eq!((m.model.as_str(), m.model_step), ("analyze", 8));
        assert_eq!(m.latent[3].z_image, vec![3.0, 1.0]);
        write(dir.path(), 2, &rows("live", 9, 30));
        assert_eq!(newest_model(dir.path()).unwrap().unwrap().model_step, 9);
    }
}
