//! Our own posture model (`models/train/`, trained only on rendered avatars): from the posture crop
//! ([`super::posture_crop`]) and the body model's head and shoulder points it estimates the head's
//! rotation relative to the trunk, the lateral and sagittal shift, the shoulder elevation and the
//! trunk's own orientation seen from the camera (yaw, pitch, roll), each with an uncertainty. It sees the whole head, so it keeps answering where the
//! face mesh cannot (a profile, a face turned 90°, a face the detector missed).
//!
//! The input layout is the contract with `models/train/train.py` (its `features` and `crop_frame`):
//! per point of [`POINTS`], x, y, z in crop units (centre 0, side 1), visibility, and the world
//! point in metres.

use super::pose::{LEFT_EAR, LEFT_EYE, LEFT_SHOULDER, NOSE, RIGHT_EAR, RIGHT_EYE, RIGHT_SHOULDER};
use super::posture_crop;
use super::{PoseLandmarks, Roi};
use crate::inference::Model;
use crate::Result;
use image::RgbImage;

/// The body points the model reads, in its input order.
pub const POINTS: [usize; 7] = [
    NOSE,
    LEFT_EYE,
    RIGHT_EYE,
    LEFT_EAR,
    RIGHT_EAR,
    LEFT_SHOULDER,
    RIGHT_SHOULDER,
];
/// Values per point.
const PER_POINT: usize = 7;
/// Length of the model's vector input.
pub const N_FEATURES: usize = POINTS.len() * PER_POINT;
const _: () = assert!(N_FEATURES == crate::inference::POSTURE_FEATURES);
/// The model's outputs: [`N_OUTPUTS`] estimates, then as many log Laplace scales.
pub const N_OUTPUTS: usize = crate::inference::POSTURE_OUTPUTS;

/// One frame's estimate. Angles in degrees (our conventions), shifts in shoulder widths.
/// Each `*_b` is the Laplace scale the model gives its own estimate: about the expected absolute
/// error, so it is the value's uncertainty in its own unit.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PostureEstimate {
    pub yaw: f64,
    pub pitch: f64,
    pub roll: f64,
    pub lateral_shift: f64,
    pub sagittal_shift: f64,
    pub shoulder_elevation: f64,
    /// The trunk's orientation seen from the camera (our angle conventions): its yaw, its pitch
    /// (a forward lean and the camera's elevation together) and its roll (a sideways lean).
    pub trunk_yaw: f64,
    pub trunk_pitch: f64,
    pub trunk_roll: f64,
    pub yaw_b: f64,
    pub pitch_b: f64,
    pub roll_b: f64,
    pub lateral_shift_b: f64,
    pub sagittal_shift_b: f64,
    pub shoulder_elevation_b: f64,
    pub trunk_yaw_b: f64,
    pub trunk_pitch_b: f64,
    pub trunk_roll_b: f64,
    /// The roll (degrees) the crops were cut turned by (`PostureNet::run`): what a training
    /// extraction must cut to give a model what the product gives it. Not published.
    #[serde(skip)]
    pub crop_roll: f64,
}

impl PostureEstimate {
    fn from_output(o: &[f32]) -> Option<PostureEstimate> {
        if o.len() != 2 * N_OUTPUTS || o.iter().any(|v| !v.is_finite()) {
            return None;
        }
        // Clamped like in training, so a wild log-scale cannot overflow.
        let b = |i: usize| (o[N_OUTPUTS + i] as f64).clamp(-12.0, 12.0).exp();
        Some(PostureEstimate {
            yaw: o[0] as f64,
            pitch: o[1] as f64,
            roll: o[2] as f64,
            lateral_shift: o[3] as f64,
            sagittal_shift: o[4] as f64,
            shoulder_elevation: o[5] as f64,
            trunk_yaw: o[6] as f64,
            trunk_pitch: o[7] as f64,
            trunk_roll: o[8] as f64,
            yaw_b: b(0),
            pitch_b: b(1),
            roll_b: b(2),
            lateral_shift_b: b(3),
            sagittal_shift_b: b(4),
            shoulder_elevation_b: b(5),
            trunk_yaw_b: b(6),
            trunk_pitch_b: b(7),
            trunk_roll_b: b(8),
            crop_roll: 0.0,
        })
    }
}

/// The model's vector input for body points `p` and the crop `roi` cut from them: image points
/// and world x, y in the crop's own (turned) axes, as the crop shows them.
pub fn features(p: &PoseLandmarks, roi: &Roi) -> Vec<f32> {
    let mut f = Vec::with_capacity(N_FEATURES);
    let (s, c) = roi.rotation.sin_cos();
    let along_crop = |x: f32, y: f32| (c * x + s * y, c * y - s * x);
    for &i in &POINTS {
        let (pt, w) = (p.points[i], p.world[i]);
        let (x, y) = along_crop(pt[0] - roi.cx, pt[1] - roi.cy);
        let (wx, wy) = along_crop(w[0], w[1]);
        f.extend([
            x / roi.width,
            y / roi.width,
            pt[2] / roi.width,
            p.visibility[i],
            wx,
            wy,
            w[2],
        ]);
    }
    f
}

/// Which outputs change sign when the picture is mirrored left-right (yaw, roll, lateral shift,
/// shoulder elevation, trunk yaw, trunk roll): `MIRROR_SIGN` in `models/train/train.py`.
const MIRROR_SIGN: [f32; N_OUTPUTS] = [-1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0];
/// The body points' order mirrored: each left point trades places with its right one.
const MIRROR_POINTS: [usize; POINTS.len()] = [0, 2, 1, 4, 3, 6, 5];

/// The vector input of the mirrored picture: points swapped left/right, image x and world x negated
/// (training's mirror augmentation, `augment` in `models/train/train.py`).
fn mirrored_features(f: &[f32]) -> Vec<f32> {
    let mut m = Vec::with_capacity(f.len());
    for &k in &MIRROR_POINTS {
        let mut point: [f32; PER_POINT] = f[k * PER_POINT..(k + 1) * PER_POINT].try_into().expect("7 values");
        point[0] = -point[0];
        point[4] = -point[4];
        m.extend(point);
    }
    m
}

/// Mirror the HWC crop left-right in place (the crop is centred on the region, so this is the
/// picture mirrored about the crop's centre, as training's `flip(3)` does it).
fn mirror_crop(t: &mut [f32]) {
    let side = ((t.len() / 3) as f64).sqrt() as usize;
    for row in t.chunks_exact_mut(side * 3) {
        row.reverse(); // pixels reversed, and each pixel's channels too …
        row.chunks_exact_mut(3).for_each(|px| px.reverse()); // … so put the channels back
    }
}

/// How strongly the surer of the two runs leads their combination: each output's weight is its
/// scale to this power, negated (2: inverse variance). Equal scales give the plain mean.
const MIRROR_WEIGHT_POWER: i32 = 2;

/// The direct and the mirrored run's outputs combined, the mirrored one's signs put back: per
/// output, a mean weighted by each run's own certainty (1/b^p, [`MIRROR_WEIGHT_POWER`]), and the
/// scales' mean with the same weights. Where one run reads the picture and the other hardly does,
/// the sure one leads; where both are as sure, it is the plain mean (as before 2026-12-07). On
/// `heldout4` against the plain mean: yaw 3.91 → 3.89°, pitch 3.31 → 3.23°, roll 2.82 → 2.78°;
/// checked on `heldout5`/`6`: pitch 3.17 → 3.11° / 3.51 → 3.41°, roll 3.27 → 3.21° / 3.09 → 3.08°,
/// yaw ±0.01°.
fn average_with_mirror(direct: &[f32], mirrored: &[f32]) -> Vec<f32> {
    let mut o = direct.to_vec();
    for i in 0..N_OUTPUTS {
        let scale = |out: &[f32]| (out[N_OUTPUTS + i].clamp(-12.0, 12.0) as f64).exp();
        let (b_direct, b_mirrored) = (scale(direct), scale(mirrored));
        let (w_direct, w_mirrored) = (
            b_direct.powi(-MIRROR_WEIGHT_POWER),
            b_mirrored.powi(-MIRROR_WEIGHT_POWER),
        );
        let share = w_mirrored / (w_direct + w_mirrored);
        let mean = |d: f64, m: f64| d + share * (m - d);
        o[i] = mean(direct[i] as f64, (MIRROR_SIGN[i] * mirrored[i]) as f64) as f32;
        o[N_OUTPUTS + i] = mean(b_direct, b_mirrored).ln() as f32;
    }
    o
}

pub struct PostureNet<'m> {
    model: &'m Model,
    /// Also run the model on the mirrored picture and average (`pipeline.posture_mirror`).
    mirror: bool,
}

impl<'m> PostureNet<'m> {
    pub fn new(model: &'m Model, mirror: bool) -> Self {
        PostureNet { model, mirror }
    }

    /// The estimate for the body `p` in `img`; `None` when a shoulder is not seen (no crop).
    /// Both crops are cut turned by `crop_roll` (degrees, our roll convention: + = the trunk's
    /// top toward image right), and the points taken in their turned frame, so that a trunk
    /// rolled that far (a camera mounted rolled, a patient leaning) stands upright in them; the
    /// estimate's trunk roll is then the model's reading plus `crop_roll` (camera frame again).
    pub fn run(
        &self,
        img: &RgbImage,
        p: &PoseLandmarks,
        min_visibility: f32,
        crop_roll: f64,
    ) -> Result<Option<PostureEstimate>> {
        let turn = |r: Roi| Roi {
            rotation: crop_roll.to_radians() as f32,
            ..r
        };
        let Some(roi) = posture_crop::roi(p, min_visibility).map(turn) else {
            return Ok(None);
        };
        // A model with a head input (`models/train --head-widths`) also gets the head crop.
        let head = match self.model.extra_input_lens().len() {
            2 => match posture_crop::head_roi(p, min_visibility).map(turn) {
                Some(head_roi) => {
                    let mut h = vec![0.0; posture_crop::HEAD_SIZE * posture_crop::HEAD_SIZE * 3];
                    posture_crop::crop_values_into(img, &head_roi, 255.0, &mut h);
                    Some(h)
                }
                None => return Ok(None),
            },
            _ => None,
        };
        // The same 8-bit pixels as the training crops, as 0..1 floats; cut once for both runs.
        let mut body = vec![0.0; posture_crop::SIZE * posture_crop::SIZE * 3];
        posture_crop::crop_values_into(img, &roi, 255.0, &mut body);
        let features = features(p, &roi);
        let direct = self.run_once(&body, head.as_deref(), &features, false)?;
        let Some(direct) = direct else {
            return Ok(None);
        };
        let turned_back = |e: PostureEstimate| PostureEstimate {
            trunk_roll: e.trunk_roll + crop_roll,
            crop_roll,
            ..e
        };
        if !self.mirror {
            return Ok(PostureEstimate::from_output(&direct).map(turned_back));
        }
        let mirrored_head = head.map(|mut h| {
            mirror_crop(&mut h);
            h
        });
        let mirrored = self.run_once(&body, mirrored_head.as_deref(), &mirrored_features(&features), true)?;
        Ok(match mirrored {
            Some(m) => PostureEstimate::from_output(&average_with_mirror(&direct, &m)),
            None => PostureEstimate::from_output(&direct),
        }
        .map(turned_back))
    }

    /// One run of the model: the body crop copied (and mirrored) into its input, the head crop
    /// and the points given; its output when it has the expected length.
    fn run_once(&self, body: &[f32], head: Option<&[f32]>, features: &[f32], mirror: bool) -> Result<Option<Vec<f32>>> {
        let fill = |t: &mut [f32]| {
            t.copy_from_slice(body);
            if mirror {
                mirror_crop(t)
            }
        };
        let out = match head {
            Some(h) => self.model.run_filled(fill, &[h, features])?,
            None => self.model.run_filled(fill, &[features])?,
        };
        Ok(out.into_iter().next().filter(|o| o.len() == 2 * N_OUTPUTS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector input is the contract with `models/train/train.py` (`features`): pinned here on
    /// hand-computed values, so a change on either side fails.
    #[test]
    fn features_are_points_in_crop_units_then_visibility_then_world_metres() {
        let mut p = posture_crop::test_body(0.9);
        p.points[LEFT_SHOULDER][2] = -10.0;
        p.points[RIGHT_SHOULDER][2] = 5.0;
        for i in [NOSE, LEFT_EAR, RIGHT_EAR] {
            p.points[i][2] = -44.0;
        }
        p.world[RIGHT_SHOULDER] = [-0.2, -0.5, 0.1];
        // Crop: centre (250, 260), side 2.2 × 100 px.
        let roi = posture_crop::roi(&p, 0.5).unwrap();
        let f = features(&p, &roi);
        assert_eq!(f.len(), N_FEATURES);
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        // Nose: first point.
        assert!(
            close(&f[0..7], &[0.0, -40.0 / 220.0, -44.0 / 220.0, 0.9, 0.0, 0.0, 0.0]),
            "{:?}",
            &f[0..7]
        );
        // Right shoulder: the last point.
        assert!(
            close(
                &f[42..49],
                &[-50.0 / 220.0, 40.0 / 220.0, 5.0 / 220.0, 0.9, -0.2, -0.5, 0.1]
            ),
            "{:?}",
            &f[42..49]
        );
    }

    #[test]
    fn a_turned_body_in_a_crop_turned_with_it_gives_the_upright_bodys_features() {
        let mut upright = posture_crop::test_body(0.9);
        upright.points[LEFT_SHOULDER][1] = 290.0;
        upright.world[LEFT_SHOULDER] = [0.2, -0.45, 0.05];
        upright.world[NOSE] = [0.0, -0.7, -0.1];
        let roi = posture_crop::roi(&upright, 0.5).unwrap();
        let want = features(&upright, &roi);
        // The whole picture turned by θ about the crop's centre (image axes, y down), the crop
        // turned by θ with it: the body stands the same in the crop.
        let theta = 12f32.to_radians();
        let (s, c) = theta.sin_cos();
        let turn = |x: f32, y: f32| (c * x - s * y, s * x + c * y);
        let mut turned = upright.clone();
        for (pt, w) in turned.points.iter_mut().zip(turned.world.iter_mut()) {
            let (x, y) = turn(pt[0] - roi.cx, pt[1] - roi.cy);
            (pt[0], pt[1]) = (roi.cx + x, roi.cy + y);
            (w[0], w[1]) = turn(w[0], w[1]);
        }
        let turned_roi = Roi {
            rotation: theta,
            ..posture_crop::roi(&turned, 0.5).unwrap()
        };
        let got = features(&turned, &turned_roi);
        assert!(
            want.iter().zip(&got).all(|(a, b)| (a - b).abs() < 1e-5),
            "{want:?}\n{got:?}"
        );
        // An upright crop of the turned body does not (the check pins the turn's direction).
        let upright_crop = features(&turned, &posture_crop::roi(&turned, 0.5).unwrap());
        assert!(want.iter().zip(&upright_crop).any(|(a, b)| (a - b).abs() > 0.01));
        let other_way = features(
            &turned,
            &Roi {
                rotation: -theta,
                ..turned_roi
            },
        );
        assert!(want.iter().zip(&other_way).any(|(a, b)| (a - b).abs() > 0.01));
    }

    #[test]
    fn outputs_become_estimates_with_positive_uncertainties_and_bad_ones_are_refused() {
        let mut o = vec![10.0, -5.0, 3.0, 0.05, -0.02, 2.0, -8.0, 4.0, -6.0];
        o.extend([
            1.0f32.ln(),
            2.0f32.ln(),
            0.5f32.ln(),
            -3.0,
            -3.0,
            0.0,
            1.0,
            0.0,
            3.0f32.ln(),
        ]);
        let e = PostureEstimate::from_output(&o).unwrap();
        assert_eq!(
            (e.yaw, e.trunk_yaw, e.trunk_pitch, e.trunk_roll),
            (10.0, -8.0, 4.0, -6.0)
        );
        assert!((e.pitch_b - 2.0).abs() < 1e-6 && (e.roll_b - 0.5).abs() < 1e-6);
        assert!((e.trunk_roll_b - 3.0).abs() < 1e-5);
        o[2] = f32::NAN;
        assert!(PostureEstimate::from_output(&o).is_none());
        assert!(PostureEstimate::from_output(&o[..5]).is_none());
    }

    #[test]
    fn the_mirrored_input_swaps_left_and_right_and_turns_x() {
        let f: Vec<f32> = (0..N_FEATURES).map(|v| v as f32).collect();
        let m = mirrored_features(&f);
        // Nose (point 0) stays, x and world x negated.
        assert_eq!(m[0..7], [-0.0, 1.0, 2.0, 3.0, -4.0, 5.0, 6.0]);
        // Left eye's place (point 1) holds the right eye (point 2).
        assert_eq!(m[7..14], [-14.0, 15.0, 16.0, 17.0, -18.0, 19.0, 20.0]);
        // Left shoulder's place (point 5) holds the right shoulder (point 6).
        assert_eq!(m[35], -42.0);
        assert_eq!(mirrored_features(&m), f, "mirroring twice is the identity");
    }

    #[test]
    fn the_mirrored_crop_reverses_each_row_keeping_channels() {
        let side = posture_crop::SIZE;
        let mut t: Vec<f32> = (0..side * side * 3).map(|v| v as f32).collect();
        let original = t.clone();
        mirror_crop(&mut t);
        let at = |t: &[f32], y: usize, x: usize| t[(y * side + x) * 3..(y * side + x) * 3 + 3].to_vec();
        assert_eq!(at(&t, 5, 0), at(&original, 5, side - 1));
        assert_eq!(at(&t, 7, 3), at(&original, 7, side - 4));
        mirror_crop(&mut t);
        assert_eq!(t, original);
    }

    #[test]
    fn two_runs_as_sure_average_with_the_mirrored_signs_turned_back() {
        let mut direct = vec![10.0, 4.0, 2.0, 0.1, 0.05, 3.0, 8.0, 6.0, 1.0];
        direct.extend([2.0f32.ln(); N_OUTPUTS]);
        // The mirror run's view of the same posture, with its own errors.
        let mut mirrored = vec![-12.0, 6.0, -4.0, -0.3, 0.07, -1.0, -6.0, 8.0, -3.0];
        mirrored.extend([2.0f32.ln(); N_OUTPUTS]);
        let o = average_with_mirror(&direct, &mirrored);
        let want = [11.0, 5.0, 3.0, 0.2, 0.06, 2.0, 7.0, 7.0, 2.0];
        for (i, w) in want.iter().enumerate() {
            assert!((o[i] - w).abs() < 1e-5, "output {i}: {} for {w}", o[i]);
            assert!((o[N_OUTPUTS + i].exp() - 2.0).abs() < 1e-5, "scale {i}");
        }
    }

    /// A far profile one run reads (80°, b 5°) and the other hardly does (20°, b 30°): the sure
    /// run leads by its precision, 36 to 1, where the plain mean (50°, b 17.5°) published neither.
    #[test]
    fn the_surer_run_leads_by_its_precision() {
        let mut direct = vec![80.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        direct.extend([5.0f32.ln(); N_OUTPUTS]);
        let mut mirrored = vec![-20.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        mirrored.extend([30.0f32.ln(); N_OUTPUTS]);
        let o = average_with_mirror(&direct, &mirrored);
        let share = 1.0 / 37.0;
        assert!((o[0] - (80.0 - share * 60.0)).abs() < 1e-4, "yaw {}", o[0]);
        assert!(
            (o[N_OUTPUTS].exp() - (5.0 + share * 25.0)).abs() < 1e-4,
            "b {}",
            o[N_OUTPUTS].exp()
        );
    }
}
