//! The exam-room daemon: owns the long-running loop. Roles, one file each (like Frigate's folders):
//! [`capture`] reads frames on its own thread into a small drop-oldest queue (capture never waits
//! for inference or the network); [`gpio`] is the exam button and status LED; [`watchdog`] speaks
//! systemd's sd_notify. The payloads, commands and sinks it speaks are in [`crate::protocol`].
//! This file runs the loop: frame → pipeline → smoothing → neutral → scoring → exam → sink.

pub mod capture;
pub mod checkpoint;
pub mod gpio;
pub mod watchdog;

use crate::assess::Assessor;
use crate::config::{Settings, SourceSettings};
use crate::exam::ExamStats;
use crate::pipeline::Pipeline;
use crate::protocol::messages::{
    ExamEvent, ExamEventKind, FrameContext, StageMs, StateMessage, StatsMessage, SCHEMA_VERSION,
};
use crate::protocol::sink::Sink;
use crate::protocol::{unix_now, Command};
use capture::{CaptureThread, Pop};
use checkpoint::Checkpointer;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Running totals for the `stats` message.
#[derive(Debug, Default, Clone)]
struct Counters {
    processed: u64,
    measured: u64,
    /// Frames the pipeline failed on (counted and skipped; never fatal).
    failed: u64,
    stage_sum: StageMs,
    since_stats: u64,
}

pub struct Daemon<S: Sink> {
    settings: Settings,
    pipeline: Pipeline,
    sink: S,
    assessor: Assessor,
    exam: Option<ExamStats>,
    exam_counter: u64,
    /// Keeps the running exam on disk so a restart can resume it (`None`: no state folder).
    checkpoint: Option<Checkpointer>,
    /// Source time of the last frame, for commands that arrive between frames.
    last_t: f64,
    counters: Counters,
    started: Instant,
    last_failure_log: Option<Instant>,
    /// Set by SIGTERM/SIGINT (or a test) to stop after the current frame.
    pub stop: Arc<AtomicBool>,
    /// Commands arriving while running (MQTT `cmd/…`, the GPIO button).
    commands: Option<std::sync::mpsc::Receiver<Command>>,
    /// Exam / face / camera state for the status LED.
    live: Arc<gpio::LiveStatus>,
    last_good_face: Option<Instant>,
}

/// Periodic work of the loop and when it last ran.
struct Timers {
    update: Instant,
    stats: Instant,
    state: Option<Instant>,
    assessment: Option<Instant>,
}

impl<S: Sink> Daemon<S> {
    pub fn new(settings: Settings, pipeline: Pipeline, sink: S) -> Self {
        // Unrelated still images are not a time series.
        let smooth = !matches!(settings.source, SourceSettings::Images { .. });
        let assessor = Assessor::new(settings.assess_settings(smooth));
        let checkpoint = settings.exam.checkpoint.clone().map(Checkpointer::start);
        Daemon {
            settings,
            pipeline,
            sink,
            assessor,
            exam: None,
            exam_counter: 0,
            checkpoint,
            last_t: 0.0,
            counters: Counters::default(),
            started: Instant::now(),
            last_failure_log: None,
            stop: Arc::new(AtomicBool::new(false)),
            commands: None,
            live: Arc::new(gpio::LiveStatus::default()),
            last_good_face: None,
        }
    }

    /// What the status LED shows; updated every loop iteration.
    pub fn live_status(&self) -> Arc<gpio::LiveStatus> {
        self.live.clone()
    }

    /// Stop when this flag is set (the signal handlers' flag, installed before the models load).
    pub fn with_stop(mut self, stop: Arc<AtomicBool>) -> Self {
        self.stop = stop;
        self
    }

    /// Accept commands from this channel while running.
    pub fn with_commands(mut self, rx: std::sync::mpsc::Receiver<Command>) -> Self {
        self.commands = Some(rx);
        self
    }

    pub fn sink(&self) -> &S {
        &self.sink
    }

    pub fn handle(&mut self, cmd: Command, t: f64) {
        match cmd {
            Command::StartExam { id, by } => {
                if self.exam.is_some() {
                    self.end_exam("new_exam");
                }
                self.exam_counter += 1;
                let id =
                    id.unwrap_or_else(|| format!("{}-{}-{}", self.settings.room, unix_now() as u64, self.exam_counter));
                log::info!("exam {id} started");
                let exam = ExamStats::new(id, t, self.settings.exam.deviated_deg);
                self.emit_exam(&exam, ExamEventKind::New, false, Some(by.name()));
                self.save_checkpoint(&exam);
                self.exam = Some(exam);
            }
            Command::EndExam { by } => self.end_exam(by.name()),
            Command::CaptureNeutral => {
                log::info!("capturing neutral for {:?}", self.settings.exam.neutral_capture);
                self.assessor.capture_neutral(t);
            }
        }
    }

    /// `by`: who or what ended it (see `ExamEvent::by`).
    fn end_exam(&mut self, by: &'static str) {
        if let Some(exam) = self.exam.take() {
            log::info!("exam {} ended ({by})", exam.id);
            self.emit_exam(&exam, ExamEventKind::End, false, Some(by));
            if let Some(c) = &self.checkpoint {
                c.clear();
            }
        }
    }

    fn save_checkpoint(&self, exam: &ExamStats) {
        if let Some(c) = &self.checkpoint {
            c.save(exam, self.assessor.neutral());
        }
    }

    /// A previous run left a running exam (crash, watchdog kill, power cut): resume it when it is
    /// recent (`exam.resume_within_s`: the patient is probably still in the room), else end it,
    /// marked `interrupted`, with the statistics it had.
    fn recover_exam(&mut self) {
        let Some(path) = self.checkpoint.as_ref().map(|c| c.path().to_path_buf()) else {
            return;
        };
        let Some(saved) = Checkpointer::load(&path) else { return };
        let age = (unix_now() - saved.saved_unix).max(0.0);
        let mut exam = saved.exam;
        self.assessor.set_neutral(saved.neutral);
        if age <= self.settings.exam.resume_within.as_secs_f64() {
            log::warn!("exam {} resumed after a restart ({age:.0} s ago)", exam.id);
            exam.resume();
            self.emit_exam(&exam, ExamEventKind::Update, true, None);
            self.exam = Some(exam);
        } else {
            log::warn!(
                "exam {} was interrupted by a restart {age:.0} s ago: ended with what was measured",
                exam.id
            );
            self.emit_exam(&exam, ExamEventKind::End, true, Some("restart"));
            if let Some(c) = &self.checkpoint {
                c.clear();
            }
        }
    }

    /// `recovered`: an update after a resume (`resumed`), or the end of an exam a restart cut off
    /// (`interrupted`).
    fn emit_exam(&mut self, exam: &ExamStats, kind: ExamEventKind, recovered: bool, by: Option<&'static str>) {
        let ev = ExamEvent {
            schema: SCHEMA_VERSION,
            room: self.settings.room.clone(),
            exam_id: exam.id.clone(),
            kind,
            time: unix_now(),
            neutral: self.assessor.neutral(),
            summary: exam.summary(&self.settings.scoring),
            resumed: recovered && kind == ExamEventKind::Update,
            interrupted: recovered && kind == ExamEventKind::End,
            by,
        };
        self.sink.exam(&ev);
    }

    /// Run until the source ends (and does not loop) or `stop` is set. Returns the capture's error,
    /// if it ended on one (the frames before it were processed and published).
    pub fn run(&mut self, mut capture: CaptureThread, startup: Vec<Command>) -> crate::Result<()> {
        let mut notifier = watchdog::Notifier::from_env();
        notifier.ready();
        self.recover_exam();
        for c in startup {
            self.handle(c, 0.0);
        }
        let mut timers = Timers {
            update: Instant::now(),
            stats: Instant::now(),
            state: None,
            assessment: None,
        };
        let stats_every = self
            .settings
            .mqtt
            .as_ref()
            .map(|m| m.stats_interval)
            .unwrap_or(Duration::from_secs(60));
        let mut result = Ok(());
        let mut capture_beat = capture.stats.heartbeat();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            let beat = capture.stats.heartbeat();
            if !capture.stats.online() && beat != capture_beat {
                notifier.camera_reopening();
            }
            capture_beat = beat;
            // Cameras announce their status at start and every change; files have none.
            for online in capture.stats.take_changes() {
                self.sink.camera(online);
            }
            self.update_live_status(&capture);
            match capture.queue.pop(Duration::from_millis(200)) {
                Pop::Frame(frame) => {
                    self.process(&frame, &mut timers);
                    notifier.frame_processed();
                }
                Pop::Empty => {}
                Pop::Closed(err) => {
                    if let Some(e) = err {
                        log::error!("{e}");
                        result = Err(e);
                    }
                    break;
                }
            }
            while let Some(cmd) = self.commands.as_ref().and_then(|rx| rx.try_recv().ok()) {
                self.handle(cmd, self.last_t);
            }
            notifier.tick();
            if timers.stats.elapsed() >= stats_every {
                self.emit_stats(&capture);
                timers.stats = Instant::now();
            }
        }
        self.end_exam("stopped");
        self.emit_stats(&capture);
        notifier.stopping();
        capture.stop();
        self.sink.flush();
        result
    }

    fn update_live_status(&self, capture: &CaptureThread) {
        self.live
            .camera_offline
            .store(!capture.stats.online(), Ordering::Relaxed);
        self.live.exam_running.store(self.exam.is_some(), Ordering::Relaxed);
        self.live.face_ok.store(
            self.last_good_face
                .is_some_and(|t| t.elapsed() < Duration::from_secs(1)),
            Ordering::Relaxed,
        );
    }

    /// One frame: measure, assess, publish, feed the exam. A frame the pipeline fails on is counted
    /// and skipped: one bad frame must never end a visit.
    fn process(&mut self, frame: &crate::capture::Frame, timers: &mut Timers) {
        let m = match self.pipeline.process(&frame.image) {
            Ok(m) => m,
            Err(e) => {
                self.counters.failed += 1;
                if self.last_failure_log.is_none_or(|t| t.elapsed().as_secs() >= 60) {
                    log::error!("frame {} skipped: {e} ({} so far)", frame.index, self.counters.failed);
                    self.last_failure_log = Some(Instant::now());
                }
                return;
            }
        };
        let msg = self.assess(frame, m);
        // Live state: every frame on stdout; at the configured rate on MQTT (QoS 0).
        let due = |last: Option<Instant>, every: Option<Duration>| {
            every.is_none_or(|every| last.is_none_or(|l| l.elapsed() >= every))
        };
        let mqtt = self.settings.mqtt.as_ref();
        if due(timers.state, mqtt.map(|m| m.state_interval)) {
            self.sink.state(&msg);
            timers.state = Some(Instant::now());
        }
        if let Some(every) = mqtt.map(|m| m.assessment_interval) {
            if due(timers.assessment, Some(every)) {
                self.sink.assessment(&msg);
                timers.assessment = Some(Instant::now());
            }
        }
        if self.exam.is_some() && timers.update.elapsed() >= self.settings.exam.update_interval {
            let exam = self.exam.take().expect("checked");
            self.emit_exam(&exam, ExamEventKind::Update, false, None);
            self.save_checkpoint(&exam);
            self.exam = Some(exam);
            timers.update = Instant::now();
        }
        self.last_t = frame.t_s;
    }

    /// Assess (quality, frame of reference, smoothing, neutral, scores), feed the exam; the
    /// per-frame message.
    fn assess(&mut self, frame: &crate::capture::Frame, m: crate::pipeline::Measurement) -> StateMessage {
        let t = frame.t_s;
        self.counters.processed += 1;
        self.counters.since_stats += 1;
        self.counters.stage_sum.add(&m.timings);
        let a = self.assessor.assess(t, &m);
        if a.quality_ok {
            self.counters.measured += 1;
            self.last_good_face = Some(Instant::now());
        }
        if let Some(exam) = self.exam.as_mut() {
            exam.add(&a.exam_frame(t));
        }
        let ctx = FrameContext {
            room: &self.settings.room,
            frame: frame.index,
            t_s: t,
            exam_id: self.exam.as_ref().map(|e| e.id.as_str()),
            neutral_capturing: self.assessor.capturing_neutral(),
        };
        StateMessage::of_frame(&ctx, &m, &a)
    }

    fn emit_stats(&mut self, capture: &CaptureThread) {
        let n = self.counters.since_stats.max(1) as f64;
        let elapsed = self.started.elapsed().as_secs_f64();
        let s = StatsMessage {
            schema: SCHEMA_VERSION,
            room: self.settings.room.clone(),
            time: unix_now(),
            uptime_s: elapsed,
            camera_fps: capture.stats.captured() as f64 / elapsed.max(1e-9),
            processed_fps: self.counters.processed as f64 / elapsed.max(1e-9),
            frames_captured: capture.stats.captured(),
            frames_processed: self.counters.processed,
            frames_measured: self.counters.measured,
            frames_failed: self.counters.failed,
            frames_dropped: capture.queue.dropped(),
            camera_online: capture.stats.online(),
            camera_reconnects: capture.stats.reconnects(),
            frames_corrupt: capture.stats.corrupt(),
            stage_ms: self.counters.stage_sum.scaled(1.0 / n),
            model_dir: self.settings.model_dir.display().to_string(),
        };
        self.counters.stage_sum = StageMs::default();
        self.counters.since_stats = 0;
        self.sink.stats(&s);
    }
}
