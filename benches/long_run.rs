//! Long-run memory benchmark (`cargo bench --bench long_run`): the daemon loop on a looping source
//! for LONG_RUN_MINUTES (default 10) with an exam running throughout, sampling RSS every minute.
//! Pass: RSS at the end within 5 % of RSS after the first minute (continuous monitoring during long
//! visits must not grow memory). Prints fps and per-stage milliseconds too.

mod common;
use cdposture::config::{Settings, SourceSettings};
use cdposture::daemon::capture::{opener, CaptureThread};
use cdposture::daemon::Daemon;
use cdposture::inference::{resolve_model_dir, ModelSet};
use cdposture::pipeline::Pipeline;
use cdposture::protocol::messages::{ExamEvent, StateMessage, StatsMessage};
use cdposture::protocol::sink::Sink;
use cdposture::protocol::Command;
use common::rss_kib;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Keeps only the latest stats: a sink that itself cannot grow.
#[derive(Clone, Default)]
struct Latest(Arc<Mutex<(u64, Option<StatsMessage>)>>);

impl Sink for Latest {
    fn state(&mut self, _: &StateMessage) {
        self.0.lock().unwrap().0 += 1;
    }
    fn exam(&mut self, _: &ExamEvent) {}
    fn stats(&mut self, s: &StatsMessage) {
        self.0.lock().unwrap().1 = Some(s.clone());
    }
}

fn main() {
    let minutes: f64 = std::env::var("LONG_RUN_MINUTES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let dir = resolve_model_dir(None);
    let mut settings = Settings::demo(dir.clone(), 60);
    settings.source = match std::env::var("LONG_RUN_VIDEO") {
        Ok(p) => SourceSettings::Video {
            path: p.into(),
            looping: true,
        },
        Err(_) => SourceSettings::Demo {
            frames: 60,
            fps: 30.0,
            looping: true,
        },
    };
    settings.exam.update_interval = Duration::from_secs(5);
    let models = ModelSet::load(&dir, settings.pose).expect("models: run models/fetch.sh");
    let capture = CaptureThread::start(opener(&settings.source, &dir), true, true, 2).expect("source");
    let sink = Latest::default();
    let seen = sink.clone();
    let mut daemon = Daemon::new(settings, Pipeline::new(models, Default::default()), sink);
    let stop = daemon.stop.clone();
    let start = Instant::now();
    let sampler = std::thread::spawn(move || {
        let mut samples = Vec::new();
        let total = Duration::from_secs_f64(minutes * 60.0);
        let step = Duration::from_secs_f64((minutes * 60.0 / 10.0).min(60.0));
        while start.elapsed() < total {
            std::thread::sleep(step);
            let frames = seen.0.lock().unwrap().0;
            samples.push((start.elapsed().as_secs_f64(), rss_kib(), frames));
            println!(
                "{:7.1} s  RSS {:7} KiB  frames {frames}",
                start.elapsed().as_secs_f64(),
                rss_kib()
            );
        }
        stop.store(true, Ordering::Relaxed);
        (samples, seen)
    });
    daemon
        .run(
            capture,
            vec![Command::StartExam {
                id: Some("long-run".into()),
                by: cdposture::protocol::Origin::Startup,
            }],
        )
        .expect("daemon loop");
    let (samples, seen) = sampler.join().unwrap();
    let first = samples.first().copied().unwrap_or_default();
    let last = samples.last().copied().unwrap_or_default();
    let growth = (last.1 as f64 - first.1 as f64) / first.1.max(1) as f64 * 100.0;
    let guard = seen.0.lock().unwrap();
    let stats = guard.1.as_ref().expect("stats at exit");
    println!(
        "\nlong run: {:.1} min, {} frames processed, {} dropped",
        last.0 / 60.0,
        stats.frames_processed,
        stats.frames_dropped
    );
    println!(
        "processed fps {:.1} (source 30 fps)",
        stats.frames_processed as f64 / last.0.max(1e-9)
    );
    println!(
        "stage ms over the last interval: detector {:.2}  face landmarks {:.2}  pose {:.2}  geometry {:.3}",
        stats.stage_ms.detector, stats.stage_ms.face_landmarks, stats.stage_ms.pose, stats.stage_ms.geometry
    );
    println!(
        "RSS after {:.0} s: {} KiB; at the end ({:.0} s): {} KiB; growth {growth:+.2} %",
        first.0, first.1, last.0, last.1
    );
    println!(
        "{}",
        if growth.abs() <= 5.0 {
            "PASS: within 5 %"
        } else {
            "FAIL: RSS grew more than 5 %"
        }
    );
}
