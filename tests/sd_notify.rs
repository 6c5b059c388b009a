//! The sd_notify contract, against a real datagram socket: READY=1 after start-up, WATCHDOG=1 while
//! frames are processed, none while the source stalls, STOPPING=1 at the end. One test in this
//! binary, because it sets process environment variables.

mod common;
use cdposture::capture::{DemoSource, Frame, FrameSource};
use cdposture::config::Settings;
use cdposture::daemon::capture::CaptureThread;
use cdposture::daemon::Daemon;
use cdposture::inference::{ModelSet, PoseVariant};
use cdposture::pipeline::{Pipeline, PipelineOptions};
use cdposture::protocol::sink::MemorySink;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

/// The demo for 1.5 s, then a 2 s stall (a hung camera), then the end (times × slowdown).
struct Stalling {
    demo: DemoSource,
    stalled: bool,
    stall: Duration,
}

impl FrameSource for Stalling {
    fn next_frame(&mut self) -> cdposture::Result<Option<Frame>> {
        match self.demo.next_frame()? {
            Some(f) => Ok(Some(f)),
            None if !self.stalled => {
                self.stalled = true;
                std::thread::sleep(self.stall);
                Ok(None)
            }
            None => Ok(None),
        }
    }
    fn is_sequence(&self) -> bool {
        true
    }
    fn fps(&self) -> Option<f64> {
        Some(15.0)
    }
}

#[test]
fn ready_watchdog_only_while_processing_then_stopping() {
    let dir = common::tmp("notify");
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    // SAFETY of set_var: this test binary has exactly one test, so no other thread reads the environment.
    std::env::set_var("NOTIFY_SOCKET", &sock_path);
    // Under emulation (slowdown k) every duration is k times longer: frames flow for 1.5·k s, the
    // stall lasts 2·k s, systemd's watchdog period is 0.2·k s.
    let k = common::slowdown();
    std::env::set_var("WATCHDOG_USEC", (200_000 * k).to_string());

    let models_dir = common::model_dir();
    let frames_total = 23 * k;
    let settings = Settings::demo(models_dir.clone(), frames_total);
    let models = ModelSet::load(&models_dir, PoseVariant::Lite).unwrap();
    let md = models_dir.clone();
    let open: cdposture::daemon::capture::Opener = Box::new(move || {
        Ok(Box::new(Stalling {
            demo: DemoSource::new(&md, frames_total)?,
            stalled: false,
            stall: Duration::from_secs(2 * k),
        }) as Box<dyn FrameSource>)
    });
    let capture = CaptureThread::start(open, true, false, 2).unwrap();
    let mut d = Daemon::new(
        settings,
        Pipeline::new(models, PipelineOptions::default()),
        MemorySink::default(),
    );
    let start = Instant::now();
    let runner = std::thread::spawn(move || {
        d.run(capture, vec![]).unwrap();
        d.sink().states.len()
    });
    let mut events: Vec<(f64, String)> = Vec::new();
    let mut buf = [0u8; 256];
    while !runner.is_finished() || events.last().is_none_or(|e| e.1 != "STOPPING=1") {
        if let Ok(n) = sock.recv(&mut buf) {
            events.push((
                start.elapsed().as_secs_f64(),
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            ));
        }
        if start.elapsed() > Duration::from_secs(30 * common::slowdown()) {
            break;
        }
    }
    let frames = runner.join().unwrap();
    for e in &events {
        println!("{:6.2}s {}", e.0, e.1);
    }
    // Natively all 23; under emulation the drop-oldest queue replaces frames the slow pipeline misses.
    assert!(frames >= 5, "{frames} frames processed");
    assert_eq!(events.first().map(|e| e.1.as_str()), Some("READY=1"));
    assert_eq!(events.last().map(|e| e.1.as_str()), Some("STOPPING=1"));
    let pings: Vec<f64> = events.iter().filter(|e| e.1 == "WATCHDOG=1").map(|e| e.0).collect();
    assert!(pings.len() >= 3, "pings while frames flow: {pings:?}");
    // Frames flow for ~1.5 s; the stall lasts 2 s. No ping may come from its middle.
    let last_frame_time = pings.last().copied().unwrap();
    let stop_time = events.last().unwrap().0;
    assert!(
        stop_time - last_frame_time > 1.5,
        "pings continued into the stall: last {last_frame_time:.2}s, stop {stop_time:.2}s"
    );
}
