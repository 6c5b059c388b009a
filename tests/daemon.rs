//! The daemon loop on the demo source: exam events, neutral calibration, smoothing, stats, and the
//! config errors a technician would see.

mod common;
use cdposture::config::Settings;
use cdposture::daemon::capture::{opener, CaptureThread};
use cdposture::daemon::Daemon;
use cdposture::inference::{ModelSet, PoseVariant};
use cdposture::pipeline::{Pipeline, PipelineOptions};
use cdposture::protocol::messages::ExamEventKind;
use cdposture::protocol::sink::MemorySink;
use cdposture::protocol::Command;

fn daemon(frames: u64) -> (Daemon<MemorySink>, CaptureThread) {
    let dir = common::model_dir();
    let mut s = Settings::demo(dir.clone(), frames);
    s.exam.neutral_capture = std::time::Duration::from_secs_f64(0.5);
    let models = ModelSet::load(&dir, PoseVariant::Lite).unwrap();
    // Not paced: as fast as the pipeline goes, with a queue large enough to drop nothing.
    let capture = CaptureThread::start(opener(&s.source, &dir), false, false, 1000).unwrap();
    (
        Daemon::new(
            s,
            Pipeline::new(models, PipelineOptions::default()),
            MemorySink::default(),
        ),
        capture,
    )
}

#[test]
fn exam_with_neutral_capture_on_the_demo() {
    let (mut d, capture) = daemon(45);
    d.run(
        capture,
        vec![
            Command::CaptureNeutral,
            Command::StartExam {
                id: Some("visit-7".into()),
                by: cdposture::protocol::Origin::Startup,
            },
        ],
    )
    .unwrap();
    let sink = d.sink();
    assert_eq!(sink.states.len(), 45);
    assert!(sink.states.iter().all(|s| s.quality_ok), "every demo frame has a face");
    let kinds: Vec<_> = sink.exams.iter().map(|e| e.kind).collect();
    assert_eq!(kinds.first(), Some(&ExamEventKind::New));
    assert_eq!(kinds.last(), Some(&ExamEventKind::End));
    let end = sink.exams.last().unwrap();
    assert_eq!(end.exam_id, "visit-7");
    assert_eq!(end.summary.frames, 45);
    // The neutral was captured over the first 0.5 s (the head tilted 0..~8°) and is in force.
    assert!(end.neutral.roll.abs() > 0.5, "{:?}", end.neutral);
    // The demo tilts ±25°: laterocollis band 2 at maximum; nothing else moves.
    let item = &end.summary.item1;
    assert_eq!(item.laterocollis.unwrap().score, 2, "{:?}", end.summary.laterocollis);
    // The in-plane tilt leaks into the trunk's yaw estimate (shoulder depth from world landmarks):
    // up to ~14° of apparent relative yaw on this clip. Bounded here so a regression shows.
    assert!(
        end.summary.rotation.max_excursion.unwrap().abs() < 20.0,
        "{:?}",
        end.summary.rotation
    );
    assert!(end.summary.deviated_share > 0.3 && end.summary.deviated_share < 0.95);
    assert!(!sink.stats.is_empty() && sink.stats.last().unwrap().frames_processed == 45);
    assert_eq!(sink.stats.last().unwrap().frames_dropped, 0);
}

#[test]
fn smoothed_angles_follow_a_fast_tilt_closely() {
    let (mut d, capture) = daemon(60);
    d.run(capture, vec![]).unwrap();
    let states = &d.sink().states;
    // Compare both against the known tilt (roll_at) after a short settling time.
    let src = cdposture::capture::DemoSource::new(&common::model_dir(), 60).unwrap();
    let base = states[0].raw_relative.or(states[0].raw_head).unwrap().roll - src.roll_at(0);
    let (mut raw_err, mut smooth_err, mut lag_max) = (0.0, 0.0, 0.0f64);
    for s in &states[5..] {
        let truth = base + src.roll_at(s.frame);
        let raw = s.raw_relative.or(s.raw_head).unwrap().roll;
        let sm = s.angles.unwrap().roll;
        raw_err += (raw - truth).abs();
        smooth_err += (sm - truth).abs();
        lag_max = lag_max.max((sm - truth).abs());
    }
    println!(
        "mean |raw - truth| {:.2}, |smoothed - truth| {:.2}, max smoothed {:.2}",
        raw_err / 55.0,
        smooth_err / 55.0,
        lag_max
    );
    assert!(lag_max < 8.0, "smoothing lags a 25°/s tilt by {lag_max:.1}°");
}

#[test]
fn bad_configs_name_the_key() {
    let dir = common::tmp("bad-config");
    let cases = [
        ("[room]\nid = \"a b\"\n", "room.id"),
        (
            "[source]\nkind = \"video\"\npath = \"/nonexistent.mp4\"\n",
            "source.path",
        ),
        ("[smoothing]\nbeta = -1\n", "smoothing"),
        ("[exam]\nupdate_interval_s = 0\n", "exam.update_interval_s"),
        ("[mqtt]\nhost = \"localhost\"\npassword = \"x\"\n", "mqtt.password"),
        ("[scoring]\nnone_below = 3\n", "none_below"),
        ("this is = not toml [", "t.toml"),
    ];
    for (text, key) in cases {
        let f = dir.join("t.toml");
        std::fs::write(&f, text).unwrap();
        let o = common::cdposture(&["check-config", f.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains(key) && !err.contains("panicked"),
            "{text:?}: {err}"
        );
        let o = common::cdposture(&["run", "--config", f.to_str().unwrap()]);
        assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains(key));
    }
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/cdposture.toml")).unwrap(),
    )
    .unwrap();
    let o = common::cdposture(&[
        "check-config",
        concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/cdposture.toml"),
    ]);
    assert!(
        o.status.success() || String::from_utf8_lossy(&o.stderr).contains("CDPOSTURE_MQTT_PASSWORD"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A camera stand-in for the loop's camera handling (the real driver path is tests/vivid.rs, in
/// QEMU): demo frames, a loss after `frames`, then end. Live, so the loop reports its status.
struct LosingCamera {
    demo: cdposture::capture::DemoSource,
    frames: u64,
    lost: bool,
}
impl cdposture::capture::FrameSource for LosingCamera {
    fn next_frame(&mut self) -> cdposture::Result<Option<cdposture::capture::Frame>> {
        if self.frames == 0 {
            if self.lost {
                return Ok(None);
            }
            self.lost = true;
            return Err(cdposture::capture::camera::CameraError::Stalled {
                device: "/dev/video0".into(),
                waited: 2.0,
                detail: "test".into(),
            }
            .into());
        }
        self.frames -= 1;
        self.demo.next_frame()
    }
    fn is_sequence(&self) -> bool {
        true
    }
    fn is_live(&self) -> bool {
        true
    }
}

#[test]
fn camera_status_and_reconnects_reach_the_sink_and_the_led_status() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    let dir = common::model_dir();
    let s = Settings::demo(dir.clone(), 20);
    let photo = Arc::new(cdposture::capture::load_image(&dir.join(cdposture::capture::demo::DEMO_PHOTO)).unwrap());
    let opens = Arc::new(AtomicU32::new(0));
    let o = opens.clone();
    let opener: cdposture::daemon::capture::Opener = Box::new(move || {
        let n = o.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(LosingCamera {
            demo: cdposture::capture::DemoSource::from_photo(photo.clone(), 20),
            frames: 10,
            // The second camera ends cleanly instead of being lost again.
            lost: n > 0,
        }) as Box<dyn cdposture::capture::FrameSource>)
    });
    // Models first, as `run` does: the capture starts when the loop is about to.
    let models = ModelSet::load(&dir, PoseVariant::Lite).unwrap();
    let capture = CaptureThread::start_with(
        opener,
        cdposture::daemon::capture::CaptureOptions {
            paced: true,
            looping: false,
            capacity: 100,
            reconnect: Some((std::time::Duration::from_millis(600), std::time::Duration::from_secs(1))),
            wait_for_space: false,
        },
    )
    .unwrap();
    let mut d = Daemon::new(
        s,
        Pipeline::new(models, PipelineOptions::default()),
        MemorySink::default(),
    );
    let live = d.live_status();
    d.run(capture, vec![]).unwrap();
    let sink = d.sink();
    assert_eq!(
        sink.camera,
        vec![true, false, true],
        "online, offline while reopening, online"
    );
    let stats = sink.stats.last().unwrap();
    assert_eq!(stats.camera_reconnects, 1);
    assert!(stats.camera_online);
    assert_eq!(stats.frames_processed, 20);
    assert!(!live.camera_offline.load(Ordering::Relaxed));
}

/// The daemon as a child process writing JSON lines to a file (no broker).
/// A daemon child process that is killed when dropped (a failed assertion must not leave it running).
struct Child(std::process::Child);

impl std::ops::Deref for Child {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Child {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_daemon(cfg: &std::path::Path, out: &std::path::Path, args: &[&str]) -> Child {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_cdposture"))
        .args(["run", "--config", cfg.to_str().unwrap()])
        .args(args)
        .env("CDPOSTURE_MODELS", common::model_dir())
        .env("RUST_LOG", "warn")
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(std::fs::File::create(out.with_extension("log")).unwrap())
        .spawn()
        .unwrap();
    Child(child)
}

fn exam_events(out: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["topic"] == "exam")
        .collect()
}

fn wait_until(secs: u64, what: &str, pred: impl Fn() -> bool) {
    let t = std::time::Instant::now();
    while !pred() {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(secs * common::slowdown()),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Frames in the exam checkpoint (0 when there is none yet).
fn checkpointed_frames(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["exam"]["frames"].as_u64())
        .unwrap_or(0)
}

/// A crash (SIGKILL) in the middle of an exam: the restarted daemon resumes it from the checkpoint
/// and its statistics go on; an exam checkpointed too long ago is ended as interrupted instead.
#[test]
fn a_killed_daemon_resumes_the_running_exam() {
    let dir = common::tmp("checkpoint");
    let cfg = dir.join("cdposture.toml");
    std::fs::write(
        &cfg,
        format!(
            "[source]\nloop = true\n[exam]\nupdate_interval_s = 0.3\n[outbox]\ndir = \"{}\"\n",
            dir.join("state/outbox").display()
        ),
    )
    .unwrap();
    let checkpoint = dir.join("state/exam.json");
    let out1 = dir.join("run1.jsonl");
    let mut d = spawn_daemon(&cfg, &out1, &["--exam", "visit-9"]);
    wait_until(60, "two exam updates", || {
        exam_events(&out1).iter().filter(|e| e["type"] == "update").count() >= 2
    });
    wait_until(10, "a checkpoint with frames", || checkpointed_frames(&checkpoint) > 0);
    d.kill().unwrap();
    d.wait().unwrap();
    let before = checkpointed_frames(&checkpoint);
    assert!(
        exam_events(&out1).iter().all(|e| e["type"] != "end"),
        "a crash sends no end"
    );

    let out2 = dir.join("run2.jsonl");
    let mut d = spawn_daemon(&cfg, &out2, &[]);
    wait_until(60, "the resumed exam", || {
        exam_events(&out2).iter().any(|e| e["resumed"] == true)
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &d.id().to_string()])
        .status();
    assert!(d.wait().unwrap().success());
    let events = exam_events(&out2);
    let resumed = events.iter().find(|e| e["resumed"] == true).unwrap();
    assert_eq!(resumed["exam_id"], "visit-9");
    assert_eq!(resumed["type"], "update");
    let end = events.last().unwrap();
    assert_eq!(
        (end["type"].as_str(), end["exam_id"].as_str()),
        (Some("end"), Some("visit-9"))
    );
    let after = end["summary"]["frames"].as_u64().unwrap();
    assert!(
        after > before,
        "the exam went on: {before} frames before the crash, {after} at the end"
    );
    assert!(!checkpoint.exists(), "a clean end removes the checkpoint");

    // The same crash, found an hour later: ended as interrupted with what it had.
    let mut d = spawn_daemon(&cfg, &dir.join("run3.jsonl"), &["--exam", "visit-10"]);
    wait_until(60, "an update", || {
        exam_events(&dir.join("run3.jsonl"))
            .iter()
            .any(|e| e["type"] == "update")
    });
    wait_until(10, "a checkpoint with frames", || checkpointed_frames(&checkpoint) > 0);
    d.kill().unwrap();
    d.wait().unwrap();
    let mut saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&checkpoint).unwrap()).unwrap();
    saved["saved_unix"] = (saved["saved_unix"].as_f64().unwrap() - 3600.0).into();
    std::fs::write(&checkpoint, saved.to_string()).unwrap();
    let out4 = dir.join("run4.jsonl");
    let mut d = spawn_daemon(&cfg, &out4, &[]);
    wait_until(60, "the interrupted end", || {
        exam_events(&out4).iter().any(|e| e["interrupted"] == true)
    });
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &d.id().to_string()])
        .status();
    assert!(d.wait().unwrap().success());
    let events = exam_events(&out4);
    assert_eq!(events.len(), 1, "only the interrupted end: {events:?}");
    assert_eq!(
        (events[0]["type"].as_str(), events[0]["exam_id"].as_str()),
        (Some("end"), Some("visit-10"))
    );
    assert!(events[0]["summary"]["frames"].as_u64().unwrap() > 0);
}
