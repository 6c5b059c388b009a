//! `cdposture run [--config FILE]`: the exam-room daemon. Without a config it plays the built-in
//! demo; without a broker in the config, every message goes to stdout as a JSON line.
//! `--exam ID` / `--neutral` start an exam / a neutral capture at start-up (the CLI's exam control).

use crate::config::{Settings, SourceSettings};
use crate::daemon::capture::{opener, CaptureOptions, CaptureThread};
use crate::daemon::gpio::{open_panel, PanelThread};
use crate::daemon::Daemon;
use crate::inference::{resolve_model_dir, PoseVariant};
use crate::protocol::sink::{Sink, StdoutSink};
use crate::protocol::Command;
use crate::publish::mqtt::MqttTask;
use crate::publish::outbox::Outbox;
use crate::publish::{LinkStatus, MqttSink, Topics};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

pub struct RunArgs {
    pub config: Option<PathBuf>,
    /// Video, image or folder instead of the configured source.
    pub input: Option<PathBuf>,
    pub models: Option<PathBuf>,
    pub pose: Option<PoseVariant>,
    /// Demo length in frames (no config).
    pub demo_frames: u64,
    /// Start an exam at start-up, with this id ("" = generated).
    pub exam: Option<String>,
    /// Capture the neutral pose at start-up.
    pub neutral: bool,
    /// Files (video, demo): every frame as fast as the pipeline goes, none dropped, instead of
    /// at the file's frame rate like a camera.
    pub no_pacing: bool,
}

/// Settings from the config file (or the demo defaults) with the command line's overrides.
pub fn settings(args: &RunArgs) -> Result<Settings> {
    let mut s = match &args.config {
        Some(p) => Settings::load(p)?,
        None => Settings::demo(resolve_model_dir(args.models.as_deref()), args.demo_frames),
    };
    if let Some(m) = &args.models {
        s.model_dir = m.clone();
    }
    if let Some(p) = args.pose {
        s.pose = p;
    }
    if let Some(input) = &args.input {
        let is_video = crate::capture::open(input)?.is_sequence();
        s.source = if is_video {
            SourceSettings::Video {
                path: input.clone(),
                looping: false,
            }
        } else {
            SourceSettings::Images { path: input.clone() }
        };
    }
    Ok(s)
}

pub fn run(args: &RunArgs) -> Result<()> {
    // Before the models load (seconds on a Pi): a stop requested meanwhile is a clean stop.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("cannot install signal handlers")?;
    }
    let settings = settings(args)?;
    if args.no_pacing && matches!(settings.source, SourceSettings::Camera(_)) {
        anyhow::bail!("--no-pacing is for files (a video, the demo, images), not for a camera");
    }
    if args.config.is_none() && args.input.is_none() {
        log::info!(
            "no config and no input: playing the demo source ({} frames)",
            args.demo_frames
        );
    }
    let models = crate::inference::ModelSet::load(&settings.model_dir, settings.pose)?;
    let mut opts = settings.pipeline.clone();
    let (paced, looping, reconnect) = match &settings.source {
        SourceSettings::Demo { looping, .. } => (true, *looping, None),
        SourceSettings::Video { looping, .. } => (true, *looping, None),
        SourceSettings::Images { .. } => (false, false, None),
        // The camera paces itself; when lost it is reopened.
        SourceSettings::Camera(c) => (false, false, Some((c.reopen_min, c.reopen_max))),
    };
    // Unrelated still images: no tracking between them, and one refinement pass each.
    let stills = matches!(settings.source, SourceSettings::Images { .. });
    opts.refine_still = stills;
    // Files not paced like a camera wait for the pipeline: every frame is measured.
    let wait_for_space = stills || args.no_pacing;
    let capture = CaptureThread::start_with(
        opener(&settings.source, &settings.model_dir),
        CaptureOptions {
            paced: paced && !args.no_pacing,
            looping,
            capacity: 2,
            reconnect,
            wait_for_space,
        },
    )
    .context("cannot open the frame source")?;
    let pipeline = crate::pipeline::Pipeline::new(models, opts);
    let mut startup = Vec::new();
    if args.neutral {
        startup.push(Command::CaptureNeutral);
    }
    if let Some(id) = &args.exam {
        startup.push(Command::StartExam {
            id: (!id.is_empty()).then(|| id.clone()),
            by: crate::protocol::Origin::Startup,
        });
    }
    // Commands from MQTT and the GPIO button share one channel into the loop.
    let (cmd_tx, cmd_rx) = std::sync::mpsc::channel();
    // Opened before anything runs so a wrong chip or line fails at start with its own message.
    let panel = match &settings.gpio {
        Some(g) => Some(open_panel(g).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let start_panel = |status| -> Result<Option<PanelThread>> {
        match panel {
            Some(p) => Ok(Some(PanelThread::start(p, status, cmd_tx.clone())?)),
            None => Ok(None),
        }
    };
    match settings.mqtt.clone() {
        None => {
            let daemon = Daemon::new(settings, pipeline, StdoutSink::default())
                .with_commands(cmd_rx)
                .with_stop(stop);
            let _panel = start_panel(daemon.live_status())?;
            drive(daemon, capture, startup)
        }
        Some(mqtt) => {
            let mut outbox = Outbox::open(&settings.outbox.dir, settings.outbox.max_bytes)?;
            if settings.outbox.retain_bytes > 0 {
                outbox = outbox.with_retention(crate::publish::outbox::Retention {
                    max_bytes: settings.outbox.retain_bytes,
                    max_age: settings.outbox.retain_age,
                })?;
            }
            let outbox = Arc::new(Mutex::new(outbox));
            let wake = Arc::new(tokio::sync::Notify::new());
            let shutdown = Arc::new(tokio::sync::Notify::new());
            let status = Arc::new(LinkStatus::default());
            let (live_tx, live_rx) = tokio::sync::mpsc::channel(64);
            let topics = || Topics::new(&mqtt.prefix, &settings.room);
            let task = MqttTask {
                settings: mqtt.clone(),
                topics: topics(),
                outbox: outbox.clone(),
                wake: wake.clone(),
                live: live_rx,
                commands: cmd_tx.clone(),
                status: status.clone(),
                shutdown: shutdown.clone(),
                info: Some(crate::publish::info::device_info(
                    &settings.room,
                    &settings.model_dir,
                    &format!("{:?}", settings.pose).to_lowercase(),
                    args.config.as_deref(),
                )),
            };
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let net = std::thread::Builder::new()
                .name("mqtt".into())
                .spawn(move || runtime.block_on(task.run()))?;
            let sink = MqttSink::new(topics(), outbox, wake, live_tx, status)?;
            let daemon = Daemon::new(settings, pipeline, sink)
                .with_commands(cmd_rx)
                .with_stop(stop);
            let panel = start_panel(daemon.live_status())?;
            let result = drive(daemon, capture, startup);
            drop(panel);
            shutdown.notify_one();
            let _ = net.join();
            result
        }
    }
}

fn drive<S: Sink>(mut daemon: Daemon<S>, capture: CaptureThread, startup: Vec<Command>) -> Result<()> {
    let result = daemon.run(capture, startup);
    if daemon.stop.load(Ordering::Relaxed) {
        log::info!("stopped by signal");
    }
    Ok(result?)
}

/// `cdposture check-config FILE [--env-file ENV]`: validate and print the resolved settings.
/// Secrets print as `Secret(<redacted>)` (the unit runs this before every start: the journal).
pub fn check_config(path: &std::path::Path, env_file: Option<&std::path::Path>) -> Result<()> {
    let s = match env_file {
        Some(env) => Settings::load_with_env_file(path, env)?,
        None => Settings::load(path)?,
    };
    out!("{}: OK", path.display());
    out!("{s:#?}");
    Ok(())
}
