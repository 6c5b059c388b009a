//! The config file as written: one struct per TOML table, every key optional with its default,
//! unknown keys rejected (a typo must not silently fall back to a default). No validation here.

use crate::inference::PoseVariant;
use crate::scoring::ScoringConfig;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub room: RawRoom,
    pub source: RawSource,
    pub models: RawModels,
    pub pipeline: RawPipeline,
    pub smoothing: RawSmoothing,
    pub scoring: ScoringConfig,
    pub exam: RawExam,
    pub mqtt: Option<RawMqtt>,
    pub outbox: RawOutbox,
    pub camera: RawCamera,
    pub gpio: Option<RawGpio>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRoom {
    /// Exam-room id, part of every MQTT topic.
    pub id: String,
}
impl Default for RawRoom {
    fn default() -> Self {
        RawRoom { id: "room1".into() }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSource {
    /// demo | video | images | camera (the `[camera]` table)
    pub kind: String,
    pub path: Option<PathBuf>,
    /// Start again at the end (video, demo).
    pub r#loop: bool,
    pub demo_frames: u64,
    /// Frame rate of the demo source.
    pub demo_fps: f64,
}
impl Default for RawSource {
    fn default() -> Self {
        RawSource {
            kind: "demo".into(),
            path: None,
            r#loop: false,
            demo_frames: 60,
            demo_fps: 15.0,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawModels {
    pub dir: Option<PathBuf>,
    pub pose: PoseVariant,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPipeline {
    pub min_face_presence: f32,
    pub min_confidence: f32,
    pub spine_from_hips: bool,
    pub trunk_yaw_from_depth: bool,
    pub camera_azimuth_deg: f64,
    pub camera_elevation_deg: f64,
    pub pose_every: u32,
    pub posture_model: bool,
    pub posture_mirror: bool,
    pub trunk_yaw_from_model: bool,
    pub trunk_tilt_from_model: bool,
    pub threads: usize,
    pub body_worker: bool,
}
impl Default for RawPipeline {
    fn default() -> Self {
        RawPipeline {
            min_face_presence: 0.5,
            min_confidence: 0.7,
            spine_from_hips: false,
            trunk_yaw_from_depth: false,
            camera_azimuth_deg: 0.0,
            camera_elevation_deg: 0.0,
            pose_every: 1,
            posture_model: true,
            posture_mirror: true,
            trunk_yaw_from_model: true,
            trunk_tilt_from_model: true,
            threads: 2,
            body_worker: false,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSmoothing {
    pub min_cutoff_hz: f64,
    pub beta: f64,
    pub d_cutoff_hz: f64,
}
impl Default for RawSmoothing {
    fn default() -> Self {
        let p = crate::smoothing::OneEuroParams::default();
        RawSmoothing {
            min_cutoff_hz: p.min_cutoff_hz,
            beta: p.beta,
            d_cutoff_hz: p.d_cutoff_hz,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawExam {
    pub update_interval_s: f64,
    pub neutral_capture_s: f64,
    pub deviated_deg: f64,
    /// Where the running exam is checkpointed; default: `exam.json` beside the outbox folder.
    pub checkpoint: Option<PathBuf>,
    /// After a restart, an exam checkpointed at most this long ago is resumed; an older one is
    /// ended as interrupted.
    pub resume_within_s: f64,
}
impl Default for RawExam {
    fn default() -> Self {
        RawExam {
            update_interval_s: 10.0,
            neutral_capture_s: 3.0,
            deviated_deg: 10.0,
            checkpoint: None,
            resume_within_s: 300.0,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMqtt {
    pub host: String,
    pub port: u16,
    pub client_id: Option<String>,
    pub prefix: String,
    pub username: Option<String>,
    /// Rejected if present: secrets come from the environment (`password_env`). Never kept, so
    /// never printed.
    pub password: Option<serde::de::IgnoredAny>,
    pub password_env: Option<String>,
    pub tls: Option<RawTls>,
    pub keep_alive_s: f64,
    pub state_interval_s: f64,
    pub assessment_interval_s: f64,
    pub stats_interval_s: f64,
}
impl Default for RawMqtt {
    fn default() -> Self {
        RawMqtt {
            host: String::new(),
            port: 1883,
            client_id: None,
            prefix: "cdposture".into(),
            username: None,
            password: None,
            password_env: None,
            tls: None,
            keep_alive_s: 15.0,
            state_interval_s: 1.0,
            assessment_interval_s: 1.0,
            stats_interval_s: 60.0,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub ca: PathBuf,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawOutbox {
    pub dir: PathBuf,
    pub max_bytes: u64,
    /// Acknowledged messages kept for the gateway's resend requests (0 = none).
    pub retain_bytes: u64,
    pub retain_s: f64,
}
impl Default for RawOutbox {
    fn default() -> Self {
        RawOutbox {
            dir: PathBuf::from("/var/lib/cdposture/outbox"),
            max_bytes: 64 * 1024 * 1024,
            retain_bytes: 64 * 1024 * 1024,
            retain_s: 86_400.0,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCamera {
    /// `/dev/video0`, or better a stable `/dev/v4l/by-id/…` link.
    pub device: PathBuf,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    /// auto | yuyv | mjpeg | nv12 | uyvy | grey | rgb24
    pub pixel_format: String,
    /// Capture watchdog: no good frame for this long → the camera is reopened.
    pub frame_timeout_s: f64,
    /// Reopen attempts start at the min and double up to the max.
    pub reopen_min_s: f64,
    pub reopen_max_s: f64,
}
impl Default for RawCamera {
    fn default() -> Self {
        RawCamera {
            device: PathBuf::from("/dev/video0"),
            width: 640,
            height: 480,
            fps: 30.0,
            pixel_format: "auto".into(),
            frame_timeout_s: 2.0,
            reopen_min_s: 0.25,
            reopen_max_s: 2.0,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawGpio {
    /// GPIO character device, e.g. `/dev/gpiochip0`.
    pub chip: PathBuf,
    /// Exam button line offset on the chip; absent = no button.
    pub button_line: Option<u32>,
    /// Buttons wired to ground with a pull-up read low when pressed.
    pub button_active_low: bool,
    /// Status LED line offset; absent = no LED.
    pub led_line: Option<u32>,
    pub led_active_low: bool,
    pub debounce_ms: u64,
    /// Holding the button this long captures the neutral pose instead of starting/ending an exam.
    pub long_press_s: f64,
}
impl Default for RawGpio {
    fn default() -> Self {
        RawGpio {
            chip: PathBuf::from("/dev/gpiochip0"),
            button_line: None,
            button_active_low: true,
            led_line: None,
            led_active_low: false,
            debounce_ms: 30,
            long_press_s: 2.0,
        }
    }
}
