//! The trunk frame, and the head relative to it.
//!
//! Why a frame and not just the shoulder line: TWSTRS scores laterocollis "excluding shoulder
//! elevation", so the trunk's vertical must not come from the shoulders. We take the trunk's up axis
//! from the spine (hip centre → shoulder centre, world landmarks) when the hips are visible, and the
//! camera's vertical otherwise (a fixed, level exam-room camera); the lateral axis is the shoulder
//! line made perpendicular to that up axis, which carries the trunk's own rotation (yaw). Shoulder
//! elevation is then the shoulder line's angle against the lateral axis, reported separately.

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
        let up = spine.unwrap_or([0.0, 1.0, 0.0]);
        let lateral = normalize(sub(shoulder_line, scale(up, dot(shoulder_line, up))))?;
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
        };
        let t = TrunkFrame::from_input(&input).unwrap();
        assert!((Angles::from_matrix(&t.rotation).yaw - 30.0).abs() < 1e-9);
        let rel = Angles::from_matrix(&t.relative(&turn));
        assert!(rel.yaw.abs() < 1e-9 && rel.roll.abs() < 1e-9);
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
