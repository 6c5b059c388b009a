//! Capture tests against a real V4L2 driver: the kernel's `vivid` virtual camera, in a QEMU VM
//! booted by `tests/vivid/run.sh` (this machine has no camera and cannot load modules). They
//! exercise the product's own capture code: negotiation, mmap streaming, pixel conversion,
//! driver timestamps, error messages, and recovery from an unplug (vivid's "Disconnect"
//! control, then the module removed and loaded again, as a USB camera leaves and comes back).
//!
//! Ignored in a plain `cargo test` (no /dev/video0 here); run.sh runs them with `--ignored`.

use cdposture::capture::camera::{list_devices, Camera, CameraError, CameraRequest};
use cdposture::capture::pixels::PixelFormat;
use cdposture::daemon::capture::{camera_opener, CaptureOptions, CaptureThread, Pop};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const VIVID: &str = "needs the vivid driver: run tests/vivid/run.sh";

fn request(format: Option<PixelFormat>) -> CameraRequest {
    CameraRequest {
        format,
        ..CameraRequest::new("/dev/video0")
    }
}

fn open(format: Option<PixelFormat>) -> Camera {
    Camera::open(&request(format), 0.0, Arc::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// Mean RGB of each of the 8 vertical stripes of the middle row (vivid's default pattern is
/// 75 % colour bars).
fn bar_means(img: &image::RgbImage) -> Vec<[f64; 3]> {
    let (w, y) = (img.width(), img.height() / 2);
    (0..8)
        .map(|b| {
            let (x0, x1) = (b * w / 8 + w / 32, (b + 1) * w / 8 - w / 32);
            let mut sum = [0.0; 3];
            for x in x0..x1 {
                let p = img.get_pixel(x, y).0;
                for c in 0..3 {
                    sum[c] += p[c] as f64;
                }
            }
            sum.map(|s| s / (x1 - x0) as f64)
        })
        .collect()
}

#[test]
#[ignore = "needs the vivid driver: run tests/vivid/run.sh"]
fn lists_vivid_with_its_formats() {
    let _ = VIVID;
    let devices = list_devices();
    for d in &devices {
        println!(
            "VIVID-LIST {} capture={} card={:?} kind={:?} formats={:?}",
            d.path.display(),
            d.capture,
            d.card,
            d.kind,
            d.formats.iter().map(|f| &f.fourcc).collect::<Vec<_>>()
        );
    }
    let cam = devices
        .iter()
        .find(|d| d.path == Path::new("/dev/video0"))
        .expect("vivid's capture node");
    assert!(cam.capture && cam.driver == "vivid", "{cam:?}");
    let yuyv = cam.formats.iter().find(|f| f.fourcc == "YUYV").expect("YUYV offered");
    assert!(yuyv.supported);
    assert!(yuyv.sizes.iter().any(|s| s.starts_with("640x480@")), "{:?}", yuyv.sizes);
    assert!(devices.iter().any(|d| !d.capture), "vivid also has non-capture nodes");
}

#[test]
#[ignore = "needs the vivid driver: run tests/vivid/run.sh"]
fn negotiates_yuyv_640x480_25_and_streams_with_driver_timestamps() {
    // vivid's webcam input offers 640x480 at up to 25 fps (and 30 when asked for is lowered to it).
    let asked_30 = open(None);
    assert_eq!(asked_30.negotiated().fps, Some(25.0));
    drop(asked_30);
    let mut cam = Camera::open(
        &CameraRequest {
            fps: 25.0,
            ..request(None)
        },
        0.0,
        Arc::default(),
    )
    .unwrap();
    let n = cam.negotiated().clone();
    println!("VIVID-NEGOTIATED {n:?}");
    assert_eq!((n.format, n.width, n.height), (PixelFormat::Yuyv, 640, 480));
    assert_eq!(n.fps, Some(25.0));
    assert!(n.stride >= 1280);
    let started = Instant::now();
    let mut last = f64::NEG_INFINITY;
    let mut first = None;
    for i in 0..30 {
        let f = cam.capture().unwrap_or_else(|e| panic!("frame {i}: {e}"));
        assert_eq!(f.image.dimensions(), (640, 480));
        assert!(f.t_s > last, "driver timestamps increase");
        last = f.t_s;
        first.get_or_insert(f.t_s);
    }
    let span = last - first.unwrap();
    let wall = started.elapsed().as_secs_f64();
    println!(
        "VIVID-STREAM 30 frames in {wall:.2} s wall; driver timestamps span {span:.3} s ({:.1} fps); corrupt {}",
        29.0 / span,
        cam.corrupt_frames()
    );
    // vivid paces itself at the negotiated rate: 29 intervals of 1/25 s.
    assert!((span - 29.0 / 25.0).abs() < 0.2, "span {span}");
    assert_eq!(cam.corrupt_frames(), 0);
}

#[test]
#[ignore = "needs the vivid driver: run tests/vivid/run.sh"]
fn every_decoded_pixel_format_gives_the_same_colour_bars() {
    let reference = bar_means(&open(Some(PixelFormat::Rgb24)).capture().unwrap().image);
    println!("VIVID-BARS RGB3 {reference:.0?}");
    // The bars really are bars: white first, black last.
    assert!(reference[0].iter().all(|&v| v > 150.0) && reference[7].iter().all(|&v| v < 40.0));
    for format in [PixelFormat::Yuyv, PixelFormat::Uyvy, PixelFormat::Nv12] {
        let mut cam = open(Some(format));
        assert_eq!(cam.negotiated().format, format);
        let bars = bar_means(&cam.capture().unwrap().image);
        let worst = bars
            .iter()
            .zip(&reference)
            .flat_map(|(a, b)| (0..3).map(move |c| (a[c] - b[c]).abs()))
            .fold(0.0, f64::max);
        println!("VIVID-BARS {format} max channel difference to RGB3: {worst:.1}");
        assert!(worst < 12.0, "{format}: {bars:.0?}");
    }
    // Grey: every channel equal, brightness ordered like the bars' luma.
    let grey = bar_means(&open(Some(PixelFormat::Grey)).capture().unwrap().image);
    assert!(grey.iter().all(|p| p[0] == p[1] && p[1] == p[2]));
    assert!(grey[0][0] > grey[7][0] + 100.0, "{grey:.0?}");
}

#[test]
#[ignore = "needs the vivid driver: run tests/vivid/run.sh"]
fn bad_requests_get_errors_naming_the_device_and_the_alternatives() {
    // vivid has no MJPEG.
    let e = Camera::open(&request(Some(PixelFormat::Mjpeg)), 0.0, Arc::default())
        .err()
        .expect("MJPEG is not offered");
    let msg = e.to_string();
    println!("VIVID-ERROR {msg}");
    assert!(matches!(e, CameraError::Format { .. }));
    assert!(
        msg.contains("/dev/video0") && msg.contains("MJPG") && msg.contains("YUYV 320x180@"),
        "{msg}"
    );
    assert!(msg.len() < 1000, "readable, not 80 formats long: {} chars", msg.len());
    assert!(!e.is_lost());
    // A node that is not a capture device (vivid's output, VBI, radio… nodes).
    let other = list_devices()
        .into_iter()
        .find(|d| !d.capture && d.error.is_none())
        .expect("a non-capture node");
    let e = Camera::open(&CameraRequest::new(&other.path), 0.0, Arc::default())
        .err()
        .expect("not a capture device");
    let msg = e.to_string();
    println!("VIVID-ERROR {msg}");
    assert!(matches!(e, CameraError::NotCapture { .. }), "{msg}");
    assert!(
        msg.contains(&other.path.display().to_string()) && msg.contains("capture devices here: /dev/video0 (vivid"),
        "{msg}"
    );
    // A path that does not exist lists the real camera.
    let e = Camera::open(&CameraRequest::new("/dev/video42"), 0.0, Arc::default())
        .err()
        .expect("no such node");
    let msg = e.to_string();
    println!("VIVID-ERROR {msg}");
    assert!(
        msg.contains("/dev/video42") && msg.contains("/dev/video0 (vivid"),
        "{msg}"
    );
    // A size the driver does not offer is adjusted (and logged), not an error.
    let mut req = request(Some(PixelFormat::Yuyv));
    req.width = 1000;
    req.height = 700;
    let cam = Camera::open(&req, 0.0, Arc::default()).unwrap();
    println!(
        "VIVID-ADJUSTED 1000x700 -> {}x{}",
        cam.negotiated().width,
        cam.negotiated().height
    );
}

/// Set one of vivid's test controls, found by name (their ids are driver-private).
fn set_vivid_control(device: &str, control: &str, value: i64) {
    use v4l::v4l2;
    use v4l::v4l_sys::{v4l2_query_ext_ctrl, V4L2_CTRL_FLAG_NEXT_COMPOUND, V4L2_CTRL_FLAG_NEXT_CTRL};
    let dev = v4l::Device::with_path(device).expect("open for the control");
    let mut q: v4l2_query_ext_ctrl = unsafe { std::mem::zeroed() };
    let mut names = Vec::new();
    let id = loop {
        q.id |= V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND;
        // SAFETY: a query struct we own, the ioctl it belongs to.
        unsafe {
            v4l2::ioctl(
                dev.handle().fd(),
                v4l2::vidioc::VIDIOC_QUERY_EXT_CTRL,
                &mut q as *mut _ as *mut std::os::raw::c_void,
            )
        }
        .unwrap_or_else(|_| panic!("vivid has no control {control:?}; it has {names:?}"));
        let name: Vec<u8> = q.name.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        let name = String::from_utf8_lossy(&name).to_string();
        if name == control {
            break q.id;
        }
        names.push(name);
    };
    dev.set_control(v4l::Control {
        id,
        value: v4l::control::Value::Integer(value),
    })
    .unwrap_or_else(|e| panic!("set {control:?} = {value}: {e}"));
}

fn press_disconnect(device: &str) {
    set_vivid_control(device, "Disconnect", 1);
}

/// The capture thread as the daemon runs it on a camera: reopen every 0.25 s doubling to 2 s.
fn start_capture(req: CameraRequest) -> CaptureThread {
    CaptureThread::start_with(
        camera_opener(req),
        CaptureOptions {
            paced: false,
            looping: false,
            capacity: 2,
            reconnect: Some((Duration::from_millis(250), Duration::from_secs(2))),
            wait_for_space: false,
        },
    )
    .unwrap()
}

fn wait_until(what: &str, limit: Duration, cond: impl Fn() -> bool) -> f64 {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    start.elapsed().as_secs_f64()
}

#[test]
#[ignore = "needs the vivid driver: run tests/vivid/run.sh"]
fn corrupt_frames_are_skipped_and_a_stalled_camera_is_reopened() {
    let req = CameraRequest {
        frame_timeout: Duration::from_secs(1),
        ..CameraRequest::new("/dev/video0")
    };
    let mut cap = start_capture(req);
    wait_until("first frames", Duration::from_secs(20), || cap.stats.captured() >= 10);
    // The driver marks buffers as failed (V4L2_BUF_FLAG_ERROR): skipped, counted, no reopen.
    for _ in 0..3 {
        set_vivid_control("/dev/video0", "Inject V4L2_BUF_FLAG_ERROR", 1);
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_until("corrupt frames counted", Duration::from_secs(5), || {
        cap.stats.corrupt() >= 3
    });
    let captured = cap.stats.captured();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        cap.stats.captured() > captured,
        "frames keep coming around the corrupt ones"
    );
    assert!(cap.stats.online() && cap.stats.reconnects() == 0);
    println!(
        "VIVID-CORRUPT {} flagged buffers skipped and counted; capture went on",
        cap.stats.corrupt()
    );
    // The driver stops delivering (drops every buffer): the watchdog (1 s here) calls it lost.
    set_vivid_control("/dev/video0", "Percentage of Dropped Buffers", 100);
    let stalled = wait_until("stall noticed", Duration::from_secs(10), || !cap.stats.online());
    println!("VIVID-STALL no frames: offline after {stalled:.2} s (frame_timeout 1 s)");
    // Reopening a camera that still delivers nothing keeps it offline (no flapping).
    std::thread::sleep(Duration::from_secs(3));
    assert!(!cap.stats.online());
    set_vivid_control("/dev/video0", "Percentage of Dropped Buffers", 0);
    let back = wait_until("resumed after the stall", Duration::from_secs(10), || {
        cap.stats.online()
    });
    println!(
        "VIVID-STALL frames again: online {back:.2} s after the driver resumed; reconnects {}",
        cap.stats.reconnects()
    );
    assert_eq!(cap.stats.reconnects(), 1);
    assert!(back < 5.0);
    cap.stop();
}

fn busybox(args: &[&str]) -> bool {
    std::process::Command::new("/bin/busybox")
        .args(args)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
#[ignore = "needs the vivid driver: run tests/vivid/run.sh"]
fn capture_survives_an_unplug_and_resumes_by_itself() {
    let module = std::env::var("VIVID_KO").expect("VIVID_KO: path of vivid.ko (set by run.sh)");
    // Configured by a stable link, as udev makes them in /dev/v4l/by-id (the VM has no udev): it is
    // reopened by that name, so it follows the camera to whatever node it gets after the replug.
    let link = Path::new("/tmp/v4l/by-id/usb-vivid-video-index0");
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink("/dev/video0", link).unwrap();
    let req = CameraRequest::new(link);
    let mut cap = start_capture(req);
    assert!(cap.live && cap.stats.online());
    let mut last_index = 0;
    let mut last_t = 0.0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while cap.stats.captured() < 15 {
        assert!(Instant::now() < deadline, "no frames before the unplug");
        if let Pop::Frame(f) = cap.queue.pop(Duration::from_millis(200)) {
            last_index = f.index;
            last_t = f.t_s;
        }
    }
    println!(
        "VIVID-UNPLUG {} frames captured; pressing Disconnect",
        cap.stats.captured()
    );
    let unplugged = Instant::now();
    press_disconnect("/dev/video0");
    while cap.stats.online() {
        assert!(
            unplugged.elapsed() < Duration::from_secs(10),
            "the loss was never noticed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let noticed = unplugged.elapsed().as_secs_f64();
    println!("VIVID-UNPLUG camera offline after {noticed:.2} s");
    // Unplugged for good: the module goes (it can only once the daemon closed the device).
    while !busybox(&["rmmod", "vivid"]) {
        assert!(unplugged.elapsed() < Duration::from_secs(15), "vivid still in use");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!Path::new("/dev/video0").exists());
    std::thread::sleep(Duration::from_secs(2));
    assert!(!cap.stats.online(), "offline while unplugged");
    while let Pop::Frame(f) = cap.queue.pop(Duration::from_millis(1)) {
        last_index = f.index;
    }
    // Plugged back in.
    assert!(busybox(&["insmod", &module]), "insmod {module}");
    let replugged = Instant::now();
    let first = loop {
        assert!(replugged.elapsed() < Duration::from_secs(15), "capture never resumed");
        if let Pop::Frame(f) = cap.queue.pop(Duration::from_millis(100)) {
            break f;
        }
    };
    let recovery = replugged.elapsed().as_secs_f64();
    println!(
        "VIVID-RECOVERY first frame {recovery:.2} s after the camera came back (frame {} at t {:.2} s; before: frame {last_index} at t {last_t:.2} s); reconnects {}",
        first.index,
        first.t_s,
        cap.stats.reconnects()
    );
    assert!(recovery < 5.0, "recovery took {recovery:.2} s");
    assert!(cap.stats.online());
    assert_eq!(cap.stats.reconnects(), 1);
    assert!(first.index > last_index && first.t_s > last_t, "the timeline continues");
    // And it keeps streaming.
    let before = cap.stats.captured();
    std::thread::sleep(Duration::from_secs(1));
    assert!(cap.stats.captured() > before + 10, "streaming after recovery");
    cap.stop();
}
