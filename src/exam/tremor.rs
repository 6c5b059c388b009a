//! The tremor part of an exam: per axis, how much of the analysed time had a tremor and its median
//! frequency and amplitude while present, and a grade in the manner of the Tsui scale's tremor item
//! (severity × duration). Constant memory, like the rest of the exam statistics.

use super::Streaming;
use crate::tremor::Tremor;
use serde::{Deserialize, Serialize};

/// An axis with tremor for less than this share of the analysed time counts as without: the
/// estimator's false-positive allowance on a still head or voluntary movement.
pub const PRESENT_SHARE: f64 = 0.05;
/// Severity 2 ("severe") from this median amplitude, degrees: 3° of rotation is about 1 cm of
/// to-and-fro at the nose tip (~10 cm from the neck's axis), a plainly visible tremor.
pub const SEVERE_AMPLITUDE_DEG: f64 = 3.0;
/// Duration 2 ("continuous") from this share of the analysed time.
pub const CONTINUOUS_SHARE: f64 = 0.5;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AxisStats {
    present_s: f64,
    frequency: Streaming,
    amplitude: Streaming,
}

impl AxisStats {
    fn new() -> Self {
        AxisStats {
            present_s: 0.0,
            frequency: Streaming::new(0.0, 15.0, 0.05),
            amplitude: Streaming::new(0.0, 30.0, 0.05),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TremorStats {
    /// Seconds with an analysis behind the frame (a window at least 3 s long; only those count
    /// towards the shares).
    analysed_s: f64,
    /// Lowest upper frequency limit seen (a slow frame rate narrows the search).
    max_frequency_hz: Option<f64>,
    axes: [AxisStats; 3],
}

impl Default for TremorStats {
    fn default() -> Self {
        TremorStats {
            analysed_s: 0.0,
            max_frequency_hz: None,
            axes: [AxisStats::new(), AxisStats::new(), AxisStats::new()],
        }
    }
}

/// One axis over the exam.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct AxisTremorSummary {
    /// Median while present, Hz; null when never present.
    pub frequency_hz: Option<f64>,
    /// Median while present, degrees (half the peak-to-peak); null when never present.
    pub amplitude_deg: Option<f64>,
    /// Share of the analysed time with tremor on this axis.
    pub share: f64,
}

/// The exam's tremor, per axis, and its grade.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct TremorSummary {
    pub yaw: AxisTremorSummary,
    pub pitch: AxisTremorSummary,
    pub roll: AxisTremorSummary,
    /// Seconds analysed (a window at least 3 s long behind each frame).
    pub analysed_s: f64,
    /// Highest frequency searched (the lowest limit seen), Hz; null when nothing was analysed.
    pub max_frequency_hz: Option<f64>,
    /// 0 none, 1 mild, 2 severe (largest median amplitude of the axes present).
    pub severity: u8,
    /// 0 none, 1 occasional, 2 continuous (largest share of the axes present).
    pub duration: u8,
    /// severity × duration, 0–4 (the Tsui scale's tremor item).
    pub score: u8,
}

impl TremorStats {
    /// One frame standing for `dt` seconds; `None` when no analysis covered it.
    pub fn add(&mut self, tremor: Option<&Tremor>, dt: f64) {
        let Some(tr) = tremor else { return };
        self.analysed_s += dt;
        self.max_frequency_hz = Some(
            self.max_frequency_hz
                .map_or(tr.max_frequency_hz, |m| m.min(tr.max_frequency_hz)),
        );
        for (stats, axis) in self.axes.iter_mut().zip(tr.axes()) {
            if let Some(a) = axis {
                stats.present_s += dt;
                stats.frequency.add(a.frequency_hz, dt);
                stats.amplitude.add(a.amplitude_deg, dt);
            }
        }
    }

    pub fn summary(&self) -> TremorSummary {
        let axis = |s: &AxisStats| {
            let share = if self.analysed_s > 0.0 {
                (s.present_s / self.analysed_s).min(1.0)
            } else {
                0.0
            };
            // Null when never present (a frame standing for no time counts for nothing).
            let present = s.present_s > 0.0;
            AxisTremorSummary {
                frequency_hz: s.frequency.median().filter(|_| present),
                amplitude_deg: s.amplitude.median().filter(|_| present),
                share,
            }
        };
        let [yaw, pitch, roll] = [0, 1, 2].map(|i| axis(&self.axes[i]));
        let present: Vec<&AxisTremorSummary> = [&yaw, &pitch, &roll]
            .into_iter()
            .filter(|a| a.share >= PRESENT_SHARE)
            .collect();
        let (severity, duration) = if present.is_empty() {
            (0, 0)
        } else {
            let amp = present.iter().filter_map(|a| a.amplitude_deg).fold(0.0, f64::max);
            let share = present.iter().map(|a| a.share).fold(0.0, f64::max);
            (
                1 + (amp >= SEVERE_AMPLITUDE_DEG) as u8,
                1 + (share >= CONTINUOUS_SHARE) as u8,
            )
        };
        TremorSummary {
            yaw,
            pitch,
            roll,
            analysed_s: self.analysed_s,
            max_frequency_hz: self.max_frequency_hz,
            severity,
            duration,
            score: severity * duration,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tremor::AxisTremor;

    fn tremor(yaw: Option<(f64, f64)>) -> Tremor {
        Tremor {
            yaw: yaw.map(|(f, a)| AxisTremor {
                frequency_hz: f,
                amplitude_deg: a,
            }),
            max_frequency_hz: 12.0,
            ..Default::default()
        }
    }

    #[test]
    fn shares_medians_and_the_grade() {
        let mut s = TremorStats::default();
        // 10 s analysed: 7 s of a 4 Hz, 2° yaw tremor (3.5 s of it at 2.5°), 3 s without.
        for i in 0..100 {
            let y = match i {
                0..35 => Some((4.0, 2.0)),
                35..70 => Some((4.2, 2.5)),
                _ => None,
            };
            s.add(Some(&tremor(y)), 0.1);
        }
        s.add(None, 5.0); // not analysed: counts for nothing
        let x = s.summary();
        assert!((x.analysed_s - 10.0).abs() < 1e-9);
        assert!((x.yaw.share - 0.7).abs() < 1e-9, "{x:?}");
        assert!((x.yaw.frequency_hz.unwrap() - 4.0).abs() <= 0.05, "{x:?}");
        assert!((x.yaw.amplitude_deg.unwrap() - 2.0).abs() <= 0.05, "{x:?}");
        assert_eq!(
            (x.pitch.share, x.pitch.frequency_hz, x.pitch.amplitude_deg),
            (0.0, None, None)
        );
        assert_eq!((x.severity, x.duration, x.score), (1, 2, 2), "mild and continuous");
    }

    #[test]
    fn rare_detections_are_no_tremor_and_large_amplitudes_are_severe() {
        let mut s = TremorStats::default();
        for i in 0..100 {
            s.add(Some(&tremor((i < 4).then_some((5.0, 8.0)))), 0.1);
        }
        assert_eq!(s.summary().score, 0, "4 % of the time: below the allowance");
        let mut s = TremorStats::default();
        for i in 0..100 {
            s.add(Some(&tremor((i < 30).then_some((5.0, 4.0)))), 0.1);
        }
        let x = s.summary();
        assert_eq!((x.severity, x.duration, x.score), (2, 1, 2), "severe and occasional");
        // A tremor only on frames that stand for no time (the first after a resume): never present.
        let mut s = TremorStats::default();
        s.add(Some(&tremor(None)), 1.0);
        s.add(Some(&tremor(Some((5.0, 2.0)))), 0.0);
        let x = s.summary();
        assert_eq!(
            (x.yaw.share, x.yaw.frequency_hz, x.yaw.amplitude_deg),
            (0.0, None, None),
            "{x:?}"
        );
    }
}
