//! Detection: finds faces (BlazeFace short range) and bodies (BlazePose detector) in a whole frame.
//! Owns SSD anchor generation, box decoding and MediaPipe's weighted non-maximum suppression. Runs
//! only when tracking has been lost, so its cost is paid rarely on video.

pub mod anchors;

use crate::inference::roi::{crop_into, Roi};
use crate::inference::Model;
use crate::Result;
use anchors::{ssd_anchors, Anchor};
use image::RgbImage;

/// One detection in image pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub score: f32,
    /// Box centre and size, pixels.
    pub cx: f32,
    pub cy: f32,
    pub width: f32,
    pub height: f32,
    /// Model-specific keypoints, pixels. Face: right eye, left eye, nose tip, mouth, right ear,
    /// left ear ("right" = the subject's). Pose: hip centre, full-body scale point, shoulder centre,
    /// upper-body scale point.
    pub keypoints: Vec<(f32, f32)>,
}

/// A BlazeFace/BlazePose-style SSD detector: model, anchors and decoding constants.
pub struct Detector<'m> {
    model: &'m Model,
    anchors: Vec<Anchor>,
    num_keypoints: usize,
    min_score: f32,
    nms_iou: f32,
}

impl<'m> Detector<'m> {
    pub fn face(model: &'m Model) -> Self {
        Detector {
            model,
            anchors: ssd_anchors(128, &[8, 16, 16, 16]),
            num_keypoints: 6,
            min_score: 0.5,
            nms_iou: 0.3,
        }
    }
    pub fn pose(model: &'m Model) -> Self {
        Detector {
            model,
            anchors: ssd_anchors(224, &[8, 16, 32, 32, 32]),
            num_keypoints: 4,
            min_score: 0.5,
            nms_iou: 0.3,
        }
    }

    /// Detect in the whole image (letterboxed), best first.
    pub fn detect(&self, img: &RgbImage) -> Result<Vec<Detection>> {
        self.detect_in(img, &Roi::letterbox(img.width(), img.height()))
    }

    /// Detect inside an upright square region (zero-padded where it leaves the image), e.g. around
    /// a head the whole picture shows too small for the detector; detections in image pixels.
    pub fn detect_in(&self, img: &RgbImage, roi: &Roi) -> Result<Vec<Detection>> {
        let size = self.model.input_hw.0;
        let roi = *roi;
        let out = self
            .model
            .run_filled(|t| crop_into(img, &roi, size, -1.0, 1.0, t), &[])?;
        let raw = decode(
            &out[0],
            &out[1],
            &self.anchors,
            size as f32,
            self.num_keypoints,
            self.min_score,
        );
        Ok(weighted_nms(raw, self.nms_iou)
            .into_iter()
            .map(|d| to_image(&d, &roi))
            .collect())
    }
}

/// Decode regressors (`[n, 4 + 2k]`: cx, cy, w, h, keypoints, in input pixels relative to the
/// anchor) and logits into detections in [0,1] letterbox coordinates.
fn decode(boxes: &[f32], logits: &[f32], anchors: &[Anchor], scale: f32, kps: usize, min_score: f32) -> Vec<Detection> {
    let stride = 4 + 2 * kps;
    let mut dets = Vec::new();
    for (i, a) in anchors.iter().enumerate() {
        let Some(&logit) = logits.get(i) else { break };
        let score = 1.0 / (1.0 + (-logit.clamp(-100.0, 100.0)).exp());
        if score < min_score {
            continue;
        }
        let r = &boxes[i * stride..(i + 1) * stride];
        let keypoints = (0..kps)
            .map(|k| (r[4 + 2 * k] / scale + a.cx, r[5 + 2 * k] / scale + a.cy))
            .collect();
        dets.push(Detection {
            score,
            cx: r[0] / scale + a.cx,
            cy: r[1] / scale + a.cy,
            width: r[2] / scale,
            height: r[3] / scale,
            keypoints,
        });
    }
    dets
}

fn iou(a: &Detection, b: &Detection) -> f32 {
    let ix =
        ((a.cx + a.width / 2.0).min(b.cx + b.width / 2.0) - (a.cx - a.width / 2.0).max(b.cx - b.width / 2.0)).max(0.0);
    let iy = ((a.cy + a.height / 2.0).min(b.cy + b.height / 2.0) - (a.cy - a.height / 2.0).max(b.cy - b.height / 2.0))
        .max(0.0);
    let inter = ix * iy;
    let union = a.width * a.height + b.width * b.height - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

/// MediaPipe's WEIGHTED suppression: each cluster of overlapping boxes becomes one box whose
/// coordinates are the score-weighted mean of the cluster (steadier than keeping only the top box).
pub fn weighted_nms(mut dets: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while !dets.is_empty() {
        let top = dets[0].clone();
        let (cluster, rest): (Vec<_>, Vec<_>) = dets
            .into_iter()
            .partition(|d| iou(&top, d) > iou_threshold || *d == top);
        dets = rest;
        let total: f32 = cluster.iter().map(|d| d.score).sum();
        let mut merged = top.clone();
        if cluster.len() > 1 && total > 0.0 {
            let avg = |f: &dyn Fn(&Detection) -> f32| cluster.iter().map(|d| d.score * f(d)).sum::<f32>() / total;
            merged.cx = avg(&|d| d.cx);
            merged.cy = avg(&|d| d.cy);
            merged.width = avg(&|d| d.width);
            merged.height = avg(&|d| d.height);
            for k in 0..merged.keypoints.len() {
                merged.keypoints[k] = (avg(&|d| d.keypoints[k].0), avg(&|d| d.keypoints[k].1));
            }
        }
        out.push(merged);
    }
    out
}

fn to_image(d: &Detection, roi: &Roi) -> Detection {
    let (cx, cy) = roi.to_image(d.cx, d.cy);
    Detection {
        score: d.score,
        cx,
        cy,
        width: d.width * roi.width,
        height: d.height * roi.height,
        keypoints: d.keypoints.iter().map(|&(x, y)| roi.to_image(x, y)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(score: f32, cx: f32) -> Detection {
        Detection {
            score,
            cx,
            cy: 0.5,
            width: 0.2,
            height: 0.2,
            keypoints: vec![(cx, 0.5)],
        }
    }

    #[test]
    fn weighted_nms_merges_overlaps_and_keeps_separate_faces() {
        let out = weighted_nms(vec![det(0.6, 0.52), det(0.9, 0.5), det(0.8, 0.1)], 0.3);
        assert_eq!(out.len(), 2);
        assert!((out[0].score - 0.9).abs() < 1e-6);
        let expect = (0.9 * 0.5 + 0.6 * 0.52) / 1.5;
        assert!((out[0].cx - expect).abs() < 1e-6 && (out[0].keypoints[0].0 - expect).abs() < 1e-6);
        assert!((out[1].cx - 0.1).abs() < 1e-6);
    }

    #[test]
    fn decode_applies_anchor_offsets_and_threshold() {
        let anchors = vec![Anchor { cx: 0.25, cy: 0.75 }, Anchor { cx: 0.5, cy: 0.5 }];
        let mut boxes = vec![0.0; 2 * 6];
        boxes[0] = 12.8; // +0.1 after /128
        boxes[2] = 64.0;
        boxes[3] = 32.0;
        boxes[4] = -12.8;
        let d = decode(&boxes, &[3.0, -3.0], &anchors, 128.0, 1, 0.5);
        assert_eq!(d.len(), 1);
        assert!((d[0].cx - 0.35).abs() < 1e-6 && (d[0].cy - 0.75).abs() < 1e-6);
        assert!((d[0].width - 0.5).abs() < 1e-6 && (d[0].keypoints[0].0 - 0.15).abs() < 1e-6);
    }
}
