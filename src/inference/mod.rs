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
use std::sync::{Arc, Mutex};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::plan::SimpleState;

/// One loaded model with a fixed NHWC float image input (and, for our own posture model, vector
/// inputs after it).
pub struct Model {
    /// File stem, for error messages and stats.
    pub name: String,
    /// Input height and width (NHWC, batch 1, 3 channels).
    pub input_hw: (usize, usize),
    /// Lengths of the float inputs that follow the image, in order.
    extra_inputs: Vec<usize>,
    /// Their shapes: as the model declares them when that holds their length (a second image,
    /// 1×h×w×3), else 1×n.
    extra_shapes: Vec<Vec<usize>>,
    plan: Arc<TypedRunnableModel>,
    /// Sessions kept between runs (one per thread that ran the model at once, so at most a few):
    /// a fresh tract state per run set up every node's scratch again (heap allocations each frame).
    sessions: Mutex<Vec<Session>>,
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
        let extra_shapes: Vec<Vec<usize>> = extra_inputs
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let declared = model
                    .input_fact(1 + i)
                    .ok()
                    .and_then(|f| f.shape.as_concrete_finite().ok().flatten());
                match declared {
                    Some(d) if d.iter().product::<usize>() == n => d.to_vec(),
                    _ => vec![1, n],
                }
            })
            .collect();
        let mut model = model.with_input_fact(0, f32::fact(want.clone()).into());
        for (i, shape) in extra_shapes.iter().enumerate() {
            model = model.and_then(|m| m.with_input_fact(1 + i, f32::fact(shape.clone()).into()));
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
            extra_shapes,
            plan,
            sessions: Mutex::new(Vec::new()),
            order,
        })
    }

    /// Lengths of the inputs that follow the image, in order.
    pub fn extra_input_lens(&self) -> &[usize] {
        &self.extra_inputs
    }

    /// Run on one NHWC image tensor (`h·w·3` floats, already in the model's value range).
    pub fn run(&self, input: Vec<f32>) -> Result<Vec<Vec<f32>>> {
        self.run_with_vectors(input, &[])
    }

    /// Run on an image tensor and the vector inputs declared at load time.
    pub fn run_with_vectors(&self, input: Vec<f32>, vectors: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
        let (h, w) = self.input_hw;
        if input.len() != h * w * 3 {
            return Err(self.fail(anyhow::anyhow!(
                "an image of {} values, the model takes {h}x{w}x3",
                input.len()
            )));
        }
        self.run_filled(|image| image.copy_from_slice(&input), vectors)
    }

    /// Run with the image input written in place by `fill` (`h·w·3` floats, NHWC, in the model's
    /// value range; the buffer holds the previous run's values), then the vector inputs declared at
    /// load time. The input tensors and tract's state are kept between runs, so that a frame does
    /// not allocate them again.
    pub fn run_filled(&self, fill: impl FnOnce(&mut [f32]), vectors: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
        let lens: Vec<usize> = vectors.iter().map(|v| v.len()).collect();
        if lens != self.extra_inputs {
            return Err(self.fail(anyhow::anyhow!(
                "vector inputs of {lens:?} values, the model takes {:?}",
                self.extra_inputs
            )));
        }
        let taken = self.sessions.lock().map(|mut s| s.pop()).unwrap_or(None);
        let mut session = match taken {
            Some(s) => s,
            None => self.new_session().map_err(|e| self.fail(e))?,
        };
        let data = std::iter::once(None).chain(vectors.iter().map(|v| Some(*v)));
        let mut fill = Some(fill);
        for (tensor, values) in session.inputs.iter_mut().zip(data) {
            // Unique again once the previous run let go of its inputs; a copy otherwise.
            let mut view = Arc::make_mut(tensor).try_as_plain_ram_mut().map_err(|e| self.fail(e))?;
            let slice = view.as_slice_mut::<f32>().map_err(|e| self.fail(e))?;
            match values {
                Some(v) => slice.copy_from_slice(v),
                None => (fill.take().expect("the image is the first input"))(slice),
            }
        }
        let inputs: TVec<TValue> = session.inputs.iter().map(|t| TValue::from_const(t.clone())).collect();
        let outputs = session.state.run(inputs).map_err(|e| self.fail(e))?;
        let mut result = vec![Vec::new(); self.order.iter().filter(|&&i| i != usize::MAX).count()];
        for (value, &slot) in outputs.iter().zip(&self.order) {
            if slot != usize::MAX {
                result[slot] = value
                    .try_as_plain_ram()
                    .and_then(|v| v.as_slice::<f32>())
                    .map_err(|e| self.fail(e))?
                    .to_vec();
            }
        }
        drop(outputs);
        if let Ok(mut kept) = self.sessions.lock() {
            kept.push(session);
        }
        Ok(result)
    }

    /// A state for this model's plan and zeroed input tensors of the declared shapes.
    fn new_session(&self) -> anyhow::Result<Session> {
        let (h, w) = self.input_hw;
        let mut inputs = vec![Arc::new(Tensor::zero::<f32>(&[1, h, w, 3])?)];
        for shape in &self.extra_shapes {
            inputs.push(Arc::new(Tensor::zero::<f32>(shape)?));
        }
        Ok(Session {
            state: SimpleState::new(&self.plan)?,
            inputs,
        })
    }

    fn fail(&self, e: impl Into<anyhow::Error>) -> Error {
        Error::Inference {
            name: self.name.clone(),
            reason: first_line(&e.into()),
        }
    }
}

/// What one run of a model reuses from the last: tract's state (each node's scratch) and the input
/// tensors, which a run fills in place.
struct Session {
    state: TypedSimpleState,
    inputs: Vec<Arc<Tensor>>,
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
/// Pixels per side of the posture model's head crop, for a model with a head input.
pub const POSTURE_HEAD_PX: usize = 112;

/// The posture model, with or without a head-crop input (an input named `head` between the crop
/// and the body points: `models/train/export_onnx.py`).
fn load_posture_net(path: &Path) -> Result<Model> {
    let head = 3 * POSTURE_HEAD_PX * POSTURE_HEAD_PX;
    let extra: &[usize] = if onnx_input_names(path)?.iter().any(|n| n == "head") {
        &[head, POSTURE_FEATURES]
    } else {
        &[POSTURE_FEATURES]
    };
    Model::load_with_vectors(path, (POSTURE_CROP_PX, POSTURE_CROP_PX), extra, &[2 * POSTURE_OUTPUTS])
}

/// The names of an ONNX model's inputs (those not fed by an initializer).
fn onnx_input_names(path: &Path) -> Result<Vec<String>> {
    if !path.is_file() {
        return Err(Error::ModelMissing { path: path.into() });
    }
    let proto = tract_onnx::onnx()
        .proto_model_for_path(path)
        .map_err(|e| Error::ModelCorrupt {
            path: path.into(),
            reason: first_line(&e),
        })?;
    let graph = proto.graph.unwrap_or_default();
    let fed: std::collections::HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    Ok(graph
        .input
        .iter()
        .map(|i| i.name.clone())
        .filter(|n| !fed.contains(n.as_str()))
        .collect())
}

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
            posture_net: load_posture_net(&dir.join(POSTURE_NET_FILE))?,
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
