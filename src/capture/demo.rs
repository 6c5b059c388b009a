//! The demo source: a built-in stand-in for a camera, so `cdposture run` works out of the box. It
//! plays a real photo (the astronaut from scikit-image, fetched with the models) with the head tilting
//! side to side (±25° in the image plane, a 4 s cycle) at 15 fps. The expected measurement is
//! therefore known: roll follows the sine, yaw and pitch stay put. (The whole picture turns, so
//! the posture model reads a little of it as a trunk lean, ~2° at the peak: see the README's
//! trunk frame.)

use super::{load_image, Frame, FrameSource};
use crate::inference::roi::{crop_to_tensor, round_half_away, Roi};
use crate::Result;
use image::RgbImage;
use std::path::Path;

pub struct DemoSource {
    photo: std::sync::Arc<RgbImage>,
    next: u64,
    frames: u64,
    fps: f64,
}

pub const DEMO_PHOTO: &str = "photos/astronaut.png";

impl DemoSource {
    /// `model_dir/photos/astronaut.png`, `frames` frames long.
    pub fn new(model_dir: &Path, frames: u64) -> Result<Self> {
        let photo = std::sync::Arc::new(load_image(&model_dir.join(DEMO_PHOTO))?);
        Ok(Self::from_photo(photo, frames))
    }

    /// From an already loaded photo (a looping demo reuses it instead of reading the file again).
    pub fn from_photo(photo: std::sync::Arc<RgbImage>, frames: u64) -> Self {
        DemoSource {
            photo,
            next: 0,
            frames,
            fps: 15.0,
        }
    }

    /// Play at another frame rate (the tilt keeps its 4 s cycle in source time).
    pub fn with_fps(mut self, fps: f64) -> Self {
        self.fps = fps;
        self
    }

    /// The photo played (untilted).
    pub fn photo(&self) -> &RgbImage {
        &self.photo
    }

    /// Roll applied to frame `i`, degrees (+ = top of the head toward image right).
    pub fn roll_at(&self, i: u64) -> f64 {
        25.0 * (2.0 * std::f64::consts::PI * (i as f64 / self.fps) / 4.0).sin()
    }
}

/// Rotate an image about its centre by `deg` (+ = content turns clockwise on screen, i.e. the top
/// moves toward image right), optionally mirrored, keeping its size.
pub fn rotate_image(img: &RgbImage, deg: f64, mirror: bool) -> RgbImage {
    let (w, h) = (img.width(), img.height());
    let side = w.max(h) as usize;
    // Sampling the source with a ROI rotated by −deg makes the output show the content rotated by +deg.
    let roi = Roi {
        cx: w as f32 / 2.0,
        cy: h as f32 / 2.0,
        width: side as f32,
        height: side as f32,
        rotation: -(deg.to_radians() as f32),
    };
    let t = crop_to_tensor(img, &roi, side, 0.0, 255.0);
    let mut out = RgbImage::new(w, h);
    let (ox, oy) = ((side - w as usize) / 2, (side - h as usize) / 2);
    for y in 0..h as usize {
        for x in 0..w as usize {
            let sx = if mirror { w as usize - 1 - x } else { x };
            let i = ((y + oy) * side + sx + ox) * 3;
            out.put_pixel(
                x as u32,
                y as u32,
                image::Rgb([0, 1, 2].map(|c| round_half_away(t[i + c]) as u8)),
            );
        }
    }
    out
}

impl FrameSource for DemoSource {
    fn next_frame(&mut self) -> Result<Option<Frame>> {
        if self.next >= self.frames {
            return Ok(None);
        }
        let i = self.next;
        self.next += 1;
        let image = rotate_image(&self.photo, self.roll_at(i), false);
        Ok(Some(Frame {
            index: i,
            t_s: i as f64 / self.fps,
            image,
            path: None,
        }))
    }
    fn is_sequence(&self) -> bool {
        true
    }
    fn len_hint(&self) -> Option<u64> {
        Some(self.frames)
    }
    fn fps(&self) -> Option<f64> {
        Some(self.fps)
    }
}
