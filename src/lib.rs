//! cdposture: an objective measuring instrument for cervical dystonia from one fixed camera.
//!
//! Data flows one way, one module per stage:
//!
//! * [`capture`] reads frames: still images, folders of images, video files and V4L2 cameras;
//!   and brightens a frame too dim for the models ([`capture::exposure`]).
//! * [`inference`] loads the ONNX models once with tract and runs them, and crops their inputs
//!   (rotated ROIs); [`models`](crate::inference::ModelSet) come from `models/fetch.sh`, never from
//!   the network at run time.
//! * [`detect`] finds faces and bodies (BlazeFace, BlazePose detector): anchors, decoding, weighted NMS.
//! * [`landmarks`] crops a rotated region of interest and runs FaceMesh (468 points) and BlazePose
//!   landmarks (33 + world coordinates); it also derives the next frame's ROI for tracking, and runs
//!   our posture model (trained on rendered avatars) on the crop between head and shoulders.
//! * [`geometry`] turns landmarks into clinical angles: head rotation by weighted Procrustes against
//!   MediaPipe's canonical face, the trunk frame from the shoulders, and the head relative to the trunk,
//!   fused with the posture model's estimate where the face mesh fails (`geometry::fusion`).
//!   Every axis and sign convention lives in [`geometry::angles`].
//! * [`scoring`] maps angles to TWSTRS item-1 sub-scores with confidences.
//! * [`smoothing`] filters the angles online (One Euro) before they are scored and published.
//! * [`tremor`] finds a head tremor (frequency, amplitude per axis) in the raw angles.
//! * [`exam`] summarises one patient visit in constant memory and captures the neutral pose.
//! * [`assess`] turns one frame's measurement into what is scored (quality gate, frame of
//!   reference, smoothing, neutral, scores): one implementation for `run` and `analyze`.
//! * [`config`] turns the TOML file into validated settings (raw → validated, like ripgrep's flags).
//! * [`pipeline`] ties the stages together with MediaPipe-style tracking and per-stage timings.
//! * [`protocol`] is what the loop and the publisher share: payloads, commands, the sink trait.
//! * [`publish`] sends everything to the clinic over MQTT, through a durable outbox for QoS 1.
//! * [`daemon`] is the exam-room service: capture thread, drop-oldest queue, loop, sd_notify, GPIO.
//! * [`report`] writes per-frame records (CSV, JSON lines) and summaries.
//! * [`gateway`] (feature `gateway`, not in device builds) is the clinic server: every room's
//!   messages into SQLite or PostgreSQL, the HTTP API and the dashboard.
//! * [`cli`] holds one file per subcommand (`analyze`, `eval-headpose`, `run`); the binary in
//!   `src/bin/cdposture.rs` only parses arguments and dispatches.

pub mod assess;
pub mod capture;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod detect;
pub mod error;
pub mod exam;
#[cfg(feature = "gateway")]
pub mod gateway;
pub mod geometry;
pub mod inference;
pub mod landmarks;
pub mod pipeline;
pub mod protocol;
pub mod publish;
pub mod report;
pub mod scoring;
pub mod smoothing;
pub mod tremor;

pub use error::{Error, Result};
