//! Configuration, split like ripgrep's flags: [`raw`] mirrors the TOML file one to one (serde,
//! unknown keys rejected, every field optional with a default), and [`Settings`] is what the daemon
//! runs on: validated, resolved (paths checked, secrets read from the environment), with errors that
//! name the key and say what to do. Nothing downstream ever sees a raw value.

#[cfg(feature = "gateway")]
pub mod gateway;
pub mod raw;
mod secret;

pub use secret::Secret;

use crate::capture::camera::CameraRequest;
use crate::capture::pixels::PixelFormat;
use crate::geometry::Angles;
use crate::inference::PoseVariant;
use crate::pipeline::PipelineOptions;
use crate::scoring::ScoringConfig;
use crate::smoothing::OneEuroParams;
use raw::RawConfig;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: `{key}`: {problem}")]
    Invalid {
        path: PathBuf,
        key: &'static str,
        problem: String,
    },
}

/// Where frames come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSettings {
    /// The built-in demo (a real photo tilting its head), `frames` long, looping when `looping`.
    Demo { frames: u64, fps: f64, looping: bool },
    /// A video file, paced at its native frame rate.
    Video { path: PathBuf, looping: bool },
    /// A still image or a folder of images.
    Images { path: PathBuf },
    /// A V4L2 camera, reopened with backoff when lost.
    Camera(CameraSettings),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CameraSettings {
    pub request: CameraRequest,
    /// First and longest wait between reopen attempts after the camera is lost.
    pub reopen_min: Duration,
    pub reopen_max: Duration,
}

/// GPIO exam button and status LED; absent from the config = GPIO is never touched.
#[derive(Debug, Clone, PartialEq)]
pub struct GpioSettings {
    pub chip: PathBuf,
    pub button: Option<GpioLine>,
    pub led: Option<GpioLine>,
    pub debounce: Duration,
    pub long_press: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GpioLine {
    pub offset: u32,
    pub active_low: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TlsSettings {
    pub ca: PathBuf,
    /// Client certificate and key, for brokers that authenticate devices by certificate.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MqttSettings {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    /// Topic prefix; the room id follows: `<prefix>/<room>/…`.
    pub prefix: String,
    pub username: Option<String>,
    /// Read from the environment variable named in the config, never from the file itself; never printed.
    pub password: Option<Secret>,
    pub tls: Option<TlsSettings>,
    pub keep_alive: Duration,
    /// Period of the QoS 0 live `state` messages.
    pub state_interval: Duration,
    /// Period of the durable QoS 1 `assessment` messages (through the outbox).
    pub assessment_interval: Duration,
    /// Period of the `stats` messages.
    pub stats_interval: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxSettings {
    pub dir: PathBuf,
    /// Upper bound on the outbox's size on disk; see `publish::outbox` for what happens when full.
    pub max_bytes: u64,
    /// Acknowledged messages kept for `cmd/resend` (the gateway's gap repair): at most this many
    /// bytes (0 = none kept) ...
    pub retain_bytes: u64,
    /// ... and for at most this long.
    pub retain_age: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExamSettings {
    /// Period of `exam` update events while an exam runs.
    pub update_interval: Duration,
    /// How long the neutral-pose capture averages.
    pub neutral_capture: Duration,
    /// A frame counts as "deviated" (duration factor) when any head angle exceeds this, degrees.
    pub deviated_deg: f64,
    /// The running exam's checkpoint file; `None` (the demo): not kept.
    pub checkpoint: Option<PathBuf>,
    /// A checkpointed exam at most this old is resumed after a restart, an older one ended.
    pub resume_within: Duration,
}

/// Validated settings for `cdposture run --config`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub room: String,
    pub source: SourceSettings,
    pub model_dir: PathBuf,
    pub pose: PoseVariant,
    pub pipeline: PipelineOptions,
    pub smoothing: OneEuroParams,
    /// Frames whose face presence is below this are not smoothed, scored or published as measurements.
    pub min_confidence: f32,
    pub scoring: ScoringConfig,
    pub exam: ExamSettings,
    /// `None`: no broker; assessments go to stdout as JSON lines.
    pub mqtt: Option<MqttSettings>,
    pub outbox: OutboxSettings,
    pub gpio: Option<GpioSettings>,
}

impl Settings {
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Like [`Settings::load`], with secrets also taken from a systemd-style environment file
    /// (`KEY=VALUE` lines; the process environment wins): what the service sees, for
    /// `check-config --env-file /etc/cdposture/env` run by hand, where `sudo` drops the variables.
    pub fn load_with_env_file(path: &Path, env_file: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(env_file).map_err(|source| ConfigError::Read {
            path: env_file.into(),
            source,
        })?;
        let vars = parse_env_file(&text);
        let config = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        Self::parse_with_env(&config, path, &|k| {
            std::env::var(k).ok().or_else(|| vars.get(k).cloned())
        })
    }

    /// Parse and validate; `path` is used for messages and to resolve relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Settings, ConfigError> {
        Self::parse_with_env(text, path, &|k| std::env::var(k).ok())
    }

    fn parse_with_env(text: &str, path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        validate(raw, path, base, env)
    }

    /// Settings for running without a config file (the demo with stdout output).
    /// What the assessment needs of these settings (one place for the daemon, `analyze`, benches
    /// and tests); `smooth`: whether frames form a time series.
    pub fn assess_settings(&self, smooth: bool) -> crate::assess::AssessSettings {
        crate::assess::AssessSettings {
            smoothing: self.smoothing,
            smooth,
            min_confidence: self.min_confidence,
            scoring: self.scoring.clone(),
            neutral_capture_s: self.exam.neutral_capture.as_secs_f64(),
        }
    }

    pub fn demo(model_dir: PathBuf, frames: u64) -> Settings {
        let raw = RawConfig::default();
        let mut s = validate(raw, Path::new("<defaults>"), Path::new("."), &|_| None).expect("defaults are valid");
        s.model_dir = model_dir;
        // The demo keeps no state between runs.
        s.exam.checkpoint = None;
        s.source = SourceSettings::Demo {
            frames,
            fps: 15.0,
            looping: false,
        };
        s
    }
}

/// systemd's `EnvironmentFile=` syntax, the part we need: `KEY=VALUE`, `#` comments, optional quotes.
fn parse_env_file(text: &str) -> std::collections::HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| l.strip_prefix("export ").unwrap_or(l).split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let unquoted = v
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
                .unwrap_or(v);
            (k.trim().to_string(), unquoted.to_string())
        })
        .collect()
}

fn topic_safe(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The longest interval any `*_s` key takes.
const MAX_SECONDS: f64 = 86_400.0;

/// What every table's validation needs: the file (for messages) and its folder (for relative paths).
struct Ctx<'a> {
    path: &'a Path,
    base: &'a Path,
}

impl Ctx<'_> {
    fn invalid(&self, key: &'static str, problem: String) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.into(),
            key,
            problem,
        }
    }
    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }
    /// A positive number of seconds, at most a day (an interval beyond is a typo, and a huge one
    /// would overflow `Duration`; MQTT's keep-alive cannot exceed 65535 s either).
    fn secs(&self, key: &'static str, v: f64) -> Result<Duration, ConfigError> {
        if v > 0.0 && v <= MAX_SECONDS {
            Ok(Duration::from_secs_f64(v))
        } else {
            Err(self.invalid(
                key,
                format!("{v} must be a positive number of seconds, at most {MAX_SECONDS}"),
            ))
        }
    }
}

/// The validation proper, with the environment passed in so tests can supply one.
pub fn validate(
    raw: RawConfig,
    path: &Path,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let cx = Ctx { path, base };
    if !topic_safe(&raw.room.id) {
        return Err(cx.invalid(
            "room.id",
            format!(
                "`{}` must be letters, digits, - or _ (it becomes part of MQTT topics)",
                raw.room.id
            ),
        ));
    }
    let source = source_settings(&raw.source, &raw.camera, &cx)?;
    let gpio = raw.gpio.as_ref().map(|g| gpio_settings(g, &cx)).transpose()?;
    let model_dir = match &raw.models.dir {
        Some(d) => cx.resolve(d),
        None => crate::inference::resolve_model_dir(None),
    };
    let pipeline = pipeline_options(&raw.pipeline, &cx)?;
    let smoothing = smoothing_params(&raw.smoothing, &cx)?;
    let exam = exam_settings(&raw.exam, &raw.outbox, &cx)?;
    raw.scoring
        .validate()
        .map_err(|(key, problem)| cx.invalid(key, problem))?;
    let mqtt = raw.mqtt.map(|m| mqtt_settings(m, &raw.room.id, env, &cx)).transpose()?;
    if raw.outbox.max_bytes < 64 * 1024 {
        return Err(cx.invalid("outbox.max_bytes", "must be at least 65536".into()));
    }
    Ok(Settings {
        room: raw.room.id,
        source,
        model_dir,
        pose: raw.models.pose,
        pipeline,
        smoothing,
        min_confidence: raw.pipeline.min_confidence,
        scoring: raw.scoring,
        exam,
        mqtt,
        outbox: OutboxSettings {
            dir: cx.resolve(&raw.outbox.dir),
            max_bytes: raw.outbox.max_bytes,
            retain_bytes: raw.outbox.retain_bytes,
            retain_age: cx.secs("outbox.retain_s", raw.outbox.retain_s)?,
        },
        gpio,
    })
}

fn source_settings(src: &raw::RawSource, camera: &raw::RawCamera, cx: &Ctx) -> Result<SourceSettings, ConfigError> {
    let source = match src.kind.as_str() {
        "demo" => SourceSettings::Demo {
            frames: src.demo_frames,
            fps: src.demo_fps,
            looping: src.r#loop,
        },
        "video" | "images" => {
            let Some(p) = src.path.as_deref() else {
                return Err(cx.invalid("source.path", format!("required when source.kind = \"{}\"", src.kind)));
            };
            let p = cx.resolve(p);
            if !p.exists() {
                return Err(cx.invalid("source.path", format!("{} does not exist", p.display())));
            }
            if src.kind == "video" {
                SourceSettings::Video {
                    path: p,
                    looping: src.r#loop,
                }
            } else {
                SourceSettings::Images { path: p }
            }
        }
        "camera" => SourceSettings::Camera(camera_settings(camera, cx)?),
        other => {
            return Err(cx.invalid(
                "source.kind",
                format!("`{other}` is not one of demo, video, images, camera"),
            ))
        }
    };
    if !(src.demo_fps > 0.0 && src.demo_fps <= 1000.0) {
        return Err(cx.invalid("source.demo_fps", format!("{} must be in (0, 1000]", src.demo_fps)));
    }
    if src.kind == "demo" && src.demo_frames == 0 {
        return Err(cx.invalid("source.demo_frames", "must be at least 1".into()));
    }
    Ok(source)
}

fn exam_settings(e: &raw::RawExam, outbox: &raw::RawOutbox, cx: &Ctx) -> Result<ExamSettings, ConfigError> {
    if !(e.deviated_deg > 0.0 && e.deviated_deg <= 90.0) {
        return Err(cx.invalid(
            "exam.deviated_deg",
            format!("{} must be in (0, 90] degrees", e.deviated_deg),
        ));
    }
    // Beside the outbox: both are the daemon's durable state (`/var/lib/cdposture`).
    let checkpoint = match &e.checkpoint {
        Some(p) => cx.resolve(p),
        None => {
            let outbox = cx.resolve(&outbox.dir);
            outbox.parent().unwrap_or(&outbox).join("exam.json")
        }
    };
    Ok(ExamSettings {
        update_interval: cx.secs("exam.update_interval_s", e.update_interval_s)?,
        neutral_capture: cx.secs("exam.neutral_capture_s", e.neutral_capture_s)?,
        deviated_deg: e.deviated_deg,
        checkpoint: Some(checkpoint),
        resume_within: cx.secs("exam.resume_within_s", e.resume_within_s)?,
    })
}

fn gpio_settings(g: &raw::RawGpio, cx: &Ctx) -> Result<GpioSettings, ConfigError> {
    if g.button_line.is_none() && g.led_line.is_none() {
        return Err(cx.invalid(
            "gpio",
            "set gpio.button_line and/or gpio.led_line, or remove the [gpio] table".into(),
        ));
    }
    if g.button_line.is_some() && g.button_line == g.led_line {
        return Err(cx.invalid("gpio.led_line", "must differ from gpio.button_line".into()));
    }
    if !(1..=1000).contains(&g.debounce_ms) {
        return Err(cx.invalid("gpio.debounce_ms", format!("{} must be in 1..1000", g.debounce_ms)));
    }
    if !(g.long_press_s >= 0.3 && g.long_press_s <= 30.0) {
        return Err(cx.invalid("gpio.long_press_s", format!("{} must be in 0.3..30", g.long_press_s)));
    }
    Ok(GpioSettings {
        chip: cx.resolve(&g.chip),
        button: g.button_line.map(|offset| GpioLine {
            offset,
            active_low: g.button_active_low,
        }),
        led: g.led_line.map(|offset| GpioLine {
            offset,
            active_low: g.led_active_low,
        }),
        debounce: Duration::from_millis(g.debounce_ms),
        long_press: Duration::from_secs_f64(g.long_press_s),
    })
}

/// A frame splits into face | body, and from three threads the body models' matrix products over
/// `threads − 1` workers; threads past the machine's cores only take turns, harmlessly.
const MAX_PIPELINE_THREADS: usize = 64;

fn pipeline_options(p: &raw::RawPipeline, cx: &Ctx) -> Result<PipelineOptions, ConfigError> {
    if p.pose_every == 0 {
        return Err(cx.invalid("pipeline.pose_every", "must be at least 1 (1 = every frame)".into()));
    }
    if !(1..=MAX_PIPELINE_THREADS).contains(&p.threads) {
        return Err(cx.invalid(
            "pipeline.threads",
            format!(
                "{}: threads one frame may use, 1..={MAX_PIPELINE_THREADS} (1 = one core)",
                p.threads
            ),
        ));
    }
    for (key, v) in [
        ("pipeline.min_face_presence", p.min_face_presence),
        ("pipeline.min_confidence", p.min_confidence),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return Err(cx.invalid(key, format!("{v} is not a probability in 0..1")));
        }
    }
    for (key, v) in [
        ("pipeline.camera_azimuth_deg", p.camera_azimuth_deg),
        ("pipeline.camera_elevation_deg", p.camera_elevation_deg),
    ] {
        if !(v.is_finite() && v.abs() <= 60.0) {
            return Err(cx.invalid(
                key,
                format!("{v}: the camera's angle off the patient, degrees, within ±60"),
            ));
        }
    }
    Ok(PipelineOptions {
        min_face_presence: p.min_face_presence,
        camera_mount: Angles {
            yaw: p.camera_azimuth_deg,
            pitch: -p.camera_elevation_deg,
            roll: 0.0,
        },
        spine_from_hips: p.spine_from_hips,
        trunk_yaw_from_depth: p.trunk_yaw_from_depth,
        pose_every: p.pose_every,
        posture_model: p.posture_model,
        posture_mirror: p.posture_mirror,
        trunk_yaw_from_model: p.trunk_yaw_from_model,
        trunk_tilt_from_model: p.trunk_tilt_from_model,
        threads: p.threads,
        body_worker: p.body_worker,
        ..Default::default()
    })
}

fn smoothing_params(s: &raw::RawSmoothing, cx: &Ctx) -> Result<OneEuroParams, ConfigError> {
    let finite = s.min_cutoff_hz.is_finite() && s.d_cutoff_hz.is_finite() && s.beta.is_finite();
    if !(finite && s.min_cutoff_hz > 0.0 && s.d_cutoff_hz > 0.0 && s.beta >= 0.0) {
        return Err(cx.invalid(
            "smoothing",
            "min_cutoff_hz and d_cutoff_hz must be > 0, beta >= 0".into(),
        ));
    }
    Ok(OneEuroParams {
        min_cutoff_hz: s.min_cutoff_hz,
        beta: s.beta,
        d_cutoff_hz: s.d_cutoff_hz,
    })
}

fn mqtt_settings(
    m: raw::RawMqtt,
    room: &str,
    env: &dyn Fn(&str) -> Option<String>,
    cx: &Ctx,
) -> Result<MqttSettings, ConfigError> {
    if m.password.is_some() {
        return Err(cx.invalid("mqtt.password", "secrets are not read from the config file: put the password in an environment variable and name it in mqtt.password_env".into()));
    }
    let password = match &m.password_env {
        Some(var) => Some(Secret::new(env(var).ok_or_else(|| {
            cx.invalid(
                "mqtt.password_env",
                format!("environment variable `{var}` is not set (the service reads it from /etc/cdposture/env; by hand: cdposture check-config --env-file /etc/cdposture/env FILE)"),
            )
        })?)),
        None => None,
    };
    if m.host.is_empty() {
        return Err(cx.invalid("mqtt.host", "must not be empty".into()));
    }
    if m.port == 0 {
        return Err(cx.invalid("mqtt.port", "must be 1..65535".into()));
    }
    if !topic_safe(&m.prefix.replace('/', "_")) {
        return Err(cx.invalid(
            "mqtt.prefix",
            format!("`{}` must be letters, digits, -, _ or /", m.prefix),
        ));
    }
    let tls = m.tls.as_ref().map(|t| tls_settings(t, cx)).transpose()?;
    Ok(MqttSettings {
        client_id: m.client_id.unwrap_or_else(|| format!("cdposture-{room}")),
        prefix: m.prefix.trim_end_matches('/').to_string(),
        host: m.host,
        port: m.port,
        username: m.username,
        password,
        tls,
        keep_alive: cx.secs("mqtt.keep_alive_s", m.keep_alive_s)?,
        state_interval: cx.secs("mqtt.state_interval_s", m.state_interval_s)?,
        assessment_interval: cx.secs("mqtt.assessment_interval_s", m.assessment_interval_s)?,
        stats_interval: cx.secs("mqtt.stats_interval_s", m.stats_interval_s)?,
    })
}

fn tls_settings(t: &raw::RawTls, cx: &Ctx) -> Result<TlsSettings, ConfigError> {
    let ca = cx.resolve(&t.ca);
    if !ca.is_file() {
        return Err(cx.invalid("mqtt.tls.ca", format!("{} does not exist", ca.display())));
    }
    let client_cert = match (&t.client_cert, &t.client_key) {
        (Some(c), Some(k)) => Some((cx.resolve(c), cx.resolve(k))),
        (None, None) => None,
        _ => return Err(cx.invalid("mqtt.tls.client_cert", "client_cert and client_key go together".into())),
    };
    Ok(TlsSettings { ca, client_cert })
}

fn camera_settings(c: &raw::RawCamera, cx: &Ctx) -> Result<CameraSettings, ConfigError> {
    let invalid = |key, problem| cx.invalid(key, problem);
    // The device is not checked here: a camera may be unplugged while the config is written.
    if c.device.as_os_str().is_empty() {
        return Err(invalid("camera.device", "must name a device, e.g. /dev/video0".into()));
    }
    if !(16..=8192).contains(&c.width) || !(16..=8192).contains(&c.height) {
        return Err(invalid(
            "camera.width",
            format!("{}x{} is not a camera size (16..8192)", c.width, c.height),
        ));
    }
    if !(c.fps > 0.0 && c.fps <= 240.0) {
        return Err(invalid("camera.fps", format!("{} must be in (0, 240]", c.fps)));
    }
    let format = if c.pixel_format.eq_ignore_ascii_case("auto") {
        None
    } else {
        Some(PixelFormat::from_name(&c.pixel_format).ok_or_else(|| {
            invalid(
                "camera.pixel_format",
                format!(
                    "`{}` is not one of auto, {}",
                    c.pixel_format,
                    PixelFormat::ALL.map(|f| f.name()).join(", ")
                ),
            )
        })?)
    };
    let secs = |key: &'static str, v: f64| {
        if v > 0.0 && v <= 3600.0 {
            Ok(Duration::from_secs_f64(v))
        } else {
            Err(invalid(key, format!("{v} must be a positive number of seconds")))
        }
    };
    let reopen_min = secs("camera.reopen_min_s", c.reopen_min_s)?;
    let reopen_max = secs("camera.reopen_max_s", c.reopen_max_s)?;
    if reopen_max < reopen_min {
        return Err(invalid(
            "camera.reopen_max_s",
            "must be at least camera.reopen_min_s".into(),
        ));
    }
    Ok(CameraSettings {
        request: CameraRequest {
            device: c.device.clone(),
            width: c.width,
            height: c.height,
            fps: c.fps,
            format,
            frame_timeout: secs("camera.frame_timeout_s", c.frame_timeout_s)?,
        },
        reopen_min,
        reopen_max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "t.toml".into(),
            message: e.to_string(),
        })?;
        validate(raw, Path::new("t.toml"), Path::new("."), &|k| {
            (k == "PW").then(|| "secret".to_string())
        })
    }

    #[test]
    fn empty_file_is_the_demo_with_defaults() {
        let s = parse("").unwrap();
        assert!(matches!(s.source, SourceSettings::Demo { .. }));
        assert!(s.mqtt.is_none());
        assert_eq!(s.room, "room1");
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let e = parse("[room]\nid = \"a\"\ncolour = 3\n").unwrap_err().to_string();
        assert!(e.contains("colour"), "{e}");
        let e = parse("[mqtt]\nhost = \"x\"\nqos = 2\n").unwrap_err().to_string();
        assert!(e.contains("qos"), "{e}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let e = parse("[room]\nid = \"room 1/\"\n").unwrap_err().to_string();
        assert!(e.contains("room.id"), "{e}");
        let e = parse("[source]\nkind = \"camera2\"\n").unwrap_err().to_string();
        assert!(e.contains("source.kind") && e.contains("camera2"), "{e}");
        let e = parse("[source]\nkind = \"video\"\n").unwrap_err().to_string();
        assert!(e.contains("source.path"), "{e}");
        let e = parse("[pipeline]\npose_every = 0\n").unwrap_err().to_string();
        assert!(e.contains("pipeline.pose_every"), "{e}");
        let e = parse("[mqtt]\nhost = \"h\"\nport = 99999\n").unwrap_err().to_string();
        assert!(e.contains("port"), "{e}");
    }

    #[test]
    fn scoring_and_exam_values_are_validated() {
        for (text, key) in [
            ("[scoring]\nsigma_yaw_deg = 0\n", "scoring.sigma_yaw_deg"),
            ("[scoring]\nnone_below_deg = 40\n", "scoring.none_below_deg"),
            (
                "[scoring]\nsagittal_shift_threshold = -0.1\n",
                "scoring.sagittal_shift_threshold",
            ),
            ("[exam]\ndeviated_deg = -1\n", "exam.deviated_deg"),
            ("[exam]\nresume_within_s = 0\n", "exam.resume_within_s"),
            ("[smoothing]\nbeta = inf\n", "smoothing"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn the_exam_checkpoint_sits_beside_the_outbox() {
        let s = parse("[outbox]\ndir = \"/var/lib/cdposture/outbox\"\n").unwrap();
        assert_eq!(
            s.exam.checkpoint.as_deref(),
            Some(Path::new("/var/lib/cdposture/exam.json"))
        );
        let s = parse("[exam]\ncheckpoint = \"/srv/x.json\"\n").unwrap();
        assert_eq!(s.exam.checkpoint.as_deref(), Some(Path::new("/srv/x.json")));
    }

    #[test]
    fn secrets_come_from_the_environment_only() {
        let e = parse("[mqtt]\nhost = \"h\"\npassword = \"hunter2\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("mqtt.password") && e.contains("environment"), "{e}");
        let s = parse("[mqtt]\nhost = \"h\"\nusername = \"u\"\npassword_env = \"PW\"\n").unwrap();
        let shown = format!("{s:?} {s:#?}");
        assert!(!shown.contains("secret"), "the password is printed: {shown}");
        assert_eq!(s.mqtt.unwrap().password.unwrap().expose(), "secret");
        let e = parse("[mqtt]\nhost = \"h\"\npassword_env = \"NOPE\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("NOPE"), "{e}");
    }

    #[test]
    fn env_files_are_read_like_systemd_reads_them() {
        let v = parse_env_file("# comment\nCDPOSTURE_MQTT_PASSWORD=hunter2\nA = \"quoted value\"\nexport B='x'\n\n");
        assert_eq!(v["CDPOSTURE_MQTT_PASSWORD"], "hunter2");
        assert_eq!(v["A"], "quoted value");
        assert_eq!(v["B"], "x");
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn camera_and_gpio_tables() {
        let s = parse(
            "[source]\nkind = \"camera\"\n[camera]\ndevice = \"/dev/v4l/by-id/usb-cam-video-index0\"\nwidth = 1280\nheight = 720\npixel_format = \"MJPEG\"\n[gpio]\nbutton_line = 17\nled_line = 27\n",
        )
        .unwrap();
        let SourceSettings::Camera(c) = &s.source else {
            panic!("{:?}", s.source)
        };
        assert_eq!(c.request.device, Path::new("/dev/v4l/by-id/usb-cam-video-index0"));
        assert_eq!((c.request.width, c.request.height, c.request.fps), (1280, 720, 30.0));
        assert_eq!(c.request.format, Some(PixelFormat::Mjpeg));
        assert_eq!(c.request.frame_timeout, Duration::from_secs(2));
        let g = s.gpio.unwrap();
        assert_eq!(
            g.button,
            Some(GpioLine {
                offset: 17,
                active_low: true
            })
        );
        assert_eq!(g.led.map(|l| l.offset), Some(27));
        // No [gpio] table: GPIO is never touched.
        assert!(parse("").unwrap().gpio.is_none());
    }

    #[test]
    fn bad_camera_and_gpio_values_name_the_key() {
        let e = parse("[source]\nkind = \"camera\"\n[camera]\npixel_format = \"h264\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("camera.pixel_format") && e.contains("yuyv, mjpeg"), "{e}");
        let e = parse("[source]\nkind = \"camera\"\n[camera]\nfps = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("camera.fps"), "{e}");
        let e = parse("[source]\nkind = \"camera\"\n[camera]\nframe_timeout_s = -1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("camera.frame_timeout_s"), "{e}");
        let e = parse("[gpio]\nchip = \"/dev/gpiochip0\"\n").unwrap_err().to_string();
        assert!(e.contains("gpio") && e.contains("button_line"), "{e}");
        let e = parse("[gpio]\nbutton_line = 3\nled_line = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("gpio.led_line"), "{e}");
        let e = parse("[gpio]\nbutton_line = 3\nlong_press_s = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("gpio.long_press_s"), "{e}");
    }
}
