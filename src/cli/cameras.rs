//! `cdposture cameras`: what V4L2 devices this machine has, what each offers and which of those
//! cdposture decodes; with `--capture DEVICE`, a capture check through the daemon's own camera
//! code (negotiation, streaming, conversion, timestamps) — the installer's first step.

use crate::capture::camera::{list_devices, Camera, CameraRequest};
use crate::capture::pixels::PixelFormat;
use anyhow::{bail, Result};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct CamerasArgs {
    /// Machine-readable listing.
    #[arg(long)]
    pub json: bool,
    /// Capture from this device with the daemon's camera code and report what was negotiated.
    #[arg(long, value_name = "DEVICE")]
    pub capture: Option<PathBuf>,
    /// Frames to capture with --capture.
    #[arg(long, default_value_t = 30)]
    pub frames: u64,
    /// Requested size and rate (the driver may adjust them; what it chose is printed).
    #[arg(long, default_value_t = 640)]
    pub width: u32,
    #[arg(long, default_value_t = 480)]
    pub height: u32,
    #[arg(long, default_value_t = 30.0)]
    pub fps: f64,
    /// auto, yuyv, mjpeg, nv12, uyvy, grey or rgb24.
    #[arg(long, default_value = "auto")]
    pub pixel_format: String,
}

pub fn run(args: &CamerasArgs) -> Result<()> {
    match &args.capture {
        Some(dev) => capture(args, dev),
        None => list(args.json),
    }
}

fn list(json: bool) -> Result<()> {
    let devices = list_devices();
    if json {
        out!("{}", serde_json::to_string_pretty(&devices)?);
        return Ok(());
    }
    if devices.is_empty() {
        out!("no V4L2 devices (/dev/video*): is the camera plugged in?");
        return Ok(());
    }
    for d in &devices {
        match &d.error {
            Some(e) => out!("{}: cannot query: {e}", d.path.display()),
            None => out!("{}: {} ({}, {}): {}", d.path.display(), d.card, d.driver, d.bus, d.kind),
        }
        for l in &d.links {
            out!("    stable name: {}", l.display());
        }
        for f in &d.formats {
            let mark = if f.supported {
                ""
            } else {
                "  [not decoded by cdposture]"
            };
            out!("    {} ({}){mark}", f.fourcc, f.description);
            if !f.sizes.is_empty() {
                out!("        {}", f.sizes.join(" "));
            }
        }
    }
    Ok(())
}

fn capture(args: &CamerasArgs, device: &std::path::Path) -> Result<()> {
    let format = match args.pixel_format.as_str() {
        "auto" => None,
        name => match PixelFormat::from_name(name) {
            Some(f) => Some(f),
            None => bail!(
                "--pixel-format {name}: not one of auto, {}",
                PixelFormat::ALL.map(|f| f.name()).join(", ")
            ),
        },
    };
    let req = CameraRequest {
        device: device.to_path_buf(),
        width: args.width,
        height: args.height,
        fps: args.fps,
        format,
        ..CameraRequest::new(device)
    };
    let mut cam = Camera::open(&req, crate::capture::camera::monotonic_now(), Arc::default())?;
    let n = cam.negotiated().clone();
    out!(
        "{}: {} ({}) negotiated {} {}x{} stride {}{}",
        device.display(),
        n.card,
        n.driver,
        n.format,
        n.width,
        n.height,
        n.stride,
        n.fps.map(|f| format!(" at {f:.2} fps")).unwrap_or_default()
    );
    let started = Instant::now();
    let mut first_t = None;
    let mut last_t = f64::NEG_INFINITY;
    let mut monotonic = true;
    for _ in 0..args.frames {
        let f = cam.capture()?;
        monotonic &= f.t_s > last_t;
        last_t = f.t_s;
        first_t.get_or_insert(f.t_s);
        let mean = f.image.as_raw().iter().map(|&v| v as u64).sum::<u64>() as f64 / f.image.as_raw().len() as f64;
        log::debug!("frame {} t {:.3} s mean {mean:.1}", f.index, f.t_s);
    }
    let wall = started.elapsed().as_secs_f64();
    let span = last_t - first_t.unwrap_or(last_t);
    out!(
        "captured {} frames in {wall:.2} s ({:.1} fps wall; driver timestamps span {span:.2} s = {:.1} fps, {}); corrupt skipped: {}",
        args.frames,
        args.frames as f64 / wall.max(1e-9),
        (args.frames.saturating_sub(1)) as f64 / span.max(1e-9),
        if monotonic { "increasing" } else { "NOT increasing" },
        cam.corrupt_frames()
    );
    Ok(())
}
