//! Smoothing: online, per-angle One Euro filters (Casiez et al., CHI 2012).
//!
//! Why One Euro and not a Kalman filter or a moving median: a dystonic head is mostly still, with
//! jerks and tremor. One Euro adapts its cutoff to the signal's speed: heavy smoothing when the head
//! is still (landmark jitter of a degree or two disappears), little lag when it moves (a jerk is
//! followed within a frame or two). A Kalman filter needs a motion model and noise covariances we
//! cannot measure per patient; a median adds half a window of lag to every movement. The test
//! below pins both properties: jitter is reduced and a step is followed within a few frames.

use crate::geometry::Angles;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OneEuroParams {
    /// Cutoff at rest, Hz: lower = smoother when still.
    pub min_cutoff_hz: f64,
    /// Speed coefficient: higher = less lag when moving.
    pub beta: f64,
    /// Cutoff for the derivative estimate, Hz.
    pub d_cutoff_hz: f64,
}

impl Default for OneEuroParams {
    fn default() -> Self {
        OneEuroParams {
            min_cutoff_hz: 1.0,
            beta: 0.05,
            d_cutoff_hz: 1.0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct OneEuro {
    p: OneEuroParams,
    state: Option<(f64, f64, f64)>, // (t, x, dx)
}

fn alpha(cutoff: f64, dt: f64) -> f64 {
    let tau = 1.0 / (2.0 * std::f64::consts::PI * cutoff);
    1.0 / (1.0 + tau / dt)
}

impl OneEuro {
    pub fn new(p: OneEuroParams) -> Self {
        OneEuro { p, state: None }
    }

    /// Filter a sample taken at `t` seconds. Non-increasing time restarts the filter.
    pub fn filter(&mut self, t: f64, x: f64) -> f64 {
        match self.state {
            Some((t0, x0, dx0)) if t > t0 => {
                let dt = t - t0;
                let dx = (x - x0) / dt;
                let dx_hat = dx0 + alpha(self.p.d_cutoff_hz, dt) * (dx - dx0);
                let cutoff = self.p.min_cutoff_hz + self.p.beta * dx_hat.abs();
                let x_hat = x0 + alpha(cutoff, dt) * (x - x0);
                self.state = Some((t, x_hat, dx_hat));
                x_hat
            }
            _ => {
                self.state = Some((t, x, 0.0));
                x
            }
        }
    }

    pub fn reset(&mut self) {
        self.state = None;
    }
}

/// Three filters, one per head angle.
#[derive(Debug, Clone)]
pub struct AngleSmoother {
    yaw: OneEuro,
    pitch: OneEuro,
    roll: OneEuro,
}

impl AngleSmoother {
    pub fn new(p: OneEuroParams) -> Self {
        AngleSmoother {
            yaw: OneEuro::new(p),
            pitch: OneEuro::new(p),
            roll: OneEuro::new(p),
        }
    }
    pub fn filter(&mut self, t: f64, a: &Angles) -> Angles {
        Angles {
            yaw: self.yaw.filter(t, a.yaw),
            pitch: self.pitch.filter(t, a.pitch),
            roll: self.roll.filter(t, a.roll),
        }
    }
    pub fn reset(&mut self) {
        self.yaw.reset();
        self.pitch.reset();
        self.roll.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic ±1.5° jitter (what FaceMesh shows on a still head).
    fn jitter(i: usize) -> f64 {
        (((i * 7919) % 13) as f64 / 12.0 - 0.5) * 3.0
    }

    #[test]
    fn reduces_jitter_on_a_still_head() {
        let mut f = OneEuro::new(OneEuroParams::default());
        let (mut raw, mut smooth) = (0.0, 0.0);
        for i in 0..300 {
            let x = 10.0 + jitter(i);
            let y = f.filter(i as f64 / 30.0, x);
            if i > 30 {
                raw += (x - 10.0).abs();
                smooth += (y - 10.0).abs();
            }
        }
        assert!(smooth < raw / 3.0, "smoothed error {smooth} vs raw {raw}");
    }

    #[test]
    fn follows_a_jerk_with_little_lag() {
        let mut f = OneEuro::new(OneEuroParams::default());
        let mut out = Vec::new();
        for i in 0..60 {
            let x = if i < 30 { 0.0 } else { 40.0 } + jitter(i);
            out.push(f.filter(i as f64 / 30.0, x));
        }
        // 5 frames (170 ms) after a 40° jerk the output is within 20% of the target; 10 frames, 5%.
        assert!(out[35] > 32.0, "{:?}", &out[30..40]);
        assert!(out[40] > 38.0, "{:?}", &out[30..45]);
    }
}
