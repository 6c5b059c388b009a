//! Head tremor: the dominant oscillation of the head, per axis, live.
//!
//! Owns the estimator that the assessment feeds with the RAW angles of each measured frame (the
//! smoothed ones are useless here: the One Euro filter is built to remove exactly this), at the
//! frames' real timestamps. Every analysis looks at the last [`TremorSettings::window_s`] seconds:
//!
//! 1. Each axis is detrended by a weighted cubic fit, which takes out posture and slow voluntary
//!    movement before the search (with uneven sampling, a large slow component would otherwise
//!    leak into every frequency).
//! 2. A sinusoid plus offset is fitted by weighted least squares at every frequency of a 0.2 Hz
//!    grid from 2 Hz up to 12 Hz or 0.45 × the processed frame rate, whichever is lower (just
//!    under the Nyquist limit, where the phase of a sinusoid becomes ambiguous). This is the
//!    floating-mean Lomb–Scargle periodogram: exact for uneven spacing, so dropped frames need
//!    no resampling. The Hann weights taper the window's edges so that frequencies do not leak.
//! 3. The best frequency is refined by a parabola through its neighbours and fitted again there:
//!    the amplitude is that sinusoid's (half its peak-to-peak), in degrees.
//! 4. It is a tremor when the amplitude is at least [`TremorSettings::min_amplitude_deg`], the
//!    sinusoid explains at least [`TremorSettings::min_explained`] of the detrended variance (a
//!    still head's landmark noise spreads over all frequencies and explains little at any one),
//!    and it does so in each half of the window too (an oscillation that lasts, not one jerk).
//! 5. An axis that only echoes a stronger axis's oscillation (the measurement couples the axes) is
//!    dropped: see [`suppress_crosstalk`].

use crate::geometry::Angles;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Lowest frequency searched: below it, head movement is voluntary or postural.
pub const MIN_HZ: f64 = 2.0;
/// Highest frequency searched when frames come fast enough.
pub const MAX_HZ: f64 = 12.0;
/// The search stops at this fraction of the processed frame rate (Nyquist is 0.5).
const NYQUIST_MARGIN: f64 = 0.45;
/// Frequency grid step before refinement.
const GRID_HZ: f64 = 0.2;
/// Another axis below this share of the dominant axis's amplitude, at a related frequency, is
/// crosstalk (see [`suppress_crosstalk`]).
const CROSSTALK_RATIO: f64 = 0.6;
/// Frequencies this close count as the same oscillation.
const SAME_FREQUENCY_HZ: f64 = 0.3;
/// A pause longer than this between frames starts the window afresh.
const MAX_GAP_S: f64 = 0.5;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TremorSettings {
    /// Analysis window, seconds: long enough for 8 cycles at 2 Hz, short enough to follow onset.
    pub window_s: f64,
    /// Smallest amplitude reported as tremor, degrees (half the peak-to-peak).
    pub min_amplitude_deg: f64,
    /// Share of the detrended variance the sinusoid must explain, in the whole window and
    /// (at 2/3 of it) in each half.
    pub min_explained: f64,
    /// Analyses per second at most; between them the last result stands (cost).
    pub max_rate_hz: f64,
}

impl Default for TremorSettings {
    fn default() -> Self {
        TremorSettings {
            window_s: 4.0,
            min_amplitude_deg: 0.5,
            min_explained: 0.4,
            max_rate_hz: 10.0,
        }
    }
}

/// A detected oscillation on one axis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AxisTremor {
    pub frequency_hz: f64,
    /// Half the peak-to-peak rotation, degrees.
    pub amplitude_deg: f64,
}

/// The tremor analysis of the window ending at one frame: `None` per axis when no tremor.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Tremor {
    pub yaw: Option<AxisTremor>,
    pub pitch: Option<AxisTremor>,
    pub roll: Option<AxisTremor>,
    /// Highest frequency searched: 12 Hz, lower when frames come slower than 12 / 0.45 fps.
    pub max_frequency_hz: f64,
}

impl Tremor {
    pub fn axes(&self) -> [Option<AxisTremor>; 3] {
        [self.yaw, self.pitch, self.roll]
    }
}

/// The best sinusoid found on one axis, detected or not (for diagnostics and tuning).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub frequency_hz: f64,
    pub amplitude_deg: f64,
    /// Share of the detrended, weighted variance the sinusoid explains, whole window.
    pub explained: f64,
    /// The same in the weaker half of the window.
    pub explained_halves: f64,
}

pub struct TremorEstimator {
    settings: TremorSettings,
    /// (t, yaw, pitch, roll) of the window, oldest first.
    samples: VecDeque<(f64, [f64; 3])>,
    last_analysis_t: Option<f64>,
    last: Option<Tremor>,
    /// Scratch buffers, kept to avoid allocating per analysis.
    scratch: Scratch,
}

#[derive(Default)]
struct Scratch {
    t: Vec<f64>,
    w: Vec<f64>,
    r: [Vec<f64>; 3],
    sums: Vec<[f64; 11]>,
    explained: Vec<f64>,
}

impl TremorEstimator {
    pub fn new(settings: TremorSettings) -> Self {
        TremorEstimator {
            settings,
            samples: VecDeque::new(),
            last_analysis_t: None,
            last: None,
            scratch: Scratch::default(),
        }
    }

    /// Forget everything: the next window starts now (a change of frame of reference, a neutral).
    pub fn reset(&mut self) {
        self.samples.clear();
        self.last_analysis_t = None;
        self.last = None;
    }

    /// Add one frame's raw angles; returns the analysis of the window ending here, `None` until
    /// the window holds enough (3/4 of its length at ≥ 5.5 frames per second).
    pub fn push(&mut self, t: f64, a: &Angles) -> Option<Tremor> {
        let finite = t.is_finite() && a.yaw.is_finite() && a.pitch.is_finite() && a.roll.is_finite();
        if !finite {
            return self.last;
        }
        if let Some(&(last_t, _)) = self.samples.back() {
            if t <= last_t - 1e-9 || t - last_t > MAX_GAP_S {
                self.reset();
            } else if t - last_t < 1e-9 {
                return self.last; // the same instant twice: keep the first
            }
        }
        self.samples.push_back((t, [a.yaw, a.pitch, a.roll]));
        while self
            .samples
            .front()
            .is_some_and(|&(t0, _)| t - t0 > self.settings.window_s)
        {
            self.samples.pop_front();
        }
        let due = self
            .last_analysis_t
            .is_none_or(|l| t - l >= 1.0 / self.settings.max_rate_hz - 1e-9);
        if due {
            self.last = self.analyse();
            if self.last.is_some() {
                self.last_analysis_t = Some(t);
            }
        }
        self.last
    }

    /// The best candidate per axis in the current window (`None` if the window is too short).
    pub fn candidates(&mut self) -> Option<([Candidate; 3], f64)> {
        let n = self.samples.len();
        let (t0, t1) = (self.samples.front()?.0, self.samples.back()?.0);
        let span = t1 - t0;
        if span < 0.75 * self.settings.window_s || n < 8 {
            return None;
        }
        let rate = (n - 1) as f64 / span;
        let f_max = MAX_HZ.min(NYQUIST_MARGIN * rate);
        if f_max < MIN_HZ + 0.5 {
            return None;
        }
        let s = &mut self.scratch;
        s.t.clear();
        s.w.clear();
        let mid = 0.5 * (t0 + t1);
        for &(t, _) in &self.samples {
            s.t.push(t - mid);
            // Hann taper over the window's actual span.
            s.w.push(0.5 - 0.5 * (2.0 * std::f64::consts::PI * (t - t0) / span).cos());
        }
        for axis in 0..3 {
            s.r[axis].clear();
            s.r[axis].extend(self.samples.iter().map(|(_, y)| y[axis]));
            detrend_cubic(&s.t, &s.w, &mut s.r[axis], 0.5 * span);
        }
        let best = periodogram_peaks(s, f_max);
        let cands = [0, 1, 2].map(|axis| refine(&s.t, &s.w, &s.r[axis], best[axis], f_max));
        Some((cands, f_max))
    }

    fn analyse(&mut self) -> Option<Tremor> {
        let (c, f_max) = self.candidates()?;
        let st = self.settings;
        let detected = |c: &Candidate| {
            (c.amplitude_deg >= st.min_amplitude_deg
                && c.explained >= st.min_explained
                && c.explained_halves >= st.min_explained * 2.0 / 3.0)
                .then_some(AxisTremor {
                    frequency_hz: c.frequency_hz,
                    amplitude_deg: c.amplitude_deg,
                })
        };
        let mut axes = [detected(&c[0]), detected(&c[1]), detected(&c[2])];
        suppress_crosstalk(&mut axes);
        let [yaw, pitch, roll] = axes;
        Some(Tremor {
            yaw,
            pitch,
            roll,
            max_frequency_hz: f_max,
        })
    }
}

/// One oscillation of the head shows on every axis a little: the head-pose measurement couples
/// them (FaceMesh and the Euler decomposition; measured on renders and a rotating photo: 0.13–0.57°
/// on the other axes per degree, at the same frequency or its double). An axis oscillating at the
/// frequency (or double, or half) of a stronger axis, with less than [`CROSSTALK_RATIO`] of its
/// amplitude, is that crosstalk and is not reported; a genuinely combined tremor keeps both axes.
fn suppress_crosstalk(axes: &mut [Option<AxisTremor>; 3]) {
    // Strongest first: each axis is compared with every stronger axis still reported.
    let mut order = [0, 1, 2];
    order.sort_by(|&i, &j| {
        let amp = |k: usize| axes[k].map_or(0.0, |a| a.amplitude_deg);
        amp(j).total_cmp(&amp(i))
    });
    let echoes = |weak: AxisTremor, strong: AxisTremor| {
        let d = strong.frequency_hz;
        weak.amplitude_deg < CROSSTALK_RATIO * strong.amplitude_deg
            && [d, 2.0 * d, 0.5 * d]
                .iter()
                .any(|&g| (weak.frequency_hz - g).abs() <= SAME_FREQUENCY_HZ)
    };
    for (rank, &k) in order.iter().enumerate() {
        let Some(weak) = axes[k] else { continue };
        if order[..rank]
            .iter()
            .any(|&s| axes[s].is_some_and(|strong| echoes(weak, strong)))
        {
            axes[k] = None;
        }
    }
}

/// Subtract the weighted least-squares cubic in t (scaled by `half` to [-1, 1]) from `y`.
fn detrend_cubic(t: &[f64], w: &[f64], y: &mut [f64], half: f64) {
    let mut ata = [[0.0f64; 4]; 4];
    let mut aty = [0.0f64; 4];
    for ((&ti, &wi), &yi) in t.iter().zip(w).zip(y.iter()) {
        let x = ti / half;
        let p = [1.0, x, x * x, x * x * x];
        for r in 0..4 {
            aty[r] += wi * p[r] * yi;
            for c in 0..4 {
                ata[r][c] += wi * p[r] * p[c];
            }
        }
    }
    let Some(coef) = solve4(ata, aty) else { return };
    for (ti, yi) in t.iter().zip(y.iter_mut()) {
        let x = ti / half;
        *yi -= coef[0] + x * (coef[1] + x * (coef[2] + x * coef[3]));
    }
}

/// Gaussian elimination with partial pivoting; `None` when singular.
fn solve4(mut a: [[f64; 4]; 4], mut b: [f64; 4]) -> Option<[f64; 4]> {
    for col in 0..4 {
        let piv = (col..4).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        for row in col + 1..4 {
            let f = a[row][col] / a[col][col];
            let pivot_row = a[col];
            for (x, p) in a[row].iter_mut().zip(pivot_row).skip(col) {
                *x -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; 4];
    for row in (0..4).rev() {
        let s: f64 = (row + 1..4).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

/// Weighted sinusoid-plus-offset fit from its sums: [Σw, Σwc, Σws, Σwcc, Σwss, Σwcs, Σwy, Σwyy,
/// Σwyc, Σwys]. Returns (a, b, explained share).
fn fit_from_sums(s: &[f64; 10]) -> Option<(f64, f64, f64)> {
    let [sw, sc, ss, scc, sss, scs, sy, syy, syc, sys] = *s;
    if sw <= 0.0 {
        return None;
    }
    let cc = scc - sc * sc / sw;
    let sn = sss - ss * ss / sw;
    let cs = scs - sc * ss / sw;
    let yc = syc - sy * sc / sw;
    let ys = sys - sy * ss / sw;
    let yy = syy - sy * sy / sw;
    let det = cc * sn - cs * cs;
    if det.abs() < 1e-12 * (cc * sn).abs().max(1e-300) || yy <= 0.0 {
        return None;
    }
    let a = (yc * sn - ys * cs) / det;
    let b = (ys * cc - yc * cs) / det;
    Some((a, b, ((a * yc + b * ys) / yy).clamp(0.0, 1.0)))
}

/// For each axis, the grid frequency whose sinusoid explains the most (trig by recurrence over the
/// grid, shared by the three axes).
fn periodogram_peaks(s: &mut Scratch, f_max: f64) -> [f64; 3] {
    use std::f64::consts::TAU;
    let nf = ((f_max - MIN_HZ) / GRID_HZ).floor() as usize + 1;
    // Per frequency: Σwc, Σws, Σwcc, Σwss, Σwcs, then Σwyc, Σwys per axis.
    s.sums.clear();
    s.sums.resize(nf, [0.0; 11]);
    for i in 0..s.t.len() {
        let (t, w) = (s.t[i], s.w[i]);
        let (mut sn, mut c) = (TAU * MIN_HZ * t).sin_cos();
        let (dsn, dc) = (TAU * GRID_HZ * t).sin_cos();
        let y = [s.r[0][i], s.r[1][i], s.r[2][i]];
        for acc in s.sums.iter_mut() {
            let (wc, ws) = (w * c, w * sn);
            acc[0] += wc;
            acc[1] += ws;
            acc[2] += wc * c;
            acc[3] += ws * sn;
            acc[4] += wc * sn;
            acc[5] += wc * y[0];
            acc[6] += ws * y[0];
            acc[7] += wc * y[1];
            acc[8] += ws * y[1];
            acc[9] += wc * y[2];
            acc[10] += ws * y[2];
            (c, sn) = (c * dc - sn * dsn, sn * dc + c * dsn);
        }
    }
    let sw: f64 = s.w.iter().sum();
    let mut best = [(MIN_HZ, -1.0f64); 3];
    let explained = &mut s.explained;
    explained.clear();
    explained.resize(nf, 0.0);
    for axis in 0..3 {
        let r = &s.r[axis];
        let sy: f64 = s.w.iter().zip(r).map(|(w, y)| w * y).sum();
        let syy: f64 = s.w.iter().zip(r).map(|(w, y)| w * y * y).sum();
        for (k, acc) in s.sums.iter().enumerate() {
            let sums = [
                sw,
                acc[0],
                acc[1],
                acc[2],
                acc[3],
                acc[4],
                sy,
                syy,
                acc[5 + 2 * axis],
                acc[6 + 2 * axis],
            ];
            explained[k] = fit_from_sums(&sums).map_or(0.0, |f| f.2);
        }
        let Some((k, &p)) = explained.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)) else {
            continue;
        };
        // Parabola through the peak and its neighbours: the frequency between grid points.
        let mut f = MIN_HZ + k as f64 * GRID_HZ;
        if k > 0 && k + 1 < nf {
            let (l, r) = (explained[k - 1], explained[k + 1]);
            let den = l - 2.0 * p + r;
            if den < 0.0 {
                f += GRID_HZ * (0.5 * (l - r) / den).clamp(-0.5, 0.5);
            }
        }
        best[axis] = (f, p);
    }
    best.map(|b| b.0)
}

/// Sums of the weighted fit at one frequency over samples `range`.
fn sums_at(t: &[f64], w: &[f64], y: &[f64], f: f64, range: std::ops::Range<usize>) -> [f64; 10] {
    let mut s = [0.0; 10];
    for i in range {
        let (sn, c) = (std::f64::consts::TAU * f * t[i]).sin_cos();
        let (wi, yi) = (w[i], y[i]);
        s[0] += wi;
        s[1] += wi * c;
        s[2] += wi * sn;
        s[3] += wi * c * c;
        s[4] += wi * sn * sn;
        s[5] += wi * c * sn;
        s[6] += wi * yi;
        s[7] += wi * yi * yi;
        s[8] += wi * yi * c;
        s[9] += wi * yi * sn;
    }
    s
}

/// The sinusoid at `f`: its amplitude and the share it explains, in the whole window and in the
/// weaker of its two halves (each half with its own Hann taper).
fn refine(t: &[f64], w: &[f64], y: &[f64], f: f64, f_max: f64) -> Candidate {
    let f = f.clamp(MIN_HZ, f_max);
    let n = t.len();
    let (amplitude_deg, explained) =
        fit_from_sums(&sums_at(t, w, y, f, 0..n)).map_or((0.0, 0.0), |(a, b, e)| (a.hypot(b), e));
    let half = |range: std::ops::Range<usize>| {
        let (t0, t1) = (t[range.start], t[range.end - 1]);
        let span = (t1 - t0).max(1e-9);
        let hw: Vec<f64> = t
            .iter()
            .map(|&ti| 0.5 - 0.5 * (std::f64::consts::TAU * (ti - t0) / span).cos())
            .collect();
        fit_from_sums(&sums_at(t, &hw, y, f, range)).map_or(0.0, |x| x.2)
    };
    let mid = t.partition_point(|&ti| ti < 0.0);
    let explained_halves = if mid >= 4 && n - mid >= 4 {
        half(0..mid).min(half(mid..n))
    } else {
        0.0
    };
    Candidate {
        frequency_hz: f,
        amplitude_deg,
        explained,
        explained_halves,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random numbers (xorshift), uniform in [0, 1).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
        fn normal(&mut self) -> f64 {
            let (u, v) = (self.next().max(1e-12), self.next());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
    }

    /// Run a signal (degrees on one axis as a function of t) through the estimator at `fps`,
    /// dropping `drop` of the frames at random, with Gaussian noise `noise` degrees; returns the
    /// analyses after the first full window.
    fn run(axis: usize, fps: f64, seconds: f64, drop: f64, noise: f64, sig: impl Fn(f64) -> f64) -> Vec<Tremor> {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut est = TremorEstimator::new(TremorSettings::default());
        let mut out = Vec::new();
        let n = (seconds * fps) as usize;
        for i in 0..n {
            let t = i as f64 / fps;
            if rng.next() < drop {
                continue;
            }
            let mut v = [noise * rng.normal(), noise * rng.normal(), noise * rng.normal()];
            v[axis] += sig(t);
            let a = Angles {
                yaw: v[0],
                pitch: v[1],
                roll: v[2],
            };
            if let Some(x) = est.push(t, &a) {
                if t >= 4.0 {
                    out.push(x);
                }
            }
        }
        out
    }

    fn axis_of(x: &Tremor, axis: usize) -> Option<AxisTremor> {
        x.axes()[axis]
    }

    #[test]
    fn frequency_and_amplitude_are_found_with_and_without_dropped_frames() {
        for drop in [0.0, 0.2] {
            for (axis, hz, deg) in [
                (0, 3.0, 1.0),
                (1, 5.0, 3.0),
                (2, 8.0, 6.0),
                (0, 2.0, 6.0),
                (2, 8.0, 1.0),
            ] {
                let xs = run(axis, 30.0, 10.0, drop, 0.3, |t| {
                    10.0 + deg * (std::f64::consts::TAU * hz * t + 0.3).sin()
                });
                assert!(!xs.is_empty());
                for x in &xs {
                    let a = axis_of(x, axis).unwrap_or_else(|| panic!("{hz} Hz {deg}° drop {drop}: {x:?}"));
                    assert!((a.frequency_hz - hz).abs() <= 0.3, "{hz} Hz {deg}° drop {drop}: {a:?}");
                    assert!(
                        (a.amplitude_deg / deg - 1.0).abs() <= 0.25,
                        "{hz} Hz {deg}° drop {drop}: {a:?}"
                    );
                    for other in (0..3).filter(|&o| o != axis) {
                        assert!(axis_of(x, other).is_none(), "noise on axis {other}: {x:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_still_head_a_slow_turn_and_a_quick_posture_change_are_not_tremor() {
        type Signal = Box<dyn Fn(f64) -> f64>;
        let cases: [(&str, Signal); 3] = [
            ("still", Box::new(|_| 5.0)),
            (
                "0.3 Hz ±30°",
                Box::new(|t| 30.0 * (std::f64::consts::TAU * 0.3 * t).sin()),
            ),
            // 25° in 0.3 s, held, back in 0.3 s: a voluntary head movement.
            (
                "jerk",
                Box::new(|t| {
                    let ramp = |x: f64| (x / 0.3).clamp(0.0, 1.0);
                    25.0 * (ramp(t - 5.0) - ramp(t - 7.0))
                }),
            ),
        ];
        for drop in [0.0, 0.2] {
            for (name, sig) in &cases {
                let xs = run(0, 30.0, 12.0, drop, 0.4, sig);
                let hits = xs.iter().filter(|x| x.axes().iter().any(Option::is_some)).count();
                assert!(
                    hits as f64 <= 0.05 * xs.len() as f64,
                    "{name} drop {drop}: {hits} of {} analyses read as tremor: {:?}",
                    xs.len(),
                    xs.iter().find(|x| x.axes().iter().any(Option::is_some))
                );
            }
        }
    }

    #[test]
    fn the_search_stops_below_the_nyquist_limit_of_slow_frame_rates() {
        let xs = run(0, 10.0, 8.0, 0.0, 0.0, |t| {
            3.0 * (std::f64::consts::TAU * 3.0 * t).sin()
        });
        let x = xs.last().unwrap();
        assert!((x.max_frequency_hz - 4.5).abs() < 1e-6, "{x:?}");
        assert!((x.yaw.unwrap().frequency_hz - 3.0).abs() <= 0.3, "{x:?}");
        // Below 5.5 frames per second nothing above 2.5 Hz can be searched: no analysis.
        assert!(run(0, 5.0, 8.0, 0.0, 0.0, |t| t.sin()).is_empty());
    }

    #[test]
    fn an_axis_echoing_a_stronger_oscillation_is_crosstalk_but_a_combined_tremor_is_kept() {
        let run3 = |amp: [f64; 3], hz: [f64; 3]| {
            let mut est = TremorEstimator::new(TremorSettings::default());
            let mut last = None;
            for i in 0..180 {
                let t = i as f64 / 30.0;
                let v = |k: usize| amp[k] * (std::f64::consts::TAU * hz[k] * t + k as f64).sin();
                last = est.push(
                    t,
                    &Angles {
                        yaw: v(0),
                        pitch: v(1),
                        roll: v(2),
                    },
                );
            }
            last.unwrap()
        };
        // Roll 3°, with 1.2° on pitch at the same frequency and 0.8° on yaw at its double.
        let x = run3([0.8, 1.2, 3.0], [10.0, 5.0, 5.0]);
        assert!(x.roll.is_some() && x.pitch.is_none() && x.yaw.is_none(), "{x:?}");
        // Yaw 3° and pitch 2° at the same frequency: a combined tremor; roll 1° at 7 Hz: its own.
        let x = run3([3.0, 2.0, 1.0], [4.0, 4.0, 7.0]);
        assert!(x.yaw.is_some() && x.pitch.is_some() && x.roll.is_some(), "{x:?}");
        // Roll 1.2° at 6 Hz echoes pitch 2.5° at 6 Hz, not the stronger yaw at 4 Hz.
        let x = run3([5.0, 2.5, 1.2], [4.0, 6.0, 6.0]);
        assert!(x.yaw.is_some() && x.pitch.is_some() && x.roll.is_none(), "{x:?}");
    }

    #[test]
    fn a_pause_in_the_frames_starts_a_new_window() {
        let mut est = TremorEstimator::new(TremorSettings::default());
        let a = |v: f64| Angles {
            yaw: v,
            pitch: 0.0,
            roll: 0.0,
        };
        let sig = |t: f64| 3.0 * (std::f64::consts::TAU * 5.0 * t).sin();
        let mut last = None;
        for i in 0..150 {
            let t = i as f64 / 30.0;
            last = est.push(t, &a(sig(t)));
        }
        assert!(last.unwrap().yaw.is_some());
        // One second without frames: the old window is gone, the new one not yet full.
        assert_eq!(est.push(6.0, &a(sig(6.0))), None);
    }
}
