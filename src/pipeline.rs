//! The per-frame pipeline: detect → landmarks → geometry, with MediaPipe-style tracking.
//!
//! Tracking: a detector runs only when there is no track; otherwise the next ROI comes from the
//! previous frame's landmarks. A track is dropped when the landmark model's own presence score falls
//! below the threshold, and the detector then runs again on the SAME frame, so a lost track costs
//! latency, never a frame. The body is processed first so that, among several faces, the one on the
//! tracked body wins (a bystander's frontal face in the background must not become the patient).

pub mod body_rate;
pub mod body_worker;
pub mod face_tilt;

use crate::capture::exposure;
use crate::detect::{Detection, Detector};
use crate::geometry::{fusion, procrustes, Angles, FusedRotation, TrunkFrame, TrunkInput, Vec3};
use crate::inference::ModelSet;
use crate::landmarks::pose::{
    LEFT_EAR, LEFT_EYE, LEFT_HIP, LEFT_SHOULDER, NOSE, RIGHT_EAR, RIGHT_EYE, RIGHT_HIP, RIGHT_SHOULDER,
};
use crate::landmarks::{FaceLandmarks, FaceMesh, PoseLandmarks, PoseModel, PostureEstimate, PostureNet, Roi};
use crate::Result;
use body_rate::{BodyRate, FaceSeen};
use body_worker::{BodyWorker, FinishedBody};
use face_tilt::TiltPredictor;
use image::RgbImage;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Still images: refine the face ROI once from the first landmarks and run the mesh again
    /// (video gets the same effect for free from tracking).
    pub refine_still: bool,
    /// Face presence below this drops the face track (MediaPipe's default).
    pub min_face_presence: f32,
    /// Pose presence below this drops the body track.
    pub min_pose_presence: f32,
    /// Shoulder/hip visibility needed before a point is used for the trunk frame.
    pub min_visibility: f32,
    /// Take the trunk's up axis from the hips (spine) instead of the camera's vertical. Off by
    /// default: with the head-and-chest framing of an exam-room camera BlazePose guesses hips it
    /// cannot see, with high visibility, and a guessed hip tilted the trunk frame by ~20° on our
    /// test clip. Turn on when the camera sees the patient's hips.
    pub spine_from_hips: bool,
    /// Turn the trunk frame by the depth of BlazePose's world shoulders. Off by default: that depth
    /// follows the HEAD (measured on renders: 0.25° of trunk yaw per degree of head yaw, and only
    /// 0.21° per degree of real trunk turn), which scored a held 50° torticollis as 37°. Off, the
    /// trunk's yaw is the camera's, and the neutral capture takes out how the patient sits.
    pub trunk_yaw_from_depth: bool,
    /// How the camera sees the patient's chair, in head-angle conventions: `yaw` + when the camera
    /// stands to the patient's left, `pitch` − when it looks down from above the eyes. The trunk's
    /// zero; zero for a camera straight in front at eye level (the neutral capture takes out the rest).
    pub camera_mount: Angles,
    /// Run the body models (pose, then the posture model) at least on every n-th frame, and on
    /// every frame while the face moves or is not tracked ([`body_rate`]); in between, their last
    /// result is held. 1 = every frame.
    pub pose_every: u32,
    /// Run our posture model ([`crate::landmarks::posture_net`]) and fuse it with the face mesh.
    /// Off: the face mesh and BlazePose's geometry alone (the measurements before the model).
    pub posture_model: bool,
    /// Run the posture model on the mirrored picture too and average the two (its left-right
    /// mirror is exact: points swapped, signs of yaw, roll, lateral shift, shoulder elevation and
    /// trunk yaw and roll turned). On by default: on 300 held-out renders (`heldout4`) it took yaw
    /// MAE 5.33° → 4.91° (|yaw| ≤ 45: 3.68 → 3.44°), the trunk's yaw 3.04 → 2.61°, the rotation band
    /// for |yaw| ≤ 45 0.77 → 0.81, for one more run of the posture model (~1 ms here).
    pub posture_mirror: bool,
    /// Take the trunk frame's yaw from the posture model's trunk yaw (see `trunk_options`). On by
    /// default: on 300 held-out renders it took the face mesh's yaw error for |yaw| <= 45 from
    /// 7.5° (camera azimuth configured exactly) or 11.3° (not configured) to 4.6°, and 17° to 7.8°
    /// on turned trunks. Off: the configured `camera_mount` is the trunk's yaw.
    pub trunk_yaw_from_model: bool,
    /// Take the trunk frame's pitch and roll from the posture model too (a forward or sideways
    /// lean, and the camera's elevation), instead of the configured `camera_mount`'s.
    pub trunk_tilt_from_model: bool,
    /// Threads one frame may use. 1: every model in turn. 2 or more: the tracked face's mesh runs
    /// on a second thread while the body model and the posture model run; the face's re-crop and
    /// detection decisions wait for the body, as they do on one thread, so the numbers are the
    /// same either way (`threads_do_not_change_the_numbers`). 3 or more: the body models' matrix
    /// products are also split over `threads − 1` workers ([`BodyPool`]) while the frame's thread
    /// waits for them, so at most `threads` cores are busy at once. Each product's tiles are
    /// computed whole by one worker, so the numbers stay the same.
    pub threads: usize,
    /// While the patient holds still, run the body models' periodic refresh on a worker thread
    /// ([`body_worker`]): started on one frame, taken on the next frame the body is due, so no
    /// frame waits for it. A moving patient's body runs within the frame either way.
    pub body_worker: bool,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            refine_still: false,
            min_face_presence: 0.5,
            min_pose_presence: 0.5,
            min_visibility: 0.5,
            spine_from_hips: false,
            trunk_yaw_from_depth: false,
            camera_mount: Angles::default(),
            pose_every: 1,
            posture_model: true,
            posture_mirror: true,
            trunk_yaw_from_model: true,
            trunk_tilt_from_model: true,
            threads: 1,
            body_worker: false,
        }
    }
}

/// Wall time per stage for one frame, milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StageTimes {
    pub detector_ms: f64,
    pub face_landmarks_ms: f64,
    pub pose_ms: f64,
    pub posture_model_ms: f64,
    pub geometry_ms: f64,
    /// Looks the body models took at the picture: 1, or 3 when the posture model could not read
    /// the first ([`BodyStage`]); what the body costs, for the benchmark and the tests.
    #[serde(skip)]
    pub body_looks: u32,
}

/// Everything measured on one frame. Angles in degrees, conventions in [`crate::geometry::angles`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct Measurement {
    pub face_found: bool,
    /// FaceMesh presence probability of the face used (0 when none).
    pub face_confidence: f32,
    /// True when the face detector ran on this frame (track lost, first frame, or a jerk with
    /// only a held body).
    pub face_detector_ran: bool,
    pub pose_found: bool,
    pub pose_confidence: f32,
    /// Head orientation in the camera frame.
    pub head: Option<Angles>,
    /// Head orientation relative to the trunk: the fused value of `rotation` (what is scored).
    pub relative: Option<Angles>,
    /// How `relative` was made: face mesh, posture model, or a blend ([`fusion`]).
    pub rotation: Option<FusedRotation>,
    /// The face mesh's own estimate relative to the trunk frame (needs face and shoulders).
    pub mesh_relative: Option<Angles>,
    /// The posture model's estimate (needs both shoulders), with its uncertainties.
    pub posture: Option<PostureEstimate>,
    pub trunk: Option<TrunkFrame>,
    /// Head yaw from the body model's ears (world landmarks), degrees, same convention as `head`.
    /// Coarser than the face mesh near frontal, but it keeps working in profile.
    pub body_yaw: Option<f64>,
    /// Weighted RMS residual of the head fit, as a fraction of the face's inter-ocular scale.
    pub fit_residual: Option<f64>,
    /// How much a dim frame was brightened before the models saw it ([`exposure`]); none for a
    /// frame of usual brightness.
    pub exposure_gain: Option<f32>,
    /// True when the body models ran on this frame, or (`body_worker`) started on it in the
    /// background; false when their last result was held (`pose_every`). With `body_worker`,
    /// `timings` holds the body run taken over on this frame, which ran on earlier ones.
    pub body_models_ran: bool,
    /// FaceMesh runs on this frame: 1 for a tracked face whose crop fitted, 2 when it was
    /// re-cropped; what the face costs, for the benchmark and the tracking tests.
    #[serde(skip)]
    pub face_mesh_runs: u32,
    pub timings: StageTimes,
    #[serde(skip)]
    pub face: Option<FaceLandmarks>,
    #[serde(skip)]
    pub pose: Option<PoseLandmarks>,
}

pub struct Pipeline {
    models: Arc<ModelSet>,
    opts: PipelineOptions,
    face_track: Option<Roi>,
    /// Turns the next face crop with a steadily tilting head ([`face_tilt`]), so that the face
    /// is aligned in its first mesh run instead of paying a re-crop.
    face_tilt: TiltPredictor,
    pose_track: Option<Roi>,
    held_pose: Option<PoseLandmarks>,
    /// The posture model's estimate on the held pose (it runs when the pose model runs).
    held_posture: Option<PostureEstimate>,
    /// The trunk's orientation as the posture model saw it, averaged over the last frames: a
    /// seated trunk moves slowly, and the per-frame estimate's noise (~3°) would otherwise pass
    /// into every trunk-relative angle (the rendered trunk-turn clip's rel_yaw jitter 3.0° → 1.1°, its MAE 2.1° → 2.8°).
    trunk_track: Option<Angles>,
    /// When the body models run ([`body_rate`]).
    body_rate: BodyRate,
    /// Body runs left before a body the posture model cannot read gets further looks again
    /// ([`LOOKS_REST_FRAMES`]).
    looks_rest: u32,
    /// Where they run with `body_worker` ([`body_worker`]).
    body_worker: BodyWorker,
    /// Workers for the body models' matrix products (`threads` ≥ 3).
    body_pool: BodyPool,
    /// The thread the tracked face's mesh runs on beside the body (`threads` ≥ 2), started the
    /// first time it is needed (a still photo never needs it). It lives as long as the pipeline,
    /// so the face model keeps its tract state on one thread; none when the system refused the
    /// thread (a scoped one per frame then).
    face_thread: std::sync::OnceLock<Option<rayon::ThreadPool>>,
    /// A dim frame brightened for the models ([`exposure`]), its buffer kept between frames.
    brightened: RgbImage,
    /// The roll the posture model's crops are turned by ([`crop_roll_for`]), from the last
    /// reading of the trunk's roll in upright crops, and the body runs since that reading.
    crop_roll: Option<f64>,
    crop_roll_runs: u32,
}

/// The face mesh's own thread (see `Pipeline::face_thread`); none, with a warning, when the system
/// refuses a thread.
fn face_thread() -> Option<rayon::ThreadPool> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .thread_name(|_| "cdposture-face".into())
        .build();
    pool.map_err(|e| log::warn!("could not start the face thread ({e}); one is started per frame instead"))
        .ok()
}

/// Runs `beside` on `thread` while `here` runs on the calling thread; `beside`'s result is none
/// when it panicked.
fn beside_on<A: Send, B>(
    thread: &rayon::ThreadPool,
    beside: impl FnOnce() -> A + Send,
    here: impl FnOnce() -> B,
) -> (B, Option<A>) {
    let mut other = None;
    let mine = thread.in_place_scope(|scope| {
        let other = &mut other;
        scope.spawn(move |_| {
            *other = std::panic::catch_unwind(std::panic::AssertUnwindSafe(beside)).ok();
        });
        here()
    });
    (mine, other)
}

/// A pool that the body models' matrix products are split over (tract's `multithread-mm`), for
/// the frames whose body runs within the frame: a moving head's. BlazePose lite is ~60 % matrix
/// products; its depthwise convolutions stay on the frame's thread.
pub struct BodyPool(Option<tract_linalg::multithread::Executor>);

impl BodyPool {
    /// `workers` threads; none (products on the calling thread) below 2 or when the system
    /// refuses threads, which is logged, not fatal: the frame is measured the same, more slowly.
    pub fn new(workers: usize) -> BodyPool {
        if workers < 2 {
            return BodyPool(None);
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .thread_name(|i| format!("cdposture-body-{i}"))
            .build();
        match pool {
            Ok(pool) => BodyPool(Some(tract_linalg::multithread::Executor::MultiThread(Arc::new(pool)))),
            Err(e) => {
                log::warn!("could not start {workers} threads for the body models ({e}); they run on one");
                BodyPool(None)
            }
        }
    }

    /// Runs `f` with tract's products on this pool (on the calling thread only).
    fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.0 {
            Some(pool) => tract_linalg::multithread::multithread_tract_scope(pool.clone(), f),
            None => f(),
        }
    }
}

/// Hips closer than this share of the image height to the bottom edge are not trusted.
const HIP_MARGIN: f32 = 0.1;

/// In-crop tilt from which a tracked face is re-cropped on its own eye line, degrees.
const RECROP_TILT_DEG: f32 = 1.0;

/// In-crop tilt (the mesh's own eye line against its crop) from which, with no body of this
/// frame, a tracked face is re-cropped on the face detector's eye line: a jerk. Steady motion at
/// camera rates tilts a few degrees per frame at most, and the mesh under-reads a big in-crop
/// tilt (a 25° jump read as 7.9°), so 5° in the crop is already a large jump.
const JUMP_TILT_DEG: f32 = 5.0;

/// ROI scale for the retry on a turned head (MediaPipe's default is 1.5).
const TIGHT_FACE_ROI: f32 = 1.2;

/// The threads a frame can use on this machine: two (face | body) on two cores, three (the body
/// models also split over two workers) from three.
pub fn useful_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(3))
}

/// `f`'s result and its wall time, milliseconds.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let r = f();
    (r, ms(t))
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

impl Pipeline {
    pub fn new(models: ModelSet, opts: PipelineOptions) -> Self {
        let models = Arc::new(models);
        Pipeline {
            body_worker: BodyWorker::new(Arc::clone(&models), opts.clone()),
            models,
            face_track: None,
            face_tilt: TiltPredictor::default(),
            pose_track: None,
            held_pose: None,
            held_posture: None,
            trunk_track: None,
            brightened: RgbImage::default(),
            crop_roll: None,
            crop_roll_runs: 0,
            body_rate: BodyRate::new(opts.pose_every),
            looks_rest: 0,
            body_pool: BodyPool::new(if opts.threads >= 3 { opts.threads - 1 } else { 0 }),
            face_thread: std::sync::OnceLock::new(),
            opts,
        }
    }

    pub fn models(&self) -> &ModelSet {
        &self.models
    }

    /// A new camera mount (see [`PipelineOptions::camera_mount`]) from the next frame on.
    pub fn set_camera_mount(&mut self, mount: Angles) {
        self.opts.camera_mount = mount;
    }

    /// Forget all tracks: the next frame is unrelated to the previous one (a new still image).
    pub fn reset(&mut self) {
        self.face_track = None;
        self.face_tilt.reset();
        self.pose_track = None;
        self.held_pose = None;
        self.held_posture = None;
        self.trunk_track = None;
        self.body_rate.reset();
        self.looks_rest = 0;
        self.crop_roll = None;
        self.crop_roll_runs = 0;
        drop(self.body_worker.finish());
    }

    pub fn process(&mut self, img: &RgbImage) -> Result<Measurement> {
        if img.width() < 16 || img.height() < 16 {
            return Err(crate::Error::Other(format!(
                "frame of {}x{} pixels is too small to measure; check the camera or video resolution",
                img.width(),
                img.height()
            )));
        }
        let gain = exposure::gain(img);
        if gain <= 1.0 {
            return self.process_frame(img);
        }
        let mut bright = std::mem::take(&mut self.brightened);
        exposure::brighten_into(img, gain, &mut bright);
        let m = self.process_frame(&bright);
        self.brightened = bright;
        m.map(|mut m| {
            m.exposure_gain = Some(gain);
            m
        })
    }

    /// [`Pipeline::process`] on a frame bright enough for the models.
    fn process_frame(&mut self, img: &RgbImage) -> Result<Measurement> {
        let mut m = Measurement::default();
        let run_pose = self.schedule_body(img, &mut m)?;
        let face_roi = self.face_track.take();
        let face_tracked = face_roi.is_some();
        let stage = BodyStage {
            models: &self.models,
            opts: &self.opts,
            pool: &self.body_pool,
            face_tracked,
            further_looks: self.looks_rest == 0,
            crop_roll: self.crop_roll_in_force(),
            upright_roll: Default::default(),
        };
        let (body, tracked_mesh) = match face_roi {
            // The tracked face's first mesh run needs nothing from the body: overlap them.
            Some(roi) if run_pose && self.opts.threads >= 2 => {
                let mesh = FaceMesh::new(&self.models.face_mesh);
                let pose_track = &mut self.pose_track;
                let run_face = move || timed(|| mesh.run(img, &roi));
                let (body, face) = match self.face_thread.get_or_init(face_thread) {
                    Some(thread) => beside_on(thread, run_face, || stage.run(img, pose_track, &mut m.timings)),
                    None => std::thread::scope(|scope| {
                        let face = scope.spawn(run_face);
                        let body = stage.run(img, pose_track, &mut m.timings);
                        (body, face.join().ok())
                    }),
                };
                let face =
                    face.unwrap_or_else(|| (Err(crate::Error::Other("the face mesh thread panicked".into())), 0.0));
                (body, Some((roi, face)))
            }
            Some(roi) => {
                let body = if run_pose {
                    stage.run(img, &mut self.pose_track, &mut m.timings)
                } else {
                    Ok(None)
                };
                let mesh = FaceMesh::new(&self.models.face_mesh);
                (body, Some((roi, timed(|| mesh.run(img, &roi)))))
            }
            None if run_pose => (stage.run(img, &mut self.pose_track, &mut m.timings), None),
            None => (Ok(None), None),
        };
        if run_pose {
            self.note_upright_roll(stage.upright_roll.get());
        }
        let pose = if run_pose {
            let (pose, posture) = body?.unzip();
            self.held_posture = posture.flatten();
            self.held_pose = pose.clone();
            self.looks_rest = if m.timings.body_looks > 1 {
                LOOKS_REST_FRAMES
            } else {
                self.looks_rest.saturating_sub(1)
            };
            pose
        } else {
            self.held_pose.clone()
        };
        m.posture = self.held_posture;
        let face = self.track_face(img, pose.as_ref(), run_pose, tracked_mesh, &mut m)?;
        let trunk_opts = self.trunk_options(m.posture.as_ref());

        let t = Instant::now();
        if let Some(f) = &face {
            m.face_found = true;
            m.face_confidence = f.presence;
            if let Some((head, residual)) = head_pose(&self.models.canonical_face, f) {
                m.head = Some(Angles::from_matrix(&head));
                m.fit_residual = Some(residual);
                if let Some(trunk) = pose
                    .as_ref()
                    .and_then(|p| trunk_frame(p, &trunk_opts, img.width(), img.height()))
                {
                    let relative = Angles::from_matrix(&trunk.relative(&head));
                    if !fusion::mesh_is_anatomical(&relative) {
                        // A misfit (the face upside down or mirrored): not scored in the camera
                        // frame either; fusion leaves it out of the relative rotation.
                        log::debug!("face mesh reading no neck can take, not used: {relative:?}");
                        m.head = None;
                    }
                    m.mesh_relative = Some(relative);
                    m.trunk = Some(trunk);
                }
            }
        }
        if let Some(p) = &pose {
            m.body_yaw = body_yaw(p);
            m.pose_found = true;
            m.pose_confidence = p.presence;
            if m.trunk.is_none() {
                m.trunk = trunk_frame(p, &trunk_opts, img.width(), img.height());
            }
        }
        self.fuse(&mut m);
        self.body_rate.record(m.body_models_ran, self.face_seen(&m));
        m.timings.geometry_ms = ms(t);
        m.face = face;
        m.pose = pose;
        Ok(m)
    }

    /// Whether the body models run within this frame. They are due by [`body_rate`]; with
    /// `body_worker`, on a due frame the run started on an earlier frame becomes the held body,
    /// and if the patient holds still, a new run starts on this frame in the background.
    fn schedule_body(&mut self, img: &RgbImage, m: &mut Measurement) -> Result<bool> {
        let due = self.body_rate.due(self.held_pose.is_some());
        m.body_models_ran = due;
        Ok(due && !self.body_in_background(img, m)?)
    }

    /// The `body_worker` hand-over on a due frame (see `schedule_body`): true when this frame's
    /// run went to the background.
    fn body_in_background(&mut self, img: &RgbImage, m: &mut Measurement) -> Result<bool> {
        if !self.opts.body_worker {
            return Ok(false);
        }
        if let Some(done) = self.body_worker.finish() {
            self.take_body(done, m)?;
        }
        // Only the refresh of a still patient goes to the background. While they move, this
        // frame's own body is wanted (a jerk, a turn), and the worker would gain nothing: a
        // moving patient's body is due on every frame.
        if self.held_pose.is_none() || !self.body_rate.still() {
            return Ok(false);
        }
        let crop_roll = self.crop_roll_in_force();
        self.body_worker.start(img, self.pose_track.take(), crop_roll);
        Ok(true)
    }

    /// A finished background run as the held body, from this frame on.
    /// A failed run clears the held body, so that the next frame runs it in the frame (and its
    /// failure shows there) instead of publishing a body from before the failure.
    fn take_body(&mut self, done: FinishedBody, m: &mut Measurement) -> Result<()> {
        self.pose_track = done.pose_track;
        self.note_upright_roll(done.upright_roll);
        m.timings.detector_ms += done.times.detector_ms;
        m.timings.pose_ms += done.times.pose_ms;
        m.timings.posture_model_ms += done.times.posture_model_ms;
        m.timings.body_looks += done.times.body_looks;
        let body = done.body.inspect_err(|_| {
            self.held_pose = None;
            self.held_posture = None;
            self.pose_track = None;
        })?;
        let (pose, posture) = body.unzip();
        self.held_posture = posture.flatten();
        self.held_pose = pose;
        Ok(())
    }

    /// The roll the next body run turns the posture crops by; none when it is time to read the
    /// trunk's roll from upright crops again ([`CROP_ROLL_RUNS`]).
    fn crop_roll_in_force(&self) -> Option<f64> {
        self.crop_roll.filter(|_| self.crop_roll_runs < CROP_ROLL_RUNS)
    }

    /// After a body run: the trunk's roll it read from upright crops becomes the roll the next
    /// runs' crops are turned by; a run that read none counts towards reading it again.
    fn note_upright_roll(&mut self, upright_roll: Option<f64>) {
        match upright_roll {
            Some(roll) => {
                self.crop_roll = Some(crop_roll_for(roll));
                self.crop_roll_runs = 0;
            }
            None => self.crop_roll_runs = self.crop_roll_runs.saturating_add(1),
        }
    }

    /// This frame's face for the body models' schedule: the crop it gives the next frame and
    /// the head's angles in the camera frame.
    fn face_seen(&self, m: &Measurement) -> Option<FaceSeen> {
        Some(FaceSeen {
            roi: self.face_track?,
            head: m.head?,
        })
    }

    /// The trunk frame's options for this frame: with `trunk_yaw_from_model`, the trunk's yaw is
    /// the posture model's estimate instead of the configured camera azimuth (the trunk frame
    /// then follows a trunk that turns, and needs no azimuth configured); with
    /// `trunk_tilt_from_model` its pitch and roll too, as far as the model is sure of them. Over a
    /// video the result is averaged ([`Pipeline::trunk_track`]); a frame the model could not read
    /// keeps the last trunk.
    fn trunk_options(&mut self, posture: Option<&PostureEstimate>) -> PipelineOptions {
        let mut o = self.opts.clone();
        let mut seen = o.camera_mount;
        if let Some(p) = posture.filter(|_| o.trunk_yaw_from_model) {
            seen.yaw = p.trunk_yaw;
        }
        if let Some(p) = posture.filter(|_| o.trunk_tilt_from_model) {
            seen.pitch = trust_by_certainty(seen.pitch, p.trunk_pitch, p.trunk_pitch_b, TRUNK_PITCH_SPREAD_DEG);
            seen.roll = trust_by_certainty(seen.roll, p.trunk_roll, p.trunk_roll_b, TRUNK_ROLL_SPREAD_DEG);
        }
        let from_model = o.trunk_yaw_from_model || o.trunk_tilt_from_model;
        self.trunk_track = match (posture.filter(|_| from_model), self.trunk_track) {
            (Some(_), Some(track)) => Some(track.lerp(seen, TRUNK_NEW_FRAME_WEIGHT)),
            (Some(_), None) => Some(seen),
            (None, track) => track,
        };
        o.camera_mount = self.trunk_track.unwrap_or(seen);
        o
    }

    /// The published rotation and shifts: the face mesh and the posture model fused
    /// ([`fusion`]); the shifts and the shoulder elevation from the model, which measures them
    /// (BlazePose's points did not: sagittal r 0.13, elevation r 0.07 on the training renders).
    fn fuse(&self, m: &mut Measurement) {
        let mesh = m.mesh_relative.map(|a| (a, m.face_confidence as f64));
        let model = m.posture.map(|p| fusion::ModelRotation {
            angles: model_rotation(&p),
            spread: Angles {
                yaw: p.yaw_b,
                pitch: p.pitch_b,
                roll: p.roll_b,
            },
        });
        m.rotation = fusion::fuse(mesh, model, self.opts.min_face_presence as f64);
        m.relative = m.rotation.map(|r| r.angles);
        if let (Some(t), Some(p)) = (m.trunk.as_mut(), m.posture) {
            t.lateral_shift = Some(p.lateral_shift);
            t.sagittal_shift = Some(p.sagittal_shift);
            t.shoulder_elevation = p.shoulder_elevation;
        }
    }

    /// The face detector's detection nearest `roi`'s centre, if it finds any.
    fn face_near(&self, img: &RgbImage, roi: &Roi) -> Result<Option<Detection>> {
        let dets = Detector::face(&self.models.face_detector).detect(img)?;
        Ok(nearest(&dets, [roi.cx, roi.cy]).cloned())
    }

    /// `body_fresh`: `pose` was found on this frame (not held from an earlier one).
    fn track_face(
        &mut self,
        img: &RgbImage,
        pose: Option<&PoseLandmarks>,
        body_fresh: bool,
        tracked: Option<(Roi, (Result<FaceLandmarks>, f64))>,
        m: &mut Measurement,
    ) -> Result<Option<FaceLandmarks>> {
        let mesh = FaceMesh::new(&self.models.face_mesh);
        if let Some((roi, (first, first_ms))) = tracked {
            m.timings.face_landmarks_ms += first_ms;
            m.face_mesh_runs += 1;
            let t = Instant::now();
            let mut lm = first?;
            let mut recropped = false;
            // A big tilt since the last processed frame (a jerk, or a slow CPU dropping frames) leaves
            // the head turned inside the old crop; FaceMesh then still reports a face but reads it
            // nearly upright (measured: a 25° jump read as 3°). The body model sees the eye line in
            // the whole picture: when it disagrees with the mesh by more than 12°, re-crop once.
            // Only a body of this frame: a held one still shows the eye line from before the jerk,
            // and re-cropping on it would undo the face's own re-crop below.
            let fresh_pose = pose.filter(|_| body_fresh);
            if let Some(eye_line) = fresh_pose.and_then(|p| pose_eye_rotation(p, self.opts.min_visibility)) {
                let mesh_line = FaceMesh::roi_from_landmarks(&lm).rotation;
                let diff = (eye_line - mesh_line).abs().to_degrees();
                if lm.presence >= self.opts.min_face_presence && diff.min(360.0 - diff) > 12.0 {
                    let mut recrop = FaceMesh::roi_from_landmarks(&lm);
                    recrop.rotation = eye_line;
                    m.face_mesh_runs += 1;
                    let again = mesh.run(img, &recrop)?;
                    log::debug!(
                        "face re-cropped on the body's eye line ({diff:.0}° off): presence {:.2}",
                        again.presence
                    );
                    if again.presence >= self.opts.min_face_presence {
                        lm = again;
                        recropped = true;
                    }
                }
            }
            // A smaller tilt since the last frame (a roll tremor, a quick head tilt) still leaves
            // the face rotated inside the crop, and FaceMesh's yaw and pitch are not equivariant to
            // that: a 3 Hz ±3° roll, tracked, moved pitch by 0.8° and yaw by 0.3° (std, out of phase
            // with the roll). The mesh reads small tilts right: re-crop once on its own eye line.
            let own = FaceMesh::roi_from_landmarks(&lm);
            let wrapped = (own.rotation - roi.rotation).to_degrees().rem_euclid(360.0);
            let residual = wrapped.min(360.0 - wrapped);
            // A jerk with no body of this frame to show the new eye line (a held body): the mesh,
            // rotated far inside the old crop, under-reads the tilt (a 25° jump showed as 7.9°)
            // and re-cropping on its reading walks off (-2.6°). The face detector's eye points
            // do not depend on the crop: re-crop on them instead (27.2° then, for 28.3°).
            let mut own = own;
            if !recropped && !body_fresh && residual > JUMP_TILT_DEG {
                let t = Instant::now();
                let near = self.face_near(img, &own)?;
                m.timings.detector_ms += ms(t);
                m.face_detector_ran = true;
                if let Some(det) = near {
                    own = FaceMesh::roi_from_detection(&det);
                    log::debug!("face re-cropped on the detector's eye line ({residual:.1}° in the crop)");
                }
            }
            if !recropped && lm.presence >= self.opts.min_face_presence && residual > RECROP_TILT_DEG {
                m.face_mesh_runs += 1;
                let again = mesh.run(img, &own)?;
                log::debug!("face re-cropped on its own eye line ({residual:.1}° in the crop)");
                if again.presence >= self.opts.min_face_presence {
                    lm = again;
                }
            }
            m.timings.face_landmarks_ms += ms(t);
            if lm.presence >= self.opts.min_face_presence {
                self.face_track = Some(self.next_face_crop(&lm)).filter(Roi::is_usable);
                return Ok(Some(lm));
            }
        }
        let t = Instant::now();
        let detector = Detector::face(&self.models.face_detector);
        let mut dets = detector.detect(img)?;
        if choose_face(&dets, pose).is_none() {
            // The short-range detector misses faces that are small in the whole picture (exam-room
            // framing, head and chest at 1-2 m: on renders, frontal faces with 50-70 px between
            // the ears were found half the time). Look again in a square around the body model's
            // head, where the face fills the detector's input; the detector still has to confirm it.
            if let Some(head) = pose.and_then(head_region) {
                dets = detector.detect_in(img, &head)?;
                log::debug!("face detector on the body's head region: {} faces", dets.len());
            }
        }
        m.timings.detector_ms += ms(t);
        m.face_detector_ran = true;
        log::debug!("face detector: {} faces, pose {}", dets.len(), pose.is_some());
        // Only a confident detection starts a face track. Tried and dropped (measured on the dev set
        // and on a coffee-cup photo): a second pass at a lower detector threshold, re-cropping a
        // low-presence mesh on its own landmarks, and a face ROI from the body model's face points.
        // None recovered a missed face correctly; each produced confident meshes on non-faces.
        let Some(det) = choose_face(&dets, pose) else {
            return Ok(None);
        };
        let t = Instant::now();
        m.face_mesh_runs += 1;
        let mut lm = mesh.run(img, &FaceMesh::roi_from_detection(det))?;
        if lm.presence < self.opts.min_face_presence {
            // Turned heads: the detector's box is loose around a profile and FaceMesh, trained on
            // crops of ×1.5, then rejects it. A tighter crop of the same confident detection often
            // passes (dev set: a 68° turn went from presence 0.19 to 0.91).
            let tight = FaceMesh::roi_from_detection(det).scaled_square(TIGHT_FACE_ROI / 1.5);
            m.face_mesh_runs += 1;
            lm = mesh.run(img, &tight)?;
            log::debug!("tight face ROI retry: presence {:.3}", lm.presence);
        }
        if lm.presence < self.opts.min_face_presence {
            m.timings.face_landmarks_ms += ms(t);
            return Ok(None);
        }
        if self.opts.refine_still {
            m.face_mesh_runs += 1;
            let refined = mesh.run(img, &FaceMesh::roi_from_landmarks(&lm))?;
            if refined.presence >= self.opts.min_face_presence {
                lm = refined;
            }
        }
        m.timings.face_landmarks_ms += ms(t);
        self.face_tilt.reset();
        self.face_track = Some(self.next_face_crop(&lm)).filter(Roi::is_usable);
        Ok(Some(lm))
    }

    /// The next frame's face crop: around these landmarks, turned with a steady tilt.
    fn next_face_crop(&mut self, lm: &FaceLandmarks) -> Roi {
        let mut roi = FaceMesh::roi_from_landmarks(lm);
        roi.rotation = self.face_tilt.advance(roi.rotation);
        roi
    }
}

/// Body runs after one with further looks during which the body gets none. A person is tracked
/// from the body the looks kept and read surely from then on: on seven rendered clips (10 fps,
/// 50–60 frames each, heads held or swinging between 40° and 90°) the tracked body never needed
/// a further look. A thing BlazePose takes for a body is not: on an empty room with a coffee cup
/// (presence ~0.9, the posture model's yaw uncertainty ~23° on the tracked body, ≤ 15° on a
/// look) every frame paid for both looks, ~10 landmark runs.
pub const LOOKS_REST_FRAMES: u32 = 10;

/// The posture model reads this body well enough to be used: its yaw uncertainty within what a
/// blend with the tracked face takes, or with no face tracked, within what the model alone may
/// answer (a face not tracked yet may still be found on this frame, but a far-turned one is not).
fn is_sure(posture: Option<PostureEstimate>, face_tracked: bool) -> bool {
    let cap = if face_tracked {
        fusion::MAX_MODEL_YAW_B
    } else {
        fusion::MAX_MODEL_ALONE_YAW_B
    };
    posture.is_some_and(|p| p.yaw_b <= cap)
}

/// `candidate` is an estimate where `current` is none, or a surer one.
fn is_surer(candidate: Option<PostureEstimate>, current: Option<PostureEstimate>) -> bool {
    match (current, candidate) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(a), Some(b)) => b.yaw_b < a.yaw_b,
    }
}

/// The body's models for one frame: pose landmarks (with detection when the track is lost) and
/// our posture model on them. Borrowed apart from the pipeline so it can run beside the face mesh.
struct BodyStage<'a> {
    models: &'a ModelSet,
    opts: &'a PipelineOptions,
    pool: &'a BodyPool,
    /// A face is tracked into this frame: how sure the posture model must be before the body
    /// gets no further looks ([`is_sure`]).
    face_tracked: bool,
    /// Further looks may be taken on this frame (none while the looks rest, `Pipeline::looks_rest`).
    further_looks: bool,
    /// The roll (degrees) the posture model's crops are turned by ([`crop_roll_for`]); none when
    /// there is none to go by yet: the model then reads the trunk's roll from upright crops first.
    crop_roll: Option<f64>,
    /// The trunk's roll (camera frame) read from upright crops on this run, for the next runs'
    /// crops ([`Pipeline::crop_roll`]).
    upright_roll: std::cell::Cell<Option<f64>>,
}

/// A trunk rolled by at most this much (degrees, read from upright crops) is read from upright
/// crops: no second run.
pub const UPRIGHT_TRUNK_ROLL: f64 = 2.0;
/// The most the crops are turned: a seated trunk's lean and a camera's roll together.
pub const MAX_CROP_ROLL: f64 = 20.0;
/// Body runs after which the trunk's roll is read from upright crops again (a patient who
/// starts leaning): about 2 s at 15 fps, one extra posture run in 30.
pub const CROP_ROLL_RUNS: u32 = 30;

/// The posture model's crops are cut with the trunk upright in them: turned by the trunk's roll
/// as read from upright crops (a camera mounted rolled, a patient leaning). The model learned
/// from renders with an upright camera; in crops turned with the trunk it reads better even on
/// those (their trunks lean by up to 10°): on the three held-out sets yaw MAE 3.71 / 3.96 /
/// 3.61° → 3.57 / 3.99 / 3.58°, shoulder elevation 0.61 / 0.64 / 0.63° → 0.58 / 0.62 / 0.60°;
/// with the camera rolled 3°, −5° and 10° (`heldout4` turned) 4.26 / 4.80 / 6.35° → 4.14 / 3.89
/// / 4.23° (README, "What the picture must be"). Never from a reading in turned crops: fed back,
/// the model's small readings of its own turn walked a still trunk's roll to −2.2° over 20
/// frames of a rendered clip (its yaw MAE 2.41 → 3.31°).
pub fn crop_roll_for(upright_trunk_roll: f64) -> f64 {
    if upright_trunk_roll.is_finite() && upright_trunk_roll.abs() > UPRIGHT_TRUNK_ROLL {
        upright_trunk_roll.clamp(-MAX_CROP_ROLL, MAX_CROP_ROLL)
    } else {
        0.0
    }
}

impl BodyStage<'_> {
    /// The body's landmarks and, when both shoulders show, the posture model's estimate; their
    /// matrix products on the body pool when there is one.
    fn run(
        &self,
        img: &RgbImage,
        pose_track: &mut Option<Roi>,
        times: &mut StageTimes,
    ) -> Result<Option<(PoseLandmarks, Option<PostureEstimate>)>> {
        self.pool.run(|| self.run_here(img, pose_track, times))
    }

    fn run_here(
        &self,
        img: &RgbImage,
        pose_track: &mut Option<Roi>,
        times: &mut StageTimes,
    ) -> Result<Option<(PoseLandmarks, Option<PostureEstimate>)>> {
        times.body_looks += 1;
        let Some(pose) = self.track_pose(img, pose_track, times)? else {
            return Ok(None);
        };
        let posture = self.posture(img, &pose, times)?;
        let close_up = posture.is_none() && shoulder_outside_picture(&pose, img.width(), img.height());
        if !self.opts.posture_model || !self.further_looks || is_sure(posture, self.face_tracked) || close_up {
            return Ok(Some((pose, posture)));
        }
        // The model cannot read this body. Seen on renders beyond ~60°: BlazePose, keyed on a
        // face, put the shoulders on the head of a far-turned subject, or named its sides the
        // wrong way round. Two more looks, the surest estimate of the three kept: from the whole
        // picture without a detection, and from the mirror image (BlazePose and its detector are
        // not symmetric; the points are mirrored back). Both, even when the second is sure:
        // without the mirror look then, 5 of 900 held-out renders changed, 4 of them 5-17° worse. A
        // close-up (a shoulder outside the picture) gets none: no look brings that shoulder into
        // the picture, and the two would cost each of its frames three or more BlazePose runs.
        let mut best = (pose, posture);
        times.body_looks += 2;
        let t = Instant::now();
        let second = self.pose_without_detection(img, &PoseModel::new(&self.models.pose_landmarks))?;
        times.pose_ms += ms(t);
        self.keep_if_surer(img, second, &mut best, pose_track, times)?;
        let mirrored = self.pose_from_mirror_image(img, times)?;
        self.keep_if_surer(img, mirrored, &mut best, pose_track, times)?;
        Ok(Some(best))
    }

    /// Another look at the body replaces `best` (and the track) when the model is surer of it.
    fn keep_if_surer(
        &self,
        img: &RgbImage,
        look: Option<PoseLandmarks>,
        best: &mut (PoseLandmarks, Option<PostureEstimate>),
        pose_track: &mut Option<Roi>,
        times: &mut StageTimes,
    ) -> Result<()> {
        let Some(look) = look.filter(|l| l.presence >= self.opts.min_pose_presence) else {
            return Ok(());
        };
        let look_posture = self.posture(img, &look, times)?;
        log::debug!("unsure posture estimate ({:?}); another look: {look_posture:?}", best.1);
        if is_surer(look_posture, best.1) {
            *pose_track = Some(PoseModel::roi_from_landmarks(&look)).filter(Roi::is_usable);
            *best = (look, look_posture);
        }
        Ok(())
    }

    /// The body found on the picture's mirror image (detection and landmarks, no track), its
    /// points put back on the picture.
    fn pose_from_mirror_image(&self, img: &RgbImage, times: &mut StageTimes) -> Result<Option<PoseLandmarks>> {
        let t = Instant::now();
        let mirror = image::imageops::flip_horizontal(img);
        times.pose_ms += ms(t);
        let found = self.track_pose(&mirror, &mut None, times)?;
        Ok(found.map(|p| p.mirrored_back(img.width())))
    }

    /// Our posture model on the body `pose` (none when it is off or a shoulder is not seen in
    /// the picture). Shoulders that BlazePose extrapolates beyond the picture's edge (a close-up)
    /// give a crop the model never saw in training: on the real faces of `headpose-dev` (22 of 28
    /// with a shoulder outside) its yaw was off by 9.7° where the face mesh's was off by 1.9°, and
    /// with no trunk frame for the mesh it was published alone. Without it the face mesh answers
    /// in the camera frame, flagged as such, like any frame without the shoulders.
    fn posture(&self, img: &RgbImage, pose: &PoseLandmarks, times: &mut StageTimes) -> Result<Option<PostureEstimate>> {
        if !self.opts.posture_model || !shoulders_in_picture(pose, self.opts.min_visibility, img.width(), img.height())
        {
            return Ok(None);
        }
        let t = Instant::now();
        let net = PostureNet::new(&self.models.posture_net, self.opts.posture_mirror);
        let run = |roll: f64| net.run(img, pose, self.opts.min_visibility, roll);
        let posture = match self.crop_roll {
            Some(roll) => run(roll)?,
            // No roll to go by (a still picture, a first frame, or time to look again):
            // read the trunk's roll from upright crops, then read again with the trunk upright
            // when it is rolled.
            None => {
                let upright = run(0.0)?;
                self.upright_roll.set(upright.map(|u| u.trunk_roll));
                match upright.map(|u| crop_roll_for(u.trunk_roll)) {
                    Some(roll) if roll != 0.0 => run(roll)?.or(upright),
                    _ => upright,
                }
            }
        };
        times.posture_model_ms += ms(t);
        Ok(posture)
    }

    fn track_pose(
        &self,
        img: &RgbImage,
        pose_track: &mut Option<Roi>,
        times: &mut StageTimes,
    ) -> Result<Option<PoseLandmarks>> {
        let model = PoseModel::new(&self.models.pose_landmarks);
        if let Some(roi) = pose_track.take() {
            let t = Instant::now();
            let lm = model.run(img, &roi)?;
            times.pose_ms += ms(t);
            if lm.presence >= self.opts.min_pose_presence {
                *pose_track = Some(PoseModel::roi_from_landmarks(&lm)).filter(Roi::is_usable);
                return Ok(Some(lm));
            }
        }
        let t = Instant::now();
        let dets = Detector::pose(&self.models.pose_detector).detect(img)?;
        times.detector_ms += ms(t);
        let t = Instant::now();
        let detected = match dets.first().map(PoseModel::roi_from_detection).filter(Roi::is_usable) {
            Some(roi) => Some(model.run(img, &roi)?),
            None => None,
        };
        // A detection whose landmarks the model does not believe is no better than none.
        let lm = match detected.filter(|lm| lm.presence >= self.opts.min_pose_presence) {
            Some(lm) => Some(lm),
            None => self.pose_without_detection(img, &model)?,
        };
        times.pose_ms += ms(t);
        let Some(lm) = lm.filter(|lm| lm.presence >= self.opts.min_pose_presence) else {
            return Ok(None);
        };
        *pose_track = Some(PoseModel::roi_from_landmarks(&lm)).filter(Roi::is_usable);
        Ok(Some(lm))
    }

    /// The body when the detector finds none. BlazePose's detector keys on the face and misses
    /// bodies it should find (on renders: 14 % of exam-room frames, more with the head turned far
    /// or a face-like background). The exam-room camera frames one seated patient, so the landmark
    /// model runs on the whole picture, then on the squares of `SEATED_BODY_GUESSES`, until one
    /// sees a body; then once more on the ROI its own landmarks give (a guess is a loose crop).
    fn pose_without_detection(&self, img: &RgbImage, model: &PoseModel) -> Result<Option<PoseLandmarks>> {
        let (w, h) = (img.width() as f32, img.height() as f32);
        let mut found = model.run(img, &Roi::letterbox(img.width(), img.height()))?;
        for &(cy, side) in SEATED_BODY_GUESSES {
            if found.presence >= self.opts.min_pose_presence {
                break;
            }
            let guess = Roi {
                cx: w / 2.0,
                cy: cy * h,
                width: side * h,
                height: side * h,
                rotation: 0.0,
            };
            found = model.run(img, &guess)?;
            log::debug!(
                "no body detected; pose presence {:.2} on the square at {cy}·h, side {side}·h",
                found.presence
            );
        }
        if found.presence < self.opts.min_pose_presence {
            return Ok(None);
        }
        let roi = PoseModel::roi_from_landmarks(&found);
        if !roi.is_usable() {
            return Ok(None);
        }
        let refined = model.run(img, &roi)?;
        log::debug!(
            "body found without detection: presence {:.2}, refined {:.2}",
            found.presence,
            refined.presence
        );
        // The crop the landmarks give can lose a body the loose one saw: BlazePose puts the hips
        // of a head-and-chest picture far below it and the crop follows them (seen on renders of
        // heads turned 70–90°: presence 0.97 on the whole picture, 0.13 in its own crop).
        Ok(Some(if refined.presence >= self.opts.min_pose_presence {
            refined
        } else {
            found
        }))
    }
}

/// Where a seated patient's body is when the detector finds none, as BlazePose's landmark model
/// wants it framed: a square centred on the hips, a little larger than the whole body. In
/// head-and-chest framing the hips are at or below the bottom edge and the body is 1.6–2.4 picture
/// heights tall, depending on the distance (centre height and side, in picture heights; tried in
/// this order, the first that sees a body is kept; measured in the README, Models). Each costs one
/// landmark run, only while no body is found.
const SEATED_BODY_GUESSES: &[(f32, f32)] = &[(1.0, 1.6), (1.1, 2.0), (0.9, 1.6), (1.3, 2.4)];

/// How far a seated patient's trunk leans sideways (roll) and its pitch differs from the configured
/// camera elevation, typically (degrees): the model's tilt estimates are believed in proportion to
/// their certainty against these spreads. A whole picture rotated by 25° (the demo) or a body the
/// model was not trained on gives it an uncertainty of 7–11°: then little of its lean is taken.
const TRUNK_ROLL_SPREAD_DEG: f64 = 8.0;
/// The weight of a new frame's trunk in its running average: a time constant of about three
/// frames (0.2 s at 15 fps), short against a trunk that turns, long against the estimate's noise.
const TRUNK_NEW_FRAME_WEIGHT: f64 = 0.3;

const TRUNK_PITCH_SPREAD_DEG: f64 = 8.0;

/// `configured` moved toward `estimate` by the weight `spread² / (spread² + b²)`: a normal prior of
/// that spread around the configured value, and the estimate's own Laplace scale `b` as its noise.
fn trust_by_certainty(configured: f64, estimate: f64, b: f64, spread: f64) -> f64 {
    let w = spread * spread / (spread * spread + b * b);
    configured + w * (estimate - configured)
}

/// The posture model's head rotation relative to the trunk, as angles.
pub fn model_rotation(p: &PostureEstimate) -> Angles {
    Angles {
        yaw: p.yaw,
        pitch: p.pitch,
        roll: p.roll,
    }
}

/// ROI rotation that levels the body model's eye line (subject's right eye → left eye), if both
/// eyes are visible.
fn pose_eye_rotation(p: &PoseLandmarks, min_visibility: f32) -> Option<f32> {
    if p.visibility[RIGHT_EYE] < min_visibility || p.visibility[LEFT_EYE] < min_visibility {
        return None;
    }
    let (r, l) = (p.points[RIGHT_EYE], p.points[LEFT_EYE]);
    Some(Roi::rotation_for((r[0], r[1]), (l[0], l[1]), 0.0))
}

/// An upright square around the body model's head (nose, eyes, ears): 2.5 times their spread, at
/// least 0.8 shoulder widths (a profile's face points bunch up), for the face detector's retry.
fn head_region(p: &PoseLandmarks) -> Option<Roi> {
    let pts: Vec<[f32; 2]> = [NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR]
        .iter()
        .map(|&i| [p.points[i][0], p.points[i][1]])
        .collect();
    let n = pts.len() as f32;
    let (cx, cy) = (
        pts.iter().map(|q| q[0]).sum::<f32>() / n,
        pts.iter().map(|q| q[1]).sum::<f32>() / n,
    );
    let dist = |a: [f32; 2], b: [f32; 2]| (a[0] - b[0]).hypot(a[1] - b[1]);
    let spread = pts
        .iter()
        .flat_map(|&a| pts.iter().map(move |&b| dist(a, b)))
        .fold(0.0f32, f32::max);
    let (ls, rs) = (p.points[LEFT_SHOULDER], p.points[RIGHT_SHOULDER]);
    let shoulders = dist([ls[0], ls[1]], [rs[0], rs[1]]);
    let side = (2.5 * spread).max(0.8 * shoulders);
    (side.is_finite() && side >= 16.0).then_some(Roi {
        cx,
        cy,
        width: side,
        height: side,
        rotation: 0.0,
    })
}

/// The face on the tracked body (nearest the pose's nose) if there is a body, else the best score.
fn choose_face<'d>(dets: &'d [Detection], pose: Option<&PoseLandmarks>) -> Option<&'d Detection> {
    match pose {
        Some(p) => nearest(dets, [p.points[NOSE][0], p.points[NOSE][1]]),
        None => dets.first(),
    }
}

/// The detection whose centre is nearest `at` (image pixels).
fn nearest(dets: &[Detection], at: [f32; 2]) -> Option<&Detection> {
    let dist = |d: &Detection| (d.cx - at[0]).powi(2) + (d.cy - at[1]).powi(2);
    dets.iter().min_by(|a, b| dist(a).total_cmp(&dist(b)))
}

/// Image pixels (y down, z away) to the camera frame (y up, z toward the camera).
fn camera_frame(p: [f32; 3]) -> Vec3 {
    [p[0] as f64, -(p[1] as f64), -(p[2] as f64)]
}

/// Head rotation by weighted Procrustes of the canonical face onto the 468 landmarks. The landmarks
/// are a weak-perspective reconstruction (x, y, z share one pixel scale), so a similarity fit is
/// the right model. Returns the rotation and the residual relative to the fitted scale.
pub fn head_pose(
    canonical: &crate::geometry::CanonicalFace,
    face: &FaceLandmarks,
) -> Option<(crate::geometry::Mat3, f64)> {
    let model: Vec<Vec3> = canonical.weights.iter().map(|&(i, _)| canonical.vertices[i]).collect();
    let observed: Vec<Vec3> = canonical
        .weights
        .iter()
        .map(|&(i, _)| camera_frame(face.points[i]))
        .collect();
    let weights: Vec<f64> = canonical.weights.iter().map(|&(_, w)| w).collect();
    let fit = procrustes::fit(&model, &observed, &weights)?;
    // Residual in canonical units (cm), so it does not depend on how large the face is in the image.
    Some((fit.rotation, fit.rms / fit.scale.max(1e-9)))
}

/// The trunk frame from BlazePose world landmarks, if both shoulders are visible.
/// Both shoulders seen (not occluded) and inside the picture: what the trunk frame and the posture
/// model need (BlazePose extrapolates points beyond the edge and may still call them visible).
pub fn shoulders_in_picture(p: &PoseLandmarks, min_visibility: f32, img_w: u32, img_h: u32) -> bool {
    [LEFT_SHOULDER, RIGHT_SHOULDER].iter().all(|&i| {
        p.visibility[i] >= min_visibility
            && p.in_frame[i] >= min_visibility
            && (0.0..img_w as f32).contains(&p.points[i][0])
            && (0.0..img_h as f32).contains(&p.points[i][1])
    })
}

/// A shoulder of this body lies outside the picture (BlazePose extrapolates it there): a close-up.
fn shoulder_outside_picture(p: &PoseLandmarks, img_w: u32, img_h: u32) -> bool {
    [LEFT_SHOULDER, RIGHT_SHOULDER]
        .iter()
        .any(|&i| !((0.0..img_w as f32).contains(&p.points[i][0]) && (0.0..img_h as f32).contains(&p.points[i][1])))
}

pub fn trunk_frame(p: &PoseLandmarks, opts: &PipelineOptions, img_w: u32, img_h: u32) -> Option<TrunkFrame> {
    // BlazePose extrapolates points outside the picture and may still call them "visible"
    // (not occluded). A seated patient's hips are usually at or below the bottom edge, where a
    // guessed hip tilts the whole trunk frame (seen: 20° of false trunk roll on a head-and-chest
    // clip), so the spine is used only when the hips are well inside the picture.
    let min_visibility = opts.min_visibility;
    let margin = HIP_MARGIN * img_h as f32;
    let inside = |i: usize, m: f32| {
        (0.0..img_w as f32).contains(&p.points[i][0])
            && (0.0..img_h as f32 - m).contains(&p.points[i][1])
            && p.in_frame[i] >= min_visibility
    };
    let hip_ok = |i: usize| p.visibility[i] >= min_visibility && inside(i, margin);
    if !shoulders_in_picture(p, min_visibility, img_w, img_h) {
        return None;
    }
    log::trace!(
        "hips: left {:?} vis {:.2}, right {:?} vis {:.2}; shoulders vis {:.2} {:.2}",
        p.points[LEFT_HIP],
        p.visibility[LEFT_HIP],
        p.points[RIGHT_HIP],
        p.visibility[RIGHT_HIP],
        p.visibility[LEFT_SHOULDER],
        p.visibility[RIGHT_SHOULDER]
    );
    let w = |i: usize| camera_frame(p.world[i]);
    let mid = |a: usize, b: usize| crate::geometry::scale(crate::geometry::add(w(a), w(b)), 0.5);
    TrunkFrame::from_input(&TrunkInput {
        left_shoulder: w(LEFT_SHOULDER),
        right_shoulder: w(RIGHT_SHOULDER),
        hip_centre: (opts.spine_from_hips && hip_ok(LEFT_HIP) && hip_ok(RIGHT_HIP)).then(|| mid(LEFT_HIP, RIGHT_HIP)),
        yaw_from_depth: opts.trunk_yaw_from_depth,
        mount: opts.camera_mount.to_matrix(),
        head_centre: Some(mid(LEFT_EAR, RIGHT_EAR)),
    })
}

/// Yaw from the ear line in world coordinates: turning the face toward image left (+yaw) brings
/// the subject's left ear toward the camera.
pub fn body_yaw(p: &PoseLandmarks) -> Option<f64> {
    let l = crate::geometry::sub(camera_frame(p.world[LEFT_EAR]), camera_frame(p.world[RIGHT_EAR]));
    (l[0].abs() + l[2].abs() > 1e-6).then(|| l[2].atan2(l[0]).to_degrees())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The face mesh runs on the pipeline's own face thread, the same one every frame (its tract
    /// state stays warm there), while the body runs on the caller's; a panic there is reported as
    /// no result, not passed on.
    #[test]
    fn the_face_runs_beside_on_the_same_named_thread_every_frame() {
        let thread = face_thread().expect("a thread");
        let name = || std::thread::current().name().map(str::to_owned);
        let here = name();
        let ids: Vec<_> = (0..3)
            .map(|_| {
                let (mine, other) = beside_on(&thread, || (name(), std::thread::current().id()), name);
                assert_eq!(mine, here);
                let (other_name, id) = other.expect("the face job ran");
                assert_eq!(other_name.as_deref(), Some("cdposture-face"));
                id
            })
            .collect();
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "a new thread per frame: {ids:?}");
        let (mine, other) = beside_on(&thread, || -> u8 { panic!("mesh failed") }, || 7);
        assert_eq!((mine, other), (7, None));
    }

    #[test]
    fn the_body_pool_takes_tracts_products_inside_its_scope_only() {
        use tract_linalg::multithread::{current_tract_executor, Executor};
        let on_pool = |pool: &BodyPool| pool.run(|| matches!(current_tract_executor(), Executor::MultiThread(_)));
        assert!(on_pool(&BodyPool::new(2)), "threads = 3: two workers");
        assert!(!on_pool(&BodyPool::new(1)), "one worker would only move the work");
        assert!(!on_pool(&BodyPool::new(0)));
        // Outside the scope (and on other threads, e.g. the face mesh's) products stay where they run.
        assert!(matches!(current_tract_executor(), Executor::SingleThread));
    }

    #[test]
    fn a_trunk_tilt_is_believed_as_far_as_the_model_is_sure_of_it() {
        // Sure (b = 1°): nearly all of a 6° lean is taken; unsure (b = 10°, the demo's whole-picture
        // rotation): about 40 % of it; equal spread and uncertainty: half. Always between the
        // configured value and the estimate, whatever its sign.
        let sure = trust_by_certainty(0.0, 6.0, 1.0, 8.0);
        assert!((sure - 6.0 * 64.0 / 65.0).abs() < 1e-9, "{sure}");
        let unsure = trust_by_certainty(0.0, 6.0, 10.0, 8.0);
        assert!((unsure - 6.0 * 64.0 / 164.0).abs() < 1e-9, "{unsure}");
        assert!((trust_by_certainty(-4.0, 2.0, 8.0, 8.0) + 1.0).abs() < 1e-9);
        let toward_negative = trust_by_certainty(3.0, -5.0, 2.0, 8.0);
        assert!(toward_negative < 3.0 && toward_negative > -5.0);
    }
}
