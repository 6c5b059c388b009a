//! Exams: one patient visit as a time span, and everything summarised over it.
//!
//! Owns the per-exam statistics: maximal excursion per item, TWSTRS item-1 sub-scores with
//! confidences (the score of the maximal excursion), the duration factor (item B: share of time in
//! a deviated posture, with the 25/50/75 % bands and the submaximal/maximal distinction), the time
//! within 10° of neutral (item F's quantity), and shoulder elevation. Memory is constant however
//! long the exam runs: medians come from fixed 0.5° histograms, not from stored frames.
//! Also owns the neutral capture that makes a patient's self-declared midline the zero.

use crate::geometry::Angles;
use crate::geometry::TrunkFrame;
use crate::scoring::{Item1, ScoringConfig, Shifts};
use serde::Serialize;

/// Streaming statistics of one signed quantity with a constant-memory median.
#[derive(Debug, Clone)]
pub struct Streaming {
    n: u64,
    max_abs: Option<f64>,
    bins: Vec<u32>,
    lo: f64,
    step: f64,
}

impl Streaming {
    /// Histogram over [lo, hi) with `step` bins; values outside are clamped into the end bins.
    pub fn new(lo: f64, hi: f64, step: f64) -> Self {
        Streaming {
            n: 0,
            max_abs: None,
            bins: vec![0; ((hi - lo) / step).ceil() as usize],
            lo,
            step,
        }
    }
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        self.n += 1;
        if self.max_abs.is_none_or(|m| x.abs() > m.abs()) {
            self.max_abs = Some(x);
        }
        let i = (((x - self.lo) / self.step).floor().max(0.0) as usize).min(self.bins.len() - 1);
        self.bins[i] += 1;
    }
    /// The value with the largest magnitude (signed).
    pub fn max_excursion(&self) -> Option<f64> {
        self.max_abs
    }
    /// Median to within one bin.
    pub fn median(&self) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let half = self.n.div_ceil(2);
        let mut seen = 0u64;
        for (i, &c) in self.bins.iter().enumerate() {
            seen += c as u64;
            if seen >= half {
                return Some(self.lo + (i as f64 + 0.5) * self.step);
            }
        }
        None
    }
    pub fn count(&self) -> u64 {
        self.n
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ItemStats {
    pub max_excursion: Option<f64>,
    pub median: Option<f64>,
    pub frames: u64,
}

impl From<&Streaming> for ItemStats {
    fn from(s: &Streaming) -> Self {
        ItemStats {
            max_excursion: s.max_excursion(),
            median: s.median(),
            frames: s.count(),
        }
    }
}

/// The exam summary published with `update` and `end` events.
#[derive(Debug, Clone, Serialize)]
pub struct ExamSummary {
    pub frames: u64,
    pub frames_measured: u64,
    pub duration_s: f64,
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
    /// Longest continuous stretch within 10° of neutral, seconds (item F's quantity).
    pub longest_within_10deg_s: f64,
}

/// TWSTRS item B from the share of time deviated and whether that time is mostly at maximum.
pub fn duration_factor(deviated_share: f64, mostly_maximal: bool) -> u8 {
    let band = match deviated_share {
        s if s <= 0.0 => return 0,
        s if s < 0.25 => 0,
        s if s < 0.50 => 1,
        s if s < 0.75 => 2,
        _ => 3,
    };
    // Occasional/intermittent/frequent/constant, each 1 higher when mostly maximal.
    band + 1 + mostly_maximal as u8
}

/// Accumulates one exam. Angles given to it are already relative to trunk and neutral, smoothed.
#[derive(Debug, Clone)]
pub struct ExamStats {
    pub id: String,
    pub started_t: f64,
    last_t: f64,
    frames: u64,
    yaw: Streaming,
    roll: Streaming,
    pitch: Streaming,
    lateral: Streaming,
    sagittal: Streaming,
    shoulder: Streaming,
    deviated_frames: u64,
    within_frames: u64,
    within_since: Option<f64>,
    longest_within: f64,
    /// Deviation magnitudes (max |angle|) as a histogram, for the near-maximal share at the end.
    deviation: Streaming,
    deviated_deg: f64,
}

impl ExamStats {
    pub fn new(id: String, t: f64, deviated_deg: f64) -> Self {
        let angle = || Streaming::new(-180.0, 180.0, 0.5);
        let shift = || Streaming::new(-2.0, 2.0, 0.005);
        ExamStats {
            id,
            started_t: t,
            last_t: t,
            frames: 0,
            yaw: angle(),
            roll: angle(),
            pitch: angle(),
            lateral: shift(),
            sagittal: shift(),
            shoulder: angle(),
            deviated_frames: 0,
            within_frames: 0,
            within_since: None,
            longest_within: 0.0,
            deviation: Streaming::new(0.0, 180.0, 0.5),
            deviated_deg,
        }
    }

    pub fn add(&mut self, t: f64, angles: Option<&Angles>, trunk: Option<&TrunkFrame>) {
        self.frames += 1;
        self.last_t = t;
        if let Some(a) = angles {
            self.yaw.add(a.yaw);
            self.roll.add(a.roll);
            self.pitch.add(a.pitch);
            let dev = a.yaw.abs().max(a.roll.abs()).max(a.pitch.abs());
            if dev > self.deviated_deg {
                self.deviated_frames += 1;
                self.deviation.add(dev);
            }
            if dev <= 10.0 {
                self.within_frames += 1;
                let since = *self.within_since.get_or_insert(t);
                self.longest_within = self.longest_within.max(t - since);
            } else {
                self.within_since = None;
            }
        } else {
            self.within_since = None;
        }
        if let Some(tr) = trunk {
            if let Some(v) = tr.lateral_shift {
                self.lateral.add(v);
            }
            if let Some(v) = tr.sagittal_shift {
                self.sagittal.add(v);
            }
            self.shoulder.add(tr.shoulder_elevation);
        }
    }

    pub fn summary(&self, scoring: &ScoringConfig) -> ExamSummary {
        let measured = self.yaw.count();
        let share = |n: u64| if measured == 0 { 0.0 } else { n as f64 / measured as f64 };
        let max_angles = Angles {
            yaw: self.yaw.max_excursion().unwrap_or(0.0),
            pitch: self.pitch.max_excursion().unwrap_or(0.0),
            roll: self.roll.max_excursion().unwrap_or(0.0),
        };
        let max_shifts = Shifts {
            lateral: self.lateral.max_excursion(),
            sagittal: self.sagittal.max_excursion(),
        };
        let item1 = scoring.score((measured > 0).then_some(&max_angles), max_shifts, 1.0);
        // Near-maximal: deviated frames at ≥ 80 % of the largest deviation seen.
        let max_dev = self.deviation.max_excursion().unwrap_or(0.0);
        let near = self.deviation.count_at_least(0.8 * max_dev);
        let near_max_share = if self.deviated_frames == 0 {
            0.0
        } else {
            near as f64 / self.deviated_frames as f64
        };
        let deviated_share = share(self.deviated_frames);
        ExamSummary {
            frames: self.frames,
            frames_measured: measured,
            duration_s: self.last_t - self.started_t,
            rotation: (&self.yaw).into(),
            laterocollis: (&self.roll).into(),
            antero_retrocollis: (&self.pitch).into(),
            lateral_shift: (&self.lateral).into(),
            sagittal_shift: (&self.sagittal).into(),
            shoulder_elevation: (&self.shoulder).into(),
            item1,
            deviated_share,
            near_max_share,
            duration_factor: duration_factor(deviated_share, near_max_share >= 0.5),
            within_10deg_share: share(self.within_frames),
            longest_within_10deg_s: self.longest_within,
        }
    }
}

impl Streaming {
    /// Number of samples ≥ x (to within one bin).
    pub fn count_at_least(&self, x: f64) -> u64 {
        let i = (((x - self.lo) / self.step).floor().max(0.0) as usize).min(self.bins.len() - 1);
        self.bins[i..].iter().map(|&c| c as u64).sum()
    }
}

/// Averages the patient's self-declared midline over a few seconds; the result becomes the zero.
#[derive(Debug, Clone)]
pub struct NeutralCapture {
    pub until_t: f64,
    sum: [f64; 3],
    n: u64,
}

impl NeutralCapture {
    pub fn new(now: f64, seconds: f64) -> Self {
        NeutralCapture {
            until_t: now + seconds,
            sum: [0.0; 3],
            n: 0,
        }
    }
    /// Feed one frame (angles relative to the trunk, raw zero); returns the neutral when done.
    pub fn add(&mut self, t: f64, a: Option<&Angles>) -> Option<Result<Angles, String>> {
        if let Some(a) = a {
            self.sum[0] += a.yaw;
            self.sum[1] += a.pitch;
            self.sum[2] += a.roll;
            self.n += 1;
        }
        if t < self.until_t {
            return None;
        }
        if self.n == 0 {
            return Some(Err(
                "no face was measured during the neutral capture; ask the patient to face the camera and try again"
                    .into(),
            ));
        }
        let n = self.n as f64;
        Some(Ok(Angles {
            yaw: self.sum[0] / n,
            pitch: self.sum[1] / n,
            roll: self.sum[2] / n,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_median_and_max_in_constant_memory() {
        let mut s = Streaming::new(-180.0, 180.0, 0.5);
        for x in [1.0, 2.0, 3.0, -40.0, 5.0] {
            s.add(x);
        }
        assert_eq!(s.max_excursion(), Some(-40.0));
        assert!((s.median().unwrap() - 2.25).abs() <= 0.5);
        let before = s.bins.len();
        for i in 0..100_000 {
            s.add((i % 90) as f64);
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
    }

    #[test]
    fn exam_summary_scores_the_maximal_excursion_and_times() {
        let mut e = ExamStats::new("x".into(), 0.0, 10.0);
        // 10 s at 10 fps: 6 s neutral, then 4 s turned 30°.
        for i in 0..100 {
            let t = i as f64 / 10.0;
            let yaw = if i < 60 { 2.0 } else { 30.0 };
            e.add(
                t,
                Some(&Angles {
                    yaw,
                    pitch: 0.0,
                    roll: 0.0,
                }),
                None,
            );
        }
        let s = e.summary(&ScoringConfig::default());
        assert_eq!(s.rotation.max_excursion, Some(30.0));
        assert_eq!(s.item1.rotation.unwrap().score, 2);
        assert!((s.deviated_share - 0.4).abs() < 1e-9);
        assert_eq!(s.duration_factor, 3, "intermittent (25-50 %), mostly maximal");
        assert!((s.within_10deg_share - 0.6).abs() < 1e-9);
        assert!((s.longest_within_10deg_s - 5.9).abs() < 1e-9);
    }

    #[test]
    fn neutral_capture_averages_then_finishes() {
        let mut c = NeutralCapture::new(0.0, 1.0);
        assert!(c
            .add(
                0.0,
                Some(&Angles {
                    yaw: 4.0,
                    pitch: -2.0,
                    roll: 1.0
                })
            )
            .is_none());
        let n = c
            .add(
                1.0,
                Some(&Angles {
                    yaw: 6.0,
                    pitch: -4.0,
                    roll: 3.0,
                }),
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            n,
            Angles {
                yaw: 5.0,
                pitch: -3.0,
                roll: 2.0
            }
        );
        assert!(NeutralCapture::new(0.0, 0.5).add(1.0, None).unwrap().is_err());
    }
}
