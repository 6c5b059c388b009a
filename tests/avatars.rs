//! Trunk-relative accuracy on the committed avatar renders (`tests/data/avatars/`, made by
//! `models/synthetic/render.sh`, seeds 900000+, never used for tuning), through `eval-postures`
//! as a user runs it. Camera placement from the labels (`--camera-from-labels`), as an installer
//! configures `pipeline.camera_azimuth_deg` / `camera_elevation_deg`.
//!
//! What is pinned: on a still trunk the trunk frame does not turn with the head (the old frame,
//! from BlazePose's shoulder depth, turned 0.25° per degree of head yaw), so the head's yaw
//! relative to the trunk has slope ≈ 1 and the TWSTRS rotation band is mostly right. A trunk that
//! really turns is NOT measured yet (its yaw reads as head yaw): those renders are left out here
//! and reported by `eval-postures`.

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
    // One 128-pixel posture crop per row whose body was seen, named by the row's position.
    for (i, r) in read_csv(&features).iter().enumerate() {
        let crop = crops.join(format!("{i:06}.png"));
        if r["pose_found"] == "1" {
            let (w, h) = image::image_dimensions(&crop).unwrap_or_else(|e| panic!("{}: {e}", crop.display()));
            assert_eq!((w, h), (128, 128));
        } else {
            assert!(!crop.exists(), "{}: a crop without a body", crop.display());
        }
    }

    let labels_by_image: HashMap<String, HashMap<String, String>> =
        read_csv(&labels).into_iter().map(|r| (r["image"].clone(), r)).collect();
    let (mut rel_yaw, mut trunk_vs_head, mut bands) = (Vec::new(), Vec::new(), (0, 0));
    let band = |y: f64| [5.0, 22.5, 45.5, 67.5].iter().filter(|&&e| y.abs() >= e).count();
    for r in read_csv(&features) {
        let image = Path::new(&r["item"])
            .strip_prefix(avatars())
            .unwrap()
            .display()
            .to_string();
        if labels_by_image[&image]["kind"] == "trunk" {
            continue;
        }
        let (Some(truth), Some(got)) = (num(&r, "true_yaw_deg"), num(&r, "rel_yaw")) else {
            continue;
        };
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
    // 1.22 here: the face mesh overshoots on these few renders (1.07 on 201 tuning renders).
    assert!((0.9..=1.3).contains(&slope), "rel_yaw slope {slope}");
    assert!(mae <= 4.0, "rel_yaw MAE {mae}");
    assert!(
        trunk_slope.abs() <= 0.05,
        "the trunk frame turns with the head: {trunk_slope}"
    );
    assert!(agreement >= 0.75, "rotation band agreement {agreement}");
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
