//! Shared by the benches: process figures from `/proc/self/status`, and a held posture's frames.
#![allow(dead_code)]

/// A `/proc/self/status` field in KiB (`VmRSS`, `VmHWM`, …), 0 when unreadable.
pub fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

pub fn rss_kib() -> u64 {
    status_kib("VmRSS")
}

/// A held posture's frame: the demo photo still, at a 10° tilt, with a camera's sensor noise
/// (each channel of each pixel ±3 levels, new on every frame), where the body models can rest
/// (`pipeline.pose_every`).
pub fn held_frame(photo: &image::RgbImage, noise: &mut Noise) -> image::RgbImage {
    let mut still = cdposture::capture::demo::rotate_image(photo, 10.0, false);
    noise.add_to(&mut still);
    still
}

/// Deterministic sensor noise (xorshift64).
pub struct Noise(pub u64);

impl Default for Noise {
    fn default() -> Self {
        Noise(0x2545_f491_4f6c_dd1d)
    }
}

impl Noise {
    pub fn add_to(&mut self, img: &mut image::RgbImage) {
        for v in img.iter_mut() {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            let d = (self.0 % 7) as i16 - 3;
            *v = (*v as i16 + d).clamp(0, 255) as u8;
        }
    }
}
