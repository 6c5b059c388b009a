//! The JSON payloads the daemon publishes, one struct per message kind. `schema` is bumped on any
//! incompatible change; `docs/schema.json` is the JSON Schema a gateway can validate against.

use crate::assess::Assessment;
use crate::exam::ExamSummary;
use crate::geometry::{Angles, RotationSource};
use crate::landmarks::PostureEstimate;
use crate::pipeline::{Measurement, StageTimes};
use crate::scoring::{Item1, ScoredIn};
use crate::tremor::Tremor;
use serde::Serialize;

pub const SCHEMA_VERSION: u32 = 1;

/// Live assessment of one frame (`<prefix>/<room>/state`, QoS 0; stdout without a broker).
#[derive(Debug, Clone, Serialize)]
pub struct StateMessage {
    pub schema: u32,
    pub room: String,
    /// Wall-clock time, Unix seconds.
    pub time: f64,
    /// Source time, seconds since the source started.
    pub t_s: f64,
    pub frame: u64,
    /// False when the frame was not usable (no face, or face confidence below the minimum); such
    /// frames carry no smoothed angles and no scores.
    pub quality_ok: bool,
    pub face_found: bool,
    pub face_confidence: f32,
    pub pose_found: bool,
    /// `trunk` when the angles are relative to the trunk, `camera` when no shoulders were seen
    /// (never mixed: each has its own smoothing, neutral and exam statistics); null when the
    /// frame was not measured.
    pub scored_in: Option<ScoredIn>,
    /// Unsmoothed head angles in the camera frame, degrees.
    pub raw_head: Option<Angles>,
    /// Unsmoothed head angles relative to the trunk, degrees.
    pub raw_relative: Option<Angles>,
    /// Where `raw_relative` came from: `face_mesh`, `posture_model` or a `blend` of the two.
    pub rotation_source: Option<RotationSource>,
    /// The posture model's share of `raw_relative`'s yaw, 0..1 (pitch and roll are weighed each by
    /// their own uncertainties).
    pub model_weight: Option<f64>,
    /// The posture model's own estimate with its uncertainty per value (`*_b`, about the expected
    /// absolute error); the shifts and the shoulder elevation are always its values.
    pub posture_model: Option<PostureEstimate>,
    /// Smoothed angles relative to the trunk (or camera, see `scored_in`) and the neutral pose:
    /// what is scored.
    pub angles: Option<Angles>,
    pub shoulder_elevation: Option<f64>,
    pub lateral_shift: Option<f64>,
    pub sagittal_shift: Option<f64>,
    pub scores: Item1,
    /// Head tremor in the last 4 s of raw angles, per axis while detected (null per axis
    /// without); null until a window is full and on frames not measured.
    pub tremor: Option<Tremor>,
    pub exam_id: Option<String>,
    pub neutral_capturing: bool,
}

/// Where a frame came from and what the daemon knew around it, for [`StateMessage::of_frame`].
pub struct FrameContext<'a> {
    pub room: &'a str,
    pub frame: u64,
    /// Source time, seconds since the source started.
    pub t_s: f64,
    pub exam_id: Option<&'a str>,
    pub neutral_capturing: bool,
}

impl StateMessage {
    /// The message of one assessed frame: the daemon's per-frame message, built here so that the
    /// stage benchmark serialises exactly what the daemon publishes.
    pub fn of_frame(ctx: &FrameContext<'_>, m: &Measurement, a: &Assessment) -> Self {
        StateMessage {
            schema: SCHEMA_VERSION,
            room: ctx.room.to_owned(),
            time: super::unix_now(),
            t_s: ctx.t_s,
            frame: ctx.frame,
            quality_ok: a.quality_ok,
            face_found: m.face_found,
            face_confidence: m.face_confidence,
            pose_found: m.pose_found,
            scored_in: a.scored_in,
            raw_head: m.head,
            raw_relative: m.relative,
            rotation_source: m.rotation.map(|r| r.source),
            model_weight: m.rotation.map(|r| r.model_weight),
            posture_model: m.posture,
            angles: a.angles,
            shoulder_elevation: a.trunk.map(|t| t.shoulder_elevation),
            lateral_shift: a.trunk.and_then(|t| t.lateral_shift),
            sagittal_shift: a.trunk.and_then(|t| t.sagittal_shift),
            scores: a.scores.clone(),
            tremor: a.tremor,
            exam_id: ctx.exam_id.map(str::to_owned),
            neutral_capturing: ctx.neutral_capturing,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExamEventKind {
    New,
    Update,
    End,
}

/// `<prefix>/<room>/exam` (QoS 1, through the outbox).
#[derive(Debug, Clone, Serialize)]
pub struct ExamEvent {
    pub schema: u32,
    pub room: String,
    pub exam_id: String,
    #[serde(rename = "type")]
    pub kind: ExamEventKind,
    pub time: f64,
    /// The neutral pose in force, degrees (zero until calibrated).
    pub neutral: Angles,
    pub summary: ExamSummary,
    /// An `update` after a restart that resumed this exam from its checkpoint.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub resumed: bool,
    /// An `end` sent after a restart, for an exam the restart cut off (too long ago to resume).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// `new` and `end`: who started or ended it: `startup`, `button`, `clinic`; an end also
    /// `new_exam` (another exam started), `stopped` (the daemon stopped or its input ended) or
    /// `restart` (with `interrupted`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<&'static str>,
}

/// Mean per-stage milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StageMs {
    pub detector: f64,
    pub face_landmarks: f64,
    pub pose: f64,
    pub posture_model: f64,
    pub geometry: f64,
}

impl StageMs {
    pub fn add(&mut self, t: &StageTimes) {
        self.detector += t.detector_ms;
        self.face_landmarks += t.face_landmarks_ms;
        self.pose += t.pose_ms;
        self.posture_model += t.posture_model_ms;
        self.geometry += t.geometry_ms;
    }
    pub fn scaled(&self, k: f64) -> StageMs {
        StageMs {
            detector: self.detector * k,
            face_landmarks: self.face_landmarks * k,
            pose: self.pose * k,
            posture_model: self.posture_model * k,
            geometry: self.geometry * k,
        }
    }
}

/// `<prefix>/<room>/stats`, periodic.
#[derive(Debug, Clone, Serialize)]
pub struct StatsMessage {
    pub schema: u32,
    pub room: String,
    pub time: f64,
    pub uptime_s: f64,
    pub camera_fps: f64,
    pub processed_fps: f64,
    pub frames_captured: u64,
    pub frames_processed: u64,
    pub frames_measured: u64,
    /// Frames the pipeline failed on: skipped and counted, never fatal.
    pub frames_failed: u64,
    pub frames_dropped: u64,
    /// False while a lost camera is being reopened.
    pub camera_online: bool,
    pub camera_reconnects: u64,
    /// Camera frames skipped as corrupt (driver error flag, undecodable MJPEG).
    pub frames_corrupt: u64,
    pub stage_ms: StageMs,
    pub model_dir: String,
}
