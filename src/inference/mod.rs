//! Inference: owns the ONNX models and their input preprocessing. Each model is loaded,
//! shape-checked and optimised once at start-up (tract, pure Rust, single-threaded), then run per
//! frame. Model files come from `models/fetch.sh`; nothing is downloaded at run time. [`roi`] is the
//! rotated crop that turns image pixels into a model's input tensor (used by the detectors and the
//! landmark models alike, so it lives below both).

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod lanes;
pub mod roi;

use crate::geometry::CanonicalFace;
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tract_onnx::prelude::*;

/// One loaded model with a fixed NHWC float image input (and, for our own posture model, vector
/// inputs after it).
pub struct Model {
    /// File stem, for error messages and stats.
    pub name: String,
    /// Input height and width (NHWC, batch 1, 3 channels).
    pub input_hw: (usize, usize),
    /// Lengths of the 1×n float inputs that follow the image, in order.
    extra_inputs: Vec<usize>,
    plan: Arc<TypedRunnableModel>,
    /// For each output the model produces, its position in the caller's expected list. We match
    /// outputs by element count, not by name: tf2onnx's names and order are not stable across runs.
    order: Vec<usize>,
}

impl Model {
    /// Load `path`, fix its input to 1×h×w×3, and check that its outputs have exactly the element
    /// counts in `output_lens` (in any order); `run` returns them in the order given here.
    pub fn load(path: &Path, input_hw: (usize, usize), output_lens: &[usize]) -> Result<Model> {
        Model::load_with_vectors(path, input_hw, &[], output_lens)
    }

    /// [`Model::load`] for a model whose image input is followed by 1×n float inputs of the
    /// lengths in `extra_inputs`.
    pub fn load_with_vectors(
        path: &Path,
        input_hw: (usize, usize),
        extra_inputs: &[usize],
        output_lens: &[usize],
    ) -> Result<Model> {
        if !path.is_file() {
            return Err(Error::ModelMissing { path: path.into() });
        }
        let corrupt = |e: anyhow::Error| Error::ModelCorrupt {
            path: path.into(),
            reason: first_line(&e),
        };
        let shape_err = |reason: String| Error::ModelShape {
            path: path.into(),
            reason,
        };
        let model = tract_onnx::onnx().model_for_path(path).map_err(corrupt)?;
        let declared = model
            .input_fact(0)
            .map_err(corrupt)?
            .shape
            .as_concrete_finite()
            .ok()
            .flatten()
            .map(|s| s.to_vec());
        let want = vec![1, input_hw.0, input_hw.1, 3];
        if let Some(d) = &declared {
            if *d != want {
                return Err(shape_err(format!("input shape {d:?}, expected {want:?}")));
            }
        }
        let inputs = model.input_outlets().map_err(corrupt)?.len();
        if inputs != 1 + extra_inputs.len() {
            return Err(shape_err(format!(
                "{inputs} inputs, expected {}",
                1 + extra_inputs.len()
            )));
        }
        let mut model = model.with_input_fact(0, f32::fact(want.clone()).into());
        for (i, &n) in extra_inputs.iter().enumerate() {
            model = model.and_then(|m| m.with_input_fact(1 + i, f32::fact([1, n]).into()));
        }
        let typed = model
            .and_then(|m| m.into_optimized())
            .map_err(|e| shape_err(format!("does not accept a {want:?} input ({})", first_line(&e))))?;
        let mut lens = Vec::new();
        for outlet in typed.output_outlets().map_err(corrupt)? {
            let fact = typed.outlet_fact(*outlet).map_err(corrupt)?;
            let n = fact
                .shape
                .as_concrete()
                .map(|s| s.iter().product::<usize>())
                .ok_or_else(|| shape_err("output shape is not fixed".into()))?;
            lens.push(n);
        }
        let mut order = Vec::new();
        let mut used = vec![false; output_lens.len()];
        for n in &lens {
            match (0..output_lens.len()).find(|&i| !used[i] && output_lens[i] == *n) {
                Some(i) => {
                    used[i] = true;
                    order.push(i);
                }
                None => order.push(usize::MAX),
            }
        }
        if used.iter().any(|u| !u) {
            return Err(shape_err(format!(
                "outputs have {lens:?} elements, expected {output_lens:?}"
            )));
        }
        let plan = typed.into_runnable().map_err(corrupt)?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Model {
            name,
            input_hw,
            extra_inputs: extra_inputs.to_vec(),
            plan,
            order,
        })
    }

    /// Run on one NHWC image tensor (`h·w·3` floats, already in the model's value range).
    pub fn run(&self, input: Vec<f32>) -> Result<Vec<Vec<f32>>> {
        self.run_with_vectors(input, &[])
    }

    /// Run on an image tensor and the vector inputs declared at load time.
    pub fn run_with_vectors(&self, input: Vec<f32>, vectors: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
        let fail = |e: anyhow::Error| Error::Inference {
            name: self.name.clone(),
            reason: first_line(&e),
        };
        let lens: Vec<usize> = vectors.iter().map(|v| v.len()).collect();
        if lens != self.extra_inputs {
            return Err(fail(anyhow::anyhow!(
                "vector inputs of {lens:?} values, the model takes {:?}",
                self.extra_inputs
            )));
        }
        let (h, w) = self.input_hw;
        let mut inputs: TVec<TValue> = tvec!(Tensor::from_shape(&[1, h, w, 3], &input).map_err(fail)?.into());
        for v in vectors {
            inputs.push(Tensor::from_shape(&[1, v.len()], v).map_err(fail)?.into());
        }
        let outputs = self.plan.run(inputs).map_err(fail)?;
        let mut result = vec![Vec::new(); self.order.iter().filter(|&&i| i != usize::MAX).count()];
        for (value, &slot) in outputs.iter().zip(&self.order) {
            if slot != usize::MAX {
                result[slot] = value
                    .to_plain_array_view::<f32>()
                    .map_err(fail)?
                    .iter()
                    .copied()
                    .collect();
            }
        }
        Ok(result)
    }
}

fn first_line(e: &anyhow::Error) -> String {
    format!("{e:#}").lines().next().unwrap_or("unknown error").to_string()
}

/// Which BlazePose landmark model to run: lite is ~1.6× faster, full is steadier on shoulders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PoseVariant {
    #[default]
    Lite,
    Full,
}

/// Every model and asset one pipeline needs, loaded once.
pub struct ModelSet {
    pub dir: PathBuf,
    pub face_detector: Model,
    pub face_mesh: Model,
    pub pose_detector: Model,
    pub pose_landmarks: Model,
    /// Our posture model (`models/train/`), on the crop between head and shoulders.
    pub posture_net: Model,
    pub canonical_face: CanonicalFace,
}

pub const FACE_DETECTOR_FILE: &str = "face_detection_short_range.onnx";
pub const FACE_MESH_FILE: &str = "face_landmark.onnx";
pub const POSE_DETECTOR_FILE: &str = "pose_detection.onnx";
pub const CANONICAL_FACE_FILE: &str = "canonical_face.json";
pub const POSTURE_NET_FILE: &str = "posture_net.onnx";
/// The posture model's input and output sizes (`models/train/train.py`; the landmarks layer fills them).
pub const POSTURE_CROP_PX: usize = 128;
pub const POSTURE_FEATURES: usize = 49;
pub const POSTURE_OUTPUTS: usize = 9;

impl PoseVariant {
    pub fn file(self) -> &'static str {
        match self {
            PoseVariant::Lite => "pose_landmark_lite.onnx",
            PoseVariant::Full => "pose_landmark_full.onnx",
        }
    }
}

impl ModelSet {
    pub fn load(dir: &Path, pose: PoseVariant) -> Result<ModelSet> {
        Ok(ModelSet {
            dir: dir.into(),
            face_detector: Model::load(&dir.join(FACE_DETECTOR_FILE), (128, 128), &[896 * 16, 896])?,
            face_mesh: Model::load(&dir.join(FACE_MESH_FILE), (192, 192), &[1404, 1])?,
            pose_detector: Model::load(&dir.join(POSE_DETECTOR_FILE), (224, 224), &[2254 * 12, 2254])?,
            pose_landmarks: Model::load(&dir.join(pose.file()), (256, 256), &[195, 1, 117])?,
            posture_net: Model::load_with_vectors(
                &dir.join(POSTURE_NET_FILE),
                (POSTURE_CROP_PX, POSTURE_CROP_PX),
                &[POSTURE_FEATURES],
                &[2 * POSTURE_OUTPUTS],
            )?,
            canonical_face: CanonicalFace::load(&dir.join(CANONICAL_FACE_FILE))?,
        })
    }
}

/// Where the models are: `--models`, then `$CDPOSTURE_MODELS`, then `models/build` (a checkout after
/// `models/fetch.sh`), then `/usr/share/cdposture/models` (the Debian package).
pub fn resolve_model_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.into();
    }
    if let Some(p) = std::env::var_os("CDPOSTURE_MODELS") {
        return p.into();
    }
    let candidates = [
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models/build")),
        PathBuf::from("models/build"),
        PathBuf::from("/usr/share/cdposture/models"),
    ];
    candidates
        .iter()
        .find(|p| p.join(FACE_MESH_FILE).is_file())
        .cloned()
        .unwrap_or_else(|| candidates[1].clone())
}
