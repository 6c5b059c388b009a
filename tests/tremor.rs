//! Head tremor on real images, through the real models: the astronaut photo oscillating in the
//! image plane (roll) at known frequencies and amplitudes, at 30 fps, with and without 20 % of the
//! frames dropped at random; a still head (sensor noise only) and a slow voluntary 30° roll as
//! negatives. Then `analyze` end to end: the CSV columns and summary.json's `tremor` object.

mod common;
use cdposture::assess::Assessor;
use cdposture::capture::load_image;
use cdposture::config::Settings;
use cdposture::inference::{ModelSet, PoseVariant};
use cdposture::pipeline::{Pipeline, PipelineOptions};
use cdposture::tremor::Tremor;

const FPS: f64 = 30.0;

fn assessor() -> Assessor {
    Assessor::new(Settings::demo(std::path::PathBuf::new(), 1).assess_settings(true))
}

/// The tremor analyses after the first full window (4 s) of a `seconds`-long clip.
fn analyses(hz: f64, deg: f64, drop: f64, seconds: f64) -> Vec<Option<Tremor>> {
    let models = ModelSet::load(&common::model_dir(), PoseVariant::Lite).unwrap();
    let mut p = Pipeline::new(models, PipelineOptions::default());
    let mut a = assessor();
    let base = load_image(&common::photo("astronaut.png")).unwrap();
    let mut rng = common::Xorshift(0x2545_f491_4f6c_dd1d);
    let mut out = Vec::new();
    for i in 0..(seconds * FPS) as u64 {
        if rng.uniform() < drop {
            continue;
        }
        let t = i as f64 / FPS;
        let m = p.process(&common::oscillating_frame(&base, t, hz, deg, i)).unwrap();
        let x = a.assess(t, &m);
        assert!(x.quality_ok, "frame {i}: {m:?}");
        if t >= 4.0 {
            out.push(x.tremor);
        }
    }
    out
}

fn check_tremor(hz: f64, deg: f64, drop: f64) {
    let xs = analyses(hz, deg, drop, 6.0);
    let found: Vec<_> = xs.iter().filter_map(|x| x.and_then(|t| t.roll)).collect();
    let (f_med, a_med) = (
        median(found.iter().map(|t| t.frequency_hz)),
        median(found.iter().map(|t| t.amplitude_deg)),
    );
    println!(
        "roll {hz} Hz {deg}° drop {drop}: detected {}/{}, median {f_med:.2} Hz {a_med:.2}°, \
         frequency {:.2}..{:.2}, amplitude {:.2}..{:.2}",
        found.len(),
        xs.len(),
        found.iter().map(|t| t.frequency_hz).fold(f64::INFINITY, f64::min),
        found.iter().map(|t| t.frequency_hz).fold(0.0, f64::max),
        found.iter().map(|t| t.amplitude_deg).fold(f64::INFINITY, f64::min),
        found.iter().map(|t| t.amplitude_deg).fold(0.0, f64::max),
    );
    assert!(
        found.len() as f64 >= 0.9 * xs.len() as f64,
        "detected {} of {}",
        found.len(),
        xs.len()
    );
    for t in &found {
        assert!((t.frequency_hz - hz).abs() <= 0.3, "{hz} Hz {deg}°: {t:?}");
        // The bound is ±25 %; the rotated photo's roll is exact, so 10 % pins more (before
        // the tracked face was re-cropped on its own eye line, 8 Hz 6° read as 5.2°).
        assert!((t.amplitude_deg / deg - 1.0).abs() <= 0.10, "{hz} Hz {deg}°: {t:?}");
    }
    // The oscillation is in the image plane: yaw and pitch must not pick it up.
    let cross = xs
        .iter()
        .filter(|x| x.is_some_and(|t| t.yaw.is_some() || t.pitch.is_some()))
        .count();
    assert!(
        cross as f64 <= 0.05 * xs.len() as f64,
        "{cross} of {} on yaw/pitch, e.g. {:?}",
        xs.len(),
        xs.iter()
            .find(|x| x.is_some_and(|t| t.yaw.is_some() || t.pitch.is_some()))
    );
}

fn check_no_tremor(hz: f64, deg: f64, drop: f64) {
    let xs = analyses(hz, deg, drop, 8.0);
    let hits = xs
        .iter()
        .filter(|x| x.is_some_and(|t| t.axes().iter().any(Option::is_some)))
        .count();
    println!(
        "{hz} Hz {deg}° drop {drop}: {hits} of {} analyses read as tremor",
        xs.len()
    );
    assert!(
        !xs.is_empty() && xs.iter().all(Option::is_some),
        "every frame after 4 s is analysed"
    );
    assert!(
        hits as f64 <= 0.05 * xs.len() as f64,
        "{hits} of {} read as tremor",
        xs.len()
    );
}

fn median(xs: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = xs.collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

#[test]
fn tremor_3hz_1deg() {
    check_tremor(3.0, 1.0, 0.0);
    check_tremor(3.0, 1.0, 0.2);
}

#[test]
fn tremor_5hz_3deg() {
    check_tremor(5.0, 3.0, 0.0);
    check_tremor(5.0, 3.0, 0.2);
}

#[test]
fn tremor_8hz_6deg() {
    check_tremor(8.0, 6.0, 0.0);
    check_tremor(8.0, 6.0, 0.2);
}

#[test]
fn a_still_head_and_a_slow_voluntary_roll_are_not_tremor() {
    check_no_tremor(0.0, 0.0, 0.0);
    check_no_tremor(0.3, 30.0, 0.0);
    check_no_tremor(0.3, 30.0, 0.2);
}

/// A 6 s, 30 fps clip of the photo with a 5 Hz, 3° roll tremor (H.264, as a camera would record).
fn tremor_clip(dir: &std::path::Path) -> std::path::PathBuf {
    let base = load_image(&common::photo("astronaut.png")).unwrap();
    let clip = dir.join("tremor_5hz_3deg.mp4");
    let frames = (0..180u64).map(|i| common::oscillating_frame(&base, i as f64 / FPS, 5.0, 3.0, i));
    common::encode_video(&clip, frames, FPS);
    clip
}

#[test]
fn analyze_reports_tremor_per_frame_and_in_the_summary() {
    let dir = common::tmp("tremor-analyze");
    let clip = tremor_clip(&dir);
    let out = dir.join("out");
    let o = common::cdposture(&["analyze", clip.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("tremor (analysed"), "{text}");

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let tr = &summary["tremor"];
    println!("{tr:#}");
    let roll = &tr["roll"];
    assert!((roll["frequency_hz"].as_f64().unwrap() - 5.0).abs() <= 0.3, "{tr}");
    assert!(
        (roll["amplitude_deg"].as_f64().unwrap() / 3.0 - 1.0).abs() <= 0.25,
        "{tr}"
    );
    assert!(roll["share"].as_f64().unwrap() >= 0.95, "{tr}");
    for axis in ["yaw", "pitch"] {
        assert!(
            tr[axis]["frequency_hz"].is_null() && tr[axis]["amplitude_deg"].is_null(),
            "{tr}"
        );
        assert_eq!(tr[axis]["share"], 0.0, "{tr}");
    }
    // Analysed from 3 s on (a window 3/4 full), all of it with tremor: continuous.
    assert!((2.8..=3.1).contains(&tr["analysed_s"].as_f64().unwrap()), "{tr}");
    assert_eq!(tr["max_frequency_hz"], 12.0, "{tr}");
    assert_eq!(tr["duration"], 2, "{tr}");

    // frames.csv: the tremor columns, empty while the window fills, then the roll filled.
    let csv = std::fs::read_to_string(out.join("frames.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let (hz, deg, yaw_hz) = (col("tremor_roll_hz"), col("tremor_roll_deg"), col("tremor_yaw_hz"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 180);
    assert!(
        rows[..85].iter().all(|r| r[hz].is_empty()),
        "nothing before 3 s of window"
    );
    for r in &rows[125..] {
        let f: f64 = r[hz].parse().unwrap();
        let a: f64 = r[deg].parse().unwrap();
        assert!((f - 5.0).abs() <= 0.3 && (a / 3.0 - 1.0).abs() <= 0.25, "{r:?}");
        assert!(r[yaw_hz].is_empty(), "{r:?}");
    }
}

/// `analyze` on a committed tremor render: summary.json's tremor object.
fn render_tremor(name: &str) -> serde_json::Value {
    let clip = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/avatars/tremor")
        .join(name);
    let out = common::tmp(&format!("tremor-{name}"));
    let o = common::cdposture(&[
        "analyze",
        clip.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    println!("{name}: {}", s["tremor"]);
    s["tremor"].clone()
}

#[test]
fn renders_turning_and_nodding_at_known_frequencies() {
    // Pitch 5 Hz ±3°: frequency and amplitude; no other axis.
    let tr = render_tremor("tremor_seq1400004_osc_pitch_5hz_3deg_0.mp4");
    let p = &tr["pitch"];
    assert!((p["frequency_hz"].as_f64().unwrap() - 5.0).abs() <= 0.3, "{tr}");
    assert!((p["amplitude_deg"].as_f64().unwrap() / 3.0 - 1.0).abs() <= 0.25, "{tr}");
    assert!(p["share"].as_f64().unwrap() >= 0.95, "{tr}");
    assert!(tr["yaw"]["share"] == 0.0 && tr["roll"]["share"] == 0.0, "{tr}");
    // Yaw 3 Hz ±3°: the frequency is exact, the amplitude reads 4.1°: FaceMesh's yaw gain on these
    // avatar faces is 1.37 (measured against the labels frame by frame; 0.94 on real faces,
    // headpose-dev), and the estimator reports the angles it is given. Pinned at today's reading.
    let tr = render_tremor("tremor_seq1400000_osc_yaw_3hz_3deg_0.mp4");
    let y = &tr["yaw"];
    assert!((y["frequency_hz"].as_f64().unwrap() - 3.0).abs() <= 0.3, "{tr}");
    let a = y["amplitude_deg"].as_f64().unwrap();
    assert!((2.25..=4.5).contains(&a), "{tr}");
    assert!(tr["pitch"]["share"] == 0.0 && tr["roll"]["share"] == 0.0, "{tr}");
}

#[test]
fn a_still_avatar_and_a_slow_voluntary_turn_are_not_tremor() {
    for name in [
        "tremor_seq1400006_osc_yaw_0hz_0deg_0.mp4",
        "tremor_seq1400007_osc_yaw_0.3hz_30deg_0.mp4",
    ] {
        let tr = render_tremor(name);
        assert!(tr["analysed_s"].as_f64().unwrap() >= 2.5, "{name}: {tr}");
        for axis in ["yaw", "pitch", "roll"] {
            assert!(tr[axis]["share"].as_f64().unwrap() <= 0.05, "{name}: {tr}");
        }
        assert_eq!(tr["score"], 0, "{name}: {tr}");
    }
}
