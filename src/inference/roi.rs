//! Regions of interest: a rotated rectangle in image pixels, and the bilinear crop that turns it into
//! a model input tensor. The same mapping, run backwards, puts model outputs back into the image.
//! MediaPipe's convention: `rotation` in radians, image coordinates (y down), a crop point (u, v) in
//! [0,1]² maps to `centre + R(rotation) · ((u − ½)·width, (v − ½)·height)`.

use image::RgbImage;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Roi {
    pub cx: f32,
    pub cy: f32,
    pub width: f32,
    pub height: f32,
    pub rotation: f32,
}

impl Roi {
    /// The whole image, centred in a square with zero padding (the detectors' letterbox).
    pub fn letterbox(img_w: u32, img_h: u32) -> Roi {
        let side = img_w.max(img_h) as f32;
        Roi {
            cx: img_w as f32 / 2.0,
            cy: img_h as f32 / 2.0,
            width: side,
            height: side,
            rotation: 0.0,
        }
    }

    /// A crop point in [0,1]² to image pixels.
    pub fn to_image(&self, u: f32, v: f32) -> (f32, f32) {
        let (s, c) = self.rotation.sin_cos();
        let dx = (u - 0.5) * self.width;
        let dy = (v - 0.5) * self.height;
        (self.cx + c * dx - s * dy, self.cy + s * dx + c * dy)
    }

    /// Scale both sides, then make the rectangle square on its long side (MediaPipe's
    /// RectTransformation with `square_long`).
    pub fn scaled_square(mut self, factor: f32) -> Roi {
        let side = self.width.max(self.height) * factor;
        self.width = side;
        self.height = side;
        self
    }

    /// Rotation that turns the vector `from → to` (image pixels) to `target` radians, as MediaPipe
    /// computes it: `target − atan2(−dy, dx)`, normalised to (−π, π].
    pub fn rotation_for(from: (f32, f32), to: (f32, f32), target: f32) -> f32 {
        let angle = target - (-(to.1 - from.1)).atan2(to.0 - from.0);
        normalize_radians(angle)
    }

    /// A square ROI centred on `centre`, side `2·|centre→scale_point|`, rotated so that
    /// centre → scale_point points up (MediaPipe's AlignmentPointsRects for BlazePose).
    pub fn from_alignment(centre: (f32, f32), scale_point: (f32, f32)) -> Roi {
        let side = 2.0 * ((scale_point.0 - centre.0).powi(2) + (scale_point.1 - centre.1).powi(2)).sqrt();
        let rotation = Roi::rotation_for(centre, scale_point, std::f32::consts::FRAC_PI_2);
        Roi {
            cx: centre.0,
            cy: centre.1,
            width: side,
            height: side,
            rotation,
        }
    }

    pub fn is_usable(&self) -> bool {
        self.width.is_finite()
            && self.height.is_finite()
            && self.width > 4.0
            && self.height > 4.0
            && self.cx.is_finite()
            && self.cy.is_finite()
    }
}

/// An angle in [−π, π).
pub fn normalize_radians(a: f32) -> f32 {
    use std::f32::consts::PI;
    a - 2.0 * PI * ((a + PI) / (2.0 * PI)).floor()
}

/// Crop `roi` into a `size × size` NHWC tensor with bilinear sampling; channel values are mapped
/// from 0..255 to `lo..hi`. Outside the image counts as black (pixel 0), like MediaPipe's zero border.
///
/// Every frame pays three of these (pose, face, posture crops): inside the picture a pixel takes
/// its four taps without per-tap checks, and the floor is inline (x86-64's baseline has no SSE4.1
/// round, so `f32::floor` was a libm call per coordinate: the crops cost 18 % of a frame's
/// instructions). Same arithmetic in the same order as the edge path, so the result is identical.
pub fn crop_to_tensor(img: &RgbImage, roi: &Roi, size: usize, lo: f32, hi: f32) -> Vec<f32> {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let raw = img.as_raw();
    let k = (hi - lo) / 255.0;
    let mut out = vec![0.0f32; size * size * 3];
    let (s, c) = roi.rotation.sin_cos();
    let step_x = roi.width / size as f32;
    let step_y = roi.height / size as f32;
    let row_len = w as usize * 3;
    for (j, row) in out.chunks_exact_mut(size * 3).enumerate() {
        let dy = (j as f32 + 0.5) * step_y - roi.height / 2.0;
        for (i, dst) in row.chunks_exact_mut(3).enumerate() {
            let dx = (i as f32 + 0.5) * step_x - roi.width / 2.0;
            // Pixel centres sit at integer + 0.5; shift so that sampling is exact on the grid.
            let x = roi.cx + c * dx - s * dy - 0.5;
            let y = roi.cy + s * dx + c * dy - 0.5;
            let (x0, fx, y0, fy) = match (floor_split(x), floor_split(y)) {
                (Some((x0, fx)), Some((y0, fy))) => (x0, fx, y0, fy),
                _ => {
                    let (x0, y0) = (x.floor(), y.floor());
                    (x0 as i64, x - x0, y0 as i64, y - y0)
                }
            };
            let (wx0, wx1, wy0, wy1) = (1.0 - fx, fx, 1.0 - fy, fy);
            if x0 >= 0 && y0 >= 0 && x0 + 2 < w && y0 + 1 < h {
                // All four taps inside, and one byte past the right tap (read into a lane that is
                // dropped). A zero weight adds +0.0 to a non-negative sum, which leaves it
                // unchanged, so no tap needs skipping.
                let top = y0 as usize * row_len + x0 as usize * 3;
                let tap = |at: usize| -> [u8; 4] { raw[at..at + 4].try_into().expect("four bytes") };
                let taps = [tap(top), tap(top + 3), tap(top + row_len), tap(top + row_len + 3)];
                let weights = [wx0 * wy0, wx1 * wy0, wx0 * wy1, wx1 * wy1];
                let px = blend_taps(taps, weights, lo, k);
                dst.copy_from_slice(&px[..3]);
                continue;
            }
            let px = edge_pixel(raw, w, h, x0, y0, fx, fy);
            dst[0] = lo + k * px[0];
            dst[1] = lo + k * px[1];
            dst[2] = lo + k * px[2];
        }
    }
    out
}

/// `lo + k * Σ weight·tap` for the three channels at once (the fourth lane is dropped): per
/// channel the same multiplications and additions in the same order as `edge_pixel` and the
/// mapping after it, so the same bits. Four lanes of SSE2 (part of every x86-64) or NEON.
#[cfg(target_arch = "x86_64")]
#[inline]
fn blend_taps(taps: [[u8; 4]; 4], weights: [f32; 4], lo: f32, k: f32) -> [f32; 4] {
    use std::arch::x86_64::*;
    let mut px = [0.0f32; 4];
    // SAFETY: SSE and SSE2 are part of the x86-64 baseline; `px` holds the four f32 stored
    // (unaligned store).
    unsafe {
        let zero = _mm_setzero_si128();
        let mut acc = _mm_setzero_ps();
        for (t, wgt) in taps.into_iter().zip(weights) {
            let bytes = _mm_cvtsi32_si128(i32::from_le_bytes(t));
            let lanes = _mm_cvtepi32_ps(_mm_unpacklo_epi16(_mm_unpacklo_epi8(bytes, zero), zero));
            acc = _mm_add_ps(acc, _mm_mul_ps(_mm_set1_ps(wgt), lanes));
        }
        let out = _mm_add_ps(_mm_set1_ps(lo), _mm_mul_ps(_mm_set1_ps(k), acc));
        _mm_storeu_ps(px.as_mut_ptr(), out);
    }
    px
}

#[cfg(target_arch = "aarch64")]
#[inline]
fn blend_taps(taps: [[u8; 4]; 4], weights: [f32; 4], lo: f32, k: f32) -> [f32; 4] {
    use std::arch::aarch64::*;
    let mut px = [0.0f32; 4];
    // SAFETY: NEON is part of the aarch64 baseline; `px` holds the four f32 stored. Separate
    // multiply and add (no fused vfmaq): the scalar path rounds each product first.
    unsafe {
        let mut acc = vdupq_n_f32(0.0);
        for (t, wgt) in taps.into_iter().zip(weights) {
            let bytes = vcreate_u8(u32::from_le_bytes(t) as u64);
            let lanes = vcvtq_f32_u32(vmovl_u16(vget_low_u16(vmovl_u8(bytes))));
            acc = vaddq_f32(acc, vmulq_f32(vdupq_n_f32(wgt), lanes));
        }
        let out = vaddq_f32(vdupq_n_f32(lo), vmulq_f32(vdupq_n_f32(k), acc));
        vst1q_f32(px.as_mut_ptr(), out);
    }
    px
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[inline]
fn blend_taps(taps: [[u8; 4]; 4], weights: [f32; 4], lo: f32, k: f32) -> [f32; 4] {
    let mut px = [0.0f32; 4];
    for (t, wgt) in taps.into_iter().zip(weights) {
        for c in 0..4 {
            px[c] += wgt * t[c] as f32;
        }
    }
    px.map(|v| lo + k * v)
}

/// A pixel whose taps may fall outside the picture (black there).
fn edge_pixel(raw: &[u8], w: i64, h: i64, x0: i64, y0: i64, fx: f32, fy: f32) -> [f32; 3] {
    let mut px = [0.0f32; 3];
    for (yy, wy) in [(y0, 1.0 - fy), (y0 + 1, fy)] {
        if yy < 0 || yy >= h || wy == 0.0 {
            continue;
        }
        for (xx, wx) in [(x0, 1.0 - fx), (x0 + 1, fx)] {
            if xx < 0 || xx >= w || wx == 0.0 {
                continue;
            }
            let idx = ((yy * w + xx) * 3) as usize;
            let wgt = wx * wy;
            px[0] += wgt * raw[idx] as f32;
            px[1] += wgt * raw[idx + 1] as f32;
            px[2] += wgt * raw[idx + 2] as f32;
        }
    }
    px
}

/// `(floor(x), x - floor(x))` without a libm call, where the truncation is exact (|x| < 2^23
/// covers every pixel coordinate; None beyond, and for NaN). Bit for bit `f32::floor`'s.
#[inline]
fn floor_split(x: f32) -> Option<(i64, f32)> {
    if x.abs() < 8_388_608.0 {
        // SAFETY: |x| < 2^23, so x truncates to an i32 that represents it exactly.
        let t = unsafe { x.to_int_unchecked::<i32>() };
        let t = if (t as f32) > x { t - 1 } else { t };
        // copysign keeps floor(-0.0) = -0.0 (so the fraction is +0.0 as with the library's).
        Some((t as i64, x - (t as f32).copysign(x)))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The crop before its fast path (per-tap checks, libm floor), kept as the reference.
    fn reference_crop(img: &RgbImage, roi: &Roi, size: usize, lo: f32, hi: f32) -> Vec<f32> {
        let (w, h) = (img.width() as i64, img.height() as i64);
        let raw = img.as_raw();
        let k = (hi - lo) / 255.0;
        let mut out = Vec::with_capacity(size * size * 3);
        let (s, c) = roi.rotation.sin_cos();
        let (step_x, step_y) = (roi.width / size as f32, roi.height / size as f32);
        for j in 0..size {
            let dy = (j as f32 + 0.5) * step_y - roi.height / 2.0;
            for i in 0..size {
                let dx = (i as f32 + 0.5) * step_x - roi.width / 2.0;
                let x = roi.cx + c * dx - s * dy - 0.5;
                let y = roi.cy + s * dx + c * dy - 0.5;
                let (x0, y0) = (x.floor(), y.floor());
                let px = edge_pixel(raw, w, h, x0 as i64, y0 as i64, x - x0, y - y0);
                out.extend_from_slice(&[lo + k * px[0], lo + k * px[1], lo + k * px[2]]);
            }
        }
        out
    }

    #[test]
    fn the_fast_crop_is_bit_identical_to_the_reference() {
        let img = RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 5) as u8, ((x * y) % 251) as u8])
        });
        let rois = [
            (32.0, 24.0, 20.0, 0.0),  // inside, axis-aligned, on the pixel grid
            (31.3, 20.7, 17.0, 0.41), // inside, turned
            (3.0, 4.0, 30.0, -0.7),   // over the top-left corner
            (60.5, 45.2, 25.0, 2.9),  // over the bottom-right corner, nearly upside down
            (-40.0, 10.0, 12.0, 0.2), // entirely outside
            (32.0, 24.0, 200.0, 1.1), // larger than the picture
        ];
        for (cx, cy, side, rotation) in rois {
            let roi = Roi {
                cx,
                cy,
                width: side,
                height: side,
                rotation,
            };
            for size in [7, 32] {
                let (got, want) = (
                    crop_to_tensor(&img, &roi, size, -1.0, 1.0),
                    reference_crop(&img, &roi, size, -1.0, 1.0),
                );
                let same = got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same && got.len() == want.len(), "roi {roi:?} size {size}");
            }
        }
        for x in [
            -3.5f32,
            -1.0,
            -0.0,
            0.0,
            0.25,
            2.0,
            1e-9,
            -1e-9,
            8e6,
            -8e6,
            1e7,
            3e9,
            f32::NAN,
        ] {
            let want = (x.floor() as i64, (x - x.floor()).to_bits());
            match floor_split(x) {
                Some((i, frac)) => assert_eq!((i, frac.to_bits()), want, "{x}"),
                None => assert!(x.is_nan() || x.abs() >= 8_388_608.0, "{x}"),
            }
        }
    }

    #[test]
    fn crop_and_back_agree() {
        let roi = Roi {
            cx: 50.0,
            cy: 40.0,
            width: 20.0,
            height: 20.0,
            rotation: 0.3,
        };
        let (x, y) = roi.to_image(0.5, 0.5);
        assert!((x - 50.0).abs() < 1e-5 && (y - 40.0).abs() < 1e-5);
        // u = 1 lies half a width along the rotated x axis.
        let (x, y) = roi.to_image(1.0, 0.5);
        assert!((x - (50.0 + 10.0 * 0.3f32.cos())).abs() < 1e-4 && (y - (40.0 + 10.0 * 0.3f32.sin())).abs() < 1e-4);
    }

    #[test]
    fn axis_aligned_crop_samples_pixels_exactly() {
        let mut img = RgbImage::new(4, 4);
        img.put_pixel(1, 2, image::Rgb([255, 0, 0]));
        let roi = Roi {
            cx: 2.0,
            cy: 2.0,
            width: 4.0,
            height: 4.0,
            rotation: 0.0,
        };
        let t = crop_to_tensor(&img, &roi, 4, 0.0, 1.0);
        assert!((t[(2 * 4 + 1) * 3] - 1.0).abs() < 1e-6);
        assert_eq!(t.iter().filter(|v| **v > 0.0).count(), 1);
    }

    #[test]
    fn level_eyes_need_no_rotation_and_tilted_ones_do() {
        assert!(Roi::rotation_for((10.0, 10.0), (20.0, 10.0), 0.0).abs() < 1e-6);
        // Right-hand eye lower in the image (y down): the crop must rotate clockwise, i.e. positive.
        assert!(Roi::rotation_for((10.0, 10.0), (20.0, 15.0), 0.0) > 0.3);
    }
}
