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
/// Every frame pays three of these (pose, face, posture crops, ~135,000 samples), so samples go four
/// at a time: coordinates, floors, weights and the blend of each channel run in four lanes (the
/// four-lane operations of `lanes.rs`, SSE2 or NEON), with the taps of a block of four
/// read without checks when all sixteen lie inside the picture. Any other block, and a row's tail,
/// takes the per-sample path. Every lane does the same arithmetic in the same order as that path,
/// so the result is identical to the bit (`the_fast_crop_is_bit_identical_to_the_reference`).
pub fn crop_to_tensor(img: &RgbImage, roi: &Roi, size: usize, lo: f32, hi: f32) -> Vec<f32> {
    let mut out = vec![0.0f32; size * size * 3];
    crop_into(img, roi, size, lo, hi, &mut out);
    out
}

/// [`crop_to_tensor`] written into `out` (`size·size·3` floats, every one overwritten): a model's
/// input tensor, filled in place each frame.
pub fn crop_into(img: &RgbImage, roi: &Roi, size: usize, lo: f32, hi: f32, out: &mut [f32]) {
    debug_assert_eq!(out.len(), size * size * 3);
    let grid = SampleGrid::new(img, roi, size, lo, hi);
    for (j, row) in out.chunks_exact_mut(size * 3).enumerate() {
        let dy = (j as f32 + 0.5) * grid.step_y - roi.height / 2.0;
        let (s_dy, c_dy) = (grid.s * dy, grid.c * dy);
        let mut blocks = row.chunks_exact_mut(3 * LANES);
        let mut i = 0;
        for dst in &mut blocks {
            if !grid.block_of_four(i, s_dy, c_dy, dst) {
                for (l, px) in dst.chunks_exact_mut(3).enumerate() {
                    px.copy_from_slice(&grid.one_sample(i + l, s_dy, c_dy));
                }
            }
            i += LANES;
        }
        for px in blocks.into_remainder().chunks_exact_mut(3) {
            px.copy_from_slice(&grid.one_sample(i, s_dy, c_dy));
            i += 1;
        }
    }
}

/// Samples handled together by `SampleGrid::block_of_four`.
const LANES: usize = 4;

/// What every sample of one crop shares: the picture, the rotated grid and the value mapping.
struct SampleGrid<'a> {
    raw: &'a [u8],
    w: i64,
    h: i64,
    /// Bytes per picture row.
    row_len: usize,
    /// sin and cos of the ROI's rotation.
    s: f32,
    c: f32,
    step_x: f32,
    step_y: f32,
    half_width: f32,
    cx: f32,
    cy: f32,
    lo: f32,
    /// 0..255 to `lo..hi`.
    k: f32,
}

impl<'a> SampleGrid<'a> {
    fn new(img: &'a RgbImage, roi: &Roi, size: usize, lo: f32, hi: f32) -> Self {
        let (s, c) = roi.rotation.sin_cos();
        SampleGrid {
            raw: img.as_raw(),
            w: img.width() as i64,
            h: img.height() as i64,
            row_len: img.width() as usize * 3,
            s,
            c,
            step_x: roi.width / size as f32,
            step_y: roi.height / size as f32,
            half_width: roi.width / 2.0,
            cx: roi.cx,
            cy: roi.cy,
            lo,
            k: (hi - lo) / 255.0,
        }
    }

    /// Picture coordinates of column `i` on the row whose `s·dy`, `c·dy` are given; pixel centres
    /// sit at integer + 0.5, so shift by half a pixel to sample exactly on the grid.
    #[inline(always)]
    fn position(&self, i: usize, s_dy: f32, c_dy: f32) -> (f32, f32) {
        let dx = (i as f32 + 0.5) * self.step_x - self.half_width;
        (self.cx + self.c * dx - s_dy - 0.5, self.cy + self.s * dx + c_dy - 0.5)
    }

    /// True when all four taps and one byte past the right one lie inside the picture (the byte is
    /// read into a lane that is dropped).
    #[inline(always)]
    fn taps_inside(&self, x0: i64, y0: i64) -> bool {
        x0 >= 0 && y0 >= 0 && x0 + 2 < self.w && y0 + 1 < self.h
    }

    /// Samples `i .. i + 4` of a row into `dst` (12 values); false, with `dst` untouched, when
    /// one of them is not entirely inside the picture.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[inline(always)]
    fn block_of_four(&self, i: usize, s_dy: f32, c_dy: f32, dst: &mut [f32]) -> bool {
        use super::lanes::{F4, I4};
        let i0 = i as f32;
        let col = F4::new([i0, i0 + 1.0, i0 + 2.0, i0 + 3.0]);
        // position(), lane by lane, in the same order.
        let dx = col
            .add(F4::splat(0.5))
            .mul(F4::splat(self.step_x))
            .sub(F4::splat(self.half_width));
        let half = F4::splat(0.5);
        let x = F4::splat(self.cx)
            .add(F4::splat(self.c).mul(dx))
            .sub(F4::splat(s_dy))
            .sub(half);
        let y = F4::splat(self.cy)
            .add(F4::splat(self.s).mul(dx))
            .add(F4::splat(c_dy))
            .sub(half);
        // Far outside (or NaN): the per-sample path. Below 2^23 the truncation is exact.
        if !x.abs_below(8_388_608.0).and(y.abs_below(8_388_608.0)).all() {
            return false;
        }
        // floor_split, lane by lane: truncate, step down where that rounded up (a mask is −1).
        let floor = |v: F4| {
            let t = v.trunc_i32();
            let t = t.add(t.to_f32().gt(v));
            (t, v.sub(t.to_f32().copysign(v)))
        };
        let ((x0, fx), (y0, fy)) = (floor(x), floor(y));
        // taps_inside, lane by lane.
        let inside = x0
            .gt(I4::splat(-1))
            .and(y0.gt(I4::splat(-1)))
            .and(I4::splat(self.w.min(i32::MAX as i64) as i32 - 2).gt(x0))
            .and(I4::splat(self.h.min(i32::MAX as i64) as i32 - 1).gt(y0));
        if !inside.all() {
            // All four entirely beyond the picture (a body crop reaching past the frame's edge):
            // black, as edge_pixel gives for taps that all miss.
            let beyond = x0
                .gt(I4::splat(self.w.min(i32::MAX as i64) as i32 - 1))
                .or(I4::splat(-1).gt(x0))
                .or(y0.gt(I4::splat(self.h.min(i32::MAX as i64) as i32 - 1)))
                .or(I4::splat(-1).gt(y0));
            if !beyond.all() {
                return false;
            }
            let black = F4::splat(self.lo).add(F4::splat(self.k).mul(F4::splat(0.0)));
            F4::store_interleaved3(black, black, black, dst.try_into().expect("12 values"));
            return true;
        }
        let (xs, ys) = (x0.to_array(), y0.to_array());
        let top = |l: usize| ys[l] as usize * self.row_len + xs[l] as usize * 3;
        let top = [top(0), top(1), top(2), top(3)];
        debug_assert!(top.iter().all(|&t| t + self.row_len + 7 <= self.raw.len()));
        // SAFETY: every lane passed taps_inside (x0 + 2 < w, y0 + 1 < h) and the buffer holds at
        // least w·h pixels (an ImageBuffer's invariant), so the bottom-right tap's four bytes end
        // at most at (y0 + 2)·row_len − 2 ≤ len.
        let tap = |at: usize| u32::from_le(unsafe { self.raw.as_ptr().add(at).cast::<u32>().read_unaligned() });
        let taps_at = |off: usize| {
            I4::new([
                tap(top[0] + off),
                tap(top[1] + off),
                tap(top[2] + off),
                tap(top[3] + off),
            ])
        };
        let taps = [taps_at(0), taps_at(3), taps_at(self.row_len), taps_at(self.row_len + 3)];
        let one = F4::splat(1.0);
        let (wx0, wy0) = (one.sub(fx), one.sub(fy));
        let weights = [wx0.mul(wy0), fx.mul(wy0), wx0.mul(fy), fx.mul(fy)];
        // The order of edge_pixel's sum: top-left, top-right, bottom-left, bottom-right.
        let blend = |byte: &dyn Fn(I4) -> F4| {
            let acc = weights[0].mul(byte(taps[0])).add(weights[1].mul(byte(taps[1])));
            let acc = acc
                .add(weights[2].mul(byte(taps[2])))
                .add(weights[3].mul(byte(taps[3])));
            F4::splat(self.lo).add(F4::splat(self.k).mul(acc))
        };
        let (r, g, b) = (
            blend(&|t| t.byte_f32::<0>()),
            blend(&|t| t.byte_f32::<8>()),
            blend(&|t| t.byte_f32::<16>()),
        );
        F4::store_interleaved3(r, g, b, dst.try_into().expect("12 values"));
        true
    }

    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    fn block_of_four(&self, _i: usize, _s_dy: f32, _c_dy: f32, _dst: &mut [f32]) -> bool {
        false
    }

    /// One sample, its taps checked one by one: the picture's border, and beyond it.
    fn one_sample(&self, i: usize, s_dy: f32, c_dy: f32) -> [f32; 3] {
        let (x, y) = self.position(i, s_dy, c_dy);
        let (x0, fx, y0, fy) = match (floor_split(x), floor_split(y)) {
            (Some((x0, fx)), Some((y0, fy))) => (x0, fx, y0, fy),
            _ => {
                let (x0, y0) = (x.floor(), y.floor());
                (x0 as i64, x - x0, y0 as i64, y - y0)
            }
        };
        if self.taps_inside(x0, y0) {
            let (wx0, wx1, wy0, wy1) = (1.0 - fx, fx, 1.0 - fy, fy);
            let top = y0 as usize * self.row_len + x0 as usize * 3;
            let tap = |at: usize| -> [u8; 4] { self.raw[at..at + 4].try_into().expect("four bytes") };
            let taps = [
                tap(top),
                tap(top + 3),
                tap(top + self.row_len),
                tap(top + self.row_len + 3),
            ];
            let weights = [wx0 * wy0, wx1 * wy0, wx0 * wy1, wx1 * wy1];
            let px = blend_taps(taps, weights, self.lo, self.k);
            return [px[0], px[1], px[2]];
        }
        let px = edge_pixel(self.raw, self.w, self.h, x0, y0, fx, fy);
        px.map(|v| self.lo + self.k * v)
    }
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

/// `f32::round`, bit for bit, without its libm call below 2^31 (x86-64's baseline has no rounding
/// instruction): crop values rounded to 8-bit ones, per value of a picture.
#[inline]
pub fn round_half_away(v: f32) -> f32 {
    if v.is_nan() || v.abs() >= ROUND_FAST_BELOW {
        return v.round();
    }
    // SAFETY: not NaN and below 2^31 (just checked).
    unsafe { round_in_range(v) }
}

/// Round half away from zero for a value known to be below 2^31 and not NaN: truncation and the
/// fraction are exact there. The fraction's test is a select, not a branch (a coin toss on
/// picture values), and the unchecked truncation lets a loop of it vectorise.
///
/// # Safety
/// `v` is not NaN and `|v| < ROUND_FAST_BELOW`.
#[inline(always)]
unsafe fn round_in_range(v: f32) -> f32 {
    let a = v.abs();
    let t = unsafe { a.to_int_unchecked::<i32>() } as f32;
    let up = if a - t >= 0.5 { 1.0 } else { 0.0 };
    (t + up).copysign(v)
}

/// Each value rounded to an 8-bit one and divided by `scale`: bit for bit
/// `round_half_away(v).clamp(0.0, 255.0) / scale`, the crop values the posture model reads (and
/// the training PNGs store). One pass without a branch per value: [`round_half_away`]'s test of
/// the fraction, a coin toss on picture values, cost ~10 ns a value in mispredictions (0.5 ms a
/// 128-px crop, more than cutting it). Values beyond its fast range (none in a crop) take it.
pub fn round_to_bytes_over(values: &mut [f32], scale: f32) {
    if !values.iter().all(|v| v.abs() < ROUND_FAST_BELOW) {
        values
            .iter_mut()
            .for_each(|v| *v = round_half_away(*v).clamp(0.0, 255.0) / scale);
        return;
    }
    for v in values.iter_mut() {
        // SAFETY: every value is below 2^31 and not NaN (checked above).
        *v = unsafe { round_in_range(*v) }.clamp(0.0, 255.0) / scale;
    }
}

/// Below this, truncation through `i32` and the fraction are exact (the largest f32 under 2^31).
const ROUND_FAST_BELOW: f32 = 2_147_483_520.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_to_bytes_matches_rounding_each_value() {
        let mut values = vec![
            0.0f32, -0.0, 0.5, -0.5, 0.49999997, 254.5, 255.49998, 255.5, 300.0, -3.0, 127.5,
        ];
        values.push(254.5f32.next_down());
        values.push(254.5f32.next_up());
        values.extend((0..300_000).map(|i| i as f32 * 0.00097 - 10.0));
        for scale in [1.0f32, 255.0] {
            let want: Vec<u32> = values
                .iter()
                .map(|v| (round_half_away(*v).clamp(0.0, 255.0) / scale).to_bits())
                .collect();
            let mut got = values.clone();
            round_to_bytes_over(&mut got, scale);
            assert_eq!(
                got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want,
                "scale {scale}"
            );
            // Values beyond the fast range go the careful way, the others still exactly.
            let mut wide = values.clone();
            wide.extend([3e9f32, -1e10, f32::NAN]);
            let want_wide: Vec<u32> = wide
                .iter()
                .map(|v| (round_half_away(*v).clamp(0.0, 255.0) / scale).to_bits())
                .collect();
            round_to_bytes_over(&mut wide, scale);
            assert_eq!(wide.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want_wide);
        }
    }

    #[test]
    fn rounding_matches_the_library_to_the_bit() {
        let mut values = vec![
            0.0f32,
            -0.0,
            0.5,
            1.5,
            2.5,
            -0.5,
            -1.5,
            254.5,
            255.0,
            255.49998,
            1e9,
            -3e9,
            f32::NAN,
        ];
        values.push(0.5f32.next_down());
        values.push(254.5f32.next_down());
        values.push(254.5f32.next_up());
        values.extend((0..200_000).map(|i| i as f32 * 0.0013 - 5.0));
        for v in values {
            assert_eq!(round_half_away(v).to_bits(), v.round().to_bits(), "{v}");
        }
    }

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
