//! Packing of f32 operands whose k axis is contiguous, with SSE 4x4 transposes on x86_64
//! (cdposture patch, `third_party/README.md` §10).
//!
//! A 1x1 convolution on a channel-last image packs its activations with k (the input channels)
//! contiguous and mn (the pixels) strided: every panel is a transpose. tract-linalg's
//! `pack_k_major` moves it as 4x4 tiles, vectorised on arm and element by element elsewhere;
//! on x86_64 that was ~16 % of BlazePose lite. SSE is in x86_64's baseline, so the same tiles
//! move as four loads, eight shuffles and four stores here. Same layout, same bytes in every
//! place the kernels read (`packs_like_tract_linalg`).

use crate::internal::*;
use tract_linalg::mmm::{EagerPackedInput, MMMInputValue, PackedExoticFact};
use tract_linalg::pack::PackedFormat;

crate::declare_knob!(
    scopable TRACT_DISABLE_SSE_PACK,
    bool,
    false,
    "Pack k-contiguous f32 operands with tract-linalg's own tiles instead of SSE transposes (x86_64)."
);

/// The packed operand, or `None` when this path does not apply (not f32, k not contiguous,
/// mn contiguous, or the tensor not in plain memory): the caller packs as before.
pub fn pack(pf: &PackedFormat, input: &Tensor, k_axis: usize, mn_axis: usize) -> Option<Box<dyn MMMInputValue>> {
    if TRACT_DISABLE_SSE_PACK.get() || pf.dt != f32::datum_type() || input.datum_type() != f32::datum_type() || pf.r % 4 != 0 {
        return None;
    }
    let (k, mn) = (input.shape()[k_axis], input.shape()[mn_axis]);
    let (k_stride, mn_stride) = (input.strides()[k_axis], input.strides()[mn_axis]);
    if k_stride != 1 || mn_stride < k as isize || k == 0 || mn == 0 || input.len() != k * mn {
        return None;
    }
    let src = input.try_as_plain_ram().ok()?.as_slice::<f32>().ok()?;
    // The last element read must lie in the tensor.
    if (mn - 1) * mn_stride as usize + k > src.len() {
        return None;
    }
    let panel_len = pf.single_panel_len(k);
    let packed_len = pf.len(k, mn);
    let mut packed = unsafe { Blob::new_for_size_and_align(4 * packed_len, pf.alignment_bytes) };
    if mn % pf.r != 0 {
        // As tract-linalg: the last panel's padding lanes are computed on, so they must not
        // hold garbage that decodes to denormals.
        packed.as_bytes_mut()[(mn / pf.r) * panel_len * 4..].fill(0);
    }
    unsafe {
        transpose_panels(src.as_ptr(), packed.as_mut_ptr() as *mut f32, k, mn, mn_stride as usize, pf.r, panel_len)
    };
    Some(Box::new(EagerPackedInput {
        fact: PackedExoticFact { format: Box::new(pf.clone()), mn: mn.to_dim(), k },
        packed: packed.into(),
        panel_bytes: panel_len * 4,
        mn,
    }))
}

/// Element (x, kk) of the source (x along mn, rows `mn_stride` apart, kk contiguous) goes to
/// `(x / r) * panel_len + kk * r + x % r`.
///
/// # Safety
/// `src` holds `(mn - 1) * mn_stride + k` values, `dst` `mn.div_ceil(r) * panel_len`, with
/// `panel_len >= k * r` and `r` a multiple of 4.
unsafe fn transpose_panels(src: *const f32, dst: *mut f32, k: usize, mn: usize, mn_stride: usize, r: usize, panel_len: usize) {
    unsafe {
        for panel in 0..mn.div_ceil(r) {
            let width = r.min(mn - panel * r);
            let s = src.add(panel * r * mn_stride);
            let d = dst.add(panel * panel_len);
            let (tiled_x, tiled_k) = (width / 4 * 4, k / 4 * 4);
            for kk in (0..tiled_k).step_by(4) {
                for x in (0..tiled_x).step_by(4) {
                    tile(s.add(x * mn_stride + kk), mn_stride, d.add(kk * r + x), r);
                }
            }
            for kk in tiled_k..k {
                for x in 0..tiled_x {
                    *d.add(kk * r + x) = *s.add(x * mn_stride + kk);
                }
            }
            for x in tiled_x..width {
                for kk in 0..k {
                    *d.add(kk * r + x) = *s.add(x * mn_stride + kk);
                }
            }
        }
    }
}

/// A 4x4 transpose: `src` rows `src_stride` apart, `dst` rows `dst_stride` apart.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn tile(src: *const f32, src_stride: usize, dst: *mut f32, dst_stride: usize) {
    use std::arch::x86_64::*;
    unsafe {
        let r0 = _mm_loadu_ps(src);
        let r1 = _mm_loadu_ps(src.add(src_stride));
        let r2 = _mm_loadu_ps(src.add(2 * src_stride));
        let r3 = _mm_loadu_ps(src.add(3 * src_stride));
        let (t0, t1) = (_mm_unpacklo_ps(r0, r1), _mm_unpacklo_ps(r2, r3));
        let (t2, t3) = (_mm_unpackhi_ps(r0, r1), _mm_unpackhi_ps(r2, r3));
        _mm_storeu_ps(dst, _mm_movelh_ps(t0, t1));
        _mm_storeu_ps(dst.add(dst_stride), _mm_movehl_ps(t1, t0));
        _mm_storeu_ps(dst.add(2 * dst_stride), _mm_movelh_ps(t2, t3));
        _mm_storeu_ps(dst.add(3 * dst_stride), _mm_movehl_ps(t3, t2));
    }
}

/// Elsewhere (only tests reach it: the caller takes this path on x86_64 alone).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
unsafe fn tile(src: *const f32, src_stride: usize, dst: *mut f32, dst_stride: usize) {
    unsafe {
        for i in 0..4 {
            for j in 0..4 {
                *dst.add(j * dst_stride + i) = *src.add(i * src_stride + j);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_linalg::mmm::MMMInputFormat;

    /// Every value the kernels read is where tract-linalg's own packing puts it: panel widths
    /// of tract's f32 kernels, k and mn with and without tails, and a size-1 axis between them.
    #[test]
    fn packs_like_tract_linalg() {
        for &(mn, k, r) in &[(16384, 24, 48), (4096, 96, 16), (1024, 144, 32), (37, 7, 8), (50, 13, 12), (5, 3, 4)] {
            let data: Vec<f32> = (0..mn * k).map(|i| i as f32 * 0.5 - 7.0).collect();
            for shape in [vec![mn, k], vec![mn, 1, k]] {
                let t = Tensor::from_shape(&shape, &data).unwrap();
                let k_axis = shape.len() - 1;
                let pf = PackedFormat::new(f32::datum_type(), r, 64);
                let want = pf.prepare_one(&t, k_axis, 0).unwrap();
                let want = want.downcast_ref::<EagerPackedInput>().unwrap();
                let got = pack(&pf, &t, k_axis, 0).expect("a k-contiguous f32 operand takes this path");
                let got = got.downcast_ref::<EagerPackedInput>().unwrap();
                assert_eq!((got.mn, got.panel_bytes), (want.mn, want.panel_bytes));
                let panel_len = pf.single_panel_len(k);
                let (a, b) = (got.packed.as_bytes(), want.packed.as_bytes());
                for panel in 0..mn.div_ceil(r) {
                    // Valid lanes, and the zeroed padding lanes of a last partial panel.
                    for kk in 0..k {
                        for x in 0..r.min(if mn % r != 0 { r } else { mn - panel * r }) {
                            let i = 4 * (panel * panel_len + kk * r + x);
                            assert_eq!(a[i..i + 4], b[i..i + 4], "mn {mn} k {k} r {r}: panel {panel} k {kk} lane {x}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn other_layouts_are_left_to_tract_linalg() {
        let pf = PackedFormat::new(f32::datum_type(), 8, 64);
        let t = Tensor::from_shape(&[4, 16], &[1.0f32; 64]).unwrap();
        assert!(pack(&pf, &t, 0, 1).is_none(), "mn contiguous: a plain copy, not a transpose");
        let t = Tensor::from_shape(&[16, 4], &[1i32; 64]).unwrap();
        assert!(pack(&PackedFormat::new(i32::datum_type(), 8, 64), &t, 1, 0).is_none());
    }
}
