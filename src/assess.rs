//! Assessment of one measured frame, the same for the daemon and `analyze` (so a video summarised
//! live and offline gives the same numbers): the quality gate, the frame of reference, smoothing,
//! the neutral pose, and the TWSTRS scores. The exam statistics it feeds live in [`crate::exam`].
//!
//! Frames of reference are kept apart: angles relative to the trunk when the shoulders are seen,
//! camera-frame angles otherwise. Each has its own smoother and its own neutral, and every frame
//! says which one it was scored in. A non-finite angle (a degenerate fit) counts as not measured:
//! it is never smoothed (it would poison the filter), scored or counted.
//!
//! Tremor is measured on the RAW head angles in the camera frame (unsmoothed: the One Euro filter
//! removes tremor; no neutral: the estimator detrends). Relative to the trunk they differ only by
//! the trunk frame's rotation: the fixed camera mount while the hips are out of view (then the two
//! oscillate identically), the BlazePose spine when they are in view, whose jitter would only add to
//! the noise floor: a seated trunk has no 2–12 Hz component of its own.

use crate::exam::{ExamFrame, Neutral, NeutralCapture};
use crate::geometry::{Angles, TrunkFrame};
use crate::pipeline::Measurement;
use crate::scoring::{Item1, ScoredIn, ScoringConfig};
use crate::smoothing::{AngleSmoother, OneEuroParams};
use crate::tremor::{Tremor, TremorEstimator, TremorSettings};

#[derive(Debug, Clone)]
pub struct AssessSettings {
    pub smoothing: OneEuroParams,
    /// Smooth over time: consecutive frames of one scene (video, camera), not unrelated stills.
    pub smooth: bool,
    /// Frames whose face presence is below this are not measured.
    pub min_confidence: f32,
    pub scoring: ScoringConfig,
    /// How long a neutral capture averages, seconds.
    pub neutral_capture_s: f64,
}

/// What one frame amounts to.
#[derive(Debug, Clone, Default)]
pub struct Assessment {
    /// Finite angles from a face confident enough or from the posture model.
    pub quality_ok: bool,
    /// The frame of reference of `angles`; `None` when not measured.
    pub scored_in: Option<ScoredIn>,
    /// Smoothed, relative to that frame's neutral: what is scored and published.
    pub angles: Option<Angles>,
    /// The trunk, when measured and finite.
    pub trunk: Option<TrunkFrame>,
    pub scores: Item1,
    /// Head tremor in the window ending here, from the RAW head angles; `None` until the window
    /// is 3 s long, and on frames not measured.
    pub tremor: Option<Tremor>,
}

impl Assessment {
    /// This frame as the exam statistics take it.
    pub fn exam_frame(&self, t: f64) -> ExamFrame<'_> {
        ExamFrame {
            t,
            scored_in: self.scored_in,
            angles: self.angles.as_ref(),
            trunk: self.trunk.as_ref(),
            scores: &self.scores,
            tremor: self.tremor.as_ref(),
        }
    }
}

fn finite(a: &Angles) -> bool {
    a.yaw.is_finite() && a.pitch.is_finite() && a.roll.is_finite()
}

fn finite_trunk(t: &TrunkFrame) -> bool {
    t.shoulder_elevation.is_finite() && t.shoulder_width.is_finite()
}

pub struct Assessor {
    settings: AssessSettings,
    trunk_smoother: AngleSmoother,
    camera_smoother: AngleSmoother,
    /// The zero of each frame of reference (zero until calibrated).
    neutral_trunk: Angles,
    neutral_camera: Angles,
    neutral_capture: Option<NeutralCapture>,
    tremor: TremorEstimator,
}

impl Assessor {
    pub fn new(settings: AssessSettings) -> Self {
        Assessor {
            trunk_smoother: AngleSmoother::new(settings.smoothing),
            camera_smoother: AngleSmoother::new(settings.smoothing),
            settings,
            neutral_trunk: Angles::default(),
            neutral_camera: Angles::default(),
            neutral_capture: None,
            tremor: TremorEstimator::new(TremorSettings::default()),
        }
    }

    pub fn scoring(&self) -> &ScoringConfig {
        &self.settings.scoring
    }

    /// The trunk-relative neutral in force (published with exam events).
    pub fn neutral(&self) -> Angles {
        self.neutral_trunk
    }

    /// Make `n` the zero of both frames of reference (a neutral known from an earlier visit).
    pub fn set_neutral(&mut self, n: Angles) {
        self.neutral_trunk = n;
        self.neutral_camera = n;
        self.reset_smoothing();
    }

    /// Average the next `neutral_capture_s` seconds of frames from `t` and make them the zero.
    pub fn capture_neutral(&mut self, t: f64) {
        self.neutral_capture = Some(NeutralCapture::new(t, self.settings.neutral_capture_s));
    }

    pub fn capturing_neutral(&self) -> bool {
        self.neutral_capture.is_some()
    }

    pub fn reset_smoothing(&mut self) {
        self.trunk_smoother.reset();
        self.camera_smoother.reset();
    }

    pub fn assess(&mut self, t: f64, m: &Measurement) -> Assessment {
        let (scored_in, raw) = match (m.relative.filter(finite), m.head.filter(finite)) {
            (Some(r), _) => (Some(ScoredIn::Trunk), Some(r)),
            (None, Some(h)) => (Some(ScoredIn::Camera), Some(h)),
            _ => (None, None),
        };
        // Measured: a confident face, or the posture model taking part in the rotation (it answers
        // where the face is turned away or missed; see geometry::fusion).
        let face_ok = m.face_found && m.face_confidence >= self.settings.min_confidence;
        let model_weight = m.rotation.map_or(0.0, |r| r.model_weight);
        let quality_ok = (face_ok || (model_weight > 0.0 && scored_in == Some(ScoredIn::Trunk))) && raw.is_some();
        let (scored_in, raw) = if quality_ok { (scored_in, raw) } else { (None, None) };
        if quality_ok {
            self.feed_neutral_capture(t, m.relative.filter(finite).as_ref(), m.head.filter(finite).as_ref());
        } else {
            self.feed_neutral_capture(t, None, None);
        }
        let angles = match (scored_in, raw) {
            (Some(ScoredIn::Trunk), Some(a)) => {
                Some(self.smooth(ScoredIn::Trunk, t, a.relative_to(&self.neutral_trunk)))
            }
            (Some(ScoredIn::Camera), Some(a)) => {
                Some(self.smooth(ScoredIn::Camera, t, a.relative_to(&self.neutral_camera)))
            }
            _ => None,
        };
        // Tremor needs the face mesh's precision: a frame the model answers alone does not feed it.
        let tremor = if quality_ok && face_ok {
            m.head.filter(finite).and_then(|h| self.tremor.push(t, &h))
        } else {
            None
        };
        let trunk = if quality_ok { m.trunk.filter(finite_trunk) } else { None };
        let scores = self.settings.scoring.score(
            angles.as_ref(),
            trunk.as_ref().map(Into::into).unwrap_or_default(),
            // The detection confidence of what answered: face and body model by their shares.
            (1.0 - model_weight) * m.face_confidence as f64 + model_weight * m.pose_confidence as f64,
        );
        Assessment {
            quality_ok,
            scored_in,
            angles,
            trunk,
            scores,
            tremor,
        }
    }

    fn smooth(&mut self, frame: ScoredIn, t: f64, a: Angles) -> Angles {
        if !self.settings.smooth {
            return a;
        }
        match frame {
            ScoredIn::Trunk => self.trunk_smoother.filter(t, &a),
            ScoredIn::Camera => self.camera_smoother.filter(t, &a),
        }
    }

    fn feed_neutral_capture(&mut self, t: f64, relative: Option<&Angles>, head: Option<&Angles>) {
        let Some(cap) = self.neutral_capture.as_mut() else {
            return;
        };
        let Some(done) = cap.add(t, relative, head) else { return };
        self.neutral_capture = None;
        match done {
            Ok(Neutral { trunk, camera }) => {
                if let Some(n) = trunk {
                    self.neutral_trunk = n;
                }
                if let Some(n) = camera {
                    self.neutral_camera = n;
                }
                let n = self.neutral_trunk;
                log::info!(
                    "neutral set to yaw {:.1} pitch {:.1} roll {:.1} (relative to the trunk){}",
                    n.yaw,
                    n.pitch,
                    n.roll,
                    if trunk.is_none() {
                        "; no shoulders were seen, so only the camera-frame zero changed"
                    } else {
                        ""
                    }
                );
                self.reset_smoothing();
            }
            Err(e) => log::warn!("neutral capture failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assessor() -> Assessor {
        Assessor::new(AssessSettings {
            smoothing: OneEuroParams::default(),
            smooth: true,
            min_confidence: 0.7,
            scoring: ScoringConfig::default(),
            neutral_capture_s: 1.0,
        })
    }

    fn measured(head: Angles, relative: Option<Angles>) -> Measurement {
        Measurement {
            face_found: true,
            face_confidence: 0.95,
            head: Some(head),
            relative,
            ..Default::default()
        }
    }

    const fn yaw(yaw: f64) -> Angles {
        Angles {
            yaw,
            pitch: 0.0,
            roll: 0.0,
        }
    }

    #[test]
    fn non_finite_angles_are_not_measured_and_do_not_poison_the_smoother() {
        let mut a = assessor();
        let good = a.assess(0.0, &measured(yaw(30.0), Some(yaw(30.0))));
        assert_eq!(good.scores.rotation.map(|s| s.score), Some(2));
        let nan = Angles {
            yaw: f64::NAN,
            ..yaw(0.0)
        };
        let bad = a.assess(0.1, &measured(nan, Some(nan)));
        assert!(!bad.quality_ok && bad.angles.is_none() && bad.scores.rotation.is_none());
        let after = a.assess(0.2, &measured(yaw(30.0), Some(yaw(30.0))));
        assert!(after.angles.unwrap().yaw.is_finite(), "{after:?}");
    }

    #[test]
    fn camera_frame_and_trunk_frame_have_their_own_smoother_and_flag() {
        let mut a = assessor();
        for i in 0..30 {
            let x = a.assess(i as f64 / 30.0, &measured(yaw(40.0), Some(yaw(10.0))));
            assert_eq!(x.scored_in, Some(ScoredIn::Trunk));
        }
        // The shoulders drop out: the camera-frame value is scored, flagged, and not blended
        // with the trunk-relative history (which would give something between 10 and 40).
        let x = a.assess(1.0, &measured(yaw(40.0), None));
        assert_eq!(x.scored_in, Some(ScoredIn::Camera));
        assert!((x.angles.unwrap().yaw - 40.0).abs() < 1e-9, "{x:?}");
        let back = a.assess(1.0 + 1.0 / 30.0, &measured(yaw(40.0), Some(yaw(10.0))));
        assert!((back.angles.unwrap().yaw - 10.0).abs() < 0.5, "{back:?}");
    }

    #[test]
    fn a_face_turned_away_is_measured_by_the_posture_model_but_feeds_no_tremor() {
        use crate::geometry::{FusedRotation, RotationSource};
        let mut a = assessor();
        // No face (turned 85° away), the body seen: the model's rotation alone.
        let m = Measurement {
            face_found: false,
            pose_found: true,
            pose_confidence: 0.9,
            relative: Some(yaw(85.0)),
            rotation: Some(FusedRotation {
                angles: yaw(85.0),
                source: RotationSource::PostureModel,
                model_weight: 1.0,
            }),
            ..Default::default()
        };
        let x = a.assess(0.0, &m);
        assert!(x.quality_ok, "{x:?}");
        assert_eq!(x.scored_in, Some(ScoredIn::Trunk));
        assert_eq!(x.scores.rotation.map(|s| s.score), Some(4), "{x:?}");
        // Its confidence is the body model's, not the absent face's 0.
        assert!(x.scores.rotation.unwrap().confidence > 0.5, "{x:?}");
        for i in 1..200 {
            let x = a.assess(i as f64 / 30.0, &m);
            assert!(x.tremor.is_none(), "tremor from model-only frames: {x:?}");
        }
        // The same frame without the model's rotation is not measured (as before the model).
        let bare = Measurement {
            rotation: None,
            relative: None,
            ..m
        };
        assert!(!a.assess(10.0, &bare).quality_ok);
    }

    #[test]
    fn neutral_capture_zeroes_each_frame_of_reference() {
        let mut a = assessor();
        a.capture_neutral(0.0);
        for i in 0..=30 {
            a.assess(i as f64 / 30.0, &measured(yaw(12.0), Some(yaw(4.0))));
        }
        assert!(!a.capturing_neutral());
        assert!((a.neutral().yaw - 4.0).abs() < 1e-9);
        let x = a.assess(2.0, &measured(yaw(12.0), None));
        assert!(x.angles.unwrap().yaw.abs() < 1e-9, "camera-frame zero is 12°: {x:?}");
    }
}
