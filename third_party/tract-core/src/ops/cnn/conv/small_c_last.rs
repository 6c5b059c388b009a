use crate::internal::*;

/// A group-1 f32 convolution over one channel-last image whose output points each read few
/// values (at most `MAX_POINT_INPUTS`: an RGB network's first layer reads 3x3x3 = 27) and
/// write 8, 16, 24 or 32 channels. Each output point keeps its channels in registers, starts
/// from the bias and adds every tap's input channels with fused multiply-adds straight from the
/// image; taps in the zero padding are skipped, so no `Pad` runs before it.
///
/// The im2col paths gather the few inputs of every point into packed panels first (lazily per
/// matmul tile, or into a scratch) and need a padded copy of the image: on BlazePose's first
/// layer (256x256x3 to 128x128x24) that costs several times the products themselves.
///
/// Only built where fused multiply-adds are native (aarch64; x86_64 with AVX2 and FMA), so both
/// architectures do the same arithmetic in the same order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChannelLastSmallConv {
    /// Input height, width and channels (batch 1).
    pub input_hwc: [usize; 3],
    pub output_hw: [usize; 2],
    /// The whole output shape, batch axis included when the input has one.
    pub output_shape: TVec<usize>,
    pub kernel_hw: [usize; 2],
    pub strides: [usize; 2],
    /// Zero rows above and columns left of the image.
    pub pad_before: [usize; 2],
    /// `[kh][kw][ci][co]`: one contiguous output vector per tap and input channel.
    pub weights: Arc<Tensor>,
    /// `[co]`.
    pub bias: Arc<Tensor>,
    /// A fused ReLU/ReLU6 clamp `(low, high)` as f32 bit patterns (the op stays `Hash + Eq`).
    pub clamp: Option<(u32, u32)>,
}

/// Inputs one output point reads (taps times input channels) for the op to apply.
pub const MAX_POINT_INPUTS: usize = 64;

/// Whether this host multiplies and adds in one rounding, in registers (see the type's doc).
pub fn fused_multiply_add_is_native() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(target_arch = "aarch64")]
    {
        true
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

impl ChannelLastSmallConv {
    fn clamp_bounds(&self) -> (f32, f32) {
        self.clamp
            .map(|(lo, hi)| (f32::from_bits(lo), f32::from_bits(hi)))
            .unwrap_or((f32::NEG_INFINITY, f32::INFINITY))
    }

    fn channels_out(&self) -> usize {
        self.bias.len()
    }
}

impl Op for ChannelLastSmallConv {
    fn name(&self) -> StaticName {
        "ChannelLastSmallConv".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let mut info = vec![format!(
            "input {:?} kernel {:?} strides {:?} pad before {:?} -> {:?}x{}",
            self.input_hwc,
            self.kernel_hw,
            self.strides,
            self.pad_before,
            self.output_hw,
            self.channels_out()
        )];
        if let Some((lo, hi)) = self.clamp.map(|_| self.clamp_bounds()) {
            info.push(format!("clamped to [{lo}, {hi}]"));
        }
        Ok(info)
    }

    fn validation(&self) -> Validation {
        Validation::Rounding
    }

    op_as_typed_op!();
}

impl EvalOp for ChannelLastSmallConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let image = input.try_as_plain_ram()?;
        let x = image.as_slice::<f32>()?;
        let [h, w, c] = self.input_hwc;
        ensure!(x.len() == h * w * c, "ChannelLastSmallConv: input of {} values", x.len());
        let mut output = unsafe { Tensor::uninitialized::<f32>(&self.output_shape)? };
        let mut out = output.try_as_plain_ram_mut()?;
        let y = out.as_slice_mut::<f32>()?;
        let weights = self.weights.try_as_plain_ram()?;
        let bias = self.bias.try_as_plain_ram()?;
        let args = (x, weights.as_slice::<f32>()?, bias.as_slice::<f32>()?, y);
        match self.channels_out() {
            8 => self.points::<8>(args),
            16 => self.points::<16>(args),
            24 => self.points::<24>(args),
            32 => self.points::<32>(args),
            n => bail!("ChannelLastSmallConv: {n} output channels"),
        }
        drop(out);
        Ok(tvec!(output.into_tvalue()))
    }
}

type PointArgs<'a> = (&'a [f32], &'a [f32], &'a [f32], &'a mut [f32]);

impl ChannelLastSmallConv {
    fn points<const N: usize>(&self, args: PointArgs) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the op is only built where AVX2 and FMA were detected.
        unsafe {
            points_avx2_fma::<N>(self, args)
        }
        #[cfg(target_arch = "aarch64")]
        points_neon::<N>(self, args);
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        rows::<N, Scalar, 1, 1>(self, args);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn points_avx2_fma<const N: usize>(op: &ChannelLastSmallConv, args: PointArgs) {
    // Four points of N / 8 registers each: up to 12 independent sums, enough for two
    // multiply-adds a cycle at 4 cycles' latency within AVX2's 16 registers.
    match N {
        8 => rows::<8, x86::Avx, 1, 4>(op, args),
        16 => rows::<16, x86::Avx, 2, 4>(op, args),
        24 => rows::<24, x86::Avx, 3, 4>(op, args),
        _ => rows::<32, x86::Avx, 4, 2>(op, args),
    }
}

#[cfg(target_arch = "aarch64")]
fn points_neon<const N: usize>(op: &ChannelLastSmallConv, args: PointArgs) {
    // NEON has 32 registers of 4 lanes.
    match N {
        8 => rows::<8, arm::Neon, 2, 4>(op, args),
        16 => rows::<16, arm::Neon, 4, 4>(op, args),
        24 => rows::<24, arm::Neon, 6, 4>(op, args),
        _ => rows::<32, arm::Neon, 8, 2>(op, args),
    }
}

/// A few lanes of f32 with a fused multiply-add, for the interior points.
trait Lanes: Copy {
    const WIDTH: usize;
    unsafe fn load(p: *const f32) -> Self;
    unsafe fn splat(v: f32) -> Self;
    /// `a * b + c`, one rounding.
    unsafe fn mul_add(a: Self, b: Self, c: Self) -> Self;
    unsafe fn store_clamped(self, p: *mut f32, lo: f32, hi: f32);
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[derive(Clone, Copy)]
struct Scalar(f32);

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
impl Lanes for Scalar {
    const WIDTH: usize = 1;
    unsafe fn load(p: *const f32) -> Self {
        Scalar(unsafe { *p })
    }
    unsafe fn splat(v: f32) -> Self {
        Scalar(v)
    }
    unsafe fn mul_add(a: Self, b: Self, c: Self) -> Self {
        Scalar(a.0.mul_add(b.0, c.0))
    }
    unsafe fn store_clamped(self, p: *mut f32, lo: f32, hi: f32) {
        unsafe { *p = self.0.max(lo).min(hi) }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;
    #[derive(Clone, Copy)]
    pub struct Avx(__m256);
    impl super::Lanes for Avx {
        const WIDTH: usize = 8;
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn load(p: *const f32) -> Self {
            Avx(unsafe { _mm256_loadu_ps(p) })
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn splat(v: f32) -> Self {
            Avx(_mm256_set1_ps(v))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn mul_add(a: Self, b: Self, c: Self) -> Self {
            Avx(_mm256_fmadd_ps(a.0, b.0, c.0))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn store_clamped(self, p: *mut f32, lo: f32, hi: f32) {
            // max then min, as f32::max/min on each lane for these non-NaN bounds.
            let v = _mm256_min_ps(_mm256_max_ps(self.0, _mm256_set1_ps(lo)), _mm256_set1_ps(hi));
            unsafe { _mm256_storeu_ps(p, v) }
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use std::arch::aarch64::*;
    #[derive(Clone, Copy)]
    pub struct Neon(float32x4_t);
    impl super::Lanes for Neon {
        const WIDTH: usize = 4;
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            Neon(unsafe { vld1q_f32(p) })
        }
        #[inline(always)]
        unsafe fn splat(v: f32) -> Self {
            Neon(unsafe { vdupq_n_f32(v) })
        }
        #[inline(always)]
        unsafe fn mul_add(a: Self, b: Self, c: Self) -> Self {
            Neon(unsafe { vfmaq_f32(c.0, a.0, b.0) })
        }
        #[inline(always)]
        unsafe fn store_clamped(self, p: *mut f32, lo: f32, hi: f32) {
            unsafe {
                let v = vminnmq_f32(vmaxnmq_f32(self.0, vdupq_n_f32(lo)), vdupq_n_f32(hi));
                vst1q_f32(p, v)
            }
        }
    }
}

/// Every output point: its `N` channels from the bias, then each tap inside the image, input
/// channel by input channel, `acc = w * x + acc` in one rounding; clamped as stored. Where all
/// taps of `P` neighbouring points lie inside the image, the `P` run together in registers
/// (`M` vectors of `V::WIDTH` lanes a point): a kernel row's inputs are contiguous there, and
/// `P` points give enough independent sums to hide the multiply-add latency. Each point's
/// arithmetic and its order are the same on both paths and on every architecture.
#[inline(always)]
fn rows<const N: usize, V: Lanes, const M: usize, const P: usize>(
    op: &ChannelLastSmallConv,
    (x, w, b, y): PointArgs,
) {
    debug_assert_eq!(M * V::WIDTH, N);
    let [ih, iw, ci] = op.input_hwc;
    let [oh, ow] = op.output_hw;
    let [kh, kw] = op.kernel_hw;
    let [sy, sx] = op.strides;
    let [py, px] = op.pad_before;
    let (lo, hi) = op.clamp_bounds();
    let bias: [f32; N] = b[..N].try_into().unwrap();
    let tap_len = ci * N;
    let seg = kw * ci;
    let step = sx * ci;
    assert!(w.len() >= kh * seg * N && y.len() >= oh * ow * N && x.len() >= ih * iw * ci);
    // Output columns whose taps all lie inside the image: [inside_from, inside_to).
    let inside_from = px.div_ceil(sx);
    let inside_to = if iw + px >= kw { ((iw + px - kw) / sx + 1).min(ow) } else { 0 };
    for (oy, row) in y.chunks_exact_mut(ow * N).take(oh).enumerate() {
        let y0 = (oy * sy) as isize - py as isize;
        let rows_inside = y0 >= 0 && y0 as usize + kh <= ih;
        let mut ox = 0;
        while ox < ow {
            if rows_inside && ox >= inside_from && ox + P <= inside_to {
                // SAFETY: every read is a tap inside the image (checked above) or a weight
                // of the kernel (length asserted), every store one of these P points.
                unsafe {
                    let mut acc = [[V::splat(0.0); M]; P];
                    for a in acc.iter_mut() {
                        for (m, v) in a.iter_mut().enumerate() {
                            *v = V::load(bias.as_ptr().add(m * V::WIDTH));
                        }
                    }
                    for ky in 0..kh {
                        let first = ((y0 as usize + ky) * iw + ox * sx - px) * ci;
                        let v = x.as_ptr().add(first);
                        let taps = w.as_ptr().add(ky * seg * N);
                        for j in 0..seg {
                            // The weights once into registers, for all P points.
                            let k: [V; M] =
                                std::array::from_fn(|m| V::load(taps.add(j * N + m * V::WIDTH)));
                            for (p, a) in acc.iter_mut().enumerate() {
                                let xv = V::splat(*v.add(p * step + j));
                                for (am, km) in a.iter_mut().zip(&k) {
                                    *am = V::mul_add(*km, xv, *am);
                                }
                            }
                        }
                    }
                    for (p, a) in acc.iter().enumerate() {
                        let out = row.as_mut_ptr().add((ox + p) * N);
                        for (m, am) in a.iter().enumerate() {
                            am.store_clamped(out.add(m * V::WIDTH), lo, hi);
                        }
                    }
                }
                ox += P;
                continue;
            }
            let x0 = (ox * sx) as isize - px as isize;
            let mut acc = bias;
            for ky in 0..kh {
                let iy = y0 + ky as isize;
                if iy < 0 || iy >= ih as isize {
                    continue;
                }
                for kx in 0..kw {
                    let ix = x0 + kx as isize;
                    if ix < 0 || ix >= iw as isize {
                        continue;
                    }
                    let at = (iy as usize * iw + ix as usize) * ci;
                    let values = &x[at..at + ci];
                    let taps = &w[(ky * kw + kx) * tap_len..][..tap_len];
                    for (v, k) in values.iter().zip(taps.chunks_exact(N)) {
                        let k: &[f32; N] = k.try_into().unwrap();
                        for o in 0..N {
                            acc[o] = k[o].mul_add(*v, acc[o]);
                        }
                    }
                }
            }
            let out = &mut row[ox * N..][..N];
            for o in 0..N {
                out[o] = acc[o].max(lo).min(hi);
            }
            ox += 1;
        }
    }
}

impl TypedOp for ChannelLastSmallConv {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 1 && inputs[0].datum_type == f32::datum_type());
        Ok(tvec!(f32::fact(&*self.output_shape)))
    }

    fn cost(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let points = self.output_hw[0] * self.output_hw[1];
        let per_point = self.weights.len();
        Ok(tvec!((Cost::FMA(f32::datum_type()), (points * per_point).to_dim())))
    }

    fn fuse(&self, model: &TypedModel, node: &TypedNode) -> TractResult<Option<TypedModelPatch>> {
        let current = self.clamp.map(|_| self.clamp_bounds());
        rule_if_some!((lo, hi) = super::depth_wise::clamp_absorbing_next(model, node, current)?);
        let fused = Self { clamp: Some((lo.to_bits(), hi.to_bits())), ..self.clone() };
        Ok(Some(TypedModelPatch::fuse_with_next(model, node, fused)?))
    }

    as_op!();
}
