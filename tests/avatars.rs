//! Trunk-relative accuracy on the committed avatar renders (`tests/data/avatars/`, made by
//! `models/synthetic/render.sh`, seeds 900000+, never used for tuning), through `eval-postures`
//! as a user runs it. Camera placement from the labels (`--camera-from-labels`), as an installer
//! configures `pipeline.camera_azimuth_deg` / `camera_elevation_deg`.
//!
//! What is pinned: on a still trunk the trunk frame does not turn with the head (the old frame,
//! from BlazePose's shoulder depth, turned 0.25° per degree of head yaw), so the head's yaw
//! relative to the trunk has slope ≈ 1 and the TWSTRS rotation band is mostly right; and a trunk
//! that really turns is followed (its yaw from the posture model), so it is not read as head yaw.

mod common;
use std::collections::HashMap;
use std::path::Path;

fn avatars() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/avatars")
}

/// Rows of a CSV as maps from column name to cell.
fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|l| header.iter().cloned().zip(l.split(',').map(String::from)).collect())
        .collect()
}

fn num(row: &HashMap<String, String>, key: &str) -> Option<f64> {
    row.get(key).and_then(|v| v.parse().ok())
}

/// Least-squares slope of y on x, and the mean absolute difference.
fn slope_and_mae(pairs: &[(f64, f64)]) -> (f64, f64) {
    let n = pairs.len() as f64;
    let mx = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let cov: f64 = pairs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let var: f64 = pairs.iter().map(|p| (p.0 - mx).powi(2)).sum();
    (cov / var, pairs.iter().map(|p| (p.1 - p.0).abs()).sum::<f64>() / n)
}

/// `cdposture eval-postures ARGS`: its output, which is also printed; fails the test if it fails.
fn eval_postures(args: &[&str]) -> String {
    let out = common::cdposture(&[&["eval-postures"], args].concat());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{stdout}");
    stdout
}

#[test]
fn on_a_still_trunk_the_head_turn_is_measured_against_the_trunk_not_with_it() {
    let dir = common::tmp("avatars");
    let features = dir.join("features.csv");
    let crops = dir.join("crops");
    let labels = avatars().join("labels.csv");
    let stdout = eval_postures(&[
        labels.to_str().unwrap(),
        "--camera-from-labels",
        "--features",
        features.to_str().unwrap(),
        "--crops",
        crops.to_str().unwrap(),
    ]);
    let last = stdout.lines().last().unwrap();
    assert!(last.starts_with("POSTURE answered="), "{last}");
    // One 128-pixel posture crop and one 112-pixel head crop per row whose body was seen, named
    // by the row's position.
    for (i, r) in read_csv(&features).iter().enumerate() {
        for (name, side) in [(format!("{i:06}.png"), 128), (format!("{i:06}_head.png"), 112)] {
            let crop = crops.join(name);
            if r["pose_found"] == "1" {
                let (w, h) = image::image_dimensions(&crop).unwrap_or_else(|e| panic!("{}: {e}", crop.display()));
                assert_eq!((w, h), (side, side));
            } else {
                assert!(!crop.exists(), "{}: a crop without a body", crop.display());
            }
        }
    }

    let labels_by_image: HashMap<String, HashMap<String, String>> =
        read_csv(&labels).into_iter().map(|r| (r["image"].clone(), r)).collect();
    let (mut rel_yaw, mut trunk_vs_head, mut bands) = (Vec::new(), Vec::new(), (0, 0));
    let mut turned = Vec::new();
    let band = |y: f64| [5.0, 22.5, 45.5, 67.5].iter().filter(|&&e| y.abs() >= e).count();
    for r in read_csv(&features) {
        let image = Path::new(&r["item"])
            .strip_prefix(avatars())
            .unwrap()
            .display()
            .to_string();
        let (Some(truth), Some(got)) = (num(&r, "true_yaw_deg"), num(&r, "rel_yaw")) else {
            continue;
        };
        if labels_by_image[&image]["kind"] == "trunk" {
            if truth.abs() <= 45.0 {
                turned.push((truth, got));
            }
            continue;
        }
        // Still trunk: the frame's own turn (its yaw minus the camera's placement) against the
        // head's yaw relative to the trunk. Zero by construction in the default frame (no depth):
        // this pins that default, which the old depth-turned frame broke (0.17 here).
        let azimuth = labels_by_image[&image]["cam_azimuth_deg"].parse::<f64>().unwrap();
        if let Some(trunk) = num(&r, "trunk_yaw") {
            trunk_vs_head.push((truth, trunk - azimuth));
        }
        if truth.abs() <= 45.0 {
            rel_yaw.push((truth, got));
            bands.1 += 1;
            if band(truth) == band(got) {
                bands.0 += 1;
            }
        }
    }
    let (slope, mae) = slope_and_mae(&rel_yaw);
    let (trunk_slope, _) = slope_and_mae(&trunk_vs_head);
    let agreement = bands.0 as f64 / bands.1 as f64;
    println!(
        "still trunk, |yaw| <= 45: n={} rel_yaw slope {slope:.3} MAE {mae:.2}; trunk yaw per degree of head yaw {trunk_slope:.3}; band agreement {agreement:.2}",
        rel_yaw.len()
    );
    assert!(rel_yaw.len() >= 15, "too few answered renders: {}", rel_yaw.len());
    // The old trunk frame: slope 0.81, trunk yaw 0.25° per degree of head yaw, bands 0.41 overall.
    // MAE 4.84 with the trunk's yaw from the posture model; 3.00 from the camera placement
    // configured exactly, 9.63 with it not configured (the model needs none).
    assert!((0.9..=1.3).contains(&slope), "rel_yaw slope {slope}");
    assert!(mae <= 5.5, "rel_yaw MAE {mae}");
    // Turned trunks, |yaw| <= 45: 5.63 with the model's trunk yaw, 18.1 from the camera placement.
    let (_, turned_mae) = slope_and_mae(&turned);
    println!(
        "turned trunk, |yaw| <= 45: n={} rel_yaw MAE {turned_mae:.2}",
        turned.len()
    );
    assert!(
        turned.len() >= 10 && turned_mae <= 8.0,
        "turned trunks: MAE {turned_mae}"
    );
    assert!(
        trunk_slope.abs() <= 0.05,
        "the trunk frame turns with the head: {trunk_slope}"
    );
    assert!(agreement >= 0.75, "rotation band agreement {agreement}");
    // The report says the same (all rows, turned trunks too): measured 0.014, trunk yaw MAE 3.2°.
    let follows = trunk_follows_head(&stdout);
    assert!(
        follows.abs() <= 0.05,
        "report: trunk error per degree of head yaw {follows}"
    );
}

/// The slope `eval-postures` reports for the trunk frame's yaw error against the head's yaw.
fn trunk_follows_head(report: &str) -> f64 {
    report
        .lines()
        .find_map(|l| l.strip_prefix("trunk yaw error against the head's relative yaw: slope "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no trunk slope line in the report:\n{report}"))
}

/// The report's trunk line catches the old trunk frame, which turned with the head (BlazePose's
/// shoulder depth, no posture model): a check that passed on either frame would pin nothing.
#[test]
fn the_report_shows_a_trunk_frame_that_turns_with_the_head() {
    let labels = avatars().join("labels.csv");
    let old = eval_postures(&["--no-posture-model", labels.to_str().unwrap(), "--trunk-yaw-from-depth"]);
    let follows = trunk_follows_head(&old);
    assert!(follows > 0.1, "the depth-turned frame: {follows}");
}

/// A video with per-frame labels: the head turns to −50° on a still trunk, holds, and returns.
/// The held turn is torticollis band 3 (46–67°) in (nearly) every held frame.
#[test]
fn a_held_50_degree_turn_on_video_is_band_3() {
    let labels = avatars().join("sequences/test_seq1400000_held_turn.csv");
    let stdout = eval_postures(&[labels.to_str().unwrap(), "--camera-from-labels"]);
    let field = |line: &str, key: &str| -> f64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {line}"))
    };
    let last = stdout.lines().last().unwrap();
    assert_eq!(field(last, "n"), 50.0, "{last}");
    assert!(field(last, "answered") >= 0.95, "{last}");
    // Row "  3:" of the confusion matrix: true band 3, measured bands 0-4.
    let row3: Vec<u32> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("  3:"))
        .unwrap()
        .split_whitespace()
        .map(|c| c.parse().unwrap())
        .collect();
    let held: u32 = row3.iter().sum();
    assert!(held >= 25, "frames labelled band 3: {row3:?}");
    assert!(row3[3] as f64 >= 0.9 * held as f64, "held turn scored {row3:?}");
}

/// `name  n/total MAE m  r r ...` of an eval-postures report: (answered, total, MAE, r).
fn quantity(report: &str, name: &str) -> (f64, f64, f64, f64) {
    let line = report
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("no `{name}` line in\n{report}"));
    let rest = line[name.len()..].split_whitespace().collect::<Vec<_>>();
    let (n, total) = rest[0].split_once('/').unwrap();
    let num = |s: &str| s.parse::<f64>().unwrap_or(f64::NAN);
    (num(n), num(total), num(rest[2]), num(rest[4]))
}

/// The posture model against the pipeline without it, in one run on all 60 committed renders
/// (turned and leaning trunks, 20 heads beyond 45°): it must answer the far-turned heads the face
/// mesh loses, measure them better, and measure the lateral shift that BlazePose's points did not.
#[test]
fn the_posture_model_answers_far_turned_heads_and_measures_the_shift() {
    let labels = avatars().join("labels.csv");
    let labels = labels.to_str().unwrap();
    let with = eval_postures(&[labels, "--camera-from-labels"]);
    let without = eval_postures(&["--no-posture-model", labels, "--camera-from-labels"]);
    let far = |r: &str| quantity(r, "yaw |true| > 45");
    let (far_with, far_without) = (far(&with), far(&without));
    println!("beyond 45°: with the model {far_with:?}, without {far_without:?}");
    // Measured: 16 of 20 answered (4 without the model); the model declines the rest (yaw
    // uncertainty above 20°) rather than answer them wrong.
    assert!(far_with.0 >= far_with.1 - 5.0, "far turns answered {far_with:?}");
    assert!(far_with.0 >= far_without.0 + 5.0, "{far_with:?} vs {far_without:?}");
    // Measured 14.1° on these (10.3° on 300 held-out renders): the model under-reads far turns,
    // but this is the band where the face mesh gave no answer at all.
    assert!(far_with.2 <= 16.0, "far-turn yaw MAE {far_with:?}");
    let lateral = |r: &str| quantity(r, "lateral_sw");
    let (lat_with, lat_without) = (lateral(&with), lateral(&without));
    println!("lateral shift: with the model {lat_with:?}, without {lat_without:?}");
    // Measured: r 0.84 with the model, 0.34 without; shoulder elevation r 0.67 and 0.04.
    assert!(lat_with.3 >= 0.7, "lateral shift r {lat_with:?}");
    let elevation = quantity(&with, "elevation");
    assert!(
        elevation.3 >= 0.5 && elevation.2 <= 2.0,
        "shoulder elevation {elevation:?}"
    );
}

/// `cdposture analyze` on one committed render (path under `tests/data/avatars/`): its
/// `frames.csv` row. Fails the test if `analyze` fails (it does when nothing is found).
fn analyze_still(tag: &str, image: &str) -> HashMap<String, String> {
    let dir = common::tmp(tag);
    let image = avatars().join(image);
    let out = common::cdposture(&["analyze", image.to_str().unwrap(), "--out", dir.to_str().unwrap(), "-q"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    read_csv(&dir.join("frames.csv")).swap_remove(0)
}

/// BlazePose's detector keys on the face and misses this body (head turned 66° away, a page of
/// text behind): the landmark model on the whole picture finds it, so the shoulders, the trunk
/// frame and the shifts are measured. Before the fallback: no body, no trunk, and `analyze` failed.
#[test]
fn a_body_the_detector_misses_is_found_on_the_whole_picture() {
    let row = &analyze_still("missed-body", "images/test_0900000.jpg");
    assert_eq!(row["pose_found"], "1", "{row:?}");
    // Truth: lateral shift 0.080 shoulder widths, shoulder elevation -3.1°.
    let lateral = num(row, "lateral_shift").expect("no trunk measured");
    let elevation = num(row, "shoulder_elevation").unwrap();
    assert!(
        (lateral - 0.080).abs() <= 0.08 && (elevation + 3.1).abs() <= 4.0,
        "{row:?}"
    );
    // The head (truth -66.1°): on this body the posture model says -56° and knows it cannot
    // (its yaw uncertainty 22°); on the body read from the mirror image it says -81.5° with an
    // uncertainty of 9.8°, so it is answered, one TWSTRS band too far. Not answered, or within
    // a band's width (22.5°).
    if let Some(yaw) = num(row, "rel_yaw") {
        assert!((yaw + 66.1).abs() <= 22.5, "rel_yaw {yaw}");
    }
}

/// Head turned 79° away (no face to find), the body framed larger than the first hips-low guess
/// expects: the detector, the whole picture and that square see no body (presence 0.02), so
/// before the other seated-body guesses nothing at all was measured. The 1.1·h square finds it
/// (presence 1.00) and the posture model answers: -84.1° for a true -79.2° (both TWSTRS band 4).
/// The picture is among the dimmest 5 % of renders (a night sky; 90th percentile of luminance 88)
/// and is brightened ×1.5 for the models since 2026-12-07 (`capture::exposure`): the model, less
/// sure then (yaw b 5.6° → 8.8°), reads -66.6° where it read -79.0°. Within the 15° a far turn's
/// reading moves with any change of the picture (README, "Dim frames").
#[test]
fn a_body_framed_larger_than_the_first_guess_is_found_by_another() {
    let row = &analyze_still("body-guesses", "extra/s11test_0980528.jpg");
    assert_eq!(row["pose_found"], "1", "{row:?}");
    let truth = &read_csv(&avatars().join("extra/labels.csv"))[0];
    let yaw = num(row, "rel_yaw").expect("the head is not measured against the trunk");
    let true_yaw = num(truth, "yaw_deg").unwrap();
    assert!((yaw - true_yaw).abs() <= 15.0, "rel_yaw {yaw}, truth {true_yaw}");
}

/// Head turned 89° away and rolled 21° (no face to find): the landmark model on the whole picture
/// sees the body (presence 0.97), but the crop its own landmarks give loses it (0.13: it follows
/// hips guessed far below a head-and-chest picture). Before, that crop's verdict stood and nothing
/// was measured; now the whole picture's landmarks are kept and the posture model answers.
#[test]
fn a_body_its_own_crop_loses_is_kept_from_the_whole_picture() {
    let row = &analyze_still("body-refine", "extra/s11test_0990264.jpg");
    assert_eq!(row["pose_found"], "1", "{row:?}");
    let truth = &read_csv(&avatars().join("extra/labels.csv"))[1];
    assert_eq!(truth["image"], "s11test_0990264.jpg");
    let yaw = num(row, "rel_yaw").expect("the head is not measured against the trunk");
    let true_yaw = num(truth, "yaw_deg").unwrap();
    assert!((yaw - true_yaw).abs() <= 10.0, "rel_yaw {yaw}, truth {true_yaw}");
}

/// Head turned 81° away and rolled 23° (no face to find): the posture model on BlazePose's body
/// says -78° but is not sure enough to answer alone (yaw b 18.7°, above 15°), on the whole
/// picture's body -25°; on the body BlazePose reads from the mirror image it says -78.5° with
/// b 7.9°. Before the mirror look: not answered (with the model before the head tower: -84°,
/// b 22°, and -76.6°, b 8.9°, on the mirror image).
#[test]
fn a_far_turned_body_is_read_on_the_mirror_image() {
    let row = &analyze_still("body-mirror", "extra/s11test_0980148.jpg");
    let truth = &read_csv(&avatars().join("extra/labels.csv"))[2];
    assert_eq!(truth["image"], "s11test_0980148.jpg");
    let yaw = num(row, "rel_yaw").expect("the head is not measured against the trunk");
    let true_yaw = num(truth, "yaw_deg").unwrap();
    assert!((yaw - true_yaw).abs() <= 10.0, "rel_yaw {yaw}, truth {true_yaw}");
}

/// Measured 2.18° and 1.85° (without the trunk's running average: 2.09° and 3.03°; with the face
/// mesh alone below the switch, before the precision-weighted mean with a sure posture model:
/// 3.80° and 1.05°). The model's per-frame noise is the price of the smaller error; the One Euro
/// filter before publishing takes the jitter to 0.97° (mesh alone: 0.70°).
const JITTER_CLIP_MAX_MAE: f64 = 3.0;
const JITTER_CLIP_MAX_JITTER: f64 = 2.1;

/// A trunk turning ±25° under a head that turns with it (relative yaw 0 throughout): the trunk
/// frame follows it without passing the per-frame noise of its estimate into the head's angles.
/// Jitter = the standard deviation of the frame-to-frame change of the rel_yaw error.
#[test]
fn a_turning_trunk_on_video_is_followed_smoothly() {
    let dir = common::tmp("trunk-turn");
    let features = dir.join("features.csv");
    let labels = avatars().join("sequences/test_seq1400001_trunk_turn.csv");
    eval_postures(&[labels.to_str().unwrap(), "--features", features.to_str().unwrap()]);
    let errors: Vec<Option<f64>> = read_csv(&features)
        .iter()
        .map(|r| Some(num(r, "rel_yaw")? - num(r, "true_yaw_deg")?))
        .collect();
    let steps: Vec<f64> = errors.windows(2).filter_map(|w| Some(w[1]? - w[0]?)).collect();
    let answered: Vec<f64> = errors.iter().flatten().copied().collect();
    let mean = steps.iter().sum::<f64>() / steps.len() as f64;
    let jitter = (steps.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / steps.len() as f64).sqrt();
    let mae = answered.iter().map(|e| e.abs()).sum::<f64>() / answered.len() as f64;
    println!(
        "trunk turn: {} of {} frames, rel_yaw MAE {mae:.2}, jitter {jitter:.2}",
        answered.len(),
        errors.len()
    );
    assert!(answered.len() >= 45, "answered {} of {}", answered.len(), errors.len());
    assert!(mae <= JITTER_CLIP_MAX_MAE, "rel_yaw MAE {mae}");
    assert!(jitter <= JITTER_CLIP_MAX_JITTER, "rel_yaw jitter {jitter}");
}

/// The held 50° turn, 10 fps: with `pose_every` 3 the body models run on every frame while the
/// head turns (5° a frame) and on about every third while it holds, and the measured turn stays
/// as it is with the body on every frame. Measured: the body on 31 of 50 frames, rel_yaw MAE
/// 4.62° against 4.33°. The tracked clip is sensitive to rounding: two builds differing only in
/// the rounding of BlazePose's first layer (tract change 8) gave every frame 4.33 / 4.00° and
/// `pose_every` 3 4.41 / 4.65°, single frames moving by up to 4° on the fast turn, so the
/// bound is 1° (the difference was −0.08° and +0.65° in those two builds).
#[test]
fn the_body_models_rest_while_the_head_holds_still() {
    let dir = common::tmp("body-rate");
    let labels = avatars().join("sequences/test_seq1400000_held_turn.csv");
    let run = |every: &str| {
        let features = dir.join(format!("features-{every}.csv"));
        eval_postures(&[
            labels.to_str().unwrap(),
            "--pose-every",
            every,
            "--features",
            features.to_str().unwrap(),
        ]);
        read_csv(&features)
    };
    let (every_frame, rested) = (run("1"), run("3"));
    let ran: Vec<bool> = rested.iter().map(|r| r["body_ran"] == "1").collect();
    println!("body ran: {:?}", ran.iter().map(|&r| r as u8).collect::<Vec<_>>());
    assert!(every_frame.iter().all(|r| r["body_ran"] == "1"));
    assert!(
        ran[2..=10].iter().all(|&r| r),
        "the turn (frames 2-10) must run the body on every frame"
    );
    let hold = &ran[14..=38];
    let share = hold.iter().filter(|&&r| r).count() as f64 / hold.len() as f64;
    assert!(share <= 0.5, "the hold ran the body on {share:.2} of its frames");
    let mae = |rows: &[HashMap<String, String>]| {
        let e: Vec<f64> = rows
            .iter()
            .filter_map(|r| Some((num(r, "rel_yaw")? - num(r, "true_yaw_deg")?).abs()))
            .collect();
        assert!(e.len() >= 45, "answered {} of {}", e.len(), rows.len());
        e.iter().sum::<f64>() / e.len() as f64
    };
    let (a, b) = (mae(&every_frame), mae(&rested));
    println!("rel_yaw MAE: every frame {a:.2}, pose_every 3 {b:.2}");
    assert!(
        (b - a).abs() <= 1.0,
        "rel_yaw MAE {b:.2} with pose_every 3 against {a:.2}"
    );
}

/// The body `p` of a picture `width` pixels wide, as its mirror image shows it: left and right
/// points trade places, image x becomes `width − x` (pixel centres at integer + ½), world x turns.
fn mirrored_body(p: &cdposture::landmarks::PoseLandmarks, width: f32) -> cdposture::landmarks::PoseLandmarks {
    // BlazePose's left/right pairs among the head and upper body (the rest mirrored in place).
    let pairs = [(1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)];
    let twin = |i: usize| {
        pairs
            .iter()
            .find_map(|&(a, b)| (i == a).then_some(b).or((i == b).then_some(a)))
            .unwrap_or(i)
    };
    let mut m = p.clone();
    for i in 0..p.points.len() {
        let j = twin(i);
        let [x, y, z] = p.points[j];
        m.points[i] = [width - x, y, z];
        let [wx, wy, wz] = p.world[j];
        m.world[i] = [-wx, wy, wz];
        m.visibility[i] = p.visibility[j];
        m.in_frame[i] = p.in_frame[j];
    }
    m
}

/// The posture model runs on the picture and on its mirror image, and averages: so a mirrored
/// render gives the mirrored estimate (yaw, roll, lateral shift, shoulder elevation, trunk yaw and
/// roll turned; pitch and sagittal shift kept), to rounding. One run alone is not symmetric: on
/// this turned, shifted render it is off by about a degree.
#[test]
fn a_mirrored_render_gives_the_mirrored_posture_estimate() {
    use cdposture::inference::{ModelSet, PoseVariant};
    use cdposture::landmarks::{PostureEstimate, PostureNet};
    use cdposture::pipeline::{Pipeline, PipelineOptions};
    let models = ModelSet::load(&common::model_dir(), PoseVariant::Lite).unwrap();
    let opts = PipelineOptions {
        refine_still: true,
        ..Default::default()
    };
    let mut pipeline = Pipeline::new(models, opts);
    let img = image::open(avatars().join("images/test_0900001.jpg"))
        .unwrap()
        .to_rgb8();
    let pose = pipeline.process(&img).unwrap().pose.expect("a body on the render");
    let flipped = image::imageops::flip_horizontal(&img);
    let flipped_pose = mirrored_body(&pose, img.width() as f32);
    let signed = |e: &PostureEstimate| {
        [
            -e.yaw,
            e.pitch,
            -e.roll,
            -e.lateral_shift * 100.0,
            e.sagittal_shift * 100.0,
            -e.shoulder_elevation,
            -e.trunk_yaw,
            e.trunk_pitch,
            -e.trunk_roll,
        ]
    };
    let plain = |e: &PostureEstimate| {
        [
            e.yaw,
            e.pitch,
            e.roll,
            e.lateral_shift * 100.0,
            e.sagittal_shift * 100.0,
            e.shoulder_elevation,
            e.trunk_yaw,
            e.trunk_pitch,
            e.trunk_roll,
        ]
    };
    let worst = |mirror: bool| {
        let net = PostureNet::new(&pipeline.models().posture_net, mirror);
        let a = net.run(&img, &pose, 0.5, 0.0).unwrap().expect("an estimate");
        let b = net
            .run(&flipped, &flipped_pose, 0.5, 0.0)
            .unwrap()
            .expect("an estimate on the mirror");
        let (a, b) = (plain(&a), signed(&b));
        println!("mirror {mirror}: {a:.3?}\n      mirrored: {b:.3?}");
        a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
    };
    let (once, averaged) = (worst(false), worst(true));
    // Degrees, and shifts in hundredths of a shoulder width.
    assert!(averaged <= 0.05, "averaged over the mirror: off by {averaged}");
    assert!(once >= 0.3, "one run: off by {once} (the check would pin nothing)");
}

/// A camera mounted rolled by 10° (the 60 committed renders turned about their centre): the
/// posture model's crops are turned with the trunk, which it reads rolled from upright crops
/// first (`pipeline::crop_roll_for`). Measured: yaw MAE 5.68° level; turned 10°, 8.00° with
/// upright crops and 5.67° now; shoulder elevation 0.66°, 1.38° and 0.86°.
#[test]
fn a_camera_mounted_rolled_reads_the_head_against_the_trunk_nearly_as_a_level_one() {
    use cdposture::capture::{demo::rotate_image, load_image};
    let dir = common::tmp("avatars-rolled");
    std::fs::create_dir_all(dir.join("images")).unwrap();
    let labels = avatars().join("labels.csv");
    for row in read_csv(&labels) {
        let img = load_image(&avatars().join(&row["image"])).unwrap();
        rotate_image(&img, -10.0, false).save(dir.join(&row["image"])).unwrap();
    }
    std::fs::copy(&labels, dir.join("labels.csv")).unwrap();
    let features = dir.join("features.csv");
    let stdout = eval_postures(&[
        dir.join("labels.csv").to_str().unwrap(),
        "--features",
        features.to_str().unwrap(),
    ]);
    let (_, _, yaw, _) = quantity(&stdout, "yaw");
    let (_, _, elevation, _) = quantity(&stdout, "elevation");
    assert!(yaw <= 6.5, "yaw MAE {yaw}");
    assert!(elevation <= 1.15, "shoulder elevation MAE {elevation}");
    // The roll the crops were cut at is recorded for training (`crop_roll`): the picture turned
    // counterclockwise, the trunk's top toward image left, a negative roll.
    let mut rolls: Vec<f64> = read_csv(&features).iter().filter_map(|r| num(r, "crop_roll")).collect();
    rolls.sort_by(f64::total_cmp);
    let median = rolls[rolls.len() / 2];
    assert!(rolls.len() >= 50 && (-14.0..=-6.0).contains(&median), "{rolls:?}");
}
