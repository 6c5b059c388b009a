//! Packed 4:2:2 rows (YUYV, UYVY: what most USB cameras send) to RGB24, the conversion every camera
//! frame pays before anything else (1.1 ms of a 640×480 frame as one pixel at a time). Eight pixels
//! at a time with SSE2 on x86-64, sixteen with NEON on aarch64, the rest one by one; the fixed-point
//! arithmetic is the scalar one's (`yuv_to_rgb`: BT.601 limited range, coefficients ×256), so the
//! result is the same to the byte.

/// BT.601 limited range, fixed point (the coefficients ×256, as in the V4L2 documentation).
#[inline]
pub(super) fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = 298 * (y as i32 - 16);
    let d = u as i32 - 128;
    let e = v as i32 - 128;
    let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    [clamp(c + 409 * e), clamp(c - 100 * d - 208 * e), clamp(c + 516 * d)]
}

/// One row: `src` holds the row's whole pairs of pixels in YUYV, or in UYVY when `uyvy`; `dst`
/// its RGB pixels. An odd width's last pixel has no pair in `src` and is left as it is.
pub(super) fn row_to_rgb(src: &[u8], dst: &mut [u8], uyvy: bool) {
    let done = simd_pixels(src, dst, uyvy);
    let (y0, u, y1, v) = if uyvy { (1, 0, 3, 2) } else { (0, 1, 2, 3) };
    for (pair, px) in src[done * 2..].chunks_exact(4).zip(dst[done * 3..].chunks_mut(6)) {
        let (cb, cr) = (pair[u], pair[v]);
        px[..3].copy_from_slice(&yuv_to_rgb(pair[y0], cb, cr));
        if px.len() == 6 {
            px[3..].copy_from_slice(&yuv_to_rgb(pair[y1], cb, cr));
        }
    }
}

/// Converts the row's leading whole blocks of eight pixels; returns how many pixels it wrote. Each
/// pixel is stored as four bytes whose fourth the next pixel overwrites, so the last block that
/// would reach past `dst` is left to the scalar loop.
#[cfg(target_arch = "x86_64")]
fn simd_pixels(src: &[u8], dst: &mut [u8], uyvy: bool) -> usize {
    use std::arch::x86_64::*;
    let mut done = 0;
    // SAFETY: SSE2 is part of the x86-64 baseline. Each block reads src[2·done .. 2·done + 16]
    // and writes dst[3·done .. 3·done + 25], both checked by the loop condition.
    unsafe {
        let low_bytes = _mm_set1_epi16(0x00ff);
        let (k16, k128) = (_mm_set1_epi16(16), _mm_set1_epi16(128));
        let r_coef = _mm_set_epi16(409, 298, 409, 298, 409, 298, 409, 298);
        let g_coef = _mm_set_epi16(-100, 298, -100, 298, -100, 298, -100, 298);
        let g_coef_v = _mm_set_epi16(0, -208, 0, -208, 0, -208, 0, -208);
        let b_coef = _mm_set_epi16(516, 298, 516, 298, 516, 298, 516, 298);
        let round = _mm_set1_epi32(128);
        while 2 * done + 16 <= src.len() && 3 * done + 25 <= dst.len() {
            let block = _mm_loadu_si128(src.as_ptr().add(2 * done).cast());
            let (luma, chroma) = if uyvy {
                (_mm_srli_epi16::<8>(block), _mm_and_si128(block, low_bytes))
            } else {
                (_mm_and_si128(block, low_bytes), _mm_srli_epi16::<8>(block))
            };
            let c = _mm_sub_epi16(luma, k16); // Y − 16, eight pixels
            let chroma = _mm_sub_epi16(chroma, k128); // U0 V0 U1 V1 … − 128
                                                      // Each pixel's U and V: U0 U0 U1 U1 U2 U2 U3 U3 and the same for V.
            let d = _mm_shufflehi_epi16::<0b10_10_00_00>(_mm_shufflelo_epi16::<0b10_10_00_00>(chroma));
            let e = _mm_shufflehi_epi16::<0b11_11_01_01>(_mm_shufflelo_epi16::<0b11_11_01_01>(chroma));
            // Pairs (c, e) and (c, d) per pixel, each multiply-added in 32 bits.
            let (ce_lo, ce_hi) = (_mm_unpacklo_epi16(c, e), _mm_unpackhi_epi16(c, e));
            let (cd_lo, cd_hi) = (_mm_unpacklo_epi16(c, d), _mm_unpackhi_epi16(c, d));
            let (ee_lo, ee_hi) = (_mm_unpacklo_epi16(e, e), _mm_unpackhi_epi16(e, e));
            let to_u8 = |lo: __m128i, hi: __m128i| {
                let lo = _mm_srai_epi32::<8>(_mm_add_epi32(lo, round));
                let hi = _mm_srai_epi32::<8>(_mm_add_epi32(hi, round));
                _mm_packs_epi32(lo, hi) // eight i16; packus below clamps to 0..255
            };
            let r = to_u8(_mm_madd_epi16(ce_lo, r_coef), _mm_madd_epi16(ce_hi, r_coef));
            let g = to_u8(
                _mm_add_epi32(_mm_madd_epi16(cd_lo, g_coef), _mm_madd_epi16(ee_lo, g_coef_v)),
                _mm_add_epi32(_mm_madd_epi16(cd_hi, g_coef), _mm_madd_epi16(ee_hi, g_coef_v)),
            );
            let b = to_u8(_mm_madd_epi16(cd_lo, b_coef), _mm_madd_epi16(cd_hi, b_coef));
            let rg = _mm_packus_epi16(r, g); // R0..R7 G0..G7
            let b0 = _mm_packus_epi16(b, _mm_setzero_si128()); // B0..B7 0..0
            let rg_pairs = _mm_unpacklo_epi8(rg, _mm_srli_si128::<8>(rg)); // R0 G0 R1 G1 …
            let b_pairs = _mm_unpacklo_epi8(b0, _mm_setzero_si128()); // B0 0 B1 0 …
            let mut rgbx = [0u32; 8];
            _mm_storeu_si128(rgbx.as_mut_ptr().cast(), _mm_unpacklo_epi16(rg_pairs, b_pairs));
            _mm_storeu_si128(rgbx.as_mut_ptr().add(4).cast(), _mm_unpackhi_epi16(rg_pairs, b_pairs));
            let out = dst.as_mut_ptr().add(3 * done);
            for (p, px) in rgbx.iter().enumerate() {
                out.add(3 * p).cast::<u32>().write_unaligned(*px);
            }
            done += 8;
        }
    }
    done
}

/// Sixteen pixels a block with NEON: `vld4` splits Y0 U Y1 V (or U Y0 V Y1), `vst3` interleaves
/// R G B.
#[cfg(target_arch = "aarch64")]
fn simd_pixels(src: &[u8], dst: &mut [u8], uyvy: bool) -> usize {
    use std::arch::aarch64::*;
    let mut done = 0;
    // SAFETY: NEON is part of the aarch64 baseline. Each block reads src[2·done .. 2·done + 32]
    // and writes dst[3·done .. 3·done + 48], both checked by the loop condition.
    unsafe {
        // (Y − 16, U − 128 or V − 128) widened to i16, as the scalar code's i32 would hold them.
        let minus = |x: uint8x8_t, k: u8| vreinterpretq_s16_u16(vsubl_u8(x, vdup_n_u8(k)));
        // ((x + 128) >> 8) clamped to 0..255, for eight i32 lanes in two halves.
        let narrow = |lo: int32x4_t, hi: int32x4_t| {
            let round = vdupq_n_s32(128);
            let lo = vshrq_n_s32::<8>(vaddq_s32(lo, round));
            let hi = vshrq_n_s32::<8>(vaddq_s32(hi, round));
            vqmovun_s16(vcombine_s16(vqmovn_s32(lo), vqmovn_s32(hi)))
        };
        // R, G, B of eight pixels from their Y − 16 and their pair's U − 128, V − 128.
        let rgb8 = |c: int16x8_t, d: int16x8_t, e: int16x8_t| {
            let part = |c: int16x4_t, d: int16x4_t, e: int16x4_t| {
                let base = vmull_n_s16(c, 298);
                let r = vmlal_n_s16(base, e, 409);
                let g = vmlal_n_s16(vmlal_n_s16(base, d, -100), e, -208);
                let b = vmlal_n_s16(base, d, 516);
                (r, g, b)
            };
            let (rl, gl, bl) = part(vget_low_s16(c), vget_low_s16(d), vget_low_s16(e));
            let (rh, gh, bh) = part(vget_high_s16(c), vget_high_s16(d), vget_high_s16(e));
            (narrow(rl, rh), narrow(gl, gh), narrow(bl, bh))
        };
        while 2 * done + 32 <= src.len() && 3 * done + 48 <= dst.len() {
            let q = vld4_u8(src.as_ptr().add(2 * done));
            let (y_even, u, y_odd, v) = if uyvy {
                (q.1, q.0, q.3, q.2)
            } else {
                (q.0, q.1, q.2, q.3)
            };
            let (d, e) = (minus(u, 128), minus(v, 128));
            let (re, ge, be) = rgb8(minus(y_even, 16), d, e);
            let (ro, go, bo) = rgb8(minus(y_odd, 16), d, e);
            // Even and odd pixels back into order: zip gives p0 p1 p2 … p15.
            let (r, g, b) = (vzip_u8(re, ro), vzip_u8(ge, go), vzip_u8(be, bo));
            let out = uint8x16x3_t(vcombine_u8(r.0, r.1), vcombine_u8(g.0, g.1), vcombine_u8(b.0, b.1));
            vst3q_u8(dst.as_mut_ptr().add(3 * done), out);
            done += 16;
        }
    }
    done
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn simd_pixels(_src: &[u8], _dst: &mut [u8], _uyvy: bool) -> usize {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte value in every position, rows of several lengths (whole blocks, a tail, an odd
    /// pixel): the same bytes as one pixel at a time.
    #[test]
    fn blocks_convert_exactly_like_single_pixels() {
        let mut seed = 0x2545_f491_u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for uyvy in [false, true] {
            for width in [1usize, 2, 7, 8, 9, 16, 17, 31, 32, 33, 64, 101, 640] {
                let pairs = width.div_ceil(2);
                for round in 0..20 {
                    let src: Vec<u8> = (0..pairs * 4)
                        .map(|i| if round == 0 { (i * 37 % 256) as u8 } else { next() as u8 })
                        .collect();
                    let mut got = vec![0u8; width * 3];
                    row_to_rgb(&src[..width / 2 * 4], &mut got, uyvy);
                    let (y0, u, y1, v) = if uyvy { (1, 0, 3, 2) } else { (0, 1, 2, 3) };
                    let want: Vec<u8> = (0..width / 2 * 2)
                        .flat_map(|x| {
                            let pair = &src[(x / 2) * 4..(x / 2) * 4 + 4];
                            yuv_to_rgb(pair[if x % 2 == 0 { y0 } else { y1 }], pair[u], pair[v])
                        })
                        .chain(std::iter::repeat_n(0, width % 2 * 3))
                        .collect();
                    assert_eq!(got, want, "width {width}, uyvy {uyvy}, round {round}");
                }
            }
        }
        // The extremes of the arithmetic: every Y against the corners of the chroma plane.
        for (u, v) in [(0u8, 0u8), (0, 255), (255, 0), (255, 255), (128, 128)] {
            let src: Vec<u8> = (0..=255u8).step_by(2).flat_map(|y| [y, u, y + 1, v]).collect();
            let mut got = vec![0u8; 256 * 3];
            row_to_rgb(&src, &mut got, false);
            let want: Vec<u8> = (0..=255u8).flat_map(|y| yuv_to_rgb(y, u, v)).collect();
            assert_eq!(got, want, "u {u} v {v}");
        }
    }
}
