//! Landmarks: runs FaceMesh (468 points) and BlazePose (33 points + world coordinates) on a rotated
//! ROI, maps the points back to image pixels, and derives the ROI for the next frame (tracking), so
//! the detectors run only when a track is lost.

pub mod face_mesh;
pub mod pose;
pub mod posture_crop;
pub mod posture_net;

pub use crate::inference::roi::Roi;
pub use face_mesh::{FaceLandmarks, FaceMesh};
pub use pose::{PoseLandmarks, PoseModel};
pub use posture_net::{PostureEstimate, PostureNet};

pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}
