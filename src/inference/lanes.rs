//! Four-lane f32 / i32 vectors for the crop's sampling loop (`roi::crop_to_tensor`), on the two
//! architectures we ship: SSE2 (part of every x86-64) and NEON (part of every aarch64). The crop
//! is written once against these few operations. Each is one IEEE operation per lane, separate
//! multiply and add (never fused), so a lane computes exactly what the scalar code computes.
//! Other architectures take the crop's per-sample path and never compile this.

#[cfg(target_arch = "aarch64")]
use std::arch::aarch64::*;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Four f32.
#[derive(Clone, Copy)]
pub struct F4(
    #[cfg(target_arch = "x86_64")] __m128,
    #[cfg(target_arch = "aarch64")] float32x4_t,
);

/// Four i32 (also lane masks: all ones or all zeros).
#[derive(Clone, Copy)]
pub struct I4(
    #[cfg(target_arch = "x86_64")] __m128i,
    #[cfg(target_arch = "aarch64")] int32x4_t,
);

// SAFETY (every block below): the intrinsics used need only SSE2 on x86_64 and NEON on aarch64,
// both part of the baseline of those targets; loads and stores go through references of the
// exact size.
#[cfg(target_arch = "x86_64")]
impl F4 {
    #[inline(always)]
    pub fn splat(v: f32) -> F4 {
        F4(unsafe { _mm_set1_ps(v) })
    }
    #[inline(always)]
    pub fn new(v: [f32; 4]) -> F4 {
        F4(unsafe { _mm_loadu_ps(v.as_ptr()) })
    }
    #[inline(always)]
    pub fn add(self, o: F4) -> F4 {
        F4(unsafe { _mm_add_ps(self.0, o.0) })
    }
    #[inline(always)]
    pub fn sub(self, o: F4) -> F4 {
        F4(unsafe { _mm_sub_ps(self.0, o.0) })
    }
    #[inline(always)]
    pub fn mul(self, o: F4) -> F4 {
        F4(unsafe { _mm_mul_ps(self.0, o.0) })
    }
    /// Lanes with |self| < limit (false for NaN).
    #[inline(always)]
    pub fn abs_below(self, limit: f32) -> I4 {
        unsafe {
            let abs = _mm_andnot_ps(_mm_set1_ps(-0.0), self.0);
            I4(_mm_castps_si128(_mm_cmplt_ps(abs, _mm_set1_ps(limit))))
        }
    }
    /// Truncation toward zero; lanes must lie within ±2^31 (the caller checks).
    #[inline(always)]
    pub fn trunc_i32(self) -> I4 {
        I4(unsafe { _mm_cvttps_epi32(self.0) })
    }
    /// Lanes with self > o.
    #[inline(always)]
    pub fn gt(self, o: F4) -> I4 {
        I4(unsafe { _mm_castps_si128(_mm_cmpgt_ps(self.0, o.0)) })
    }
    /// |self| with the sign of `sign`, lane by lane.
    #[inline(always)]
    pub fn copysign(self, sign: F4) -> F4 {
        unsafe {
            let bit = _mm_set1_ps(-0.0);
            F4(_mm_or_ps(_mm_andnot_ps(bit, self.0), _mm_and_ps(bit, sign.0)))
        }
    }
    /// Writes r0 g0 b0 r1 g1 b1 … r3 g3 b3.
    #[inline(always)]
    pub fn store_interleaved3(r: F4, g: F4, b: F4, out: &mut [f32; 12]) {
        unsafe {
            let (r, g, b) = (r.0, g.0, b.0);
            let rg01 = _mm_unpacklo_ps(r, g);
            let rg23 = _mm_unpackhi_ps(r, g);
            let b0r1 = _mm_shuffle_ps::<0b01_01_00_00>(b, r);
            let g1b1 = _mm_shuffle_ps::<0b01_01_01_01>(g, b);
            let b2r3 = _mm_shuffle_ps::<0b11_11_10_10>(b, r);
            let g3b3 = _mm_shuffle_ps::<0b11_11_11_11>(g, b);
            let p = out.as_mut_ptr();
            _mm_storeu_ps(p, _mm_shuffle_ps::<0b10_00_01_00>(rg01, b0r1));
            _mm_storeu_ps(p.add(4), _mm_shuffle_ps::<0b01_00_10_00>(g1b1, rg23));
            _mm_storeu_ps(p.add(8), _mm_shuffle_ps::<0b10_00_10_00>(b2r3, g3b3));
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl I4 {
    #[inline(always)]
    pub fn splat(v: i32) -> I4 {
        I4(unsafe { _mm_set1_epi32(v) })
    }
    #[inline(always)]
    pub fn new(v: [u32; 4]) -> I4 {
        I4(unsafe { _mm_set_epi32(v[3] as i32, v[2] as i32, v[1] as i32, v[0] as i32) })
    }
    #[inline(always)]
    pub fn to_array(self) -> [i32; 4] {
        let mut a = [0i32; 4];
        unsafe { _mm_storeu_si128(a.as_mut_ptr().cast(), self.0) };
        a
    }
    #[inline(always)]
    pub fn add(self, o: I4) -> I4 {
        I4(unsafe { _mm_add_epi32(self.0, o.0) })
    }
    #[inline(always)]
    pub fn and(self, o: I4) -> I4 {
        I4(unsafe { _mm_and_si128(self.0, o.0) })
    }
    #[inline(always)]
    pub fn or(self, o: I4) -> I4 {
        I4(unsafe { _mm_or_si128(self.0, o.0) })
    }
    /// Lanes with self > o (signed).
    #[inline(always)]
    pub fn gt(self, o: I4) -> I4 {
        I4(unsafe { _mm_cmpgt_epi32(self.0, o.0) })
    }
    /// True when every lane of a mask is set.
    #[inline(always)]
    pub fn all(self) -> bool {
        unsafe { _mm_movemask_epi8(self.0) == 0xffff }
    }
    #[inline(always)]
    pub fn to_f32(self) -> F4 {
        F4(unsafe { _mm_cvtepi32_ps(self.0) })
    }
    /// Byte `N` of each lane (0 = lowest), as f32.
    #[inline(always)]
    pub fn byte_f32<const SHIFT: i32>(self) -> F4 {
        unsafe {
            F4(_mm_cvtepi32_ps(_mm_and_si128(
                _mm_srli_epi32::<SHIFT>(self.0),
                _mm_set1_epi32(0xff),
            )))
        }
    }
}

#[cfg(target_arch = "aarch64")]
impl F4 {
    #[inline(always)]
    pub fn splat(v: f32) -> F4 {
        F4(unsafe { vdupq_n_f32(v) })
    }
    #[inline(always)]
    pub fn new(v: [f32; 4]) -> F4 {
        F4(unsafe { vld1q_f32(v.as_ptr()) })
    }
    #[inline(always)]
    pub fn add(self, o: F4) -> F4 {
        F4(unsafe { vaddq_f32(self.0, o.0) })
    }
    #[inline(always)]
    pub fn sub(self, o: F4) -> F4 {
        F4(unsafe { vsubq_f32(self.0, o.0) })
    }
    #[inline(always)]
    pub fn mul(self, o: F4) -> F4 {
        F4(unsafe { vmulq_f32(self.0, o.0) })
    }
    #[inline(always)]
    pub fn abs_below(self, limit: f32) -> I4 {
        I4(unsafe { vreinterpretq_s32_u32(vcltq_f32(vabsq_f32(self.0), vdupq_n_f32(limit))) })
    }
    #[inline(always)]
    pub fn trunc_i32(self) -> I4 {
        I4(unsafe { vcvtq_s32_f32(self.0) })
    }
    #[inline(always)]
    pub fn gt(self, o: F4) -> I4 {
        I4(unsafe { vreinterpretq_s32_u32(vcgtq_f32(self.0, o.0)) })
    }
    #[inline(always)]
    pub fn copysign(self, sign: F4) -> F4 {
        unsafe {
            let bit = vdupq_n_u32(0x8000_0000);
            F4(vbslq_f32(bit, sign.0, self.0))
        }
    }
    #[inline(always)]
    pub fn store_interleaved3(r: F4, g: F4, b: F4, out: &mut [f32; 12]) {
        unsafe { vst3q_f32(out.as_mut_ptr(), float32x4x3_t(r.0, g.0, b.0)) }
    }
}

#[cfg(target_arch = "aarch64")]
impl I4 {
    #[inline(always)]
    pub fn splat(v: i32) -> I4 {
        I4(unsafe { vdupq_n_s32(v) })
    }
    #[inline(always)]
    pub fn new(v: [u32; 4]) -> I4 {
        I4(unsafe { vreinterpretq_s32_u32(vld1q_u32(v.as_ptr())) })
    }
    #[inline(always)]
    pub fn to_array(self) -> [i32; 4] {
        let mut a = [0i32; 4];
        unsafe { vst1q_s32(a.as_mut_ptr(), self.0) };
        a
    }
    #[inline(always)]
    pub fn add(self, o: I4) -> I4 {
        I4(unsafe { vaddq_s32(self.0, o.0) })
    }
    #[inline(always)]
    pub fn and(self, o: I4) -> I4 {
        I4(unsafe { vandq_s32(self.0, o.0) })
    }
    #[inline(always)]
    pub fn or(self, o: I4) -> I4 {
        I4(unsafe { vorrq_s32(self.0, o.0) })
    }
    #[inline(always)]
    pub fn gt(self, o: I4) -> I4 {
        I4(unsafe { vreinterpretq_s32_u32(vcgtq_s32(self.0, o.0)) })
    }
    #[inline(always)]
    pub fn all(self) -> bool {
        unsafe { vminvq_u32(vreinterpretq_u32_s32(self.0)) == u32::MAX }
    }
    #[inline(always)]
    pub fn to_f32(self) -> F4 {
        F4(unsafe { vcvtq_f32_s32(self.0) })
    }
    #[inline(always)]
    pub fn byte_f32<const SHIFT: i32>(self) -> F4 {
        unsafe {
            // A shift by a negative count shifts right; unlike vshrq_n, it takes 0 too.
            let v = vshlq_u32(vreinterpretq_u32_s32(self.0), vdupq_n_s32(-SHIFT));
            F4(vcvtq_f32_u32(vandq_u32(v, vdupq_n_u32(0xff))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_channels_interleave_in_pixel_order() {
        let (r, g, b) = (
            F4::new([0.0, 3.0, 6.0, 9.0]),
            F4::new([1.0, 4.0, 7.0, 10.0]),
            F4::new([2.0, 5.0, 8.0, 11.0]),
        );
        let mut out = [0.0f32; 12];
        F4::store_interleaved3(r, g, b, &mut out);
        assert_eq!(out, std::array::from_fn(|i| i as f32));
    }

    #[test]
    fn bytes_masks_and_truncation() {
        let v = I4::new([0x00c0_ff01, 0x0001_0203, 0xffff_ffff, 0]);
        let bytes = |f: F4| {
            let mut a = [0.0f32; 12];
            F4::store_interleaved3(f, f, f, &mut a);
            [a[0], a[3], a[6], a[9]]
        };
        assert_eq!(bytes(v.byte_f32::<0>()), [1.0, 3.0, 255.0, 0.0]);
        assert_eq!(bytes(v.byte_f32::<8>()), [255.0, 2.0, 255.0, 0.0]);
        assert_eq!(bytes(v.byte_f32::<16>()), [192.0, 1.0, 255.0, 0.0]);
        assert_eq!(F4::new([-1.5, 1.5, 2.9, -0.2]).trunc_i32().to_array(), [-1, 1, 2, 0]);
        assert!(I4::splat(3).gt(I4::splat(2)).all());
        assert!(!I4::new([3, 3, 1, 3]).gt(I4::splat(2)).all());
        assert!(!F4::new([1.0, f32::NAN, 0.0, 0.0]).abs_below(2.0).all());
        assert!(F4::new([1.0, -1.9, 0.0, -0.0]).abs_below(2.0).all());
        let signed = F4::new([1.0, 2.0, 0.0, 4.0]).copysign(F4::new([-0.0, 1.0, -3.0, -1.0]));
        assert_eq!(
            bytes(signed).map(f32::to_bits),
            [-1.0f32, 2.0, -0.0, -4.0].map(f32::to_bits)
        );
    }
}
