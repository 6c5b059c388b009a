//! Per-frame cost of the pipeline, printed as a table (`cargo bench --bench pipeline`).
//!
//! Rows, all measured in this one run on the same frames (the demo source: a real photo tilting its
//! head at 15 fps): the tracked path (what a camera pays per frame), the same with the full pose
//! model, and the detection path (tracking reset every frame) as the baseline it saves us from.
//! Quote the ratios: this machine is shared and noisy.
//!
//! `BENCH_FRAMES=N` sets the number of measured frames (default 60). For instruction counts run the
//! bench binary under `valgrind --tool=callgrind` (or qemu's insn plugin on aarch64) with N and 2N
//! frames and divide the difference by N: model loading and the first detection cancel out.
//! `BENCH_THREADS=2` runs the pipeline with `pipeline.threads = 2`; `BENCH_POSE_EVERY=N` with
//! `pipeline.pose_every = N`; `BENCH_HELD=1` plays a held posture instead of the demo's tilting
//! head (the photo still, at a 10° tilt, with a camera's sensor noise on every frame), where the
//! body models can run less often; `BENCH_BODY_WORKER=1` with `pipeline.body_worker` (the body
//! models on their own thread, a frame or more behind).

mod common;
use cdposture::capture::{DemoSource, FrameSource};
use cdposture::inference::{resolve_model_dir, ModelSet, PoseVariant};
use cdposture::pipeline::{Pipeline, PipelineOptions, StageTimes};
use std::time::Instant;

struct Row {
    name: &'static str,
    ms_per_frame: f64,
    stages: StageTimes,
    /// Share of frames the body models ran on (`pose_every`).
    body_share: f64,
}

fn run(name: &'static str, frames: &[image::RgbImage], pose: PoseVariant, track: bool) -> Row {
    let models = ModelSet::load(&resolve_model_dir(None), pose).expect("models: run models/fetch.sh");
    // `BENCH_THREADS=2`: `pipeline.threads` (cross/instructions.sh counts each thread's share).
    let opts = PipelineOptions {
        threads: env_or_one("BENCH_THREADS") as usize,
        pose_every: env_or_one("BENCH_POSE_EVERY"),
        body_worker: std::env::var_os("BENCH_BODY_WORKER").is_some(),
        ..Default::default()
    };
    let mut p = Pipeline::new(models, opts);
    p.process(&frames[0]).expect("warm-up frame");
    let mut stages = StageTimes::default();
    let mut body_runs = 0;
    let start = Instant::now();
    for f in &frames[1..] {
        if !track {
            p.reset();
        }
        let m = p.process(f).expect("frame");
        body_runs += m.body_models_ran as usize;
        stages.detector_ms += m.timings.detector_ms;
        stages.face_landmarks_ms += m.timings.face_landmarks_ms;
        stages.pose_ms += m.timings.pose_ms;
        stages.geometry_ms += m.timings.geometry_ms;
    }
    let n = (frames.len() - 1) as f64;
    let ms = start.elapsed().as_secs_f64() * 1e3 / n;
    for v in [
        &mut stages.detector_ms,
        &mut stages.face_landmarks_ms,
        &mut stages.pose_ms,
        &mut stages.geometry_ms,
    ] {
        *v /= n;
    }
    Row {
        name,
        ms_per_frame: ms,
        stages,
        body_share: body_runs as f64 / n,
    }
}

fn main() {
    let n: usize = std::env::var("BENCH_FRAMES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let only_tracked = std::env::var_os("BENCH_TRACKED_ONLY").is_some();
    // Instruction counts take the difference of two runs: both must make the same frames
    // (`BENCH_FRAME_POOL`, at least the larger N), or making them (rotating and resizing a photo,
    // ~220 M instructions a frame) would count as the pipeline's.
    let pool: usize = std::env::var("BENCH_FRAME_POOL")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(n)
        .max(n);
    let mut src = DemoSource::new(&resolve_model_dir(None), pool as u64 + 1).expect("demo photo: run models/fetch.sh");
    let mut frames = Vec::new();
    let held = std::env::var_os("BENCH_HELD").is_some();
    let mut noise = common::Noise::default();
    while let Some(f) = src.next_frame().expect("demo frame") {
        let image = if held {
            common::held_frame(src.photo(), &mut noise)
        } else {
            f.image
        };
        // The size of a typical exam-room stream.
        frames.push(image::imageops::resize(
            &image,
            640,
            480,
            image::imageops::FilterType::Triangle,
        ));
    }
    let frames = &frames[..n + 1];
    let mut rows = vec![run("tracked, pose lite", frames, PoseVariant::Lite, true)];
    if !only_tracked {
        rows.push(run("tracked, pose full", frames, PoseVariant::Full, true));
        rows.push(run("detect every frame (baseline)", frames, PoseVariant::Lite, false));
    }
    let base = rows[0].ms_per_frame;
    println!(
        "{} frames of 640x480, {}, threads {}, pose_every {}, body worker {}",
        n,
        if held {
            "held posture (BENCH_HELD)"
        } else {
            "the demo's tilting head"
        },
        env_or_one("BENCH_THREADS"),
        env_or_one("BENCH_POSE_EVERY"),
        std::env::var_os("BENCH_BODY_WORKER").is_some(),
    );
    println!(
        "{:<32} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>6} {:>8}",
        "path", "ms/frame", "fps", "detector", "face_lm", "pose", "geometry", "body", "vs row1"
    );
    for r in &rows {
        let s = &r.stages;
        println!(
            "{:<32} {:>9.2} {:>7.1} {:>9.2} {:>9.2} {:>9.2} {:>9.3} {:>6.2} {:>7.2}x",
            r.name,
            r.ms_per_frame,
            1e3 / r.ms_per_frame,
            s.detector_ms,
            s.face_landmarks_ms,
            s.pose_ms,
            s.geometry_ms,
            r.body_share,
            r.ms_per_frame / base
        );
    }
}

/// A numeric `BENCH_*` setting, 1 when unset or unreadable.
fn env_or_one(name: &str) -> u32 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(1)
}
