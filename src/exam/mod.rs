//! Exams: one patient visit as a time span, and everything summarised over it.
//!
//! Owns the per-exam statistics: maximal excursion per item, TWSTRS item-1 sub-scores with
//! confidences (the score of the maximal excursion), the duration factor (item B: share of time in
//! a deviated posture, with the 25/50/75 % bands and the submaximal/maximal distinction), the time
//! within 10° of neutral (item F's quantity), and shoulder elevation. Memory is constant however
//! long the exam runs: medians come from fixed 0.5° histograms, not from stored frames.
//! The same code summarises a live exam (`run`) and a recorded video (`analyze`).
//!
//! Time, not frames: every frame stands for the time since the previous frame (capped at
//! [`MAX_FRAME_GAP_S`], so a pause in the source is not credited to anything), so dropped frames
//! and slow detector frames do not bias the shares. Angles measured relative to the trunk and
//! angles only measurable in the camera frame (no shoulders seen) are kept in separate tracks and
//! never mixed; the trunk track is scored when it has any measured time.
//! "Within 10° of neutral" tolerates short interruptions: a stretch goes on through poor frames or
//! excursions that last at most [`WITHIN_GAP_TOLERANCE_S`].
//!
//! Also owns the neutral capture that makes a patient's self-declared midline the zero, and (in
//! [`tremor`]) the exam's head-tremor statistics.

use crate::geometry::Angles;
use crate::geometry::TrunkFrame;
use crate::scoring::{Item1, ScoredIn, ScoringConfig, Shifts, SubScore};
use crate::tremor::Tremor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub mod tremor;
pub use tremor::{AxisTremorSummary, TremorStats, TremorSummary};

/// A frame accounts for at most this much time (a longer pause in the source counts as unmeasured).
pub const MAX_FRAME_GAP_S: f64 = 0.5;
/// A stretch within 10° of neutral survives interruptions up to this long.
pub const WITHIN_GAP_TOLERANCE_S: f64 = 0.5;

/// Streaming statistics of one signed quantity with a constant-memory, time-weighted median.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Streaming {
    n: u64,
    max_abs: Option<f64>,
    /// Seconds per bin.
    bins: Vec<f64>,
    lo: f64,
    step: f64,
}

impl Streaming {
    /// Histogram over [lo, hi) with `step` bins; values outside are clamped into the end bins.
    pub fn new(lo: f64, hi: f64, step: f64) -> Self {
        Streaming {
            n: 0,
            max_abs: None,
            bins: vec![0.0; ((hi - lo) / step).ceil() as usize],
            lo,
            step,
        }
    }
    fn bin(&self, x: f64) -> usize {
        (((x - self.lo) / self.step).floor().max(0.0) as usize).min(self.bins.len() - 1)
    }
    /// One sample standing for `weight` seconds.
    pub fn add(&mut self, x: f64, weight: f64) {
        if !x.is_finite() || !weight.is_finite() {
            return;
        }
        self.n += 1;
        if self.max_abs.is_none_or(|m| x.abs() > m.abs()) {
            self.max_abs = Some(x);
        }
        let i = self.bin(x);
        self.bins[i] += weight.max(0.0);
    }
    /// The value with the largest magnitude (signed).
    pub fn max_excursion(&self) -> Option<f64> {
        self.max_abs
    }
    /// Time-weighted median to within one bin.
    pub fn median(&self) -> Option<f64> {
        let total = self.weight();
        if self.n == 0 {
            return None;
        }
        let mut seen = 0.0;
        for (i, &w) in self.bins.iter().enumerate() {
            seen += w;
            if seen >= total / 2.0 {
                return Some(self.lo + (i as f64 + 0.5) * self.step);
            }
        }
        None
    }
    pub fn count(&self) -> u64 {
        self.n
    }
    /// Total seconds.
    pub fn weight(&self) -> f64 {
        self.bins.iter().sum()
    }
    /// Seconds with a value ≥ x (to within one bin).
    pub fn weight_at_least(&self, x: f64) -> f64 {
        self.bins[self.bin(x)..].iter().sum()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ItemStats {
    pub max_excursion: Option<f64>,
    pub median: Option<f64>,
    pub frames: u64,
    /// Share of this item's measured time per sub-score (frame by frame, on the scored values).
    pub score_share: BTreeMap<u8, f64>,
}

/// Seconds per sub-score of one item.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ScoreTime(BTreeMap<u8, f64>);

impl ScoreTime {
    fn add(&mut self, s: Option<SubScore>, dt: f64) {
        if let Some(s) = s {
            *self.0.entry(s.score).or_insert(0.0) += dt;
        }
    }
    fn shares(&self) -> BTreeMap<u8, f64> {
        let total: f64 = self.0.values().sum();
        self.0
            .iter()
            .map(|(&k, &v)| (k, if total > 0.0 { v / total } else { 0.0 }))
            .collect()
    }
}

fn item(s: &Streaming, scores: &ScoreTime) -> ItemStats {
    ItemStats {
        max_excursion: s.max_excursion(),
        median: s.median(),
        frames: s.count(),
        score_share: scores.shares(),
    }
}

/// The head angles of one frame of reference (trunk or camera), with their time accounting.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Track {
    yaw: Streaming,
    roll: Streaming,
    pitch: Streaming,
    /// [rotation, laterocollis, antero/retrocollis]
    scores: [ScoreTime; 3],
    measured_s: f64,
    deviated_s: f64,
    within_s: f64,
    /// Current stretch within 10°: its start and the last time the head was inside.
    within_start: Option<f64>,
    within_last: Option<f64>,
    longest_within: f64,
    /// Deviation magnitudes (max |angle|) over deviated time, for the near-maximal share.
    deviation: Streaming,
}

impl Track {
    fn new() -> Self {
        let angle = || Streaming::new(-180.0, 180.0, 0.5);
        Track {
            yaw: angle(),
            roll: angle(),
            pitch: angle(),
            scores: Default::default(),
            measured_s: 0.0,
            deviated_s: 0.0,
            within_s: 0.0,
            within_start: None,
            within_last: None,
            longest_within: 0.0,
            deviation: Streaming::new(0.0, 180.0, 0.5),
        }
    }

    fn add(&mut self, t: f64, dt: f64, a: &Angles, scores: &Item1, deviated_deg: f64) {
        self.yaw.add(a.yaw, dt);
        self.roll.add(a.roll, dt);
        self.pitch.add(a.pitch, dt);
        self.scores[0].add(scores.rotation, dt);
        self.scores[1].add(scores.laterocollis, dt);
        self.scores[2].add(scores.antero_retrocollis, dt);
        self.measured_s += dt;
        let dev = a.yaw.abs().max(a.roll.abs()).max(a.pitch.abs());
        if dev > deviated_deg {
            self.deviated_s += dt;
            self.deviation.add(dev, dt);
        }
        if dev <= 10.0 {
            self.within_s += dt;
            let continues = self.within_last.is_some_and(|l| t - l <= WITHIN_GAP_TOLERANCE_S);
            if !continues || self.within_start.is_none() {
                self.within_start = Some(t);
            }
            self.within_last = Some(t);
            let start = self.within_start.unwrap_or(t);
            self.longest_within = self.longest_within.max(t - start);
        }
    }

    /// A restart: time does not continue, so no stretch spans it.
    fn break_stretch(&mut self) {
        self.within_start = None;
    }
}

/// The exam summary published with `update` and `end` events (and by `analyze`).
#[derive(Debug, Clone, Serialize)]
pub struct ExamSummary {
    pub frames: u64,
    pub frames_measured: u64,
    /// Frames measured only in the camera frame (no shoulders seen): never mixed into the
    /// trunk-relative statistics.
    pub frames_camera_only: u64,
    pub duration_s: f64,
    /// Seconds of the exam with a measured head (in the scored frame of reference).
    pub measured_s: f64,
    /// Which angles the items and scores below are in: `trunk`, or `camera` when the trunk was
    /// never seen during the exam.
    pub scored_in: ScoredIn,
    pub rotation: ItemStats,
    pub laterocollis: ItemStats,
    pub antero_retrocollis: ItemStats,
    pub lateral_shift: ItemStats,
    pub sagittal_shift: ItemStats,
    pub shoulder_elevation: ItemStats,
    /// TWSTRS item 1 scored on the maximal excursions.
    pub item1: Item1,
    /// Share of measured time with any head angle beyond the deviation threshold.
    pub deviated_share: f64,
    /// Share of deviated time spent near (≥ 80 % of) the maximal excursion.
    pub near_max_share: f64,
    /// TWSTRS item B, 0–5 (unweighted; the scale doubles it).
    pub duration_factor: u8,
    /// Share of measured time with every head angle within 10° of neutral.
    pub within_10deg_share: f64,
    /// Longest stretch within 10° of neutral, seconds (item F's quantity; interruptions up to
    /// 0.5 s do not end a stretch).
    pub longest_within_10deg_s: f64,
    /// Head tremor per axis, and its Tsui-style grade.
    pub tremor: TremorSummary,
}

/// TWSTRS item B from the share of time deviated and whether that time is mostly at maximum.
pub fn duration_factor(deviated_share: f64, mostly_maximal: bool) -> u8 {
    let band = match deviated_share {
        s if s.is_nan() || s <= 0.0 => return 0,
        s if s < 0.25 => 0,
        s if s < 0.50 => 1,
        s if s < 0.75 => 2,
        _ => 3,
    };
    // Occasional/intermittent/frequent/constant, each 1 higher when mostly maximal.
    band + 1 + mostly_maximal as u8
}

/// One assessed frame, as the exam sees it: angles already relative to trunk (or camera) and
/// neutral, smoothed, and their scores.
#[derive(Debug, Clone, Copy)]
pub struct ExamFrame<'a> {
    pub t: f64,
    /// `None`: not measured (no face, low confidence).
    pub scored_in: Option<ScoredIn>,
    pub angles: Option<&'a Angles>,
    pub trunk: Option<&'a TrunkFrame>,
    pub scores: &'a Item1,
    /// The tremor analysis of the window ending here; `None` when none covered this frame.
    pub tremor: Option<&'a Tremor>,
}

/// Accumulates one exam. Serializable: the daemon checkpoints it so a restart does not lose it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExamStats {
    pub id: String,
    /// Start of the current run's segment (source time) and the time of earlier segments
    /// (before a restart that resumed this exam).
    segment_start_t: f64,
    earlier_s: f64,
    /// Time of the previous frame of this run; `None` after a resume.
    last_t: Option<f64>,
    frames: u64,
    frames_camera_only: u64,
    trunk: Track,
    camera: Track,
    lateral: Streaming,
    sagittal: Streaming,
    shoulder: Streaming,
    /// [lateral, sagittal] shift seconds per sub-score.
    shift_scores: [ScoreTime; 2],
    deviated_deg: f64,
    /// Absent from checkpoints written before tremor was measured.
    #[serde(default)]
    tremor: TremorStats,
}

impl ExamStats {
    pub fn new(id: String, t: f64, deviated_deg: f64) -> Self {
        let shift = || Streaming::new(-2.0, 2.0, 0.005);
        ExamStats {
            id,
            segment_start_t: t,
            earlier_s: 0.0,
            last_t: None,
            frames: 0,
            frames_camera_only: 0,
            trunk: Track::new(),
            camera: Track::new(),
            lateral: shift(),
            sagittal: shift(),
            shoulder: Streaming::new(-180.0, 180.0, 0.5),
            shift_scores: Default::default(),
            deviated_deg,
            tremor: TremorStats::default(),
        }
    }

    /// Continue after a restart, whose source clock starts again: the next frame opens a new
    /// segment, and the time between the two runs counts as neither measured nor exam time.
    pub fn resume(&mut self) {
        self.earlier_s = self.duration_s();
        self.last_t = None;
        self.trunk.break_stretch();
        self.camera.break_stretch();
    }

    fn duration_s(&self) -> f64 {
        self.earlier_s + self.last_t.map_or(0.0, |l| (l - self.segment_start_t).max(0.0))
    }

    pub fn add(&mut self, f: &ExamFrame) {
        if self.last_t.is_none() {
            // The first frame of this run starts its segment (a restart resets the source clock).
            self.segment_start_t = f.t;
        }
        let dt = self.last_t.map_or(0.0, |l| (f.t - l).clamp(0.0, MAX_FRAME_GAP_S));
        self.frames += 1;
        self.last_t = Some(f.t);
        match (f.scored_in, f.angles) {
            (Some(ScoredIn::Trunk), Some(a)) => self.trunk.add(f.t, dt, a, f.scores, self.deviated_deg),
            (Some(ScoredIn::Camera), Some(a)) => {
                self.frames_camera_only += 1;
                self.camera.add(f.t, dt, a, f.scores, self.deviated_deg);
            }
            _ => {}
        }
        if let Some(tr) = f.trunk {
            if let Some(v) = tr.lateral_shift {
                self.lateral.add(v, dt);
                self.shift_scores[0].add(f.scores.lateral_shift, dt);
            }
            if let Some(v) = tr.sagittal_shift {
                self.sagittal.add(v, dt);
                self.shift_scores[1].add(f.scores.sagittal_shift, dt);
            }
            self.shoulder.add(tr.shoulder_elevation, dt);
        }
        self.tremor.add(f.tremor, dt);
    }

    pub fn summary(&self, scoring: &ScoringConfig) -> ExamSummary {
        let (track, scored_in) = if self.trunk.yaw.count() > 0 || self.camera.yaw.count() == 0 {
            (&self.trunk, ScoredIn::Trunk)
        } else {
            (&self.camera, ScoredIn::Camera)
        };
        let measured = track.yaw.count();
        let share = |x: f64| {
            if track.measured_s > 0.0 {
                x / track.measured_s
            } else {
                0.0
            }
        };
        let max_angles = Angles {
            yaw: track.yaw.max_excursion().unwrap_or(0.0),
            pitch: track.pitch.max_excursion().unwrap_or(0.0),
            roll: track.roll.max_excursion().unwrap_or(0.0),
        };
        let max_shifts = Shifts {
            lateral: self.lateral.max_excursion(),
            sagittal: self.sagittal.max_excursion(),
        };
        let item1 = scoring.score((measured > 0).then_some(&max_angles), max_shifts, 1.0);
        // Near-maximal: deviated time at ≥ 80 % of the largest deviation seen.
        let max_dev = track.deviation.max_excursion().unwrap_or(0.0);
        let near_max_share = if track.deviated_s > 0.0 {
            track.deviation.weight_at_least(0.8 * max_dev) / track.deviation.weight().max(1e-12)
        } else {
            0.0
        };
        let deviated_share = share(track.deviated_s);
        let no_scores = ScoreTime::default();
        ExamSummary {
            frames: self.frames,
            frames_measured: measured,
            frames_camera_only: self.frames_camera_only,
            duration_s: self.duration_s(),
            measured_s: track.measured_s,
            scored_in,
            rotation: item(&track.yaw, &track.scores[0]),
            laterocollis: item(&track.roll, &track.scores[1]),
            antero_retrocollis: item(&track.pitch, &track.scores[2]),
            lateral_shift: item(&self.lateral, &self.shift_scores[0]),
            sagittal_shift: item(&self.sagittal, &self.shift_scores[1]),
            shoulder_elevation: item(&self.shoulder, &no_scores),
            item1,
            deviated_share,
            near_max_share,
            duration_factor: duration_factor(deviated_share, near_max_share >= 0.5),
            within_10deg_share: share(track.within_s),
            longest_within_10deg_s: track.longest_within,
            tremor: self.tremor.summary(),
        }
    }
}

/// Averages the patient's self-declared midline over a few seconds; the result becomes the zero.
/// Trunk-relative and camera-frame angles are averaged apart, each becoming its own track's zero.
#[derive(Debug, Clone)]
pub struct NeutralCapture {
    pub until_t: f64,
    trunk: Mean,
    camera: Mean,
}

#[derive(Debug, Clone, Default)]
struct Mean {
    sum: [f64; 3],
    n: u64,
}

impl Mean {
    fn add(&mut self, a: &Angles) {
        self.sum[0] += a.yaw;
        self.sum[1] += a.pitch;
        self.sum[2] += a.roll;
        self.n += 1;
    }
    fn get(&self) -> Option<Angles> {
        let n = self.n as f64;
        (self.n > 0).then(|| Angles {
            yaw: self.sum[0] / n,
            pitch: self.sum[1] / n,
            roll: self.sum[2] / n,
        })
    }
}

/// A finished neutral capture: the zero for each frame of reference that was measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neutral {
    pub trunk: Option<Angles>,
    pub camera: Option<Angles>,
}

impl NeutralCapture {
    pub fn new(now: f64, seconds: f64) -> Self {
        NeutralCapture {
            until_t: now + seconds,
            trunk: Mean::default(),
            camera: Mean::default(),
        }
    }
    /// Feed one frame's raw angles (relative to the trunk, and in the camera frame; `None` where
    /// not measured); returns the neutral when the time is up.
    pub fn add(&mut self, t: f64, relative: Option<&Angles>, head: Option<&Angles>) -> Option<Result<Neutral, String>> {
        if let Some(a) = relative {
            self.trunk.add(a);
        }
        if let Some(a) = head {
            self.camera.add(a);
        }
        if t < self.until_t {
            return None;
        }
        let n = Neutral {
            trunk: self.trunk.get(),
            camera: self.camera.get(),
        };
        if n.trunk.is_none() && n.camera.is_none() {
            return Some(Err(
                "no face was measured during the neutral capture; ask the patient to face the camera and try again"
                    .into(),
            ));
        }
        Some(Ok(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn angles(yaw: f64) -> Angles {
        Angles {
            yaw,
            pitch: 0.0,
            roll: 0.0,
        }
    }

    /// Feed one frame at `t`, scored like the daemon scores it.
    fn feed(e: &mut ExamStats, t: f64, scored_in: Option<ScoredIn>, a: Option<Angles>) {
        let scores = ScoringConfig::default().score(a.as_ref(), Shifts::default(), 1.0);
        e.add(&ExamFrame {
            t,
            scored_in,
            angles: a.as_ref(),
            trunk: None,
            scores: &scores,
            tremor: None,
        });
    }

    #[test]
    fn streaming_median_and_max_in_constant_memory() {
        let mut s = Streaming::new(-180.0, 180.0, 0.5);
        for x in [1.0, 2.0, 3.0, -40.0, 5.0] {
            s.add(x, 1.0);
        }
        assert_eq!(s.max_excursion(), Some(-40.0));
        assert!((s.median().unwrap() - 2.25).abs() <= 0.5);
        let before = s.bins.len();
        for i in 0..100_000 {
            s.add((i % 90) as f64, 1.0);
        }
        assert_eq!(s.bins.len(), before, "no growth with samples");
    }

    #[test]
    fn duration_factor_bands() {
        assert_eq!(duration_factor(0.0, false), 0);
        assert_eq!(duration_factor(0.1, false), 1);
        assert_eq!(duration_factor(0.1, true), 2);
        assert_eq!(duration_factor(0.3, false), 2);
        assert_eq!(duration_factor(0.6, true), 4);
        assert_eq!(duration_factor(0.9, true), 5);
        assert_eq!(duration_factor(f64::NAN, true), 0);
    }

    #[test]
    fn exam_summary_scores_the_maximal_excursion_and_times() {
        let mut e = ExamStats::new("x".into(), 0.0, 10.0);
        // 10 s at 10 fps: 6 s neutral, then 4 s turned 30°.
        for i in 0..=100 {
            let yaw = if i <= 60 { 2.0 } else { 30.0 };
            feed(&mut e, i as f64 / 10.0, Some(ScoredIn::Trunk), Some(angles(yaw)));
        }
        let s = e.summary(&ScoringConfig::default());
        assert_eq!(s.rotation.max_excursion, Some(30.0));
        assert_eq!(s.item1.rotation.unwrap().score, 2);
        assert!((s.deviated_share - 0.4).abs() < 1e-9, "{}", s.deviated_share);
        assert_eq!(s.duration_factor, 3, "intermittent (25-50 %), mostly maximal");
        assert!((s.within_10deg_share - 0.6).abs() < 1e-9);
        assert!((s.longest_within_10deg_s - 6.0).abs() < 1e-9);
        assert!(
            (s.rotation.score_share[&2] - 0.4).abs() < 1e-9,
            "{:?}",
            s.rotation.score_share
        );
    }

    #[test]
    fn shares_are_shares_of_time_not_of_frames() {
        // 5 s neutral at 30 fps, then 5 s deviated at 5 fps (a slow detector, a loaded device):
        // half the time each, whatever the frame counts (150 vs 25).
        let mut e = ExamStats::new("x".into(), 0.0, 10.0);
        let mut t = 0.0;
        while t < 5.0 {
            feed(&mut e, t, Some(ScoredIn::Trunk), Some(angles(0.0)));
            t += 1.0 / 30.0;
        }
        while t < 10.0 {
            feed(&mut e, t, Some(ScoredIn::Trunk), Some(angles(40.0)));
            t += 0.2;
        }
        let s = e.summary(&ScoringConfig::default());
        assert!((s.deviated_share - 0.5).abs() < 0.03, "{}", s.deviated_share);
        assert!((s.within_10deg_share - 0.5).abs() < 0.03, "{}", s.within_10deg_share);
    }

    #[test]
    fn one_poor_frame_does_not_end_a_stretch_within_10_degrees() {
        let mut e = ExamStats::new("x".into(), 0.0, 10.0);
        for i in 0..=100 {
            let t = i as f64 / 10.0;
            // Frame 50: no face (a blink, a hand); frames 70-71: a 0.2 s outlier beyond 10°.
            let a = match i {
                50 => None,
                70 | 71 => Some(angles(15.0)),
                _ => Some(angles(1.0)),
            };
            feed(&mut e, t, a.map(|_| ScoredIn::Trunk), a);
        }
        let s = e.summary(&ScoringConfig::default());
        assert!(
            (s.longest_within_10deg_s - 10.0).abs() < 1e-9,
            "{}",
            s.longest_within_10deg_s
        );
        // A real 2 s excursion does end it.
        let mut e = ExamStats::new("y".into(), 0.0, 10.0);
        for i in 0..=100 {
            let yaw = if (40..60).contains(&i) { 30.0 } else { 1.0 };
            feed(&mut e, i as f64 / 10.0, Some(ScoredIn::Trunk), Some(angles(yaw)));
        }
        let s = e.summary(&ScoringConfig::default());
        assert!(
            (s.longest_within_10deg_s - 4.0).abs() < 1e-9,
            "{}",
            s.longest_within_10deg_s
        );
    }

    #[test]
    fn camera_frame_angles_never_enter_the_trunk_statistics() {
        let mut e = ExamStats::new("x".into(), 0.0, 10.0);
        for i in 0..=50 {
            // Shoulders lost for the second half: the camera-frame yaw (the trunk's own turn
            // included) is 50°, but the head relative to the trunk stayed at 20°.
            let (scored_in, yaw) = if i < 25 {
                (ScoredIn::Trunk, 20.0)
            } else {
                (ScoredIn::Camera, 50.0)
            };
            feed(&mut e, i as f64 / 10.0, Some(scored_in), Some(angles(yaw)));
        }
        let s = e.summary(&ScoringConfig::default());
        assert_eq!(s.scored_in, ScoredIn::Trunk);
        assert_eq!(s.rotation.max_excursion, Some(20.0));
        assert_eq!(s.item1.rotation.unwrap().score, 1);
        assert_eq!((s.frames_measured, s.frames_camera_only), (25, 26));
        // Without any trunk, the camera track is scored, and says so.
        let mut e = ExamStats::new("y".into(), 0.0, 10.0);
        for i in 0..10 {
            feed(&mut e, i as f64 / 10.0, Some(ScoredIn::Camera), Some(angles(50.0)));
        }
        let s = e.summary(&ScoringConfig::default());
        assert_eq!((s.scored_in, s.item1.rotation.unwrap().score), (ScoredIn::Camera, 3));
    }

    #[test]
    fn a_checkpointed_exam_resumes_after_a_restart() {
        let mut e = ExamStats::new("x".into(), 0.0, 10.0);
        for i in 0..=50 {
            feed(&mut e, i as f64 / 10.0, Some(ScoredIn::Trunk), Some(angles(30.0)));
        }
        let saved = serde_json::to_string(&e).unwrap();
        let mut r: ExamStats = serde_json::from_str(&saved).unwrap();
        // The new run's clock starts again at 0.
        r.resume();
        for i in 0..=50 {
            feed(&mut r, i as f64 / 10.0, Some(ScoredIn::Trunk), Some(angles(2.0)));
        }
        let s = r.summary(&ScoringConfig::default());
        assert!((s.duration_s - 10.0).abs() < 1e-9, "{}", s.duration_s);
        assert!((s.deviated_share - 0.5).abs() < 1e-9, "{}", s.deviated_share);
        assert_eq!(s.rotation.max_excursion, Some(30.0));
        assert_eq!(s.frames, 102);
    }

    #[test]
    fn neutral_capture_averages_each_frame_of_reference_apart() {
        let mut c = NeutralCapture::new(0.0, 1.0);
        let a = |yaw, pitch, roll| Angles { yaw, pitch, roll };
        assert!(c.add(0.0, Some(&a(4.0, -2.0, 1.0)), Some(&a(30.0, 0.0, 0.0))).is_none());
        assert!(c.add(0.5, None, Some(&a(40.0, 0.0, 0.0))).is_none());
        let n = c
            .add(1.0, Some(&a(6.0, -4.0, 3.0)), Some(&a(50.0, 0.0, 0.0)))
            .unwrap()
            .unwrap();
        assert_eq!(n.trunk, Some(a(5.0, -3.0, 2.0)));
        assert_eq!(n.camera, Some(a(40.0, 0.0, 0.0)));
        assert!(NeutralCapture::new(0.0, 0.5).add(1.0, None, None).unwrap().is_err());
    }
}
