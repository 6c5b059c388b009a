//! Angle conventions, in one place. Everything else converts through here.
//!
//! Camera frame: x = image right, y = image up, z = toward the camera (right-handed). A rotation
//! matrix `R` maps the head's own frame (canonical face looking at the camera: x toward the subject's
//! left = image right, y up, z out of the face) into the camera frame.
//!
//! Clinical angles, in degrees, as in AFLW2000-3D and `../shared/data/headpose-dev`:
//! * `+yaw`   = face turned toward IMAGE LEFT (the subject's right)   — torticollis
//! * `+pitch` = chin up                                                 — retrocollis (+) / anterocollis (−)
//! * `+roll`  = top of the head toward IMAGE RIGHT (the subject's left) — laterocollis
//!
//! and `R = Rx(−pitch) · Ry(−yaw) · Rz(−roll)` in our camera frame. The minus signs: a right-handed
//! rotation about +y turns the nose toward image RIGHT, about +x the chin DOWN, about +z the top of
//! the head toward image LEFT; the labelled data counts the other way round on all three.
//! Tests below pin each sign with an explicit geometric picture.

use super::Mat3;
use serde::Serialize;

/// Head (or relative) orientation in degrees, conventions above.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, serde::Deserialize)]
pub struct Angles {
    pub yaw: f64,
    pub pitch: f64,
    pub roll: f64,
}

/// Names the three axes for generic code (smoothing, scoring, summaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axes {
    Yaw,
    Pitch,
    Roll,
}

fn rx(a: f64) -> Mat3 {
    let (s, c) = a.sin_cos();
    [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]]
}
fn ry(a: f64) -> Mat3 {
    let (s, c) = a.sin_cos();
    [[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]
}
fn rz(a: f64) -> Mat3 {
    let (s, c) = a.sin_cos();
    [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
}

impl Angles {
    /// The rotation these angles describe (inverse of [`Angles::from_matrix`]).
    pub fn to_matrix(self) -> Mat3 {
        let (p, y, r) = (
            -self.pitch.to_radians(),
            -self.yaw.to_radians(),
            -self.roll.to_radians(),
        );
        super::mat_mul(&super::mat_mul(&rx(p), &ry(y)), &rz(r))
    }

    /// Decompose `R = Rx(a)·Ry(b)·Rz(c)`; then pitch = −a, yaw = −b, roll = −c.
    pub fn from_matrix(m: &Mat3) -> Angles {
        let b = m[0][2].clamp(-1.0, 1.0).asin();
        let a = (-m[1][2]).atan2(m[2][2]);
        let c = (-m[0][1]).atan2(m[0][0]);
        Angles {
            yaw: -b.to_degrees(),
            pitch: -a.to_degrees(),
            roll: -c.to_degrees(),
        }
    }

    /// `self` moved by the share `w` toward `other`, angle by angle (blends of nearby estimates;
    /// not a rotation interpolation across ±180°).
    pub fn lerp(self, other: Angles, w: f64) -> Angles {
        self.lerp_each(
            other,
            Angles {
                yaw: w,
                pitch: w,
                roll: w,
            },
        )
    }

    /// [`Angles::lerp`] with a share of its own for each angle.
    pub fn lerp_each(self, other: Angles, w: Angles) -> Angles {
        Angles {
            yaw: self.yaw + w.yaw * (other.yaw - self.yaw),
            pitch: self.pitch + w.pitch * (other.pitch - self.pitch),
            roll: self.roll + w.roll * (other.roll - self.roll),
        }
    }

    pub fn get(&self, axis: Axes) -> f64 {
        match axis {
            Axes::Yaw => self.yaw,
            Axes::Pitch => self.pitch,
            Axes::Roll => self.roll,
        }
    }

    /// Subtract a neutral pose: the rotation of `self` relative to `neutral`, as angles.
    pub fn relative_to(&self, neutral: &Angles) -> Angles {
        let m = super::mat_mul(&super::transpose(&neutral.to_matrix()), &self.to_matrix());
        Angles::from_matrix(&m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::mat_vec;

    const NOSE: [f64; 3] = [0.0, 0.0, 1.0];
    const TOP: [f64; 3] = [0.0, 1.0, 0.0];

    #[test]
    fn positive_yaw_turns_nose_to_image_left() {
        let n = mat_vec(
            &Angles {
                yaw: 30.0,
                ..Default::default()
            }
            .to_matrix(),
            NOSE,
        );
        assert!(n[0] < -0.49, "nose x {n:?}");
    }

    #[test]
    fn positive_pitch_lifts_the_chin() {
        let n = mat_vec(
            &Angles {
                pitch: 30.0,
                ..Default::default()
            }
            .to_matrix(),
            NOSE,
        );
        assert!(n[1] > 0.49, "nose y {n:?}");
    }

    #[test]
    fn positive_roll_tips_head_top_to_image_right() {
        let t = mat_vec(
            &Angles {
                roll: 30.0,
                ..Default::default()
            }
            .to_matrix(),
            TOP,
        );
        assert!(t[0] > 0.49, "top x {t:?}");
    }

    #[test]
    fn matrix_round_trip() {
        for &(yaw, pitch, roll) in &[(10.0, -20.0, 5.0), (-75.0, 12.0, -30.0), (44.0, 44.0, 44.0)] {
            let a = Angles { yaw, pitch, roll };
            let b = Angles::from_matrix(&a.to_matrix());
            assert!((a.yaw - b.yaw).abs() < 1e-9 && (a.pitch - b.pitch).abs() < 1e-9 && (a.roll - b.roll).abs() < 1e-9);
        }
    }

    #[test]
    fn relative_to_itself_is_zero_and_to_zero_is_itself() {
        let a = Angles {
            yaw: 25.0,
            pitch: -10.0,
            roll: 7.0,
        };
        let z = a.relative_to(&a);
        assert!(z.yaw.abs() < 1e-9 && z.pitch.abs() < 1e-9 && z.roll.abs() < 1e-9);
        let same = a.relative_to(&Angles::default());
        assert!((same.yaw - 25.0).abs() < 1e-9);
    }
}
