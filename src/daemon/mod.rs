//! The exam-room daemon: owns the long-running loop. Roles, one file each (like Frigate's folders):
//! [`capture`] reads frames on its own thread into a small drop-oldest queue (capture never waits
//! for inference or the network); [`gpio`] is the exam button and status LED; [`watchdog`] speaks
//! systemd's sd_notify. The payloads, commands and sinks it speaks are in [`crate::protocol`].
//! This file runs the loop: frame → pipeline → smoothing → neutral → scoring → exam → sink.

pub mod capture;
pub mod gpio;
pub mod watchdog;

use crate::config::Settings;
use crate::exam::{ExamStats, NeutralCapture};
use crate::geometry::Angles;
use crate::pipeline::Pipeline;
use crate::protocol::messages::{ExamEvent, ExamEventKind, StageMs, StateMessage, StatsMessage, SCHEMA_VERSION};
use crate::protocol::sink::Sink;
use crate::protocol::{unix_now, Command};
use crate::smoothing::AngleSmoother;
use capture::{CaptureThread, Pop};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Running totals for the `stats` message.
#[derive(Debug, Default, Clone)]
struct Counters {
    processed: u64,
    measured: u64,
    stage_sum: StageMs,
    since_stats: u64,
}

pub struct Daemon<S: Sink> {
    settings: Settings,
    pipeline: Pipeline,
    sink: S,
    smoother: AngleSmoother,
    neutral: Angles,
    neutral_capture: Option<NeutralCapture>,
    exam: Option<ExamStats>,
    exam_counter: u64,
    /// Source time of the last frame, for commands that arrive between frames.
    last_t: f64,
    counters: Counters,
    started: Instant,
    /// Set by SIGTERM/SIGINT (or a test) to stop after the current frame.
    pub stop: Arc<AtomicBool>,
    /// Commands arriving while running (MQTT `cmd/…`, the GPIO button).
    commands: Option<std::sync::mpsc::Receiver<Command>>,
    /// Exam / face / camera state for the status LED.
    live: Arc<gpio::LiveStatus>,
    last_good_face: Option<Instant>,
}

impl<S: Sink> Daemon<S> {
    pub fn new(settings: Settings, pipeline: Pipeline, sink: S) -> Self {
        let smoother = AngleSmoother::new(settings.smoothing);
        Daemon {
            settings,
            pipeline,
            sink,
            smoother,
            neutral: Angles::default(),
            neutral_capture: None,
            exam: None,
            exam_counter: 0,
            last_t: 0.0,
            counters: Counters::default(),
            started: Instant::now(),
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
            Command::StartExam { id } => {
                if self.exam.is_some() {
                    self.end_exam(t);
                }
                self.exam_counter += 1;
                let id =
                    id.unwrap_or_else(|| format!("{}-{}-{}", self.settings.room, unix_now() as u64, self.exam_counter));
                log::info!("exam {id} started");
                let exam = ExamStats::new(id, t, self.settings.exam.deviated_deg);
                self.emit_exam(&exam, ExamEventKind::New);
                self.exam = Some(exam);
            }
            Command::EndExam => self.end_exam(t),
            Command::CaptureNeutral => {
                log::info!("capturing neutral for {:?}", self.settings.exam.neutral_capture);
                self.neutral_capture = Some(NeutralCapture::new(t, self.settings.exam.neutral_capture.as_secs_f64()));
            }
        }
    }

    fn end_exam(&mut self, _t: f64) {
        if let Some(exam) = self.exam.take() {
            log::info!("exam {} ended", exam.id);
            self.emit_exam(&exam, ExamEventKind::End);
        }
    }

    fn emit_exam(&mut self, exam: &ExamStats, kind: ExamEventKind) {
        let ev = ExamEvent {
            schema: SCHEMA_VERSION,
            room: self.settings.room.clone(),
            exam_id: exam.id.clone(),
            kind,
            time: unix_now(),
            neutral: self.neutral,
            summary: exam.summary(&self.settings.scoring),
        };
        self.sink.exam(&ev);
    }

    /// Run until the source ends (and does not loop) or `stop` is set. Returns the capture's error,
    /// if it ended on one (the frames before it were processed and published).
    pub fn run(&mut self, mut capture: CaptureThread, startup: Vec<Command>) -> crate::Result<()> {
        let mut notifier = watchdog::Notifier::from_env();
        notifier.ready();
        for c in startup {
            self.handle(c, 0.0);
        }
        let mut last_update = Instant::now();
        let mut last_stats = Instant::now();
        let mut last_state = None::<Instant>;
        let mut last_assessment = None::<Instant>;
        let assessment_every = self.settings.mqtt.as_ref().map(|m| m.assessment_interval);
        let state_every = self.settings.mqtt.as_ref().map(|m| m.state_interval);
        let stats_every = self
            .settings
            .mqtt
            .as_ref()
            .map(|m| m.stats_interval)
            .unwrap_or(Duration::from_secs(60));
        let mut result = Ok(());
        loop {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            // Cameras announce their status at start and every change; files have none.
            for online in capture.stats.take_changes() {
                self.sink.camera(online);
            }
            self.live
                .camera_offline
                .store(!capture.stats.online(), Ordering::Relaxed);
            self.live.exam_running.store(self.exam.is_some(), Ordering::Relaxed);
            self.live.face_ok.store(
                self.last_good_face
                    .is_some_and(|t| t.elapsed() < Duration::from_secs(1)),
                Ordering::Relaxed,
            );
            match capture.queue.pop(Duration::from_millis(200)) {
                Pop::Frame(frame) => {
                    let t = frame.t_s;
                    let m = self.pipeline.process(&frame.image)?;
                    let msg = self.assess(&frame, m);
                    // Live state: every frame on stdout; at the configured rate on MQTT (QoS 0).
                    if state_every.is_none_or(|every| last_state.is_none_or(|l| l.elapsed() >= every)) {
                        self.sink.state(&msg);
                        last_state = Some(Instant::now());
                    }
                    if let Some(every) = assessment_every {
                        if last_assessment.is_none_or(|l| l.elapsed() >= every) {
                            self.sink.assessment(&msg);
                            last_assessment = Some(Instant::now());
                        }
                    }
                    notifier.frame_processed();
                    if self.exam.is_some() && last_update.elapsed() >= self.settings.exam.update_interval {
                        let exam = self.exam.take().expect("checked");
                        self.emit_exam(&exam, ExamEventKind::Update);
                        self.exam = Some(exam);
                        last_update = Instant::now();
                    }
                    self.last_t = t;
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
            if last_stats.elapsed() >= stats_every {
                self.emit_stats(&capture);
                last_stats = Instant::now();
            }
        }
        self.end_exam(0.0);
        self.emit_stats(&capture);
        notifier.stopping();
        capture.stop();
        self.sink.flush();
        result
    }

    /// Smooth, subtract neutral, score, feed the exam; the per-frame message.
    fn assess(&mut self, frame: &crate::capture::Frame, m: crate::pipeline::Measurement) -> StateMessage {
        let t = frame.t_s;
        self.counters.processed += 1;
        self.counters.since_stats += 1;
        self.counters.stage_sum.add(&m.timings);
        let raw = m.relative.or(m.head);
        let quality_ok = m.face_found && m.face_confidence >= self.settings.min_confidence && raw.is_some();
        if let Some(cap) = self.neutral_capture.as_mut() {
            if let Some(done) = cap.add(t, if quality_ok { raw.as_ref() } else { None }) {
                self.neutral_capture = None;
                match done {
                    Ok(n) => {
                        log::info!(
                            "neutral set to yaw {:.1} pitch {:.1} roll {:.1}",
                            n.yaw,
                            n.pitch,
                            n.roll
                        );
                        self.neutral = n;
                        self.smoother.reset();
                    }
                    Err(e) => log::warn!("neutral capture failed: {e}"),
                }
            }
        }
        // Low-confidence frames are published as such but never smoothed, scored or counted.
        let smoothed = if quality_ok {
            raw.map(|a| self.smoother.filter(t, &a.relative_to(&self.neutral)))
        } else {
            None
        };
        if quality_ok {
            self.counters.measured += 1;
            self.last_good_face = Some(Instant::now());
        }
        let trunk = if quality_ok { m.trunk } else { None };
        let scores = self.settings.scoring.score(
            smoothed.as_ref(),
            trunk.as_ref().map(Into::into).unwrap_or_default(),
            m.face_confidence as f64,
        );
        if let Some(exam) = self.exam.as_mut() {
            exam.add(t, smoothed.as_ref(), trunk.as_ref());
        }
        StateMessage {
            schema: SCHEMA_VERSION,
            room: self.settings.room.clone(),
            time: unix_now(),
            t_s: t,
            frame: frame.index,
            quality_ok,
            face_found: m.face_found,
            face_confidence: m.face_confidence,
            pose_found: m.pose_found,
            scored_in: if m.relative.is_some() { "trunk" } else { "camera" },
            raw_head: m.head,
            raw_relative: m.relative,
            angles: smoothed,
            shoulder_elevation: trunk.map(|t| t.shoulder_elevation),
            lateral_shift: trunk.and_then(|t| t.lateral_shift),
            sagittal_shift: trunk.and_then(|t| t.sagittal_shift),
            scores,
            exam_id: self.exam.as_ref().map(|e| e.id.clone()),
            neutral_capturing: self.neutral_capture.is_some(),
        }
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
