//! FaceMesh 468: ROI from a face detection or from the previous landmarks, landmarks in pixels.

use super::sigmoid;
use crate::detect::Detection;
use crate::inference::roi::{crop_into, Roi};
use crate::inference::Model;
use crate::Result;
use image::RgbImage;

/// Landmark indices MediaPipe uses to level the face ROI: outer corners of the two eyes.
const EYE_OUTER_IMAGE_LEFT: usize = 33;
const EYE_OUTER_IMAGE_RIGHT: usize = 263;
/// ROI is the face box enlarged by this factor (MediaPipe's value; the model was trained on it).
const ROI_SCALE: f32 = 1.5;

#[derive(Debug, Clone)]
pub struct FaceLandmarks {
    /// 468 points: x, y in image pixels (y down), z in pixels too (same scale as x; smaller = nearer).
    pub points: Vec<[f32; 3]>,
    /// Face presence probability from the model's own head.
    pub presence: f32,
    /// The ROI these came from.
    pub roi: Roi,
}

pub struct FaceMesh<'m> {
    model: &'m Model,
}

impl<'m> FaceMesh<'m> {
    pub fn new(model: &'m Model) -> Self {
        FaceMesh { model }
    }

    pub fn roi_from_detection(d: &Detection) -> Roi {
        let rotation = Roi::rotation_for(d.keypoints[0], d.keypoints[1], 0.0);
        Roi {
            cx: d.cx,
            cy: d.cy,
            width: d.width,
            height: d.height,
            rotation,
        }
        .scaled_square(ROI_SCALE)
    }

    /// Next frame's ROI: the landmarks' bounding box, levelled on the outer eye corners.
    pub fn roi_from_landmarks(lm: &FaceLandmarks) -> Roi {
        let p = &lm.points;
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for q in p {
            x0 = x0.min(q[0]);
            y0 = y0.min(q[1]);
            x1 = x1.max(q[0]);
            y1 = y1.max(q[1]);
        }
        let a = (p[EYE_OUTER_IMAGE_LEFT][0], p[EYE_OUTER_IMAGE_LEFT][1]);
        let b = (p[EYE_OUTER_IMAGE_RIGHT][0], p[EYE_OUTER_IMAGE_RIGHT][1]);
        let rotation = Roi::rotation_for(a, b, 0.0);
        Roi {
            cx: (x0 + x1) / 2.0,
            cy: (y0 + y1) / 2.0,
            width: x1 - x0,
            height: y1 - y0,
            rotation,
        }
        .scaled_square(ROI_SCALE)
    }

    pub fn run(&self, img: &RgbImage, roi: &Roi) -> Result<FaceLandmarks> {
        let size = self.model.input_hw.0;
        let out = self.model.run_filled(|t| crop_into(img, roi, size, 0.0, 1.0, t), &[])?;
        let s = size as f32;
        let points = out[0]
            .chunks_exact(3)
            .map(|c| {
                let (x, y) = roi.to_image(c[0] / s, c[1] / s);
                [x, y, c[2] / s * roi.width]
            })
            .collect();
        Ok(FaceLandmarks {
            points,
            presence: sigmoid(out[1][0]),
            roi: *roi,
        })
    }
}
