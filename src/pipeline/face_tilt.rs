//! The rotation of the next frame's face crop: the eye line's steady turn carried one frame ahead.
//!
//! Why: FaceMesh reads yaw and pitch right only in a crop aligned with the eye line, so a face
//! tilted more than `RECROP_TILT_DEG` inside its crop is measured again in a re-aligned one (a
//! second mesh run). A head tilting steadily (the demo: up to 2.6° per frame; a slow voluntary
//! tilt; a slow device) was always one step behind its crop and paid that second run on nearly
//! every frame. Carrying the last step forward puts the crop where the eye line will be.
//!
//! Only a steady turn is carried: two consecutive steps with the same sign, each no larger than a
//! jerk (`MAX_STEP_DEG`), and then the smaller of the two, so that a head slowing down, noise on a
//! still head (steps of alternating sign) or a jump followed by a stop never moves the crop past
//! the face. Whatever the prediction misses, the re-crop still catches.

/// A step larger than this (degrees per frame) is a jerk, not a steady turn: never carried.
const MAX_STEP_DEG: f32 = 5.0;

#[derive(Debug, Default, Clone, Copy)]
pub struct TiltPredictor {
    /// The eye line's rotation in the last frame, radians.
    last: Option<f32>,
    /// Its change from the frame before, radians.
    step: Option<f32>,
}

impl TiltPredictor {
    /// Record this frame's eye-line rotation (radians, the crop's convention) and return the
    /// rotation to crop the next frame at.
    pub fn advance(&mut self, rotation: f32) -> f32 {
        let step = self.last.map(|last| wrap(rotation - last));
        let ahead = match (self.step, step) {
            (Some(a), Some(b)) if steady(a, b) => a.abs().min(b.abs()).copysign(b),
            _ => 0.0,
        };
        self.last = Some(rotation);
        self.step = step;
        wrap(rotation + ahead)
    }

    /// Forget the history: a new track starts.
    pub fn reset(&mut self) {
        *self = TiltPredictor::default();
    }
}

fn steady(a: f32, b: f32) -> bool {
    let max = MAX_STEP_DEG.to_radians();
    a != 0.0 && b != 0.0 && a.signum() == b.signum() && a.abs() <= max && b.abs() <= max
}

/// An angle in (−π, π].
fn wrap(a: f32) -> f32 {
    crate::inference::roi::normalize_radians(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deg(d: f32) -> f32 {
        d.to_radians()
    }

    #[test]
    fn a_steady_tilt_is_carried_one_frame_ahead() {
        let mut p = TiltPredictor::default();
        assert_eq!(p.advance(deg(10.0)), deg(10.0), "no history: crop where the eyes are");
        assert!(
            (p.advance(deg(12.0)) - deg(12.0)).abs() < 1e-6,
            "one step is not yet a trend"
        );
        // Second step of +2°: the next crop is turned 2° further.
        assert!((p.advance(deg(14.0)) - deg(16.0)).abs() < 1e-5);
        // Slowing down (+1°): carry the smaller step.
        assert!((p.advance(deg(15.0)) - deg(16.0)).abs() < 1e-5);
    }

    #[test]
    fn noise_jerks_and_reversals_are_not_carried() {
        let mut p = TiltPredictor::default();
        // A still head with jitter: steps alternate in sign.
        for (i, r) in [0.3f32, -0.2, 0.4, -0.1].iter().enumerate() {
            let next = p.advance(deg(*r));
            if i > 0 {
                assert_eq!(next, deg(*r), "jitter moved the crop at frame {i}");
            }
        }
        // A jump of 25° after a small step the same way: a jerk, not carried.
        let mut p = TiltPredictor::default();
        p.advance(deg(0.0));
        p.advance(deg(1.0));
        assert_eq!(p.advance(deg(26.0)), deg(26.0));
        // After a reset there is no history.
        p.reset();
        assert_eq!(p.advance(deg(-30.0)), deg(-30.0));
    }

    #[test]
    fn the_turn_wraps_at_half_a_circle() {
        let mut p = TiltPredictor::default();
        p.advance(deg(176.0));
        p.advance(deg(178.0));
        let next = p.advance(deg(-180.0)); // +2° more, across the wrap
        assert!((next - deg(-178.0)).abs() < 1e-5, "{}", next.to_degrees());
    }
}
