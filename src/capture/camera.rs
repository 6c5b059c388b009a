//! V4L2 cameras (the `v4l` crate): open by node or by stable id (`/dev/v4l/by-id/…`), negotiate
//! pixel format, size and rate, stream with mmap buffers, convert to RGB straight out of the
//! driver's buffer, and time frames with the driver's monotonic timestamps.
//!
//! Failure is split in two on purpose. Configuration problems (no such device, not a capture
//! device, format not offered) are errors that name the device and list the alternatives. Losing
//! a working camera (unplugged, stalled, only corrupt frames) is [`CameraError::is_lost`]: the
//! capture thread then reopens with backoff, so a replugged camera resumes by itself.

use super::pixels::{to_rgb, PixelFormat};
use super::{Frame, FrameSource};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use v4l::buffer::{Flags as BufFlags, Type};
use v4l::capability::Flags as CapFlags;
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::io::mmap::Stream as MmapStream;
use v4l::io::traits::CaptureStream;
use v4l::video::capture::Parameters;
use v4l::video::Capture;
use v4l::{Device, Format, FourCC, Fraction};

/// What the config asks of the camera.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraRequest {
    /// Node (`/dev/video0`) or stable link (`/dev/v4l/by-id/…`); reopened by this name after an
    /// unplug, so a by-id link follows the camera to whatever node it gets next.
    pub device: PathBuf,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    /// `None`: choose (YUYV when it reaches the rate at this size, else MJPEG, else what decodes).
    pub format: Option<PixelFormat>,
    /// No good frame for this long means the camera is lost (capture watchdog).
    pub frame_timeout: Duration,
}

impl CameraRequest {
    pub fn new(device: impl Into<PathBuf>) -> Self {
        CameraRequest {
            device: device.into(),
            width: 640,
            height: 480,
            fps: 30.0,
            format: None,
            frame_timeout: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    #[error("camera {device}: cannot open: {cause}; {hint}")]
    Open {
        device: PathBuf,
        cause: io::Error,
        hint: String,
    },
    #[error("camera {device}: not a V4L2 device ({cause}); {hint}")]
    NotV4l2 {
        device: PathBuf,
        cause: io::Error,
        hint: String,
    },
    #[error("camera {device} ({card}): not a video capture device (it is: {kind}); {hint}")]
    NotCapture {
        device: PathBuf,
        card: String,
        kind: String,
        hint: String,
    },
    #[error("camera {device} ({card}): {problem}; it offers {offered}; cdposture decodes {decodable}: set camera.pixel_format / width / height accordingly")]
    Format {
        device: PathBuf,
        card: String,
        problem: String,
        offered: String,
        decodable: String,
    },
    #[error("camera {device}: no usable frame for {waited:.1} s ({detail})")]
    Stalled {
        device: PathBuf,
        waited: f64,
        detail: String,
    },
    #[error("camera {device}: {op} failed: {cause}")]
    Io {
        device: PathBuf,
        op: &'static str,
        cause: io::Error,
    },
}

impl CameraError {
    /// A camera that worked and went away (or stalled): worth reopening, not a config mistake.
    pub fn is_lost(&self) -> bool {
        match self {
            CameraError::Stalled { .. } => true,
            CameraError::Io { cause, .. } | CameraError::Open { cause, .. } => matches!(
                cause.raw_os_error(),
                Some(libc::ENODEV | libc::ENOENT | libc::EIO | libc::ENXIO | libc::EPIPE | libc::EBUSY)
            ),
            _ => false,
        }
    }
}

/// Seconds on CLOCK_MONOTONIC, the clock V4L2 drivers stamp buffers with.
pub fn monotonic_now() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// What was agreed with the driver.
#[derive(Debug, Clone, PartialEq)]
pub struct Negotiated {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    /// Bytes per line of the driver's buffer (0 for compressed formats).
    pub stride: u32,
    /// Frame rate the driver accepted, if it reports one.
    pub fps: Option<f64>,
    /// Driver, card, bus: for the log and `cameras`.
    pub card: String,
    pub driver: String,
}

/// An open, streaming camera.
pub struct Camera {
    device: PathBuf,
    negotiated: Negotiated,
    // Declared before `_dev` so it is dropped (STREAMOFF, unmap) before the handle closes.
    stream: Option<MmapStream<'static>>,
    _dev: Device,
    timeout: Duration,
    /// Monotonic seconds that are t = 0 for frame timestamps; shared by reopened cameras so
    /// time keeps running across an unplug.
    t0: f64,
    /// Frame numbers, shared across reopens for the same reason.
    counter: Arc<AtomicU64>,
    corrupt: u64,
    last_good: Instant,
    last_corrupt_log: Option<Instant>,
}

impl Camera {
    /// Open and start streaming. `t0`/`counter`: see the fields.
    pub fn open(req: &CameraRequest, t0: f64, counter: Arc<AtomicU64>) -> Result<Camera, CameraError> {
        let device = req.device.clone();
        let dev = Device::with_path(&device).map_err(|cause| CameraError::Open {
            hint: open_hint(&cause, &device),
            device: device.clone(),
            cause,
        })?;
        let io_err = |op| {
            let device = device.clone();
            move |cause| CameraError::Io { device, op, cause }
        };
        let caps = dev.query_caps().map_err(|cause| {
            // ENOTTY from a kernel; ENOSYS from qemu-user, which knows no V4L2 ioctls.
            if matches!(cause.raw_os_error(), Some(libc::ENOTTY | libc::ENOSYS)) {
                CameraError::NotV4l2 {
                    device: device.clone(),
                    cause,
                    hint: capture_devices_hint(),
                }
            } else {
                io_err("VIDIOC_QUERYCAP")(cause)
            }
        })?;
        if !caps.capabilities.contains(CapFlags::VIDEO_CAPTURE) || !caps.capabilities.contains(CapFlags::STREAMING) {
            return Err(CameraError::NotCapture {
                device: device.clone(),
                card: caps.card.clone(),
                kind: describe_caps(caps.capabilities),
                hint: capture_devices_hint(),
            });
        }
        let offered = dev.enum_formats().map_err(io_err("VIDIOC_ENUM_FMT"))?;
        let offered: Vec<FourCC> = offered.into_iter().map(|d| d.fourcc).collect();
        let format_error = |problem: String| CameraError::Format {
            device: device.clone(),
            card: caps.card.clone(),
            problem,
            offered: describe_offered(&dev),
            decodable: PixelFormat::ALL.map(|f| f.name()).join(", "),
        };
        let format = choose_format(&offered, req, |f| {
            max_fps(&dev, FourCC::new(&f.fourcc()), req.width, req.height)
        })
        .map_err(|p| format_error(p.to_string()))?;
        let fmt = dev
            .set_format(&Format::new(req.width, req.height, FourCC::new(&format.fourcc())))
            .map_err(io_err("VIDIOC_S_FMT"))?;
        if PixelFormat::from_fourcc(fmt.fourcc.repr) != Some(format) {
            return Err(format_error(format!(
                "asked for {format}, the driver set {}",
                fmt.fourcc.str().unwrap_or("?")
            )));
        }
        if (fmt.width, fmt.height) != (req.width, req.height) {
            log::warn!(
                "camera {}: {}x{} not offered in {format}; using {}x{}",
                device.display(),
                req.width,
                req.height,
                fmt.width,
                fmt.height
            );
        }
        // Not every driver lets the rate be set; the rate then is what it is.
        let fps = match dev.set_params(&Parameters::new(fps_fraction(req.fps))) {
            Ok(p) => Some(fraction_fps(&p.interval)).filter(|&f| f > 0.0),
            Err(e) => {
                log::warn!("camera {}: cannot set {} fps ({e})", device.display(), req.fps);
                None
            }
        };
        if let Some(got) = fps.filter(|&f| f + 0.5 < req.fps) {
            log::warn!(
                "camera {}: delivers {got:.1} fps at {}x{} in {format}, not the {} asked for",
                device.display(),
                fmt.width,
                fmt.height,
                req.fps
            );
        }
        let mut stream = MmapStream::with_buffers(&dev, Type::VideoCapture, 4).map_err(io_err("VIDIOC_REQBUFS"))?;
        stream.set_timeout(req.frame_timeout);
        let negotiated = Negotiated {
            format,
            width: fmt.width,
            height: fmt.height,
            stride: fmt.stride,
            fps,
            card: caps.card,
            driver: caps.driver,
        };
        Ok(Camera {
            device,
            negotiated,
            stream: Some(stream),
            _dev: dev,
            timeout: req.frame_timeout,
            t0,
            counter,
            corrupt: 0,
            last_good: Instant::now(),
            last_corrupt_log: None,
        })
    }

    pub fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// Frames skipped because the driver flagged them or they did not decode.
    pub fn corrupt_frames(&self) -> u64 {
        self.corrupt
    }

    /// The next good frame, or an error ([`CameraError::is_lost`] when the camera went away).
    pub fn capture(&mut self) -> Result<Frame, CameraError> {
        let n = &self.negotiated;
        loop {
            let stream = self.stream.as_mut().ok_or_else(|| CameraError::Io {
                device: self.device.clone(),
                op: "capture",
                cause: io::Error::from_raw_os_error(libc::ENODEV),
            })?;
            let (buf, meta) = match stream.next() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Err(CameraError::Stalled {
                        device: self.device.clone(),
                        waited: self.timeout.as_secs_f64(),
                        detail: "the driver delivered nothing".into(),
                    })
                }
                Err(cause) => {
                    return Err(CameraError::Io {
                        device: self.device.clone(),
                        op: "VIDIOC_DQBUF",
                        cause,
                    })
                }
            };
            let used = (meta.bytesused as usize).min(buf.len());
            let data = if used > 0 { &buf[..used] } else { buf };
            let result = if meta.flags.contains(BufFlags::ERROR) {
                Err("the driver flagged the buffer as corrupt".to_string())
            } else {
                to_rgb(n.format, data, n.width, n.height, n.stride).map_err(|e| e.to_string())
            };
            match result {
                Ok(image) => {
                    self.last_good = Instant::now();
                    let ts = meta.timestamp.sec as f64 + meta.timestamp.usec as f64 * 1e-6;
                    // Monotonic driver stamps are the time of capture; anything else (copied from
                    // an output, or missing) is replaced by the time we dequeued it.
                    let monotonic = (meta.flags & BufFlags::TIMESTAMP_MASK) == BufFlags::TIMESTAMP_MONOTONIC;
                    let t = if monotonic && ts > 0.0 { ts } else { monotonic_now() };
                    return Ok(Frame {
                        index: self.counter.fetch_add(1, Ordering::Relaxed),
                        t_s: t - self.t0,
                        image,
                        path: None,
                    });
                }
                Err(reason) => {
                    self.corrupt += 1;
                    if self
                        .last_corrupt_log
                        .is_none_or(|l| l.elapsed() > Duration::from_secs(10))
                    {
                        log::warn!(
                            "camera {}: skipped a corrupt frame ({reason}); {} so far",
                            self.device.display(),
                            self.corrupt
                        );
                        self.last_corrupt_log = Some(Instant::now());
                    }
                    if self.last_good.elapsed() > self.timeout {
                        return Err(CameraError::Stalled {
                            device: self.device.clone(),
                            waited: self.last_good.elapsed().as_secs_f64(),
                            detail: format!("only corrupt frames, last: {reason}"),
                        });
                    }
                }
            }
        }
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        // The v4l crate panics in its stream's Drop when STREAMOFF fails with anything but ENODEV
        // (e.g. EIO on a camera that died mid-transfer). A lost camera must never take the daemon
        // down, so that drop is contained here.
        if let Some(stream) = self.stream.take() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(stream)));
        }
    }
}

/// The camera as a frame source for tools that take any source (it never ends by itself).
pub struct CameraSource {
    pub camera: Camera,
}

impl FrameSource for CameraSource {
    fn next_frame(&mut self) -> crate::Result<Option<Frame>> {
        Ok(Some(self.camera.capture()?))
    }
    fn is_sequence(&self) -> bool {
        true
    }
    fn fps(&self) -> Option<f64> {
        self.camera.negotiated.fps
    }
    fn corrupt_frames(&self) -> u64 {
        self.camera.corrupt
    }
    fn is_live(&self) -> bool {
        true
    }
}

/// Pick the pixel format. Explicit requests must be offered; `auto` prefers YUYV (no decoding
/// cost, no compression artefacts) when it reaches the requested rate at the requested size,
/// else MJPEG (USB 2 webcams deliver more than 640x480 at 30 fps only compressed), else the first
/// format cdposture decodes.
pub fn choose_format(
    offered: &[FourCC],
    req: &CameraRequest,
    max_fps: impl Fn(PixelFormat) -> Option<f64>,
) -> Result<PixelFormat, String> {
    let decodable: Vec<PixelFormat> = offered
        .iter()
        .filter_map(|f| PixelFormat::from_fourcc(f.repr))
        .collect();
    if let Some(want) = req.format {
        return if decodable.contains(&want) {
            Ok(want)
        } else {
            Err(format!(
                "does not offer {want} (camera.pixel_format = \"{}\")",
                want.name()
            ))
        };
    }
    let reaches = |f: PixelFormat| max_fps(f).is_none_or(|m| m + 0.5 >= req.fps);
    if decodable.contains(&PixelFormat::Yuyv) && reaches(PixelFormat::Yuyv) {
        return Ok(PixelFormat::Yuyv);
    }
    if decodable.contains(&PixelFormat::Mjpeg) {
        return Ok(PixelFormat::Mjpeg);
    }
    PixelFormat::ALL
        .into_iter()
        .find(|f| decodable.contains(f))
        .ok_or_else(|| "offers no pixel format cdposture decodes".to_string())
}

fn fps_fraction(fps: f64) -> Fraction {
    // Rates like 29.97 need a fraction: 1000/29970.
    if (fps - fps.round()).abs() < 1e-6 {
        Fraction::new(1, fps.round() as u32)
    } else {
        Fraction::new(1000, (fps * 1000.0).round() as u32)
    }
}

/// Highest rate the driver lists for this format and size (None: it does not say).
fn max_fps(dev: &Device, fourcc: FourCC, width: u32, height: u32) -> Option<f64> {
    let intervals = dev.enum_frameintervals(fourcc, width, height).ok()?;
    intervals
        .iter()
        .map(|i| match &i.interval {
            FrameIntervalEnum::Discrete(fr) => fraction_fps(fr),
            FrameIntervalEnum::Stepwise(s) => fraction_fps(&s.min),
        })
        .reduce(f64::max)
}

fn fraction_fps(f: &Fraction) -> f64 {
    if f.numerator == 0 {
        0.0
    } else {
        f.denominator as f64 / f.numerator as f64
    }
}

fn describe_caps(c: CapFlags) -> String {
    let mut kinds = Vec::new();
    for (flag, name) in [
        (CapFlags::VIDEO_CAPTURE, "video capture"),
        (CapFlags::VIDEO_CAPTURE_MPLANE, "multi-planar capture (unsupported)"),
        (CapFlags::VIDEO_OUTPUT, "video output"),
        (CapFlags::VIDEO_OUTPUT_MPLANE, "multi-planar output"),
        (CapFlags::VIDEO_M2M, "memory-to-memory codec"),
        (CapFlags::VIDEO_M2M_MPLANE, "memory-to-memory codec"),
        (CapFlags::VBI_CAPTURE, "VBI capture"),
        (CapFlags::VBI_OUTPUT, "VBI output"),
        (CapFlags::SDR_CAPTURE, "SDR receiver"),
        (CapFlags::SDR_OUTPUT, "SDR transmitter"),
        (CapFlags::META_CAPTURE, "metadata capture"),
        (CapFlags::META_OUTPUT, "metadata output"),
        (CapFlags::RADIO, "radio"),
        (CapFlags::TOUCH, "touch sensor"),
    ] {
        if c.contains(flag) && !kinds.contains(&name) {
            kinds.push(name);
        }
    }
    if c.contains(CapFlags::VIDEO_CAPTURE) && !c.contains(CapFlags::STREAMING) {
        kinds.push("capture without streaming I/O");
    }
    if kinds.is_empty() {
        "unknown".into()
    } else {
        kinds.join(", ")
    }
}

/// "YUYV 640x480@30 1280x720@10, NV12 …": what the device offers, for error messages. Formats
/// cdposture decodes come with their sizes; the rest are only counted (vivid offers 80).
fn describe_offered(dev: &Device) -> String {
    let Ok(formats) = dev.enum_formats() else {
        return "nothing it will list".into();
    };
    let (usable, other): (Vec<_>, Vec<_>) = formats
        .iter()
        .partition(|d| PixelFormat::from_fourcc(d.fourcc.repr).is_some());
    let mut parts: Vec<String> = usable
        .iter()
        .map(|d| {
            let mut list = sizes(dev, d.fourcc);
            if list.len() > 4 {
                list.truncate(4);
                list.push("…".into());
            }
            format!("{} {}", d.fourcc.str().unwrap_or("?"), list.join(" "))
                .trim_end()
                .to_string()
        })
        .collect();
    if !other.is_empty() {
        let names: Vec<&str> = other.iter().take(6).map(|d| d.fourcc.str().unwrap_or("?")).collect();
        let more = if other.len() > names.len() { ", …" } else { "" };
        parts.push(format!(
            "{} format(s) cdposture does not decode ({}{more})",
            other.len(),
            names.join(", ")
        ));
    }
    if parts.is_empty() {
        "no formats".into()
    } else {
        parts.join(", ")
    }
}

/// "640x480@30" (or "WxH..WxH" for stepwise drivers) per size the driver lists for this format.
fn sizes(dev: &Device, fourcc: FourCC) -> Vec<String> {
    let sizes = dev.enum_framesizes(fourcc).unwrap_or_default();
    sizes
        .iter()
        .map(|s| match &s.size {
            FrameSizeEnum::Discrete(d) => {
                let fps = max_fps(dev, fourcc, d.width, d.height)
                    .map(|f| format!("@{}", fmt_fps(f)))
                    .unwrap_or_default();
                format!("{}x{}{fps}", d.width, d.height)
            }
            FrameSizeEnum::Stepwise(st) => {
                format!("{}x{}..{}x{}", st.min_width, st.min_height, st.max_width, st.max_height)
            }
        })
        .collect()
}

fn fmt_fps(f: f64) -> String {
    if (f - f.round()).abs() < 0.01 {
        format!("{}", f.round())
    } else {
        format!("{f:.2}")
    }
}

fn open_hint(e: &io::Error, device: &Path) -> String {
    match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => format!(
            "permission denied: add the user to group `video` (ls -l {})",
            device.display()
        ),
        _ => capture_devices_hint(),
    }
}

/// "capture devices here: /dev/video0 (vivid), …" or what to check when there are none.
pub fn capture_devices_hint() -> String {
    let found: Vec<String> = list_devices()
        .into_iter()
        .filter(|d| d.capture)
        .map(|d| format!("{} ({})", d.path.display(), d.card))
        .collect();
    if found.is_empty() {
        "no video capture devices found: is the camera plugged in? (`cdposture cameras` lists them)".into()
    } else {
        format!("capture devices here: {}", found.join(", "))
    }
}

/// One V4L2 node, for `cdposture cameras` and error hints.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceInfo {
    pub path: PathBuf,
    /// Stable `/dev/v4l/by-id` and `by-path` links pointing to this node: use these in the config.
    pub links: Vec<PathBuf>,
    pub card: String,
    pub driver: String,
    pub bus: String,
    pub capture: bool,
    pub kind: String,
    pub formats: Vec<FormatInfo>,
    /// Set when the node could not be queried.
    pub error: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FormatInfo {
    pub fourcc: String,
    pub description: String,
    /// cdposture can decode it.
    pub supported: bool,
    /// "640x480@30" entries.
    pub sizes: Vec<String>,
}

/// Every `/dev/video*` node, in numeric order, with what it offers.
pub fn list_devices() -> Vec<DeviceInfo> {
    list_devices_in(Path::new("/dev"))
}

fn list_devices_in(dev_dir: &Path) -> Vec<DeviceInfo> {
    let mut nodes: Vec<(u32, PathBuf)> = std::fs::read_dir(dev_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let n = name.strip_prefix("video")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    nodes.sort();
    let links = stable_links(&dev_dir.join("v4l"));
    nodes
        .into_iter()
        .map(|(_, path)| {
            let canonical = path.canonicalize().unwrap_or(path.clone());
            let my_links = links
                .iter()
                .filter(|(_, target)| *target == canonical)
                .map(|(l, _)| l.clone())
                .collect();
            describe_device(path, my_links)
        })
        .collect()
}

fn stable_links(v4l_dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    for sub in ["by-id", "by-path"] {
        for e in std::fs::read_dir(v4l_dir.join(sub)).into_iter().flatten().flatten() {
            if let Ok(target) = e.path().canonicalize() {
                out.push((e.path(), target));
            }
        }
    }
    out.sort();
    out
}

fn describe_device(path: PathBuf, links: Vec<PathBuf>) -> DeviceInfo {
    let mut info = DeviceInfo {
        path,
        links,
        card: String::new(),
        driver: String::new(),
        bus: String::new(),
        capture: false,
        kind: String::new(),
        formats: Vec::new(),
        error: None,
    };
    let dev = match Device::with_path(&info.path) {
        Ok(d) => d,
        Err(e) => {
            info.error = Some(e.to_string());
            return info;
        }
    };
    match dev.query_caps() {
        Ok(c) => {
            info.card = c.card;
            info.driver = c.driver;
            info.bus = c.bus;
            info.capture =
                c.capabilities.contains(CapFlags::VIDEO_CAPTURE) && c.capabilities.contains(CapFlags::STREAMING);
            info.kind = describe_caps(c.capabilities);
        }
        Err(e) => {
            info.error = Some(e.to_string());
            return info;
        }
    }
    if info.capture {
        for d in dev.enum_formats().unwrap_or_default() {
            info.formats.push(FormatInfo {
                fourcc: d.fourcc.str().unwrap_or("?").to_string(),
                description: d.description.clone(),
                supported: PixelFormat::from_fourcc(d.fourcc.repr).is_some(),
                sizes: sizes(&dev, d.fourcc),
            });
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fourccs(list: &[&[u8; 4]]) -> Vec<FourCC> {
        list.iter().map(|f| FourCC::new(f)).collect()
    }

    #[test]
    fn auto_prefers_yuyv_at_rate_then_mjpeg() {
        let req = CameraRequest::new("/dev/video0");
        let both = fourccs(&[b"MJPG", b"YUYV"]);
        assert_eq!(choose_format(&both, &req, |_| Some(30.0)), Ok(PixelFormat::Yuyv));
        // A USB 2 webcam at 1280x720: YUYV only 10 fps, so MJPEG.
        assert_eq!(
            choose_format(&both, &req, |f| Some(if f == PixelFormat::Yuyv { 10.0 } else { 30.0 })),
            Ok(PixelFormat::Mjpeg)
        );
        // 29.97 counts as reaching 30.
        assert_eq!(choose_format(&both, &req, |_| Some(29.97)), Ok(PixelFormat::Yuyv));
        assert_eq!(
            choose_format(&fourccs(&[b"H264", b"GREY"]), &req, |_| None),
            Ok(PixelFormat::Grey)
        );
        let e = choose_format(&fourccs(&[b"H264"]), &req, |_| None).unwrap_err();
        assert!(e.contains("no pixel format cdposture decodes"), "{e}");
    }

    #[test]
    fn explicit_format_must_be_offered() {
        let mut req = CameraRequest::new("/dev/video0");
        req.format = Some(PixelFormat::Mjpeg);
        let e = choose_format(&fourccs(&[b"YUYV", b"NV12"]), &req, |_| None).unwrap_err();
        assert!(e.contains("does not offer MJPG"), "{e}");
        req.format = Some(PixelFormat::Nv12);
        assert_eq!(
            choose_format(&fourccs(&[b"YUYV", b"NV12"]), &req, |_| None),
            Ok(PixelFormat::Nv12)
        );
    }

    #[test]
    fn fractional_rates() {
        let f = fps_fraction(29.97);
        assert_eq!((f.numerator, f.denominator), (1000, 29970));
        let f = fps_fraction(15.0);
        assert_eq!((f.numerator, f.denominator), (1, 15));
    }

    #[test]
    fn a_missing_device_is_a_clear_error_and_counts_as_lost() {
        let e = Camera::open(
            &CameraRequest::new("/dev/video-does-not-exist"),
            0.0,
            Default::default(),
        )
        .err()
        .expect("no such device");
        let msg = e.to_string();
        assert!(
            msg.starts_with("camera /dev/video-does-not-exist: cannot open"),
            "{msg}"
        );
        assert!(msg.contains("cameras"), "names the way to list devices: {msg}");
        assert!(e.is_lost(), "an unplugged camera is reopened");
    }

    #[test]
    fn a_file_that_is_not_a_device_is_not_lost() {
        let dir = std::env::temp_dir().join(format!("cdposture-cam-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("video0");
        std::fs::write(&f, b"not a device").unwrap();
        let e = Camera::open(&CameraRequest::new(&f), 0.0, Default::default())
            .err()
            .expect("a regular file is no camera");
        assert!(e.to_string().contains("not a V4L2 device"), "{e}");
        assert!(!e.is_lost(), "a wrong path is a config mistake, not an unplug");
        // Listing a folder with such a node reports it instead of failing.
        let listed = list_devices_in(&dir);
        assert_eq!(listed.len(), 1);
        assert!(listed[0].error.is_some() && !listed[0].capture);
        std::fs::remove_dir_all(&dir).ok();
    }
}
