//! BlazePose landmarks: 33 body points (plus 6 auxiliary ones used for tracking) in image pixels,
//! and world coordinates in metres, rotated back out of the ROI into the camera's axes.

use super::sigmoid;
use crate::detect::Detection;
use crate::inference::roi::{crop_into, Roi};
use crate::inference::Model;
use crate::Result;
use image::RgbImage;

pub const NOSE: usize = 0;
pub const LEFT_EYE: usize = 2;
pub const RIGHT_EYE: usize = 5;
pub const LEFT_EAR: usize = 7;
pub const RIGHT_EAR: usize = 8;
pub const LEFT_SHOULDER: usize = 11;
pub const RIGHT_SHOULDER: usize = 12;
pub const LEFT_HIP: usize = 23;
pub const RIGHT_HIP: usize = 24;
/// Auxiliary points the model predicts for tracking: hip centre and full-body scale point.
const AUX_CENTRE: usize = 33;
const AUX_SCALE: usize = 34;
/// ROI enlargement MediaPipe uses for BlazePose.
const ROI_SCALE: f32 = 1.25;

#[derive(Debug, Clone)]
pub struct PoseLandmarks {
    /// 39 points: x, y image pixels, z relative depth (pixels, smaller = nearer).
    pub points: Vec<[f32; 3]>,
    /// Per-point visibility probability (not occluded).
    pub visibility: Vec<f32>,
    /// Per-point presence probability (inside the picture).
    pub in_frame: Vec<f32>,
    /// 39 world points in metres, hip-centred: x = image right, y = DOWN, z = away from the camera
    /// (MediaPipe's axes; geometry converts them).
    pub world: Vec<[f32; 3]>,
    pub presence: f32,
    pub roi: Roi,
}

/// BlazePose's left/right point pairs (face, arms, hands, hips, legs, feet), by index.
const SIDE_PAIRS: [(usize, usize); 16] = [
    (1, 4),
    (2, 5),
    (3, 6),
    (7, 8),
    (9, 10),
    (11, 12),
    (13, 14),
    (15, 16),
    (17, 18),
    (19, 20),
    (21, 22),
    (23, 24),
    (25, 26),
    (27, 28),
    (29, 30),
    (31, 32),
];

impl PoseLandmarks {
    /// Landmarks found on the picture's mirror image (`width` pixels wide) put back on the
    /// picture: x mirrored, world x turned, the region mirrored, and the sides named again (the
    /// mirror image's left shoulder is the subject's right).
    pub fn mirrored_back(mut self, width: u32) -> PoseLandmarks {
        let w = width as f32;
        for p in &mut self.points {
            p[0] = w - p[0];
        }
        for p in &mut self.world {
            p[0] = -p[0];
        }
        self.roi.cx = w - self.roi.cx;
        self.roi.rotation = -self.roi.rotation;
        for (l, r) in SIDE_PAIRS {
            for v in [&mut self.visibility, &mut self.in_frame] {
                v.swap(l, r);
            }
            for v in [&mut self.points, &mut self.world] {
                v.swap(l, r);
            }
        }
        self
    }
}

pub struct PoseModel<'m> {
    model: &'m Model,
}

impl<'m> PoseModel<'m> {
    pub fn new(model: &'m Model) -> Self {
        PoseModel { model }
    }

    pub fn roi_from_detection(d: &Detection) -> Roi {
        Roi::from_alignment(d.keypoints[0], d.keypoints[1]).scaled_square(ROI_SCALE)
    }

    pub fn roi_from_landmarks(lm: &PoseLandmarks) -> Roi {
        let c = (lm.points[AUX_CENTRE][0], lm.points[AUX_CENTRE][1]);
        let s = (lm.points[AUX_SCALE][0], lm.points[AUX_SCALE][1]);
        Roi::from_alignment(c, s).scaled_square(ROI_SCALE)
    }

    pub fn run(&self, img: &RgbImage, roi: &Roi) -> Result<PoseLandmarks> {
        let size = self.model.input_hw.0;
        let out = self.model.run_filled(|t| crop_into(img, roi, size, 0.0, 1.0, t), &[])?;
        let s = size as f32;
        let mut points = Vec::with_capacity(39);
        let mut visibility = Vec::with_capacity(39);
        let mut in_frame = Vec::with_capacity(39);
        for c in out[0].chunks_exact(5) {
            let (x, y) = roi.to_image(c[0] / s, c[1] / s);
            points.push([x, y, c[2] / s * roi.width]);
            visibility.push(sigmoid(c[3]));
            in_frame.push(sigmoid(c[4]));
        }
        let (sn, cs) = roi.rotation.sin_cos();
        let world = out[2]
            .chunks_exact(3)
            .map(|w| [cs * w[0] - sn * w[1], sn * w[0] + cs * w[1], w[2]])
            .collect();
        Ok(PoseLandmarks {
            points,
            visibility,
            in_frame,
            world,
            presence: out[1][0],
            roi: *roi,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The region put back on the picture covers the mirror of what it covered on the mirror
    /// image, point for point (a crop point mirrored in the crop lands on the mirror of its image
    /// point), so the next frame's tracking crop is the same body turned the right way.
    #[test]
    fn a_region_found_on_the_mirror_image_is_put_back_as_its_mirror() {
        let width = 640;
        let roi = Roi {
            cx: 250.0,
            cy: 180.0,
            width: 220.0,
            height: 200.0,
            rotation: 0.4,
        };
        let found = PoseLandmarks {
            points: vec![[0.0; 3]; 39],
            visibility: vec![1.0; 39],
            in_frame: vec![1.0; 39],
            world: vec![[0.0; 3]; 39],
            presence: 1.0,
            roi,
        };
        let back = found.mirrored_back(width);
        for (u, v) in [(0.1, 0.2), (0.9, 0.3), (0.5, 0.95), (0.0, 1.0)] {
            let (x, y) = roi.to_image(u, v);
            let (xb, yb) = back.roi.to_image(1.0 - u, v);
            assert!(
                (xb - (width as f32 - x)).abs() < 1e-3 && (yb - y).abs() < 1e-3,
                "crop point ({u}, {v}): ({xb}, {yb}) instead of the mirror of ({x}, {y})"
            );
        }
    }
}
