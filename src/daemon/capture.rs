//! The capture thread and its queue. The queue holds at most a couple of frames and drops the
//! OLDEST when full: a measuring instrument wants the newest posture, and a slow frame must never
//! make capture (or a camera driver's buffers) wait. Drops are counted and reported in `stats`.
//! Files are paced at their native frame rate so that a video behaves like the camera it stands for.

use crate::capture::camera::{monotonic_now, Camera, CameraRequest, CameraSource};
use crate::capture::{Frame, FrameSource};
use crate::config::SourceSettings;
use crate::Error;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub enum Pop {
    Frame(Frame),
    /// Nothing arrived within the timeout.
    Empty,
    /// The source ended; with the error that ended it, if any.
    Closed(Option<Error>),
}

struct Inner {
    frames: VecDeque<Frame>,
    closed: Option<Option<Error>>,
}

pub struct FrameQueue {
    inner: Mutex<Inner>,
    ready: Condvar,
    /// Signalled when a frame is taken (for sources that wait for space instead of dropping).
    space: Condvar,
    capacity: usize,
    dropped: AtomicU64,
}

impl FrameQueue {
    pub fn new(capacity: usize) -> Self {
        FrameQueue {
            inner: Mutex::new(Inner {
                frames: VecDeque::new(),
                closed: None,
            }),
            ready: Condvar::new(),
            space: Condvar::new(),
            capacity: capacity.max(1),
            dropped: AtomicU64::new(0),
        }
    }

    pub fn push(&self, f: Frame) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if g.frames.len() >= self.capacity {
            g.frames.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        g.frames.push_back(f);
        self.ready.notify_one();
    }

    /// Wait for space instead of dropping (files processed as fast as possible: every frame
    /// counts). Gives up, dropping the frame, when `stop` is set.
    pub fn push_waiting(&self, f: Frame, stop: &AtomicBool) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        while g.frames.len() >= self.capacity {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            g = self
                .space
                .wait_timeout(g, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        g.frames.push_back(f);
        self.ready.notify_one();
    }

    pub fn close(&self, err: Option<Error>) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.closed = Some(err);
        self.ready.notify_all();
    }

    pub fn pop(&self, timeout: Duration) -> Pop {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(f) = g.frames.pop_front() {
                self.space.notify_one();
                return Pop::Frame(f);
            }
            if let Some(err) = g.closed.as_mut() {
                return Pop::Closed(err.take());
            }
            let now = Instant::now();
            if now >= deadline {
                return Pop::Empty;
            }
            g = self
                .ready
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Counters and camera status, shared with the daemon loop (stats, camera status messages, LED).
#[derive(Default)]
pub struct CaptureStats {
    captured: AtomicU64,
    corrupt: AtomicU64,
    reconnects: AtomicU64,
    /// False while a lost camera is being reopened.
    offline: AtomicBool,
    /// Every status change (true = online), in order, until the daemon loop takes them: an outage
    /// shorter than one frame's processing is still reported.
    changes: Mutex<VecDeque<bool>>,
    /// Advanced by the capture thread at every step, also while it waits to reopen a camera: the
    /// watchdog's evidence that an offline camera is being handled, not hung.
    heartbeat: AtomicU64,
}
impl CaptureStats {
    pub fn captured(&self) -> u64 {
        self.captured.load(Ordering::Relaxed)
    }
    /// Frames the camera delivered corrupt (skipped), over all reopens.
    pub fn corrupt(&self) -> u64 {
        self.corrupt.load(Ordering::Relaxed)
    }
    /// Times a lost camera came back.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }
    pub fn online(&self) -> bool {
        !self.offline.load(Ordering::Relaxed)
    }
    fn set_online(&self, online: bool) {
        self.offline.store(!online, Ordering::Relaxed);
        self.changes.lock().unwrap_or_else(|e| e.into_inner()).push_back(online);
    }
    fn beat(&self) {
        self.heartbeat.fetch_add(1, Ordering::Relaxed);
    }
    /// Changes whenever the capture thread makes progress (frames or reopen attempts).
    pub fn heartbeat(&self) -> u64 {
        self.heartbeat.load(Ordering::Relaxed)
    }
    /// Status changes since the last call, oldest first (the first is the status at start).
    pub fn take_changes(&self) -> Vec<bool> {
        self.changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect()
    }
}

pub struct CaptureThread {
    pub queue: Arc<FrameQueue>,
    pub stats: Arc<CaptureStats>,
    /// The source is a live device (a camera): its status is reported.
    pub live: bool,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

/// Opens sources; called again to restart a looping source or to reopen a lost camera.
pub type Opener = Box<dyn Fn() -> crate::Result<Box<dyn FrameSource>> + Send>;

pub fn opener(settings: &SourceSettings, model_dir: &std::path::Path) -> Opener {
    let model_dir = model_dir.to_path_buf();
    match settings.clone() {
        SourceSettings::Demo { frames, fps, .. } => {
            // Read the photo once; a looping demo must not depend on the file staying put.
            let photo = std::sync::OnceLock::new();
            Box::new(move || {
                let img = match photo.get() {
                    Some(p) => std::sync::Arc::clone(p),
                    None => {
                        let p = std::sync::Arc::new(crate::capture::load_image(
                            &model_dir.join(crate::capture::demo::DEMO_PHOTO),
                        )?);
                        photo.get_or_init(|| p).clone()
                    }
                };
                Ok(Box::new(crate::capture::DemoSource::from_photo(img, frames).with_fps(fps)) as Box<dyn FrameSource>)
            })
        }
        SourceSettings::Video { path, .. } => {
            Box::new(move || Ok(Box::new(crate::capture::VideoFile::open(&path)?) as Box<dyn FrameSource>))
        }
        SourceSettings::Images { path } => Box::new(move || crate::capture::open(&path)),
        SourceSettings::Camera(c) => camera_opener(c.request),
    }
}

/// Every open of the camera shares the time origin and frame counter, so a reopened camera
/// continues the timeline instead of starting again at frame 0.
pub fn camera_opener(request: CameraRequest) -> Opener {
    let t0 = monotonic_now();
    let counter = Arc::new(AtomicU64::new(0));
    Box::new(move || {
        let camera = Camera::open(&request, t0, counter.clone())?;
        let n = camera.negotiated();
        log::info!(
            "camera {} ({}, {}): {} {}x{}{}",
            request.device.display(),
            n.card,
            n.driver,
            n.format,
            n.width,
            n.height,
            n.fps.map(|f| format!(" at {f:.1} fps")).unwrap_or_default()
        );
        Ok(Box::new(CameraSource { camera }) as Box<dyn FrameSource>)
    })
}

/// How the capture thread treats its source.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// Sleep to the source's frame rate (files standing in for a camera).
    pub paced: bool,
    /// Reopen at the end (demo, video).
    pub looping: bool,
    /// Queue length; the oldest frame is dropped beyond it (unless `wait_for_space`).
    pub capacity: usize,
    /// Files processed as fast as possible: wait for space in the queue instead of dropping, so
    /// every frame is measured. Never for cameras (capture must not wait for inference).
    pub wait_for_space: bool,
    /// Reopen a lost camera, waiting `min` first and doubling up to `max`; `None`: a source
    /// error ends the capture.
    pub reconnect: Option<(Duration, Duration)>,
}

impl CaptureThread {
    /// Start capturing. `paced`: sleep to the source's frame rate (files); `looping`: reopen at the end.
    pub fn start(open: Opener, paced: bool, looping: bool, capacity: usize) -> crate::Result<CaptureThread> {
        Self::start_with(
            open,
            CaptureOptions {
                paced,
                looping,
                capacity,
                reconnect: None,
                wait_for_space: false,
            },
        )
    }

    /// Start capturing. The first open happens here, so a wrong device or file fails at once
    /// with its own error; only later losses are retried.
    pub fn start_with(open: Opener, opts: CaptureOptions) -> crate::Result<CaptureThread> {
        let mut absent = false;
        let first = match open() {
            Ok(src) => src,
            // A camera that is merely absent (unplugged, not enumerated yet at boot) is waited
            // for, as one that goes away later is: exiting would have systemd give up after a
            // few restarts. Wrong devices and formats still fail here, at once.
            Err(e) if opts.reconnect.is_some() && e.is_camera_lost() => {
                absent = true;
                Box::new(Closed(Some(e)))
            }
            Err(e) => return Err(e),
        };
        let live = first.is_live();
        let queue = Arc::new(FrameQueue::new(opts.capacity));
        let stats = Arc::new(CaptureStats::default());
        // Offline from the first moment, so the first status anybody sees is the true one.
        if live {
            stats.set_online(!absent);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (q, s, st) = (queue.clone(), stats.clone(), stop.clone());
        let handle = std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || {
                let mut source = first;
                // Time offset so timestamps keep increasing across loops.
                let mut offset = 0.0;
                let mut last_t = 0.0;
                let mut start = Instant::now();
                // Corrupt frames of sources already closed (the counter lives in each source).
                let mut corrupt_before = 0;
                // Set while the camera is lost: it counts as back only when a frame arrives, so a
                // camera that opens but delivers nothing does not flap online/offline.
                let mut lost_since = None::<Instant>;
                loop {
                    if st.load(Ordering::Relaxed) {
                        q.close(None);
                        return;
                    }
                    s.beat();
                    let next = source.next_frame();
                    s.corrupt
                        .store(corrupt_before + source.corrupt_frames(), Ordering::Relaxed);
                    match next {
                        Ok(Some(mut f)) => {
                            if let Some(since) = lost_since.take() {
                                s.reconnects.fetch_add(1, Ordering::Relaxed);
                                s.set_online(true);
                                log::info!("camera back online after {:.1} s", since.elapsed().as_secs_f64());
                            }
                            if opts.paced {
                                let due = start + Duration::from_secs_f64(f.t_s.max(0.0));
                                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                                    std::thread::sleep(wait);
                                }
                            }
                            last_t = f.t_s;
                            f.t_s += offset;
                            s.captured.fetch_add(1, Ordering::Relaxed);
                            if opts.wait_for_space {
                                q.push_waiting(f, &st);
                            } else {
                                q.push(f);
                            }
                        }
                        Ok(None) if opts.looping => {
                            let step = source.fps().map(|r| 1.0 / r).unwrap_or(0.0);
                            offset += last_t + step;
                            start = Instant::now();
                            match open() {
                                Ok(src) => source = src,
                                Err(e) => {
                                    q.close(Some(e));
                                    return;
                                }
                            }
                        }
                        Ok(None) => {
                            q.close(None);
                            return;
                        }
                        Err(e) => match opts.reconnect {
                            Some((min, max)) if e.is_camera_lost() => {
                                corrupt_before += source.corrupt_frames();
                                // Close the device before reopening: a replugged camera may get
                                // the same node, and the driver needs the old handle gone.
                                drop(std::mem::replace(&mut source, Box::new(Closed(None))));
                                if lost_since.is_none() {
                                    lost_since = Some(Instant::now());
                                    s.set_online(false);
                                    log::warn!("{e}; camera offline, reopening");
                                } else {
                                    log::info!("still offline: {e}");
                                }
                                match reopen(&open, min, max, &st, &s) {
                                    Some(src) => source = src,
                                    None => {
                                        q.close(None);
                                        return;
                                    }
                                }
                            }
                            _ => {
                                q.close(Some(e));
                                return;
                            }
                        },
                    }
                }
            })
            .map_err(|e| Error::Other(format!("cannot start the capture thread: {e}")))?;
        Ok(CaptureThread {
            queue,
            stats,
            live,
            stop,
            handle: Some(handle),
        })
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Drain so a paced source blocked on nothing can see the flag; join briefly.
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Stands in for a camera that is not open: reports why once (a camera missing at start, which
/// sends the thread into reopening), then nothing, while a lost camera is being reopened.
struct Closed(Option<Error>);
impl FrameSource for Closed {
    fn next_frame(&mut self) -> crate::Result<Option<Frame>> {
        match self.0.take() {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }
    fn is_sequence(&self) -> bool {
        true
    }
    fn is_live(&self) -> bool {
        true
    }
}

/// Try `open` until it opens or `stop` is set, sleeping `min`, doubling to `max`, between tries.
/// Each distinct failure is logged once, so an unplugged camera is one line, not one per try.
fn reopen(
    open: &Opener,
    min: Duration,
    max: Duration,
    stop: &AtomicBool,
    stats: &CaptureStats,
) -> Option<Box<dyn FrameSource>> {
    let mut wait = min;
    let mut last_error = String::new();
    loop {
        let until = Instant::now() + wait;
        while Instant::now() < until {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            stats.beat();
            std::thread::sleep(Duration::from_millis(20).min(wait));
        }
        match open() {
            Ok(src) => return Some(src),
            Err(e) => {
                let msg = e.to_string();
                if msg != last_error {
                    log::info!("still offline: {msg}");
                    last_error = msg;
                }
            }
        }
        wait = (wait * 2).min(max);
    }
}

impl Drop for CaptureThread {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(i: u64) -> Frame {
        Frame {
            index: i,
            t_s: i as f64,
            image: image::RgbImage::new(1, 1),
            path: None,
        }
    }

    #[test]
    fn full_queue_drops_the_oldest_and_counts() {
        let q = FrameQueue::new(2);
        for i in 0..5 {
            q.push(frame(i));
        }
        assert_eq!(q.dropped(), 3);
        let Pop::Frame(f) = q.pop(Duration::from_millis(1)) else {
            panic!()
        };
        assert_eq!(f.index, 3, "the newest frames survive");
        let Pop::Frame(f) = q.pop(Duration::from_millis(1)) else {
            panic!()
        };
        assert_eq!(f.index, 4);
        assert!(matches!(q.pop(Duration::from_millis(1)), Pop::Empty));
        q.close(None);
        assert!(matches!(q.pop(Duration::from_millis(1)), Pop::Closed(None)));
    }

    /// A camera stand-in: `frames` frames, then it is "unplugged" (a lost-camera error).
    struct Flaky {
        left: u64,
        next: u64,
        corrupt: u64,
    }
    impl FrameSource for Flaky {
        fn next_frame(&mut self) -> crate::Result<Option<Frame>> {
            if self.left == 0 {
                return Err(crate::capture::camera::CameraError::Stalled {
                    device: "/dev/video9".into(),
                    waited: 2.0,
                    detail: "unplugged".into(),
                }
                .into());
            }
            self.left -= 1;
            self.next += 1;
            std::thread::sleep(Duration::from_millis(2));
            Ok(Some(frame(self.next)))
        }
        fn is_sequence(&self) -> bool {
            true
        }
        fn corrupt_frames(&self) -> u64 {
            self.corrupt
        }
        fn is_live(&self) -> bool {
            true
        }
    }

    /// What opening an unplugged camera gives.
    fn unplugged() -> Error {
        crate::capture::camera::CameraError::Open {
            device: "/dev/video9".into(),
            cause: std::io::Error::from_raw_os_error(libc::ENOENT),
            hint: String::new(),
        }
        .into()
    }

    #[test]
    fn a_lost_camera_is_reopened_with_backoff_and_counted() {
        use std::sync::atomic::AtomicU32;
        let opens = Arc::new(AtomicU32::new(0));
        let o = opens.clone();
        // Open 1 works (5 frames, then lost); opens 2-3 fail as if unplugged; open 4 works.
        let opener: Opener = Box::new(move || {
            let n = o.fetch_add(1, Ordering::SeqCst) + 1;
            if n == 2 || n == 3 {
                return Err(unplugged());
            }
            Ok(Box::new(Flaky {
                left: if n == 1 { 5 } else { 1000 },
                next: n as u64 * 100,
                corrupt: 2,
            }) as Box<dyn FrameSource>)
        });
        let mut cap = CaptureThread::start_with(
            opener,
            CaptureOptions {
                paced: false,
                looping: false,
                capacity: 64,
                reconnect: Some((Duration::from_millis(10), Duration::from_millis(40))),
                wait_for_space: false,
            },
        )
        .unwrap();
        assert!(cap.live);
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.len() < 20 && Instant::now() < deadline {
            if let Pop::Frame(f) = cap.queue.pop(Duration::from_millis(100)) {
                seen.push(f.index);
            }
        }
        assert_eq!(&seen[..5], &[101, 102, 103, 104, 105], "frames before the loss");
        assert_eq!(seen[5], 401, "then the fourth open's frames");
        assert_eq!(cap.stats.reconnects(), 1);
        assert_eq!(cap.stats.take_changes(), [true, false, true], "every change, in order");
        assert!(cap.stats.take_changes().is_empty());
        assert!(cap.stats.online());
        assert_eq!(opens.load(Ordering::SeqCst), 4);
        assert_eq!(cap.stats.corrupt(), 4, "corrupt counts add up over reopens");
        cap.stop();
        assert!(matches!(
            cap.queue.pop(Duration::from_secs(1)),
            Pop::Frame(_) | Pop::Closed(None)
        ));
    }

    #[test]
    fn without_reconnect_a_lost_camera_ends_the_capture_with_its_error() {
        let opener: Opener = Box::new(|| {
            Ok(Box::new(Flaky {
                left: 1,
                next: 0,
                corrupt: 0,
            }) as Box<dyn FrameSource>)
        });
        let cap = CaptureThread::start(opener, false, false, 4).unwrap();
        assert!(matches!(cap.queue.pop(Duration::from_secs(2)), Pop::Frame(_)));
        match cap.queue.pop(Duration::from_secs(2)) {
            Pop::Closed(Some(e)) => assert!(e.to_string().contains("/dev/video9"), "{e}"),
            _ => panic!("expected the capture to end with the camera error"),
        }
    }

    #[test]
    fn a_camera_missing_at_start_is_waited_for_but_a_wrong_device_fails_at_once() {
        use std::sync::atomic::AtomicU32;
        let opens = Arc::new(AtomicU32::new(0));
        let o = opens.clone();
        let opener: Opener = Box::new(move || {
            if o.fetch_add(1, Ordering::SeqCst) < 2 {
                return Err(unplugged());
            }
            Ok(Box::new(Flaky {
                left: 1000,
                next: 0,
                corrupt: 0,
            }) as Box<dyn FrameSource>)
        });
        let options = CaptureOptions {
            paced: false,
            looping: false,
            capacity: 4,
            reconnect: Some((Duration::from_millis(10), Duration::from_millis(20))),
            wait_for_space: false,
        };
        let mut cap = CaptureThread::start_with(opener, options.clone()).expect("waits for the camera");
        assert!(cap.live);
        assert!(matches!(cap.queue.pop(Duration::from_secs(5)), Pop::Frame(_)));
        assert!(cap.stats.online());
        assert_eq!(cap.stats.reconnects(), 1);
        cap.stop();
        // Not a capture device: a configuration mistake, reported at start.
        let wrong: Opener = Box::new(|| {
            Err(crate::capture::camera::CameraError::NotCapture {
                device: "/dev/video1".into(),
                card: "x".into(),
                kind: "video output".into(),
                hint: String::new(),
            }
            .into())
        });
        let e = CaptureThread::start_with(wrong, options).err().expect("fails at start");
        assert!(e.to_string().contains("not a video capture device"), "{e}");
    }
}
