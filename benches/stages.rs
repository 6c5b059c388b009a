//! Where a frame's time goes, stage by stage, with onnxruntime as the baseline (`scripts/bench.sh`,
//! which runs the same ONNX files in onnxruntime first and passes its timings in `BENCH_ORT`).
//!
//! One run, the same frames (the demo photo tilting its head, 640×480, handed over as YUYV like a
//! V4L2 camera): pixel conversion, face detector, face landmarks, pose, geometry, assessment
//! (smoothing + neutral + scoring), publish (the daemon's state message, serialised), and the
//! whole tracked frame. Prints a table, peak RSS, the start-up time to the first assessment (model
//! loading included), and last:
//! `BENCH frame_ms=<f> fps_1core=<f> fps_threads=<f> ort_ms=<f> ratio=<f> rss_mb=<f> startup_s=<f>`.
//! `ratio` = our whole tracked frame / onnxruntime's time for the same model runs (`ort_ms`: every
//! FaceMesh run, a re-crop's too, BlazePose lite, our posture model, the detector where it ran);
//! the line before it also gives the frame against FaceMesh and BlazePose lite once each.
//! `fps_threads` is the same frames through a second pipeline with `pipeline.threads = 2`
//! (the face mesh beside the body). Before it, one more line: a held posture (the photo still,
//! with sensor noise) through a pipeline as deployed (`threads = 2`, `pose_every = 3`,
//! `body_worker`), where the body models rest and run on their own thread, and the same with the
//! body models in the frame. Quote ratios: the machine is shared.

mod common;
use cdposture::assess::Assessor;
use cdposture::capture::pixels::{to_rgb, PixelFormat};
use cdposture::capture::{DemoSource, FrameSource};
use cdposture::config::Settings;
use cdposture::inference::{resolve_model_dir, ModelSet, PoseVariant};
use cdposture::pipeline::{Pipeline, PipelineOptions};
use cdposture::protocol::messages::{FrameContext, StateMessage};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

#[global_allocator]
static ALLOCATOR: common::CountingAlloc = common::CountingAlloc;

/// BT.601 YUYV, as a USB camera sends it.
fn to_yuyv(img: &image::RgbImage) -> Vec<u8> {
    let (w, h) = img.dimensions();
    let mut out = Vec::with_capacity((w * h * 2) as usize);
    for y in 0..h {
        for x in (0..w).step_by(2) {
            let yuv = |p: &image::Rgb<u8>| {
                let [r, g, b] = p.0.map(f32::from);
                (
                    0.299 * r + 0.587 * g + 0.114 * b,
                    -0.169 * r - 0.331 * g + 0.5 * b + 128.0,
                    0.5 * r - 0.419 * g - 0.081 * b + 128.0,
                )
            };
            let (y0, u0, v0) = yuv(img.get_pixel(x, y));
            let (y1, u1, v1) = yuv(img.get_pixel((x + 1).min(w - 1), y));
            let c = |v: f32| v.round().clamp(0.0, 255.0) as u8;
            out.extend([c(y0), c((u0 + u1) / 2.0), c(y1), c((v0 + v1) / 2.0)]);
        }
    }
    out
}

fn peak_rss_mb() -> f64 {
    common::status_kib("VmHWM") as f64 / 1024.0
}

/// `model ms` lines written by `scripts/bench_ort.py`.
fn ort_times() -> HashMap<String, f64> {
    let Some(path) = std::env::var_os("BENCH_ORT").map(PathBuf::from) else {
        return HashMap::new();
    };
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter_map(|l| {
            let (m, ms) = l.split_once(' ')?;
            Some((m.to_string(), ms.trim().parse().ok()?))
        })
        .collect()
}

#[derive(Default)]
struct Sums {
    convert: f64,
    detector: f64,
    face: f64,
    pose: f64,
    posture_model: f64,
    geometry: f64,
    assess: f64,
    publish: f64,
    frame: f64,
    detector_runs: u32,
    body_runs: u32,
    /// FaceMesh runs (a re-cropped face pays two), for the cost of one run.
    mesh_runs: u32,
    /// Posture-model runs, for onnxruntime's side of the same work.
    posture_runs: u32,
    recropped: u32,
    /// Heap allocations (calls, bytes) of the pixel conversion, the pipeline, the assessment
    /// and the JSON, for the "no per-frame allocation" goal.
    allocs: [(u64, u64); 4],
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// The per-stage table: ours against onnxruntime where the stage is one of its models.
fn print_stages(s: &Sums, k: f64, ort: &HashMap<String, f64>) {
    let ort_of = |model: &str| ort.get(model).copied();
    println!("{} tracked frames, 640x480 YUYV, one thread", k);
    println!(
        "{:<28} {:>10} {:>12} {:>8}",
        "stage", "ms/frame", "onnxruntime", "ratio"
    );
    let rows: [(&str, f64, Option<f64>); 9] = [
        ("pixels (YUYV -> RGB)", s.convert / k, None),
        (
            "face detector, per run",
            s.detector / f64::from(s.detector_runs),
            ort_of("face_detection_short_range"),
        ),
        ("face landmarks", s.face / k, ort_of("face_landmark")),
        ("pose (lite)", s.pose / k, ort_of("pose_landmark_lite")),
        ("posture model (ours)", s.posture_model / k, None),
        ("geometry", s.geometry / k, None),
        ("assess (smooth+score)", s.assess / k, None),
        ("publish (JSON)", s.publish / k, None),
        ("whole tracked frame", s.frame / k, None),
    ];
    for (name, ours, theirs) in rows {
        if !ours.is_finite() {
            println!("{name:<28} {:>10} (did not run)", "-");
            continue;
        }
        match theirs {
            Some(o) => println!("{name:<28} {ours:>10.3} {o:>12.3} {:>7.2}x", ours / o),
            None => println!("{name:<28} {ours:>10.3} {:>12} {:>8}", "-", "-"),
        }
    }
}

/// onnxruntime's time per frame for the model runs our frames made (each run of FaceMesh, a
/// re-crop's second one too, of BlazePose lite, of our posture model and of the face detector):
/// the baseline does the same work, so the ratio compares the runtimes, not the algorithms.
fn ort_same_work(s: &Sums, k: f64, ort: &HashMap<String, f64>) -> f64 {
    let runs = [
        ("face_landmark", s.mesh_runs),
        ("pose_landmark_lite", s.body_runs),
        ("posture_net", s.posture_runs),
        ("face_detection_short_range", s.detector_runs),
    ];
    runs.iter()
        .map(|(model, n)| match ort.get(*model) {
            Some(ms) => ms * f64::from(*n) / k,
            None if *n == 0 => 0.0,
            None => f64::NAN,
        })
        .sum()
}

/// One tracked frame as a camera pays it (YUYV in, pixels, pipeline, assessment, JSON), its
/// stage times added to `s`.
fn frame(pipeline: &mut Pipeline, assessor: &mut Assessor, yuyv: &[u8], i: u32, s: &mut Sums) {
    let mut mark = common::allocations();
    let mut stage_allocs = |k: usize| {
        let now = common::allocations();
        s.allocs[k].0 += now.0 - mark.0;
        s.allocs[k].1 += now.1 - mark.1;
        mark = now;
    };
    let t_frame = Instant::now();
    let t = Instant::now();
    let img = to_rgb(PixelFormat::Yuyv, yuyv, 640, 480, 0).expect("YUYV");
    let convert = ms(t);
    stage_allocs(0);
    let m = pipeline.process(&img).expect("frame");
    stage_allocs(1);
    let t = Instant::now();
    let a = assessor.assess(f64::from(i) / 15.0, &m);
    let assess = ms(t);
    stage_allocs(2);
    let t = Instant::now();
    // The daemon's own per-frame message (`MqttSink::state` / stdout), serialised as it does.
    let ctx = FrameContext {
        room: "bench",
        frame: u64::from(i),
        t_s: f64::from(i) / 15.0,
        exam_id: Some("bench-exam"),
        neutral_capturing: false,
    };
    std::hint::black_box(serde_json::to_string(&StateMessage::of_frame(&ctx, &m, &a)).unwrap_or_default());
    let publish = ms(t);
    stage_allocs(3);
    s.convert += convert;
    s.assess += assess;
    s.publish += publish;
    s.frame += ms(t_frame);
    s.detector += m.timings.detector_ms;
    s.face += m.timings.face_landmarks_ms;
    s.pose += m.timings.pose_ms;
    s.posture_model += m.timings.posture_model_ms;
    s.geometry += m.timings.geometry_ms;
    s.detector_runs += m.face_detector_ran as u32;
    s.body_runs += m.body_models_ran as u32;
    s.mesh_runs += m.face_mesh_runs;
    // The mirrored second run (pipeline.posture_mirror, on by default) is a run of its own.
    s.posture_runs +=
        (m.timings.posture_model_ms > 0.0) as u32 * (1 + PipelineOptions::default().posture_mirror as u32);
    s.recropped += (m.face_mesh_runs > 1) as u32;
}

/// The same frames (or, `held`, a held posture's) through a pipeline with `opts`: mean
/// whole-frame ms (pixels, models, geometry, assessment, JSON) and the share of frames the body
/// models ran on, after the same untimed first frame.
fn frame_ms_with(dir: &std::path::Path, n: usize, opts: PipelineOptions, held: bool) -> (f64, f64) {
    let models = ModelSet::load(dir, PoseVariant::Lite).expect("models");
    let mut pipeline = Pipeline::new(models, opts.clone());
    let mut assessor = Assessor::new(Settings::demo(dir.into(), 1).assess_settings(true));
    let mut src = DemoSource::new(dir, n as u64 + 1).expect("demo photo");
    let mut noise = common::Noise::default();
    let (mut total, mut body_runs) = (0.0, 0);
    let mut allocs = (0, 0);
    let mut i = 0;
    while let Some(f) = src.next_frame().expect("demo frame") {
        let image = if held {
            common::held_frame(src.photo(), &mut noise)
        } else {
            f.image
        };
        let yuyv = to_yuyv(&image::imageops::resize(
            &image,
            640,
            480,
            image::imageops::FilterType::Triangle,
        ));
        let mut sums = Sums::default();
        frame(&mut pipeline, &mut assessor, &yuyv, i, &mut sums);
        if i > 0 {
            total += sums.frame;
            body_runs += sums.body_runs;
            allocs.0 += sums.allocs[1].0;
            allocs.1 += sums.allocs[1].1;
        }
        i += 1;
    }
    let measured = (i - 1).max(1) as f64;
    println!(
        "  (threads = {}, pose_every = {}, body_worker = {}{}: pipeline heap allocations per frame {:.1}, {:.1} kB)",
        opts.threads,
        opts.pose_every,
        opts.body_worker,
        if held { ", held posture" } else { "" },
        allocs.0 as f64 / measured,
        allocs.1 as f64 / measured / 1e3
    );
    (total / measured, f64::from(body_runs) / measured)
}

fn main() {
    let start = Instant::now();
    let n: usize = std::env::var("BENCH_FRAMES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let dir = resolve_model_dir(None);
    let models = ModelSet::load(&dir, PoseVariant::Lite).expect("models: run models/fetch.sh");
    let mut pipeline = Pipeline::new(models, PipelineOptions::default());
    let defaults = Settings::demo(dir.clone(), 1);
    let mut assessor = Assessor::new(defaults.assess_settings(true));
    // Frames are made one at a time (untimed), so that peak RSS is the pipeline's, not a frame store's.
    let mut src = DemoSource::new(&dir, n as u64 + 1).expect("demo photo: run models/fetch.sh");
    let mut next_yuyv = || {
        src.next_frame().expect("demo frame").map(|f| {
            to_yuyv(&image::imageops::resize(
                &f.image,
                640,
                480,
                image::imageops::FilterType::Triangle,
            ))
        })
    };
    let first = to_rgb(PixelFormat::Yuyv, &next_yuyv().expect("a frame"), 640, 480, 0).expect("YUYV");
    let m = pipeline.process(&first).expect("first frame");
    let _ = assessor.assess(0.0, &m);
    let startup_s = start.elapsed().as_secs_f64();

    let mut s = Sums::default();
    let mut i = 0;
    while let Some(yuyv) = next_yuyv() {
        i += 1;
        frame(&mut pipeline, &mut assessor, &yuyv, i, &mut s);
    }
    let k = f64::from(i);
    // `BENCH_THREADS=3` splits the body models' products over two workers (README: Threads).
    let threads: usize = std::env::var("BENCH_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    // Peak RSS of the one pipeline a daemon holds, before the threaded pass loads a second.
    let rss = peak_rss_mb();
    drop(pipeline);
    let threaded = PipelineOptions {
        threads,
        ..Default::default()
    };
    let held_in_frame = PipelineOptions {
        pose_every: 3,
        ..threaded.clone()
    };
    let (held_in_frame_ms, _) = frame_ms_with(&dir, n, held_in_frame.clone(), true);
    let deployed = PipelineOptions {
        body_worker: true,
        ..held_in_frame
    };
    let (held_ms, held_body) = frame_ms_with(&dir, n, deployed, true);
    let (frame_ms_threads, _) = frame_ms_with(&dir, n, threaded, false);
    let ort = ort_times();
    print_stages(&s, k, &ort);
    println!("face detector ran on {} of {k} frames (tracking)", s.detector_runs);
    let per_frame = |(n, b): (u64, u64)| format!("{:.1} ({:.1} kB)", n as f64 / k, b as f64 / k / 1e3);
    println!(
        "heap allocations per frame: pixels {}, pipeline {}, assess {}, publish {}",
        per_frame(s.allocs[0]),
        per_frame(s.allocs[1]),
        per_frame(s.allocs[2]),
        per_frame(s.allocs[3])
    );
    let per_run = s.face / f64::from(s.mesh_runs.max(1));
    println!(
        "face mesh: {:.2} runs per frame (re-cropped on {} of {k} frames), {per_run:.3} ms a run ({:.2}x onnxruntime's)",
        f64::from(s.mesh_runs) / k,
        s.recropped,
        per_run / ort.get("face_landmark").copied().unwrap_or(f64::NAN)
    );
    let frame_ms = s.frame / k;
    let ort_two_models = match (
        ort.get("face_landmark").copied(),
        ort.get("pose_landmark_lite").copied(),
    ) {
        (Some(a), Some(b)) => a + b,
        _ => f64::NAN,
    };
    let ort_ms = ort_same_work(&s, k, &ort);
    println!(
        "onnxruntime, the model runs these frames made: {ort_ms:.3} ms a frame; FaceMesh and BlazePose lite once each: {ort_two_models:.3} ms (our frame {:.2}x that)",
        frame_ms / ort_two_models
    );
    println!("peak RSS {rss:.1} MB; start-up to the first assessment {startup_s:.2} s (models loaded in-process)");
    println!(
        "whole tracked frame with pipeline.threads = {threads}: {frame_ms_threads:.3} ms ({:.2}x the one-thread frame)",
        frame_ms / frame_ms_threads
    );
    println!(
        "held posture, body models in the frame (threads = {threads}, pose_every = 3): {held_in_frame_ms:.3} ms, {:.1} fps",
        1e3 / held_in_frame_ms,
    );
    println!(
        "held posture as deployed (threads = {threads}, pose_every = 3, body_worker): {held_ms:.3} ms, {:.1} fps ({:.2}x the one-thread frame, {:.2}x the body in the frame); body models on {:.0} % of frames",
        1e3 / held_ms,
        frame_ms / held_ms,
        held_in_frame_ms / held_ms,
        held_body * 100.0
    );
    println!(
        "BENCH frame_ms={frame_ms:.3} fps_1core={:.2} fps_threads={:.2} ort_ms={ort_ms:.3} ratio={:.3} rss_mb={rss:.1} startup_s={startup_s:.3}",
        1e3 / frame_ms,
        1e3 / frame_ms_threads,
        frame_ms / ort_ms
    );
}
