//! The trunk frame, and the head relative to it.
//!
//! Why a frame and not just the shoulder line: TWSTRS scores laterocollis "excluding shoulder
//! elevation", so the trunk's vertical must not come from the shoulders. We take the trunk's up axis
//! from the spine (hip centre → shoulder centre, world landmarks) when the hips are visible, and
//! otherwise the chair's vertical as the fixed camera sees it (the configured mount; the camera's
//! own vertical for a level camera in front); the lateral axis is the mount's, made perpendicular
//! to that up axis. Shoulder elevation is then the shoulder line's angle against the lateral axis,
//! reported separately. The mount is the configured camera placement, or the posture model's
//! estimate of the trunk's orientation (see the pipeline's `trunk_options`).
//!
//! The trunk's yaw: by default the shoulder points do not turn the frame, so the trunk faces the
//! mount (with the spine as up axis, the lateral axis is then not exactly square to the mount's
//! forward axis: a few degrees for a leaning spine, harmless), and BlazePose swapping the
//! shoulders cannot flip it. `yaw_from_depth` takes the lateral axis from the shoulder line
//! instead (the oldest frame). How the patient sits in the chair is removed by the neutral
//! capture. The only depth we have,
//! BlazePose's world shoulders, turns with the head (0.25° per degree of head yaw on renders, and
//! 0.21° per degree of a real trunk turn): it made a still trunk follow a turning head.

use super::{cross, dot, from_columns, normalize, scale, sub, Mat3, Vec3};
use serde::Serialize;

/// What the trunk frame needs, all in the camera frame (x right, y up, z toward the camera), metres.
#[derive(Debug, Clone, Copy)]
pub struct TrunkInput {
    pub left_shoulder: Vec3,
    pub right_shoulder: Vec3,
    /// Hip centre, only when both hips are visible enough to trust.
    pub hip_centre: Option<Vec3>,
    /// Head centre (midpoint of the ears), for the shift estimates.
    pub head_centre: Option<Vec3>,
    /// Let the shoulder line's depth turn the frame (yaw); see the module notes.
    pub yaw_from_depth: bool,
    /// How the camera sees the patient's chair (a trunk sitting square in it): the frame's
    /// orientation before the shoulders say otherwise. Identity for a camera straight in front.
    pub mount: Mat3,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct TrunkFrame {
    /// Columns: lateral (toward the subject's left), up, forward (out of the chest).
    #[serde(skip)]
    pub rotation: Mat3,
    /// True when the up axis came from the hips; false when the camera vertical stood in.
    pub spine_from_hips: bool,
    /// Shoulder line against the lateral axis, degrees; + = the subject's LEFT shoulder higher.
    pub shoulder_elevation: f64,
    /// Shoulder width, metres (world landmarks), the unit for the shift estimates.
    pub shoulder_width: f64,
    /// Head centre minus shoulder centre along the lateral axis, in shoulder widths;
    /// + = toward the subject's left (image right in a frontal view).
    pub lateral_shift: Option<f64>,
    /// The same along the forward axis; + = head forward of the shoulders (protraction).
    pub sagittal_shift: Option<f64>,
}

impl TrunkFrame {
    pub fn from_input(input: &TrunkInput) -> Option<TrunkFrame> {
        let shoulder_line = sub(input.left_shoulder, input.right_shoulder);
        let width = super::norm(shoulder_line);
        if width < 1e-6 {
            return None;
        }
        let shoulder_centre = scale(super::add(input.left_shoulder, input.right_shoulder), 0.5);
        let spine = input.hip_centre.and_then(|h| normalize(sub(shoulder_centre, h)));
        let column = |j: usize| [input.mount[0][j], input.mount[1][j], input.mount[2][j]];
        let up = spine.unwrap_or(column(1));
        let across = if input.yaw_from_depth {
            shoulder_line
        } else {
            // The mount's lateral axis as it is (not the shoulder line without its depth, which
            // points the same way unless BlazePose swapped the shoulders or put them on the head
            // of a far-turned subject, and then flipped the frame).
            column(0)
        };
        let lateral = normalize(sub(across, scale(up, dot(across, up))))?;
        let forward = cross(lateral, up);
        let elevation = (dot(shoulder_line, up) / width).clamp(-1.0, 1.0).asin().to_degrees();
        let (lateral_shift, sagittal_shift) = match input.head_centre {
            Some(h) => {
                let d = sub(h, shoulder_centre);
                (Some(dot(d, lateral) / width), Some(dot(d, forward) / width))
            }
            None => (None, None),
        };
        Some(TrunkFrame {
            rotation: from_columns(lateral, up, forward),
            spine_from_hips: spine.is_some(),
            shoulder_elevation: elevation,
            shoulder_width: width,
            lateral_shift,
            sagittal_shift,
        })
    }

    /// The head's rotation expressed in the trunk frame.
    pub fn relative(&self, head: &Mat3) -> Mat3 {
        super::mat_mul(&super::transpose(&self.rotation), head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{mat_vec, Angles};

    fn frontal() -> TrunkInput {
        TrunkInput {
            left_shoulder: [0.2, 0.0, 0.0],
            right_shoulder: [-0.2, 0.0, 0.0],
            hip_centre: Some([0.0, -0.5, 0.0]),
            head_centre: Some([0.0, 0.25, 0.0]),
            yaw_from_depth: true,
            mount: crate::geometry::IDENTITY,
        }
    }

    #[test]
    fn frontal_trunk_is_the_camera_frame() {
        let t = TrunkFrame::from_input(&frontal()).unwrap();
        let a = Angles::from_matrix(&t.rotation);
        assert!(a.yaw.abs() < 1e-9 && a.pitch.abs() < 1e-9 && a.roll.abs() < 1e-9);
        assert!(t.shoulder_elevation.abs() < 1e-9 && t.lateral_shift.unwrap().abs() < 1e-9);
    }

    #[test]
    fn head_turned_with_the_trunk_is_not_torticollis() {
        // Whole body turned 30° toward image left: trunk and head share the rotation.
        let turn = Angles {
            yaw: 30.0,
            ..Default::default()
        }
        .to_matrix();
        let f = frontal();
        let input = TrunkInput {
            left_shoulder: mat_vec(&turn, f.left_shoulder),
            right_shoulder: mat_vec(&turn, f.right_shoulder),
            hip_centre: f.hip_centre.map(|h| mat_vec(&turn, h)),
            head_centre: f.head_centre.map(|h| mat_vec(&turn, h)),
            yaw_from_depth: true,
            mount: crate::geometry::IDENTITY,
        };
        let t = TrunkFrame::from_input(&input).unwrap();
        assert!((Angles::from_matrix(&t.rotation).yaw - 30.0).abs() < 1e-9);
        let rel = Angles::from_matrix(&t.relative(&turn));
        assert!(rel.yaw.abs() < 1e-9 && rel.roll.abs() < 1e-9);
    }

    #[test]
    fn a_head_turn_is_not_taken_from_a_still_trunk_by_shoulder_depth() {
        // BlazePose's world shoulders turn ~0.25° per degree of head yaw on a still trunk: with a
        // 50° head turn the shoulder line arrives turned by 12.5°. The default frame ignores that
        // depth, so the 50° torticollis stays 50° (and band 3), not 37.5°.
        let seen = Angles {
            yaw: 12.5,
            ..Default::default()
        }
        .to_matrix();
        let mut f = frontal();
        f.left_shoulder = mat_vec(&seen, f.left_shoulder);
        f.right_shoulder = mat_vec(&seen, f.right_shoulder);
        f.yaw_from_depth = false;
        let head = Angles {
            yaw: 50.0,
            ..Default::default()
        }
        .to_matrix();
        let t = TrunkFrame::from_input(&f).unwrap();
        let rel = Angles::from_matrix(&t.relative(&head));
        assert!((rel.yaw - 50.0).abs() < 1e-9, "{rel:?}");
        assert!((t.shoulder_width - 0.4).abs() < 1e-9 && t.shoulder_elevation.abs() < 1e-9);
        f.yaw_from_depth = true;
        let rel = Angles::from_matrix(&TrunkFrame::from_input(&f).unwrap().relative(&head));
        assert!((rel.yaw - 37.5).abs() < 1e-9, "the depth-turned frame: {rel:?}");
    }

    #[test]
    fn the_camera_mount_is_the_trunks_zero() {
        // A camera 10° to the patient's left and 8° above sees a square-sitting trunk turned +10°
        // (toward image left) and chin-down 8°; a head turned 30° right on it reads 30°, and a
        // head level with the trunk reads pitch 0.
        let mount = Angles {
            yaw: 10.0,
            pitch: -8.0,
            roll: 0.0,
        }
        .to_matrix();
        let mut f = frontal();
        for p in [&mut f.left_shoulder, &mut f.right_shoulder] {
            *p = mat_vec(&mount, *p);
        }
        f.hip_centre = None;
        f.yaw_from_depth = false;
        f.mount = mount;
        let t = TrunkFrame::from_input(&f).unwrap();
        let rel_to_trunk = Angles {
            yaw: 30.0,
            ..Default::default()
        }
        .to_matrix();
        let head = crate::geometry::mat_mul(&mount, &rel_to_trunk);
        let rel = Angles::from_matrix(&t.relative(&head));
        assert!((rel.yaw - 30.0).abs() < 1e-6 && rel.pitch.abs() < 1e-6, "{rel:?}");
        assert!(t.shoulder_elevation.abs() < 1e-9, "{}", t.shoulder_elevation);
    }

    #[test]
    fn a_leaning_trunk_is_the_mounts_and_swapped_shoulder_points_cannot_flip_it() {
        // The posture model says the trunk leans 8° toward image right and is turned 5°; BlazePose
        // swapped the shoulders (its left on the image's left, as on a far-turned head). A head
        // tilted 20° on that trunk reads 20° of laterocollis and no turn; an upright head (the
        // camera's vertical) on it reads -8°: the lean is not the head's.
        let mount = Angles {
            yaw: 5.0,
            pitch: 0.0,
            roll: 8.0,
        }
        .to_matrix();
        let mut f = frontal();
        f.left_shoulder = mat_vec(&mount, [-0.2, 0.0, 0.0]);
        f.right_shoulder = mat_vec(&mount, [0.2, 0.0, 0.0]);
        f.hip_centre = None;
        f.yaw_from_depth = false;
        f.mount = mount;
        let t = TrunkFrame::from_input(&f).unwrap();
        let tilted = Angles {
            roll: 20.0,
            ..Default::default()
        }
        .to_matrix();
        let rel = Angles::from_matrix(&t.relative(&crate::geometry::mat_mul(&mount, &tilted)));
        assert!((rel.roll - 20.0).abs() < 1e-6 && rel.yaw.abs() < 1e-6, "{rel:?}");
        let upright = Angles::from_matrix(&t.relative(&crate::geometry::IDENTITY));
        assert!((upright.roll + 8.0).abs() < 0.5, "{upright:?}");
    }

    #[test]
    fn raised_left_shoulder_is_elevation_not_laterocollis() {
        let mut f = frontal();
        f.left_shoulder[1] += 0.05;
        let t = TrunkFrame::from_input(&f).unwrap();
        assert!(t.shoulder_elevation > 5.0, "{}", t.shoulder_elevation);
        let rel = Angles::from_matrix(&t.relative(&crate::geometry::IDENTITY));
        assert!(
            rel.roll.abs() < 1e-9,
            "upright head on a hitched shoulder has no tilt: {rel:?}"
        );
    }

    #[test]
    fn head_moved_toward_subjects_left_is_positive_lateral_shift() {
        let mut f = frontal();
        f.head_centre = Some([0.04, 0.25, 0.05]);
        let t = TrunkFrame::from_input(&f).unwrap();
        assert!((t.lateral_shift.unwrap() - 0.1).abs() < 1e-9);
        assert!((t.sagittal_shift.unwrap() - 0.125).abs() < 1e-9);
    }
}
