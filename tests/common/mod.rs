//! Shared test helpers: where the fetched models and photos are, and how to run the binary.
#![allow(dead_code)]

pub mod broker;
pub mod browser;
pub mod postgres;
pub mod schema;

use std::path::PathBuf;
use std::process::{Command, Output};

/// The model folder written by `models/fetch.sh`. Tests fail (not skip) without it: the README's
/// test command runs the fetch first.
pub fn model_dir() -> PathBuf {
    let dir = std::env::var_os("CDPOSTURE_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models/build")));
    assert!(
        dir.join("manifest.toml").is_file(),
        "{}: no models; run models/fetch.sh first",
        dir.display()
    );
    dir
}

/// Multiplier for every wait in the integration tests: 1 natively, larger under emulation
/// (`cross/test.sh` sets CDPOSTURE_TEST_SLOWDOWN for qemu-user, where inference is ~10x slower).
pub fn slowdown() -> u64 {
    std::env::var("CDPOSTURE_TEST_SLOWDOWN")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1)
}

pub fn photo(name: &str) -> PathBuf {
    model_dir().join("photos").join(name)
}

pub fn cdposture(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cdposture"))
        .args(args)
        .env("CDPOSTURE_MODELS", model_dir())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run cdposture")
}

pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cdposture-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The astronaut tilting her head to ±25° and back (20 frames, 320×240, `tilt.mp4` in `dir`).
pub fn tilting_video(dir: &std::path::Path) -> PathBuf {
    let face = cdposture::capture::load_image(&photo("astronaut.png")).unwrap();
    let frames: Vec<image::RgbImage> = (0..20)
        .map(|i| cdposture::capture::demo::rotate_image(&face, 25.0 * (i as f64 * 0.3).sin(), false))
        .collect();
    make_video(dir, &frames, 1, "tilt.mp4", "320:240")
}

/// Make a video with ffmpeg from a list of PNG frames (each shown `per_frame` times) at 15 fps.
pub fn make_video(
    dir: &std::path::Path,
    frames: &[image::RgbImage],
    per_frame: usize,
    name: &str,
    size: &str,
) -> PathBuf {
    let mut n = 0;
    for img in frames {
        for _ in 0..per_frame {
            img.save(dir.join(format!("f{n:05}.png"))).unwrap();
            n += 1;
        }
    }
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-framerate", "15", "-i"])
        .arg(dir.join("f%05d.png"))
        .args([
            "-vf",
            &format!("scale={size}"),
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
        ])
        .arg(&out)
        .status()
        .expect("ffmpeg is needed for the video tests (apt-get install ffmpeg)");
    assert!(status.success());
    out
}

/// Encode frames into an H.264 video at `fps` with ffmpeg (raw RGB on a pipe: no temporary files).
pub fn encode_video(out: &std::path::Path, frames: impl Iterator<Item = image::RgbImage>, fps: f64) {
    use std::io::Write;
    let mut frames = frames.peekable();
    let (w, h) = frames.peek().map(|f| f.dimensions()).expect("at least one frame");
    let mut child = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s"])
        .arg(format!("{w}x{h}"))
        .args([
            "-r",
            &fps.to_string(),
            "-i",
            "-",
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
        ])
        .arg(out)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("ffmpeg is needed for the video tests (apt-get install ffmpeg)");
    let mut stdin = child.stdin.take().unwrap();
    for f in frames {
        stdin.write_all(f.as_raw()).unwrap();
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

/// A real photo whose content oscillates in the image plane: roll(t) = `deg`·sin(2π·`hz`·t),
/// with a little per-frame sensor noise (deterministic), as a camera would see a head tremor.
pub fn oscillating_frame(base: &image::RgbImage, t: f64, hz: f64, deg: f64, noise_seed: u64) -> image::RgbImage {
    let roll = deg * (std::f64::consts::TAU * hz * t).sin();
    let mut img = cdposture::capture::demo::rotate_image(base, roll, false);
    let mut rng = Xorshift(noise_seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    for p in img.pixels_mut() {
        for c in p.0.iter_mut() {
            let s = rng.next();
            // Triangular noise, ±4 grey levels.
            let n = ((s & 0xff) as i32 + ((s >> 8) & 0xff) as i32 - 255) / 32;
            *c = (*c as i32 + n).clamp(0, 255) as u8;
        }
    }
    img
}

/// Deterministic pseudo-random numbers for synthesised test inputs (xorshift64; seed ≠ 0).
pub struct Xorshift(pub u64);

impl Xorshift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
