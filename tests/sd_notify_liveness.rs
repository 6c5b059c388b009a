//! The watchdog must tell "waiting for a camera" from "hung". With the camera missing (unplugged
//! at start, reopened with backoff) the daemon is alive and must keep pinging, or systemd kills it
//! every WatchdogSec and finally gives up; with the measuring loop hung, pings must stop. One test
//! in this binary, because it sets process environment variables.

mod common;
use cdposture::capture::camera::CameraRequest;
use cdposture::capture::FrameSource;
use cdposture::config::Settings;
use cdposture::daemon::capture::{camera_opener, CaptureOptions, CaptureThread, Opener};
use cdposture::daemon::Daemon;
use cdposture::inference::{ModelSet, PoseVariant};
use cdposture::pipeline::{Pipeline, PipelineOptions};
use cdposture::protocol::messages::{ExamEvent, StateMessage, StatsMessage};
use cdposture::protocol::sink::Sink;
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Collects (seconds since `start`, message) from the notify socket until `done` returns true.
fn listen(sock: &UnixDatagram, start: Instant, done: impl Fn() -> bool) -> Vec<(f64, String)> {
    let mut events = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        if let Ok(n) = sock.recv(&mut buf) {
            events.push((
                start.elapsed().as_secs_f64(),
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            ));
        }
        if done() && events.last().is_some_and(|e: &(f64, String)| e.1 == "STOPPING=1") {
            return events;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120 * common::slowdown()),
            "{events:?}"
        );
    }
}

fn pings(events: &[(f64, String)]) -> Vec<f64> {
    events.iter().filter(|e| e.1 == "WATCHDOG=1").map(|e| e.0).collect()
}

/// A sink whose loop thread hangs once, for `hang`, on the first state message from `after` on: a
/// stuck pipeline or loop as systemd sees it. Records when the hang began and ended. By time, not by
/// frame count: on a quiet machine ten frames pass before the first ping is due.
struct HangingSink {
    after: Instant,
    hang: Duration,
    hung: bool,
    window: Arc<Mutex<Option<(Instant, Instant)>>>,
}

impl Sink for HangingSink {
    fn state(&mut self, _msg: &StateMessage) {
        if !self.hung && Instant::now() >= self.after {
            self.hung = true;
            let began = Instant::now();
            std::thread::sleep(self.hang);
            *self.window.lock().unwrap() = Some((began, Instant::now()));
        }
    }
    fn exam(&mut self, _ev: &ExamEvent) {}
    fn stats(&mut self, _msg: &StatsMessage) {}
}

#[test]
fn pings_continue_while_a_camera_is_missing_and_stop_while_the_loop_hangs() {
    let dir = common::tmp("notify-liveness");
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    // SAFETY of set_var: this test binary has exactly one test, so no other thread reads the environment.
    std::env::set_var("NOTIFY_SOCKET", &sock_path);
    let k = common::slowdown();
    // systemd's period 1 s: the daemon pings every 0.5 s while it makes progress.
    std::env::set_var("WATCHDOG_USEC", (1_000_000 * k).to_string());
    let models_dir = common::model_dir();
    let pipeline = || {
        Pipeline::new(
            ModelSet::load(&models_dir, PoseVariant::Lite).unwrap(),
            PipelineOptions::default(),
        )
    };

    // 1. No camera for 20 s: the real camera opener on a node that does not exist (unplugged).
    let capture = CaptureThread::start_with(
        camera_opener(CameraRequest::new(dir.join("video-unplugged"))),
        CaptureOptions {
            paced: false,
            looping: false,
            capacity: 2,
            reconnect: Some((Duration::from_millis(250), Duration::from_secs(2))),
            wait_for_space: false,
        },
    )
    .unwrap();
    let settings = Settings::demo(models_dir.clone(), 1);
    let mut d = Daemon::new(
        settings.clone(),
        pipeline(),
        cdposture::protocol::sink::MemorySink::default(),
    );
    let stop = d.stop.clone();
    let start = Instant::now();
    let missing_for = Duration::from_secs(20);
    let runner = std::thread::spawn(move || {
        d.run(capture, vec![]).unwrap();
        d.sink().camera.clone()
    });
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(missing_for);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let events = listen(&sock, start, || runner.is_finished());
    stopper.join().unwrap();
    let camera = runner.join().unwrap();
    assert_eq!(camera.first(), Some(&false), "the camera is reported offline");
    let p = pings(&events);
    println!(
        "camera missing: {} pings in {:.1} s: {p:?}",
        p.len(),
        missing_for.as_secs_f64()
    );
    assert!(p.len() >= 30, "too few pings while the camera was missing: {p:?}");
    let mut gaps = vec![p[0]];
    gaps.extend(p.windows(2).map(|w| w[1] - w[0]));
    let worst = gaps.iter().cloned().fold(0.0, f64::max);
    assert!(
        worst < 0.9 * k as f64,
        "a gap of {worst:.2} s would have tripped a 1 s watchdog"
    );

    // 2. Frames flow, then the loop hangs for 3 s from 2 s on: no ping in that window.
    let md = models_dir.clone();
    let open: Opener =
        Box::new(move || Ok(Box::new(cdposture::capture::DemoSource::new(&md, 120 * k)?) as Box<dyn FrameSource>));
    let capture = CaptureThread::start(open, true, false, 2).unwrap();
    let window = Arc::new(Mutex::new(None));
    let sink = HangingSink {
        after: Instant::now() + Duration::from_secs(2 * k),
        hang: Duration::from_secs(3 * k),
        hung: false,
        window: window.clone(),
    };
    let mut d = Daemon::new(settings, pipeline(), sink);
    let start = Instant::now();
    let runner = std::thread::spawn(move || d.run(capture, vec![]).unwrap());
    let events = listen(&sock, start, || runner.is_finished());
    runner.join().unwrap();
    let (began, ended) = window.lock().unwrap().expect("the loop hung once");
    let (began, ended) = (
        began.duration_since(start).as_secs_f64(),
        ended.duration_since(start).as_secs_f64(),
    );
    let p = pings(&events);
    println!("loop hung {began:.2}-{ended:.2} s; pings {p:?}");
    assert!(p.iter().any(|&t| t < began), "pings before the hang: {p:?}");
    assert!(p.iter().any(|&t| t > ended), "pings after the hang: {p:?}");
    let inside: Vec<f64> = p
        .iter()
        .cloned()
        .filter(|&t| t > began + 0.05 && t < ended - 0.05)
        .collect();
    assert!(inside.is_empty(), "pings while the loop hung: {inside:?}");
}
