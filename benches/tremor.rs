//! What the tremor estimator costs per frame, beside the One Euro smoothing of the same angles as
//! the baseline in the same run (`cargo bench --bench tremor`). Steady state: 30 fps, the 4 s window
//! full, a 5 Hz tremor in noise, analyses at most 10 times a second (every third frame) as in
//! the product. Prints ms per frame for both and their ratio; last line:
//! `TREMOR ms_per_frame=<f> smoothing_ms_per_frame=<f> ratio=<f>`.
//! The budget is 0.2 ms per frame; under `valgrind --tool=callgrind` the instruction
//! counts are repeatable (set TREMOR_FRAMES small).

use cdposture::geometry::Angles;
use cdposture::smoothing::{AngleSmoother, OneEuroParams};
use cdposture::tremor::{TremorEstimator, TremorSettings};
use std::hint::black_box;
use std::time::Instant;

fn angles(n: usize) -> Vec<(f64, Angles)> {
    let mut s = 0x9e37_79b9_7f4a_7c15_u64;
    let mut noise = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    (0..n)
        .map(|i| {
            let t = i as f64 / 30.0;
            let w = (std::f64::consts::TAU * 5.0 * t).sin();
            let a = Angles {
                yaw: 20.0 + 2.0 * w + 0.5 * noise(),
                pitch: -5.0 + 0.5 * noise(),
                roll: 3.0 + 0.5 * noise(),
            };
            (t, a)
        })
        .collect()
}

fn main() {
    let n: usize = std::env::var("TREMOR_FRAMES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30_000);
    let frames = angles(n);
    // Interleaved rounds, best of each: the machine is shared.
    let (mut best_tremor, mut best_smooth) = (f64::MAX, f64::MAX);
    let mut detected = 0;
    for _ in 0..5 {
        let mut est = TremorEstimator::new(TremorSettings::default());
        let t0 = Instant::now();
        detected = 0;
        for (t, a) in &frames {
            detected += black_box(est.push(*t, a)).is_some_and(|x| x.yaw.is_some()) as usize;
        }
        best_tremor = best_tremor.min(t0.elapsed().as_secs_f64() * 1e3 / n as f64);

        let mut sm = AngleSmoother::new(OneEuroParams::default());
        let t0 = Instant::now();
        for (t, a) in &frames {
            black_box(sm.filter(*t, a));
        }
        best_smooth = best_smooth.min(t0.elapsed().as_secs_f64() * 1e3 / n as f64);
    }
    println!("frames {n} (30 fps), yaw tremor detected on {detected}");
    println!("{:<12} {:>12}", "stage", "ms/frame");
    println!("{:<12} {:>12.5}", "tremor", best_tremor);
    println!("{:<12} {:>12.5}", "smoothing", best_smooth);
    println!(
        "TREMOR ms_per_frame={best_tremor:.5} smoothing_ms_per_frame={best_smooth:.5} ratio={:.1}",
        best_tremor / best_smooth
    );
}
