//! Which estimate of the head's rotation relative to the trunk is published: the face mesh's or
//! the posture model's, and how the two are blended so the value never jumps at the switch.
//!
//! The rule (README, "Rotation sources"): the face mesh is the more precise instrument near frontal
//! and the posture model the only one that keeps working in profile. The model's weight rises
//! smoothly with the head's turn from [`BLEND_FROM_YAW`] to [`BLEND_TO_YAW`] (the turn taken as
//! the mean of the two estimates' |yaw|, so neither alone flips the switch, unless the model is
//! sure of a larger turn than that: see [`MODEL_TURN_MARGIN`]), and with falling face
//! presence from [`BLEND_FROM_PRESENCE`] to the drop threshold. Without a face the model answers
//! alone when its yaw uncertainty is at most [`MAX_MODEL_ALONE_YAW_B`]; without a model (no
//! shoulders seen) the mesh does. A model estimate whose own yaw uncertainty exceeds
//! [`MAX_MODEL_YAW_B`] takes no part (on 300 held-out renders those 7 of 286 were off by 19–103°;
//! the other 279 by 6.0° on average). The yaw ends at ±[`MAX_RELATIVE_YAW`].
//!
//! Below the switch, two independent instruments agreeing are better than one: where the model is
//! sure (its yaw uncertainty under [`SURE_MODEL_B_FROM`]) and agrees with the mesh, each angle is
//! their precision-weighted mean (weights 1/b², the mesh's b being [`MESH_SPREAD`]); see
//! [`agreement_share`].

use super::{Angles, Axes};
use serde::Serialize;

/// |yaw| (degrees) from which the posture model starts to take over.
pub const BLEND_FROM_YAW: f64 = 35.0;
/// |yaw| from which the posture model answers alone.
pub const BLEND_TO_YAW: f64 = 50.0;
/// Face presence below which the model starts to take over (it is alone at the drop threshold).
pub const BLEND_FROM_PRESENCE: f64 = 0.8;
/// The model's |yaw| less this margin and its own yaw uncertainty is a turn it is sure of; the
/// switch takes that when it exceeds the mean of the two estimates. FaceMesh under-reads far
/// turns (a true −75° read as −10° with a presence of 0.91), and the mean then kept the mesh's
/// value; on 300 held-out renders (`heldout4`) this took the yaw error for 45 < |yaw| ≤ 60 from
/// 6.9° to 4.3° (45–90: 8.1° → 6.4°) and changed nothing below 45°. Still continuous in both
/// estimates, so a turning head does not jump at the switch.
pub const MODEL_TURN_MARGIN: f64 = 5.0;
/// The model's yaw uncertainty (Laplace scale, degrees) above which its rotation is not used.
pub const MAX_MODEL_YAW_B: f64 = 20.0;
/// The same without a face to check it against: above it the frame's rotation is not answered
/// rather than answered alone. The model's error grows with its b (on the 15,667 training renders
/// without a face: mean 13.8° for b 12–15, 17.2° for 15–17.5, 15.4° for 17.5–20, and 12–17 % of
/// those off by more than 30°), and a rotation band is 22.5° wide. On three held-out sets (900
/// renders) a cap of 15 instead of 20 answered 0.967 / 0.970 / 0.970 instead of 0.977 / 0.977 /
/// 0.983, with yaw MAE 3.93 / 4.21 / 3.96° instead of 4.06 / 4.33 / 4.11° (|yaw| ≤ 45: 3.00 /
/// 3.33 / 2.90° instead of 3.00 / 3.52 / 3.04°).
pub const MAX_MODEL_ALONE_YAW_B: f64 = 15.0;
/// The face mesh's spread relative to the trunk, as a Laplace scale per angle (degrees), for the
/// precision-weighted mean below the switch. Its mean errors near frontal on held-out renders
/// (`heldout4`, mesh minus truth, the trunk's error included) are 3.5° / 3.5° / 2.0°; the result
/// is flat around them (a yaw spread of 3 / 4 / 5 / 6° gave |yaw| ≤ 45 MAE 3.07 / 3.01 / 2.99 /
/// 3.02° there).
pub const MESH_SPREAD: Angles = Angles {
    yaw: 4.0,
    pitch: 4.0,
    roll: 3.0,
};
/// The model's yaw uncertainty up to which it counts as sure (full share below the switch), and
/// from which it takes no share ([`SURE_MODEL_B_TO`]). On held-out renders 90 % of its yaw b are
/// below 6.2°; on the real close-up photos of `headpose-dev`, where its yaw is off by 8° on
/// average, every b was above 8.9°: a model out of its depth says so, and the mesh answers.
pub const SURE_MODEL_B_FROM: f64 = 6.0;
pub const SURE_MODEL_B_TO: f64 = 9.0;
/// Disagreement (in combined spreads, √(b² + mesh²)) up to which the two are averaged, and from
/// which the mesh answers alone: a model far from the mesh is more likely wrong than the mesh.
pub const AGREE_FULL_SIGMAS: f64 = 2.0;
pub const AGREE_NONE_SIGMAS: f64 = 3.0;

/// The model's share (of any angle) from which the source is labelled a blend: a share of a few
/// per cent, which a transient dip of the model's uncertainty gives on a real face, leaves the
/// value the mesh's and should not make the label flicker (the demo: 3 of 120 frames at 0.01–0.15).
pub const LABEL_BLEND_FROM_SHARE: f64 = 0.2;

/// The posture model's rotation relative to the trunk, with its uncertainty per angle (Laplace
/// scales, degrees).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelRotation {
    pub angles: Angles,
    pub spread: Angles,
}

/// Where a published rotation came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationSource {
    FaceMesh,
    PostureModel,
    Blend,
}

impl RotationSource {
    /// The name used in messages and CSV (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            RotationSource::FaceMesh => "face_mesh",
            RotationSource::PostureModel => "posture_model",
            RotationSource::Blend => "blend",
        }
    }
}

/// The rotation relative to the trunk that is scored, with where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FusedRotation {
    pub angles: Angles,
    pub source: RotationSource,
    /// The posture model's share of the yaw, 0 (face mesh only) to 1 (model only); pitch and roll
    /// have their own (see [`agreement_share`]).
    pub model_weight: f64,
}

/// 0 at `a`, 1 at `b`, smooth (C1) in between; `a > b` gives a falling ramp.
fn smoothstep(x: f64, a: f64, b: f64) -> f64 {
    let t = ((x - a) / (b - a)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// The largest yaw of the head relative to the trunk that is published: TWSTRS's rotation scale and
/// the neck's range end at 90°. The model's regression overshoots it (on three held-out sets 10 of
/// 900 estimates, 90.2–98.7° for truths of 77–90°); clamped, the error for 75 < |yaw| ≤ 90 went
/// 8.20 / 5.76 / 6.26° → 7.88 / 5.27 / 6.02°.
pub const MAX_RELATIVE_YAW: f64 = 90.0;

/// Fuse the face mesh's relative rotation (with its presence) and the model's (with its
/// uncertainties). `min_presence` is the presence at which the face track is dropped.
pub fn fuse(mesh: Option<(Angles, f64)>, model: Option<ModelRotation>, min_presence: f64) -> Option<FusedRotation> {
    fuse_unclamped(mesh, model, min_presence).map(|mut f| {
        f.angles.yaw = f.angles.yaw.clamp(-MAX_RELATIVE_YAW, MAX_RELATIVE_YAW);
        f
    })
}

/// The largest tilt (|roll|) and flexion or extension (|pitch|) of the head relative to the trunk
/// that a face mesh reading may show; beyond them the mesh fitted the face upside down or mirrored,
/// not a neck (active lateral flexion is ~45°, flexion ~60°, extension ~70°; TWSTRS's top
/// laterocollis band starts at 35°). Seen on a held-out render turned 57°: the mesh read the face
/// at −15° yaw and 151° of roll with a presence of 1.0, and the blend with the model (52°, sure)
/// published 18° of yaw and 76° of roll.
pub const MESH_MAX_ROLL: f64 = 70.0;
pub const MESH_MAX_PITCH: f64 = 80.0;

/// A mesh reading (relative to the trunk) a neck can take (see [`MESH_MAX_ROLL`]).
pub fn mesh_is_anatomical(a: &Angles) -> bool {
    a.roll.abs() <= MESH_MAX_ROLL && a.pitch.abs() <= MESH_MAX_PITCH
}

fn fuse_unclamped(
    mesh: Option<(Angles, f64)>,
    model: Option<ModelRotation>,
    min_presence: f64,
) -> Option<FusedRotation> {
    let mesh = mesh.filter(|(a, _)| mesh_is_anatomical(a));
    let model = model.filter(|m| m.spread.yaw <= MAX_MODEL_YAW_B);
    let (mesh_angles, presence, model) = match (mesh, model) {
        (None, None) => return None,
        (Some((a, _)), None) => return Some(single(a, RotationSource::FaceMesh, 0.0)),
        (None, Some(m)) if m.spread.yaw <= MAX_MODEL_ALONE_YAW_B => {
            return Some(single(m.angles, RotationSource::PostureModel, 1.0))
        }
        (None, Some(_)) => return None,
        (Some((a, p)), Some(m)) => (a, p, m),
    };
    let mean_turn = 0.5 * (mesh_angles.yaw.abs() + model.angles.yaw.abs());
    let turn = mean_turn.max(model.angles.yaw.abs() - MODEL_TURN_MARGIN - model.spread.yaw);
    let switch = smoothstep(turn, BLEND_FROM_YAW, BLEND_TO_YAW).max(smoothstep(
        presence,
        BLEND_FROM_PRESENCE,
        min_presence.min(BLEND_FROM_PRESENCE - 0.05),
    ));
    let sure = smoothstep(model.spread.yaw, SURE_MODEL_B_TO, SURE_MODEL_B_FROM);
    let weight = |axis: Axes| {
        let share = agreement_share(
            mesh_angles.get(axis),
            model.angles.get(axis),
            model.spread.get(axis),
            MESH_SPREAD.get(axis),
        );
        switch + (1.0 - switch) * sure * share
    };
    let w = Angles {
        yaw: weight(Axes::Yaw),
        pitch: weight(Axes::Pitch),
        roll: weight(Axes::Roll),
    };
    let angles = mesh_angles.lerp_each(model.angles, w);
    let source = if w.yaw.max(w.pitch).max(w.roll) < LABEL_BLEND_FROM_SHARE {
        RotationSource::FaceMesh
    } else if switch >= 1.0 {
        RotationSource::PostureModel
    } else {
        RotationSource::Blend
    };
    Some(FusedRotation {
        angles,
        source,
        model_weight: w.yaw,
    })
}

/// The model's share of one angle when both instruments are trusted: its precision share
/// (1/b² against the mesh's 1/b²), fading to nothing as the two disagree by
/// [`AGREE_FULL_SIGMAS`] to [`AGREE_NONE_SIGMAS`] combined spreads.
fn agreement_share(mesh: f64, model: f64, b: f64, mesh_b: f64) -> f64 {
    let b = b.max(1e-3);
    let precision = b.powi(-2) / (b.powi(-2) + mesh_b.powi(-2));
    let combined = (b * b + mesh_b * mesh_b).sqrt();
    let agree = smoothstep(
        (mesh - model).abs(),
        AGREE_NONE_SIGMAS * combined,
        AGREE_FULL_SIGMAS * combined,
    );
    precision * agree
}

fn single(angles: Angles, source: RotationSource, model_weight: f64) -> FusedRotation {
    FusedRotation {
        angles,
        source,
        model_weight,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaw(y: f64) -> Angles {
        Angles {
            yaw: y,
            pitch: 0.0,
            roll: 0.0,
        }
    }

    /// A model estimate of `y` degrees of yaw, `b` its yaw uncertainty (pitch and roll as sure).
    fn model(y: f64, b: f64) -> Option<ModelRotation> {
        Some(ModelRotation {
            angles: yaw(y),
            spread: Angles {
                yaw: b,
                pitch: b,
                roll: b,
            },
        })
    }

    #[test]
    fn near_frontal_the_mesh_answers_in_profile_the_model_and_in_between_a_blend() {
        let f = fuse(Some((yaw(20.0), 0.95)), model(24.0, 12.0), 0.5).unwrap();
        assert_eq!((f.source, f.angles.yaw), (RotationSource::FaceMesh, 20.0));
        let f = fuse(Some((yaw(-58.0), 0.95)), model(-70.0, 5.0), 0.5).unwrap();
        assert_eq!((f.source, f.angles.yaw), (RotationSource::PostureModel, -70.0));
        let f = fuse(Some((yaw(40.0), 0.95)), model(46.0, 5.0), 0.5).unwrap();
        assert_eq!(f.source, RotationSource::Blend);
        assert!(f.angles.yaw > 40.0 && f.angles.yaw < 46.0, "{f:?}");
        let f = fuse(None, model(88.0, 12.0), 0.5).unwrap();
        assert_eq!((f.source, f.angles.yaw), (RotationSource::PostureModel, 88.0));
        // Beyond the neck's range (a regression overshoot): the end of the scale.
        let f = fuse(None, model(-96.0, 6.0), 0.5).unwrap();
        assert_eq!(
            (f.source, f.angles.yaw),
            (RotationSource::PostureModel, -MAX_RELATIVE_YAW)
        );
        let f = fuse(Some((yaw(10.0), 0.4)), None, 0.5).unwrap();
        assert_eq!(f.source, RotationSource::FaceMesh);
        assert!(fuse(None, None, 0.5).is_none());
    }

    #[test]
    fn near_frontal_a_sure_model_that_agrees_is_averaged_with_the_mesh_by_precision() {
        // Equal spreads (the mesh's yaw spread is 4°): the mean.
        let f = fuse(Some((yaw(10.0), 0.95)), model(12.0, MESH_SPREAD.yaw), 0.5).unwrap();
        assert_eq!(f.source, RotationSource::Blend);
        assert!((f.angles.yaw - 11.0).abs() < 1e-9, "{f:?}");
        assert!((f.model_weight - 0.5).abs() < 1e-9, "{f:?}");
        // Surer than the mesh: nearer the model (1/b² weights: 2° against 4° is 4:1).
        let f = fuse(Some((yaw(10.0), 0.95)), model(15.0, 2.0), 0.5).unwrap();
        assert!((f.angles.yaw - 14.0).abs() < 1e-9, "{f:?}");
        // Each angle by its own spreads: the model's roll (b 2°) against the mesh's (3°).
        let m = ModelRotation {
            angles: Angles {
                yaw: 10.0,
                pitch: 0.0,
                roll: 5.0,
            },
            spread: Angles {
                yaw: 4.0,
                pitch: 4.0,
                roll: 2.0,
            },
        };
        let f = fuse(Some((yaw(10.0), 0.95)), Some(m), 0.5).unwrap();
        assert!((f.angles.roll - 5.0 * 9.0 / 13.0).abs() < 1e-9, "{f:?}");
        assert_eq!(f.angles.yaw, 10.0);
    }

    #[test]
    fn near_frontal_a_model_unsure_or_far_from_the_mesh_leaves_the_mesh_alone() {
        // Out of its depth (yaw b past SURE_MODEL_B_TO, as on real close-ups): the mesh.
        let f = fuse(Some((yaw(10.0), 0.95)), model(12.0, SURE_MODEL_B_TO), 0.5).unwrap();
        assert_eq!((f.source, f.angles.yaw), (RotationSource::FaceMesh, 10.0));
        // Nearly out of its depth (b 8°): a share of 5 %, labelled the mesh's so the label does not
        // flicker with the model's uncertainty.
        let f = fuse(Some((yaw(10.0), 0.95)), model(11.0, 8.0), 0.5).unwrap();
        assert_eq!(f.source, RotationSource::FaceMesh);
        assert!(
            f.model_weight > 0.0 && f.model_weight < 0.1 && f.angles.yaw > 10.0,
            "{f:?}"
        );
        // Sure but 20° away (more than 3 combined spreads, √(4² + 4²) · 3 = 17°): the mesh.
        let f = fuse(Some((yaw(10.0), 0.95)), model(30.0, 4.0), 0.5).unwrap();
        assert_eq!((f.model_weight, f.angles.yaw), (0.0, 10.0));
        // In between, part of the way, and never a jump as the model's b or value moves.
        for sweep in [0, 1] {
            let mut last: Option<f64> = None;
            for k in 0..=400 {
                let (value, b) = if sweep == 0 {
                    (14.0, 3.0 + k as f64 * 0.02)
                } else {
                    (10.0 + k as f64 * 0.05, 4.0)
                };
                let f = fuse(Some((yaw(10.0), 0.95)), model(value, b), 0.5).unwrap();
                if let Some(l) = last {
                    assert!((f.angles.yaw - l).abs() < 0.1, "a jump at {value}° b {b}: {f:?}");
                }
                last = Some(f.angles.yaw);
            }
        }
    }

    #[test]
    fn a_mesh_reading_no_neck_can_take_is_not_used() {
        // The held-out render turned 57.4°: mesh −15.5° yaw, 151.5° roll (presence 1.0), the
        // model 52.2° with b 4.7°. The model answers alone.
        let flipped = Angles {
            yaw: -15.5,
            pitch: 0.1,
            roll: 151.5,
        };
        let f = fuse(Some((flipped, 1.0)), model(52.2, 4.7), 0.5).unwrap();
        assert_eq!(
            (f.source, f.angles.yaw, f.angles.roll),
            (RotationSource::PostureModel, 52.2, 0.0)
        );
        // Without the model nothing is answered rather than the flipped face.
        assert!(fuse(Some((flipped, 1.0)), None, 0.5).is_none());
        let chin_past_chest = Angles {
            yaw: 5.0,
            pitch: -95.0,
            roll: 0.0,
        };
        assert!(fuse(Some((chin_past_chest, 0.9)), None, 0.5).is_none());
        // A severe but possible tilt is a reading.
        let tilt = Angles {
            yaw: 5.0,
            pitch: 0.0,
            roll: -45.0,
        };
        let f = fuse(Some((tilt, 0.9)), None, 0.5).unwrap();
        assert_eq!((f.source, f.angles.roll), (RotationSource::FaceMesh, -45.0));
    }

    #[test]
    fn a_model_estimate_unsure_of_its_yaw_takes_no_part() {
        // A profile the model reads as -10° with b = 37° (a committed render, truth -66°).
        assert!(fuse(None, model(-9.6, 37.0), 0.5).is_none());
        let f = fuse(Some((yaw(-40.0), 0.9)), model(-9.6, 37.0), 0.5).unwrap();
        assert_eq!((f.source, f.angles.yaw), (RotationSource::FaceMesh, -40.0));
        assert!(fuse(None, model(-60.0, MAX_MODEL_ALONE_YAW_B), 0.5).is_some());
        // Between the two caps: not alone (a profile is not answered at an expected error of
        // 15–20°), but still part of a blend with a face.
        assert!(fuse(None, model(-60.0, 17.0), 0.5).is_none());
        let f = fuse(Some((yaw(-35.0), 0.9)), model(-45.0, 17.0), 0.5).unwrap();
        assert_eq!(f.source, RotationSource::Blend);
        assert!(f.angles.yaw < -35.0 && f.angles.yaw > -45.0, "{f:?}");
    }

    #[test]
    fn a_far_turn_the_mesh_under_reads_is_the_models_when_the_model_is_sure() {
        // A held-out render, truth −74.9°: FaceMesh read −9.6° (presence 0.91), the model −70.0°
        // with b = 4.9°. The mean turn (39.8°) kept mostly the mesh: −24.3° was published.
        let f = fuse(Some((yaw(-9.6), 0.91)), model(-70.0, 4.9), 0.5).unwrap();
        assert_eq!((f.source, f.angles.yaw), (RotationSource::PostureModel, -70.0));
        // Less sure of it (b = 19.5°, the largest that is used), part of the way.
        let f = fuse(Some((yaw(-9.6), 0.91)), model(-70.0, 19.5), 0.5).unwrap();
        assert_eq!(f.source, RotationSource::Blend);
        assert!(f.angles.yaw < -50.0 && f.angles.yaw > -70.0, "{f:?}");
        // Near frontal nothing changes: the mesh answers.
        let f = fuse(Some((yaw(12.0), 0.95)), model(30.0, 3.0), 0.5).unwrap();
        assert_eq!((f.model_weight, f.angles.yaw), (0.0, 12.0));
    }

    #[test]
    fn a_head_turning_through_the_switch_never_jumps() {
        // The mesh under-reads a large turn (as FaceMesh does), the model reads it right: the
        // fused yaw must move in small steps all the way.
        let mut last: Option<f64> = None;
        for k in 0..=900 {
            let truth = k as f64 * 0.1;
            let mesh = truth - 0.3 * (truth - 30.0).max(0.0);
            let f = fuse(Some((yaw(mesh), 0.9)), model(truth + 1.0, 8.0), 0.5).unwrap();
            if let Some(l) = last {
                assert!(
                    (f.angles.yaw - l).abs() < 0.5,
                    "a jump of {} at {truth}°",
                    f.angles.yaw - l
                );
            }
            last = Some(f.angles.yaw);
        }
    }

    #[test]
    fn a_fading_face_hands_over_to_the_model_smoothly() {
        let mut last: Option<f64> = None;
        for k in 0..=100 {
            let presence = 1.0 - k as f64 * 0.005;
            let f = fuse(Some((yaw(10.0), presence)), model(14.0, 4.0), 0.5).unwrap();
            if let Some(l) = last {
                assert!((f.angles.yaw - l).abs() < 0.3, "{f:?}");
            }
            last = Some(f.angles.yaw);
        }
        assert_eq!(last, Some(14.0), "at the drop threshold the model answers alone");
    }
}
