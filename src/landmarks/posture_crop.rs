//! The head-and-shoulders crop that a posture model trained on renders reads. It is defined here once,
//! so that training (`eval-postures --crops`) and inference cut the same pixels.
//!
//! The crop's region here is upright (the camera's vertical, like the trunk frame when the hips
//! are out of view, so head roll against the chair stays in the picture); the product cuts it
//! turned by the trunk's roll (`PostureNet::run`, `pipeline::crop_roll_for`), and a training
//! extraction (`eval-postures --crops`) cuts it turned the same way, from the frame as brightened
//! for the models (`capture::exposure`). It is centred halfway between the shoulder
//! centre and the head (nose and ears). Its side is [`SIDE_IN_SHOULDER_WIDTHS`] image shoulder
//! widths: the head above, the upper chest below. That makes the crop's scale the unit of the shifts.
//!
//! A second, closer crop of the head alone ([`head_roi`]): in the body crop the head is only ~23 px
//! wide, and the posture model's rotation errors are those of a model at its capacity for that
//! input (models/train/README.md). Written beside the body crop for training (`eval-postures
//! --crops`), so a model with a head input can be trained on exactly what the product cuts.

use super::pose::{LEFT_EAR, LEFT_SHOULDER, NOSE, RIGHT_EAR, RIGHT_SHOULDER};
use super::{PoseLandmarks, Roi};
use crate::inference::roi::{crop_into, round_to_bytes_over};
use image::RgbImage;

/// Pixels per side of the crop.
pub const SIZE: usize = crate::inference::POSTURE_CROP_PX;
/// Crop side in (image) shoulder widths.
pub const SIDE_IN_SHOULDER_WIDTHS: f32 = 2.2;

/// Pixels per side of the head crop (the model's head input, for a model that has one).
pub const HEAD_SIZE: usize = crate::inference::POSTURE_HEAD_PX;
/// Head crop side in (image) shoulder widths: a head is ~0.4 shoulder widths wide and ~0.6 high,
/// so this holds it whole at any turn or tilt, ~50 px wide.
pub const HEAD_SIDE_IN_SHOULDER_WIDTHS: f32 = 0.9;

/// The crop's region, when both shoulders are seen well enough.
pub fn roi(p: &PoseLandmarks, min_visibility: f32) -> Option<Roi> {
    let (centre, width, head) = layout(p, min_visibility)?;
    let centre = (0.5 * centre.0 + 0.5 * head.0, 0.5 * centre.1 + 0.5 * head.1);
    square(centre, SIDE_IN_SHOULDER_WIDTHS * width)
}

/// The head crop's region (centred on the nose and ears, upright), when both shoulders are seen.
pub fn head_roi(p: &PoseLandmarks, min_visibility: f32) -> Option<Roi> {
    let (_, width, head) = layout(p, min_visibility)?;
    square(head, HEAD_SIDE_IN_SHOULDER_WIDTHS * width)
}

/// A point in the picture, pixels.
type Point = (f32, f32);

/// The shoulder centre, the image shoulder width and the head point (mean of nose and ears).
fn layout(p: &PoseLandmarks, min_visibility: f32) -> Option<(Point, f32, Point)> {
    let vis = |i: usize| p.visibility[i] >= min_visibility;
    if !vis(LEFT_SHOULDER) || !vis(RIGHT_SHOULDER) {
        return None;
    }
    let xy = |i: usize| (p.points[i][0], p.points[i][1]);
    let (l, r) = (xy(LEFT_SHOULDER), xy(RIGHT_SHOULDER));
    let width = (l.0 - r.0).hypot(l.1 - r.1);
    let head = [NOSE, LEFT_EAR, RIGHT_EAR].map(xy);
    let head = (
        head.iter().map(|q| q.0).sum::<f32>() / 3.0,
        head.iter().map(|q| q.1).sum::<f32>() / 3.0,
    );
    Some(((0.5 * (l.0 + r.0), 0.5 * (l.1 + r.1)), width, head))
}

fn square(centre: (f32, f32), side: f32) -> Option<Roi> {
    (side.is_finite() && side >= 8.0).then_some(Roi {
        cx: centre.0,
        cy: centre.1,
        width: side,
        height: side,
        rotation: 0.0,
    })
}

/// The crop's pixels, HWC, `size` square, rounded to 8-bit values (0..255) as the training PNGs
/// store them.
pub fn crop_values(img: &RgbImage, roi: &Roi, size: usize) -> Vec<f32> {
    let mut t = vec![0.0; size * size * 3];
    crop_values_into(img, roi, 1.0, &mut t);
    t
}

/// [`crop_values`] divided by `scale`, written into `out` (`size·size·3` floats, the size taken
/// from its length): the model's input tensor takes them as 0..1 (`scale` 255), filled in place.
pub fn crop_values_into(img: &RgbImage, roi: &Roi, scale: f32, out: &mut [f32]) {
    let size = ((out.len() / 3) as f64).sqrt() as usize;
    debug_assert_eq!(size * size * 3, out.len());
    crop_into(img, roi, size, 0.0, 255.0, out);
    round_to_bytes_over(out, scale);
}

/// The crop as an image (zero outside the picture), `size` pixels square ([`SIZE`] for the body
/// crop, [`HEAD_SIZE`] for the head's).
pub fn crop_image(img: &RgbImage, roi: &Roi, size: usize) -> RgbImage {
    let t = crop_values(img, roi, size);
    RgbImage::from_fn(size as u32, size as u32, |x, y| {
        let i = (y as usize * size + x as usize) * 3;
        image::Rgb([0, 1, 2].map(|c| t[i + c] as u8))
    })
}

/// A frontal body for tests: shoulders at x 200 and 300 (y 300), nose and ears at (250, 220), so
/// the crop is centred at (250, 260) with a side of 220 px; every point seen with `visibility`.
#[cfg(test)]
pub(crate) fn test_body(visibility: f32) -> PoseLandmarks {
    let mut p = PoseLandmarks {
        points: vec![[0.0; 3]; 39],
        visibility: vec![visibility; 39],
        in_frame: vec![1.0; 39],
        world: vec![[0.0; 3]; 39],
        presence: 1.0,
        roi: Roi::letterbox(640, 480),
    };
    p.points[LEFT_SHOULDER] = [300.0, 300.0, 0.0];
    p.points[RIGHT_SHOULDER] = [200.0, 300.0, 0.0];
    for i in [NOSE, LEFT_EAR, RIGHT_EAR] {
        p.points[i] = [250.0, 220.0, 0.0];
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crop_sits_between_shoulders_and_head_and_scales_with_the_shoulders() {
        let mut p = test_body(1.0);
        let r = roi(&p, 0.5).unwrap();
        assert_eq!(
            (r.cx, r.cy, r.width, r.height, r.rotation),
            (250.0, 260.0, 220.0, 220.0, 0.0)
        );
        p.visibility[LEFT_SHOULDER] = 0.1;
        assert!(roi(&p, 0.5).is_none(), "a shoulder not seen: no crop");
    }

    #[test]
    fn the_head_crop_sits_on_the_head_and_scales_with_the_shoulders() {
        let mut p = test_body(1.0);
        // Nose and ears at (250, 220); shoulders 100 px apart.
        let r = head_roi(&p, 0.5).unwrap();
        assert_eq!(
            (r.cx, r.cy, r.width, r.height, r.rotation),
            (250.0, 220.0, 90.0, 90.0, 0.0)
        );
        p.points[LEFT_SHOULDER][0] = 350.0;
        p.points[RIGHT_SHOULDER][0] = 150.0;
        assert_eq!(head_roi(&p, 0.5).unwrap().width, 180.0);
        p.visibility[RIGHT_SHOULDER] = 0.1;
        assert!(head_roi(&p, 0.5).is_none(), "a shoulder not seen: no crop");
        // The head crop's pixels at its own size.
        let img = RgbImage::from_pixel(500, 500, image::Rgb([9, 8, 7]));
        let c = crop_image(&img, &head_roi(&test_body(1.0), 0.5).unwrap(), HEAD_SIZE);
        assert_eq!((c.width(), c.get_pixel(56, 56).0), (HEAD_SIZE as u32, [9, 8, 7]));
    }

    /// The crop image (the training PNGs) keeps 8-bit values; the model's input is the same
    /// values over 255.
    #[test]
    fn the_crop_image_keeps_8_bit_values_and_the_model_input_is_them_over_255() {
        let img = RgbImage::from_pixel(500, 500, image::Rgb([200, 100, 50]));
        let r = roi(&test_body(1.0), 0.5).unwrap();
        assert_eq!(crop_image(&img, &r, SIZE).get_pixel(64, 64).0, [200, 100, 50]);
        let mut input = vec![0.0; SIZE * SIZE * 3];
        crop_values_into(&img, &r, 255.0, &mut input);
        let i = (64 * SIZE + 64) * 3;
        assert_eq!(input[i..i + 3], [200.0 / 255.0, 100.0 / 255.0, 50.0 / 255.0]);
    }
}
