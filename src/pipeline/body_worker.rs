//! The body models on their own core, while the patient holds still (`pipeline.body_worker`).
//!
//! The body models (BlazePose, then our posture model) cost ~150 M instructions per run on
//! x86_64: more than a Raspberry Pi 4 core gives one frame at 30 fps (~75 M). Run within the
//! frame, even beside the face mesh, they make the frame wait for them. While the patient holds
//! still, they only refresh a held result every `pose_every` frames ([`super::body_rate`]): here
//! such a refresh starts on frame N on a worker thread, and its result is taken on the next frame
//! on which the body is due (N+`pose_every`, or sooner when the patient moves). While the patient
//! moves, the body runs within the frame as without the worker: that frame's own body is wanted.
//! The hand-over frames come from the schedule, never from timing, so the numbers do not depend
//! on the machine's speed: with one thread a job runs at once and its result waits for the same
//! frame (`threads_do_not_change_the_numbers`).

use super::{BodyPool, BodyStage, PipelineOptions, StageTimes};
use crate::inference::ModelSet;
use crate::landmarks::{PoseLandmarks, PostureEstimate, Roi};
use image::RgbImage;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The body's landmarks and, when both shoulders show, the posture model's estimate.
pub type BodyResult = crate::Result<Option<(PoseLandmarks, Option<PostureEstimate>)>>;

/// A finished body run, as the pipeline takes it over.
pub struct FinishedBody {
    pub body: BodyResult,
    /// The body track after the run: the next run's crop.
    pub pose_track: Option<Roi>,
    /// The run's stage times (it ran during earlier frames).
    pub times: StageTimes,
    /// The trunk's roll it read from upright crops, if it read one (`Pipeline::crop_roll`).
    pub upright_roll: Option<f64>,
}

/// One run on the worker: the frame (a buffer the worker hands back, so that running does not
/// allocate a frame each time), the track to start from and the roll to turn the posture
/// model's crops by (`BodyStage::crop_roll`).
struct Job {
    frame: RgbImage,
    pose_track: Option<Roi>,
    crop_roll: Option<f64>,
}

struct Done {
    finished: FinishedBody,
    frame: RgbImage,
}

/// The worker thread and its two one-slot channels.
struct Thread {
    jobs: SyncSender<Job>,
    done: Receiver<Done>,
    handle: JoinHandle<()>,
}

// One job at a time, so the size of `Ready` costs nothing; boxing it would allocate per run.
#[allow(clippy::large_enum_variant)]
enum Pending {
    Nothing,
    /// Sent to the worker thread.
    Running,
    /// Run at once, on the caller's frame (one thread).
    Ready(FinishedBody),
}

pub struct BodyWorker {
    models: Arc<ModelSet>,
    /// The pipeline's options when it was made: the body stage reads only its thresholds and
    /// `posture_model`, which never change (`set_camera_mount` does not reach here, nor need to).
    opts: PipelineOptions,
    /// Started on the first job when `opts.threads >= 2`; restarted if it died.
    thread: Option<Thread>,
    pending: Pending,
    /// The frame buffer of the last finished job, reused by the next.
    spare: Option<RgbImage>,
}

impl BodyWorker {
    pub fn new(models: Arc<ModelSet>, opts: PipelineOptions) -> Self {
        BodyWorker {
            models,
            opts,
            thread: None,
            pending: Pending::Nothing,
            spare: None,
        }
    }

    /// True while a started run has not been taken with [`BodyWorker::finish`].
    pub fn is_pending(&self) -> bool {
        !matches!(self.pending, Pending::Nothing)
    }

    /// Start a body run on `img` from `pose_track`, the posture model's crops turned by
    /// `crop_roll`. A run still pending is finished first and its result dropped (callers take
    /// it with `finish` before starting the next).
    pub fn start(&mut self, img: &RgbImage, pose_track: Option<Roi>, crop_roll: Option<f64>) {
        debug_assert!(!self.is_pending(), "a body run started before the last was taken");
        if self.is_pending() {
            drop(self.finish());
        }
        let thread = match self.thread.take() {
            _ if self.opts.threads < 2 => None,
            Some(t) if !t.handle.is_finished() => Some(t),
            _ => spawn(Arc::clone(&self.models), self.opts.clone()),
        };
        // One thread, or no thread to be had: run it now, on the caller's frame (no copy).
        let Some(thread) = thread else {
            self.pending = Pending::Ready(run_body(&self.models, &self.opts, img, pose_track, crop_roll));
            return;
        };
        let job = Job {
            frame: self.copy_frame(img),
            pose_track,
            crop_roll,
        };
        match thread.jobs.send(job) {
            Ok(()) => {
                self.thread = Some(thread);
                self.pending = Pending::Running;
            }
            // The thread has ended (it panicked): run this job here; a new thread next time.
            Err(e) => {
                let Job {
                    frame,
                    pose_track,
                    crop_roll,
                } = e.0;
                self.pending = Pending::Ready(run_body(&self.models, &self.opts, &frame, pose_track, crop_roll));
                self.spare = Some(frame);
            }
        }
    }

    /// The started run's result, waiting for it if it is still running; `None` if none started.
    pub fn finish(&mut self) -> Option<FinishedBody> {
        let done = match std::mem::replace(&mut self.pending, Pending::Nothing) {
            Pending::Nothing => return None,
            Pending::Ready(finished) => return Some(finished),
            Pending::Running => match self.thread.as_ref().map(|t| t.done.recv()) {
                Some(Ok(done)) => done,
                _ => {
                    self.thread = None;
                    return Some(FinishedBody {
                        body: Err(crate::Error::Other("the body models' thread stopped".into())),
                        pose_track: None,
                        times: StageTimes::default(),
                        upright_roll: None,
                    });
                }
            },
        };
        self.spare = Some(done.frame);
        Some(done.finished)
    }

    /// `img` in the spare buffer when it has the same size (no allocation), else a new copy.
    fn copy_frame(&mut self, img: &RgbImage) -> RgbImage {
        match self.spare.take() {
            Some(mut buf) if buf.dimensions() == img.dimensions() => {
                buf.copy_from_slice(img);
                buf
            }
            _ => img.clone(),
        }
    }
}

impl Drop for BodyWorker {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            drop(t.jobs);
            let _ = t.handle.join();
        }
    }
}

fn spawn(models: Arc<ModelSet>, opts: PipelineOptions) -> Option<Thread> {
    let (jobs, inbox) = sync_channel::<Job>(1);
    let (outbox, done) = sync_channel::<Done>(1);
    let spawned = std::thread::Builder::new().name("body-models".into()).spawn(move || {
        while let Ok(job) = inbox.recv() {
            if outbox.send(run_job(&models, &opts, job)).is_err() {
                break;
            }
        }
    });
    match spawned {
        Ok(handle) => Some(Thread { jobs, done, handle }),
        Err(e) => {
            log::warn!("cannot start the body models' thread ({e}); running them in the frame");
            None
        }
    }
}

fn run_job(models: &ModelSet, opts: &PipelineOptions, job: Job) -> Done {
    let finished = run_body(models, opts, &job.frame, job.pose_track, job.crop_roll);
    Done {
        finished,
        frame: job.frame,
    }
}

fn run_body(
    models: &ModelSet,
    opts: &PipelineOptions,
    frame: &RgbImage,
    mut pose_track: Option<Roi>,
    crop_roll: Option<f64>,
) -> FinishedBody {
    let mut times = StageTimes::default();
    // A held posture's refresh has a frame's time or more: no pool.
    let stage = BodyStage {
        models,
        opts,
        pool: &BodyPool::new(0),
        // The worker starts only while the patient holds still (`body_rate.still()`), which
        // needs a face seen on the frame before.
        face_tracked: true,
        further_looks: true,
        crop_roll,
        upright_roll: Default::default(),
    };
    let body = stage.run(frame, &mut pose_track, &mut times);
    FinishedBody {
        body,
        pose_track,
        times,
        upright_roll: stage.upright_roll.get(),
    }
}
