//! The binary end to end: `analyze` outputs, `eval-headpose`'s last line, and every bad input
//! giving one clear error line naming the file, a non-zero exit, and no panic.

mod common;
use cdposture::capture::demo::rotate_image;
use cdposture::capture::load_image;
use common::{cdposture, make_video, model_dir, photo, tmp};
use std::path::Path;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `cdposture [--models DIR] analyze INPUT --out OUT`.
fn analyze_with(models: Option<&Path>, input: &Path, out: &Path) -> std::process::Output {
    let mut args = Vec::new();
    if let Some(m) = models {
        args.extend(["--models".to_string(), m.display().to_string()]);
    }
    args.extend([
        "analyze".to_string(),
        input.display().to_string(),
        "--out".to_string(),
        out.display().to_string(),
    ]);
    cdposture(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Fails on a panic, on a zero exit, or when the error line does not mention `needle`.
fn assert_clean_error(o: &std::process::Output, needle: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, got success: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in: {err}"));
    assert!(line.contains(needle), "error line `{line}` does not name `{needle}`");
    println!("{line}");
}

#[test]
fn analyze_an_image_writes_csv_json_and_summary() {
    let out = tmp("analyze-image");
    let o = cdposture(&[
        "analyze",
        photo("astronaut.png").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(out.join("frames.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    for col in [
        "frame",
        "t_s",
        "face_found",
        "yaw",
        "pitch",
        "roll",
        "rel_yaw",
        "rel_pitch",
        "rel_roll",
    ] {
        assert!(header.contains(&col), "missing column {col}");
    }
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    let get = |c: &str| row[header.iter().position(|h| *h == c).unwrap()];
    assert_eq!(get("face_found"), "1");
    assert!(get("yaw").parse::<f64>().unwrap().abs() < 15.0);
    assert!(!get("rel_yaw").is_empty());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["frames"], 1);
    assert_eq!(summary["frames_without_face"], 0);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("timing ms/frame") && stdout.contains("fps"), "{stdout}");
}

#[test]
fn video_with_faceless_frames_keeps_going_and_flags_them() {
    let dir = tmp("video-gaps");
    let face = load_image(&photo("astronaut.png")).unwrap();
    let empty = load_image(&photo("coffee.png")).unwrap();
    let empty = image::imageops::resize(
        &empty,
        face.width(),
        face.height(),
        image::imageops::FilterType::Triangle,
    );
    let video = make_video(
        &dir,
        &[face.clone(), empty, rotate_image(&face, 10.0, false)],
        5,
        "gaps.mp4",
        "320:240",
    );
    let out = dir.join("out");
    let o = cdposture(&[
        "analyze",
        video.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(out.join("frames.csv")).unwrap();
    let flags: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').nth(3).unwrap()).collect();
    assert_eq!(flags.len(), 15, "every frame has a row");
    assert_eq!(
        flags.iter().filter(|f| **f == "0").count(),
        5,
        "the 5 coffee frames are flagged: {flags:?}"
    );
    assert!(flags[..5].iter().chain(&flags[10..]).all(|f| *f == "1"), "{flags:?}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["frames_without_face"], 5);
}

#[test]
fn eval_headpose_prints_the_mae_line_last() {
    let dir = tmp("eval");
    let img = load_image(&photo("astronaut.png")).unwrap();
    img.save(dir.join("a.png")).unwrap();
    image::imageops::flip_horizontal(&img).save(dir.join("b.png")).unwrap();
    std::fs::write(
        dir.join("labels.csv"),
        "image,yaw_deg,pitch_deg,roll_deg\na.png,0,0,0\nb.png,0,0,0\nmissing.png,0,0,0\n",
    )
    .unwrap();
    let o = cdposture(&["eval-headpose", dir.join("labels.csv").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let last = stdout.lines().last().unwrap();
    let re = |s: &str| {
        s.split(' ')
            .map(|kv| kv.split('=').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        re(last),
        ["MAE", "yaw", "pitch", "roll", "mean", "n", "missed"],
        "{last}"
    );
    assert!(last.ends_with("n=2 missed=1"), "{last}");
}

#[test]
fn missing_model_folder() {
    let empty = tmp("no-models");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_cdposture"))
        .args([
            "--models",
            empty.to_str().unwrap(),
            "analyze",
            photo("astronaut.png").to_str().unwrap(),
            "--out",
            empty.join("o").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_clean_error(&o, "face_detection_short_range.onnx");
    assert!(stderr(&o).contains("models/fetch.sh"));
}

fn model_copy(name: &str, replace: &str, with: &dyn Fn(&Path) -> Vec<u8>) -> std::path::PathBuf {
    let dir = tmp(name);
    for e in std::fs::read_dir(model_dir()).unwrap() {
        let e = e.unwrap();
        if e.path().is_file() {
            std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
    }
    std::fs::create_dir_all(dir.join("photos")).unwrap();
    std::fs::write(dir.join(replace), with(&model_dir())).unwrap();
    dir
}

#[test]
fn corrupt_model() {
    let dir = model_copy("corrupt", "face_landmark.onnx", &|d| {
        std::fs::read(d.join("face_landmark.onnx")).unwrap()[..5000].to_vec()
    });
    let o = analyze_with(Some(&dir), &photo("astronaut.png"), &dir.join("o"));
    assert_clean_error(&o, "face_landmark.onnx");
}

#[test]
fn model_with_the_wrong_shape() {
    // The face mesh model where the face detector should be.
    let dir = model_copy("wrong-shape", "face_detection_short_range.onnx", &|d| {
        std::fs::read(d.join("face_landmark.onnx")).unwrap()
    });
    let o = analyze_with(Some(&dir), &photo("astronaut.png"), &dir.join("o"));
    assert_clean_error(&o, "face_detection_short_range.onnx");
    assert!(stderr(&o).contains("expected"));
}

#[test]
fn non_image_file() {
    let dir = tmp("non-image");
    let f = dir.join("notes.jpg");
    std::fs::write(&f, "this is not a picture").unwrap();
    let o = analyze_with(None, &f, &dir.join("o"));
    assert_clean_error(&o, "notes.jpg");
}

#[test]
fn image_without_a_face() {
    let dir = tmp("no-face");
    let o = analyze_with(None, &photo("chelsea.png"), &dir.join("o"));
    assert_clean_error(&o, "chelsea.png");
    assert!(stderr(&o).contains("no face"));
    // The frame is still recorded, flagged.
    let csv = std::fs::read_to_string(dir.join("o/frames.csv")).unwrap();
    assert_eq!(csv.lines().nth(1).unwrap().split(',').nth(3), Some("0"));
}

#[test]
fn folder_without_images() {
    let dir = tmp("empty-folder");
    std::fs::write(dir.join("readme.txt"), "no pictures here").unwrap();
    let o = analyze_with(None, &dir, &dir.join("o"));
    assert_clean_error(&o, "empty-folder");
    assert!(stderr(&o).contains("no images"));
}

#[test]
fn empty_video() {
    let dir = tmp("empty-video");
    let f = dir.join("empty.mp4");
    std::fs::write(&f, b"").unwrap();
    let o = analyze_with(None, &f, &dir.join("o"));
    assert_clean_error(&o, "empty.mp4");
}

#[test]
fn truncated_video_keeps_what_was_decoded() {
    let dir = tmp("truncated");
    let face = load_image(&photo("astronaut.png")).unwrap();
    let frames: Vec<_> = (0..6).map(|i| rotate_image(&face, i as f64 * 3.0, false)).collect();
    // MPEG-TS has no index at the end, so a cut file still decodes up to the cut, then errors.
    let full = make_video(&dir, &frames, 5, "full.ts", "320:240");
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.join("cut.ts");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let o = cdposture(&[
        "analyze",
        cut.to_str().unwrap(),
        "--out",
        dir.join("o").to_str().unwrap(),
        "--quiet",
    ]);
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{err}");
    let csv = std::fs::read_to_string(dir.join("o/frames.csv")).unwrap();
    println!("{err}\nrows: {}", csv.lines().count() - 1);
    assert!(csv.lines().count() > 2, "frames before the cut were written");
    // An MP4 cut short loses its index: a clear error naming the file.
    let mp4 = std::fs::read(make_video(&dir, &frames, 5, "full.mp4", "320:240")).unwrap();
    let cut_mp4 = dir.join("cut.mp4");
    std::fs::write(&cut_mp4, &mp4[..mp4.len() / 2]).unwrap();
    let o = analyze_with(None, &cut_mp4, &dir.join("o3"));
    assert_clean_error(&o, "cut.mp4");
    // A garbage file with a video name is rejected with the file named.
    let junk = dir.join("junk.mp4");
    std::fs::write(&junk, &bytes[bytes.len() / 2..]).unwrap();
    let o = analyze_with(None, &junk, &dir.join("o2"));
    assert_clean_error(&o, "junk.mp4");
}

/// Camera configs on a machine without that camera: a wrong device is a clear error at once; an
/// absent camera is waited for (status `offline`, one log line naming the device and what is
/// there), and the daemon still stops cleanly. The capture path itself is tested on vivid.
#[test]
fn camera_sources_without_the_camera() {
    let dir = tmp("cli-camera");
    let not_a_device = dir.join("video7");
    std::fs::write(&not_a_device, b"a regular file").unwrap();
    let cfg = dir.join("wrong.toml");
    std::fs::write(
        &cfg,
        format!(
            "[source]\nkind = \"camera\"\n[camera]\ndevice = \"{}\"\n",
            not_a_device.display()
        ),
    )
    .unwrap();
    let o = cdposture(&["run", "--config", cfg.to_str().unwrap()]);
    assert_clean_error(&o, not_a_device.to_str().unwrap());
    let o = cdposture(&["cameras", "--capture", "/dev/video-nope"]);
    assert_clean_error(&o, "camera /dev/video-nope: cannot open");
    let o = cdposture(&["cameras", "--capture", "/dev/video-nope", "--pixel-format", "h264"]);
    assert_clean_error(&o, "--pixel-format h264");
    let o = cdposture(&["cameras"]);
    assert!(o.status.success(), "{}", stderr(&o));

    let cfg = dir.join("absent.toml");
    std::fs::write(
        &cfg,
        "[source]\nkind = \"camera\"\n[camera]\ndevice = \"/dev/v4l/by-id/usb-not-plugged-in-video-index0\"\n",
    )
    .unwrap();
    let (out_file, err_file) = (dir.join("absent.out"), dir.join("absent.err"));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cdposture"))
        .args([
            "--models",
            model_dir().to_str().unwrap(),
            "run",
            "--config",
            cfg.to_str().unwrap(),
        ])
        .stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(std::fs::File::create(&err_file).unwrap())
        .spawn()
        .unwrap();
    // The loop has announced the camera (models loaded, waiting); then a while longer.
    let t = std::time::Instant::now();
    while !std::fs::read_to_string(&out_file)
        .unwrap_or_default()
        .contains("\"camera\"")
    {
        assert!(t.elapsed().as_secs() < 60 * common::slowdown(), "no camera status");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_secs(2 * common::slowdown()));
    assert!(child.try_wait().unwrap().is_none(), "the daemon waits for the camera");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    let (out, err) = (
        std::fs::read_to_string(&out_file).unwrap(),
        std::fs::read_to_string(&err_file).unwrap(),
    );
    assert!(status.success(), "clean stop: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let warn: Vec<&str> = err.lines().filter(|l| l.contains("camera offline")).collect();
    assert_eq!(warn.len(), 1, "one line for the outage, not one per retry: {err}");
    assert!(warn[0].contains("usb-not-plugged-in"), "{}", warn[0]);
    let first = out.lines().next().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(first).unwrap();
    assert_eq!(
        (v["topic"].as_str(), v["status"].as_str()),
        (Some("camera"), Some("offline")),
        "{out}"
    );
    let stats: Vec<serde_json::Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["topic"] == "stats")
        .collect();
    assert_eq!(stats.last().unwrap()["camera_online"], false, "{out}");
}

#[test]
fn analyze_takes_a_negative_neutral() {
    let out = tmp("analyze-negative-neutral");
    let o = cdposture(&[
        "analyze",
        photo("astronaut.png").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--neutral",
        "-5,0,0",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let jsonl = std::fs::read_to_string(out.join("frames.jsonl")).unwrap();
    let rec: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    let raw = rec["relative"]["yaw"].as_f64().unwrap();
    let scored = rec["scored_angles"]["yaw"].as_f64().unwrap();
    assert!(
        (scored - (raw + 5.0)).abs() < 0.5,
        "a -5° neutral adds 5° of yaw: {raw} -> {scored}"
    );
}

/// `analyze` and `run` summarise the same video with the same code: the same numbers.
#[test]
fn analyze_and_run_summarise_a_video_alike() {
    let dir = tmp("analyze-vs-run");
    let video = common::tilting_video(&dir);
    let out = dir.join("out");
    let o = cdposture(&[
        "analyze",
        video.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let offline: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    // Not paced like a camera: every frame is measured, however loaded the machine.
    let o = cdposture(&[
        "run",
        "--input",
        video.to_str().unwrap(),
        "--exam",
        "same",
        "--no-pacing",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let end: serde_json::Value = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|m| m["topic"] == "exam" && m["type"] == "end")
        .expect("an exam end");
    let live = &end["summary"];
    if live["frames"] != offline["frames"] {
        // Paced at 15 fps through a drop-oldest queue: a slow (emulated) machine drops frames.
        assert!(
            common::slowdown() > 1,
            "frames {} vs {}",
            live["frames"],
            offline["frames"]
        );
        return;
    }
    for key in [
        "frames_measured",
        "duration_s",
        "measured_s",
        "deviated_share",
        "duration_factor",
        "within_10deg_share",
        "longest_within_10deg_s",
        "scored_in",
    ] {
        assert_eq!(live[key], offline[key], "{key}");
    }
    for item in ["rotation", "laterocollis", "antero_retrocollis", "lateral_shift"] {
        assert_eq!(live[item], offline[item], "{item}");
    }
    assert_eq!(live["item1"], offline["item1"]);
}

/// One frame the pipeline cannot measure (too small) is counted and skipped: the run goes on and
/// still ends the exam and reports.
#[test]
fn a_frame_the_pipeline_fails_on_is_skipped_not_fatal() {
    let dir = tmp("failing-frame");
    let face = load_image(&photo("astronaut.png")).unwrap();
    face.save(dir.join("a.png")).unwrap();
    image::RgbImage::new(8, 8).save(dir.join("b.png")).unwrap();
    face.save(dir.join("c.png")).unwrap();
    let o = cdposture(&["run", "--input", dir.to_str().unwrap(), "--exam", "x"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let msgs: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let states = msgs.iter().filter(|m| m["topic"] == "state").count();
    assert_eq!(states, 2, "the two good images are measured");
    assert!(msgs.iter().any(|m| m["topic"] == "exam" && m["type"] == "end"));
    let stats = msgs.iter().rfind(|m| m["topic"] == "stats").unwrap();
    assert_eq!(stats["frames_failed"], 1, "{stats}");
    assert!(stderr(&o).contains("too small"), "{}", stderr(&o));
}
