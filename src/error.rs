//! The library's error type. Every variant names the thing that failed and says what to do, because
//! these messages reach clinic technicians as one line on a terminal or in the journal.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("model {path}: file not found; run `models/fetch.sh` (or pass --models DIR)")]
    ModelMissing { path: PathBuf },

    #[error("model {path}: cannot be loaded ({reason}); the file is corrupt or not ONNX: delete it and run `models/fetch.sh`")]
    ModelCorrupt { path: PathBuf, reason: String },

    #[error("model {path}: {reason}; this is not the model cdposture expects here: run `models/fetch.sh`")]
    ModelShape { path: PathBuf, reason: String },

    #[error("model {name}: inference failed: {reason}")]
    Inference { name: String, reason: String },

    #[error("asset {path}: {reason}; run `models/fetch.sh`")]
    Asset { path: PathBuf, reason: String },

    #[error("{path}: not a readable image ({reason}); give a JPEG or PNG file")]
    BadImage { path: PathBuf, reason: String },

    #[error("{path}: {reason}")]
    BadVideo { path: PathBuf, reason: String },

    #[error("{path}: folder contains no images (.jpg, .jpeg, .png); point to a folder with images")]
    EmptyFolder { path: PathBuf },

    #[error("{path}: {reason}")]
    Input { path: PathBuf, reason: String },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    Camera(#[from] crate::capture::camera::CameraError),

    #[error("{0}")]
    Other(String),
}

impl Error {
    /// A camera that went away or stalled: the capture thread reopens it instead of stopping.
    pub fn is_camera_lost(&self) -> bool {
        matches!(self, Error::Camera(e) if e.is_lost())
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
