//! MediaPipe's canonical face (468 vertices, centimetres) and the landmark weights its geometry
//! pipeline uses for Procrustes. Loaded from `canonical_face.json`, which `models/fetch.sh` extracts
//! from the pinned `@mediapipe/face_mesh` package.

use super::Vec3;
use crate::{Error, Result};
use std::path::Path;

#[derive(Debug, Clone)]
pub struct CanonicalFace {
    /// 468 vertices: x = image right, y = up, z = toward the camera, for a face looking at the camera.
    pub vertices: Vec<Vec3>,
    /// (landmark index, weight) pairs: the stable, rigid points (forehead, nose bridge, cheekbones)
    /// that MediaPipe found best for pose; mouth and eyelids move with expression and get no weight.
    pub weights: Vec<(usize, f64)>,
}

#[derive(serde::Deserialize)]
struct Raw {
    vertices: Vec<[f64; 3]>,
    procrustes_weights: Vec<(usize, f64)>,
}

impl CanonicalFace {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Asset {
            path: path.into(),
            reason: e.to_string(),
        })?;
        let raw: Raw = serde_json::from_str(&text).map_err(|e| Error::Asset {
            path: path.into(),
            reason: format!("not valid canonical face JSON: {e}"),
        })?;
        if raw.vertices.len() != 468
            || raw.procrustes_weights.iter().any(|&(i, _)| i >= 468)
            || raw.procrustes_weights.len() < 3
        {
            return Err(Error::Asset {
                path: path.into(),
                reason: format!(
                    "expected 468 vertices and valid weights, found {} vertices",
                    raw.vertices.len()
                ),
            });
        }
        Ok(CanonicalFace {
            vertices: raw.vertices,
            weights: raw.procrustes_weights,
        })
    }
}
