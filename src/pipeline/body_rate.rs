//! When the body models run: on every frame while anything moves, on every `pose_every`-th frame
//! while the patient holds still.
//!
//! The body models (BlazePose, then our posture model on its crop) are most of a frame's cost
//! (on x86_64 ~150 M of ~210 M instructions). A seated patient holding a posture for the exam
//! barely moves the trunk, and the face mesh, which runs on every frame, shows when the head
//! moves: a head that shifts, tilts or turns since the body models last ran makes them run again
//! on the next frame. A face the mesh does not find (turned beyond ~70°) leaves nothing to vouch
//! for a still head: then they run on every frame. The mesh's angles need not be right to show
//! stillness, so a far-turned head that the posture model measures is held too, as long as the
//! mesh still tracks it (the torticollis patients whose rotation the model carries).

use crate::geometry::Angles;
use crate::inference::roi::Roi;

/// The face crop's centre or size moving by this share of its width since the body models ran
/// counts as movement (the crop is ~1.5 face widths, ~25 cm: 3 % is ~0.8 cm of head shift).
/// Measured on rendered 30 fps clips: 3 % and 3° against 5 % and 4° ran the body on a few more
/// frames (61–69 of 180 against 60–65 at `pose_every` 3) for about the same errors; 2° did not
/// help either. The mesh's angles on a held head step by 0.2–0.9° (std) from frame to frame, the
/// most at a held 50° turn, where noise alone sometimes passes 3° and runs the body early (72 of
/// 180 frames): safe, only slower.
pub const MOVED_SHARE: f32 = 0.03;

/// Any head angle (camera frame) changing by this much since the body models ran counts as
/// movement, degrees.
pub const MOVED_DEG: f64 = 3.0;

/// What the face was on one frame, for deciding whether the body models must run again.
#[derive(Debug, Clone, Copy)]
pub struct FaceSeen {
    /// The face crop the mesh's landmarks give (the tracked face's next crop).
    pub roi: Roi,
    /// The head's orientation in the camera frame (the face mesh's).
    pub head: Angles,
}

/// The body models' schedule over a video (see the module's docs).
#[derive(Debug, Clone, Default)]
pub struct BodyRate {
    /// Run at least on every n-th frame (`pipeline.pose_every`; 0 and 1: every frame).
    every: u32,
    /// Frames processed since the body models last ran.
    since_body: u32,
    /// The face on the frame the body models last ran on.
    at_body: Option<FaceSeen>,
    /// The face on the last frame.
    last: Option<FaceSeen>,
    /// The face moved between the last two body runs: it is likely still moving, so the body
    /// models run on every frame until a run finds it still (otherwise, in a quick turn, they
    /// would run on every other frame: movement shows only one frame after a run).
    moving: bool,
}

impl BodyRate {
    pub fn new(every: u32) -> Self {
        BodyRate {
            every,
            ..Default::default()
        }
    }

    /// Must the body models run on the next frame? `held` says whether a body result is held.
    pub fn due(&self, held: bool) -> bool {
        if self.every <= 1 || !held || self.moving || self.since_body + 1 >= self.every {
            return true;
        }
        match (self.at_body, self.last) {
            (Some(then), Some(now)) => moved(&then, &now),
            // No face at the last body run or on the last frame: nothing shows that the patient
            // holds still.
            _ => true,
        }
    }

    /// Has the face held still since the body models last ran (so that a due run is the
    /// periodic refresh of `pose_every`, not a response to movement)?
    pub fn still(&self) -> bool {
        self.every > 1
            && !self.moving
            && matches!((self.at_body, self.last), (Some(then), Some(now)) if !moved(&then, &now))
    }

    /// After a frame: whether the body models ran on it and the face it showed (none when no
    /// face was measured).
    pub fn record(&mut self, body_ran: bool, face: Option<FaceSeen>) {
        self.last = face;
        if body_ran {
            // Without a face at both runs nothing shows movement (and `due` runs the body anyway
            // while a face is missing).
            self.moving = matches!((self.at_body, face), (Some(then), Some(now)) if moved(&then, &now));
            self.at_body = face;
            self.since_body = 0;
        } else {
            self.since_body += 1;
        }
    }

    /// Forget the history: the next frame is unrelated to the last (a new still image).
    pub fn reset(&mut self) {
        *self = BodyRate::new(self.every);
    }
}

/// Has the face moved between `then` and `now` more than the thresholds allow?
fn moved(then: &FaceSeen, now: &FaceSeen) -> bool {
    let (a, b) = (&then.roi, &now.roi);
    let width = a.width.max(1.0);
    let shifted = (b.cx - a.cx).hypot(b.cy - a.cy) / width > MOVED_SHARE;
    let scaled = (b.width - a.width).abs() / width > MOVED_SHARE;
    let (p, q) = (then.head, now.head);
    let turned = [q.yaw - p.yaw, q.pitch - p.pitch, q.roll - p.roll]
        .iter()
        .any(|d| d.abs() > MOVED_DEG);
    shifted || scaled || turned
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(cx: f32, width: f32, yaw: f64) -> FaceSeen {
        FaceSeen {
            roi: Roi {
                cx,
                cy: 200.0,
                width,
                height: width,
                rotation: 0.0,
            },
            head: Angles {
                yaw,
                pitch: 0.0,
                roll: 0.0,
            },
        }
    }

    /// Runs `frames` faces through a schedule of `every` and returns on which frames the body ran.
    fn schedule(every: u32, frames: &[FaceSeen]) -> Vec<bool> {
        let mut rate = BodyRate::new(every);
        let mut held = false;
        frames
            .iter()
            .map(|f| {
                let run = rate.due(held);
                held |= run;
                rate.record(run, Some(*f));
                run
            })
            .collect()
    }

    #[test]
    fn a_still_face_runs_the_body_every_nth_frame_and_any_movement_at_once() {
        let still = vec![face(320.0, 200.0, 10.0); 7];
        assert_eq!(
            schedule(3, &still),
            [true, false, false, true, false, false, true],
            "a still patient: every third frame"
        );
        assert!(schedule(1, &still).iter().all(|&r| r), "pose_every 1: every frame");
        // Noise below the thresholds is still.
        let mut noisy = still.clone();
        noisy[1] = face(324.0, 204.0, 12.0);
        assert_eq!(schedule(3, &noisy)[..3], [true, false, false]);
        // A head shift (6 % of the crop), a turn (5°), a change of size: the body runs on the
        // next frame.
        for moved in [
            face(332.0, 200.0, 10.0),
            face(320.0, 200.0, 15.0),
            face(320.0, 212.0, 10.0),
        ] {
            let mut frames = still.clone();
            frames[1] = moved;
            assert_eq!(schedule(3, &frames)[..3], [true, false, true], "{moved:?}");
        }
    }

    #[test]
    fn a_moving_face_runs_the_body_on_every_frame_until_it_holds_still() {
        // A quick turn (5° a frame) from frame 2 to 6, then held.
        let yaws = [0.0, 0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 25.0, 25.0, 25.0, 25.0, 25.0];
        let frames: Vec<FaceSeen> = yaws.iter().map(|&y| face(320.0, 200.0, y)).collect();
        assert_eq!(
            schedule(4, &frames),
            [true, false, false, true, true, true, true, true, false, false, false, true]
        );
    }

    #[test]
    fn a_due_run_is_a_still_refresh_only_while_nothing_moved() {
        // What `body_worker` sends to the background: the periodic refresh of a still patient.
        let mut rate = BodyRate::new(3);
        rate.record(true, Some(face(320.0, 200.0, 10.0)));
        rate.record(false, Some(face(320.0, 200.0, 10.0)));
        rate.record(false, Some(face(321.0, 200.0, 11.0)));
        assert!(rate.due(true) && rate.still(), "the third frame's refresh");
        let mut turned = rate.clone();
        turned.record(false, Some(face(320.0, 200.0, 15.0)));
        assert!(turned.due(true) && !turned.still(), "a 5° turn since the last run");
        rate.record(true, Some(face(320.0, 200.0, 16.0)));
        assert!(!rate.still(), "the last run found the face moved: still moving");
        assert!(!BodyRate::new(1).still(), "pose_every 1 has no refresh");
    }

    #[test]
    fn no_face_or_a_reset_runs_the_body() {
        let mut rate = BodyRate::new(4);
        rate.record(true, Some(face(320.0, 200.0, 0.0)));
        assert!(!rate.due(true));
        assert!(rate.due(false), "nothing held");
        rate.record(false, None);
        assert!(rate.due(true), "no face on the last frame");
        rate.record(true, Some(face(320.0, 200.0, 0.0)));
        rate.reset();
        assert!(rate.due(true), "after a reset");
    }
}
