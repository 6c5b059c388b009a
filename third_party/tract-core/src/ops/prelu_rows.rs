//! PRelu with one slope per channel, channel-last, in one pass (`OptPReluRows`).
//!
//! ONNX PRelu reaches the optimiser as two or three elementwise ops, each a pass over the tensor:
//! `Max(x, x * s)` (slopes <= 1, rewritten so by cdposture's converter) or
//! `Iff(0 > x, x * s, x)` (tract-onnx's own lowering). On FaceMesh they were a quarter of the model
//! once its convolutions ran channel-last. The fused op computes the same expression per element,
//! so the values are bit-identical to the ops it replaces.

use crate::internal::*;
use crate::ops::binary::{OptBinRows, OptBinUnicast, TypedBinOp};
use crate::ops::logic::{CompGT, Iff};
use crate::ops::math::{Max, Mul};

/// Which PRelu lowering the op replaces (they differ on the sign of zero and on NaN).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum PReluForm {
    /// `Max(x, x * s)`: `if x > x * s { x } else { x * s }`.
    MaxOfScaled,
    /// `Iff(0 > x, x * s, x)`.
    ScaledBelowZero,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct OptPReluRows {
    /// One slope per position of the input's trailing axes (leading axes of the original slope
    /// tensor were all 1): the input is a repetition of rows this long.
    pub slope: Arc<Tensor>,
    pub form: PReluForm,
}

impl Op for OptPReluRows {
    fn name(&self) -> StaticName {
        "OptPReluRows".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{:?}, {} slopes", self.form, self.slope.len())])
    }

    op_as_typed_op!();
}

impl EvalOp for OptPReluRows {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        let mut x = x.into_tensor();
        let slope_view = self.slope.view();
        let slope = slope_view.as_slice::<f32>()?;
        let mut x_view = x.view_mut();
        let xs = x_view.as_slice_mut::<f32>()?;
        ensure!(!slope.is_empty() && xs.len() % slope.len() == 0);
        match self.form {
            PReluForm::MaxOfScaled => each(xs, slope, |x, s| {
                let m = x * s;
                if x > m { x } else { m }
            }),
            PReluForm::ScaledBelowZero => each(xs, slope, |x, s| if 0.0 > x { x * s } else { x }),
        }
        drop(x_view);
        Ok(tvec!(x.into_tvalue()))
    }
}

fn each(xs: &mut [f32], slope: &[f32], f: impl Fn(f32, f32) -> f32) {
    for row in xs.chunks_exact_mut(slope.len()) {
        for (x, &s) in row.iter_mut().zip(slope) {
            *x = f(*x, s);
        }
    }
}

impl TypedOp for OptPReluRows {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs[0].datum_type == f32::datum_type());
        Ok(tvec!(inputs[0].without_value()))
    }

    as_op!();
}

/// `node` computes `x * s` with `s` a constant f32 row over `x`'s trailing axes: `(x, s)`.
fn scaled_by_row(model: &TypedModel, node: &TypedNode) -> TractResult<Option<(OutletId, Arc<Tensor>)>> {
    let is_mul = node.op_as::<TypedBinOp>().is_some_and(|op| op.0.is::<Mul>())
        || node.op_as::<OptBinRows>().is_some_and(|op| op.binop.is::<Mul>())
        || node.op_as::<OptBinUnicast>().is_some_and(|op| op.binop.is::<Mul>());
    rule_if!(is_mul && node.inputs.len() == 2);
    for (x, s) in [(node.inputs[0], node.inputs[1]), (node.inputs[1], node.inputs[0])] {
        let (x_fact, s_fact) = (model.outlet_fact(x)?, model.outlet_fact(s)?);
        let Some(k) = &s_fact.konst else { continue };
        let Some(x_shape) = x_fact.shape.as_concrete() else { continue };
        if x_fact.datum_type != f32::datum_type()
            || k.datum_type() != f32::datum_type()
            || k.rank() != x_shape.len()
            || x_fact.konst.is_some()
        {
            continue;
        }
        let lead = k.shape().iter().take_while(|d| **d == 1).count();
        if lead < k.rank() && k.shape()[lead..] == x_shape[lead..] {
            let row = k.clone().into_tensor().into_shape(&[k.len()])?;
            return Ok(Some((x, row.into_arc_tensor())));
        }
    }
    Ok(None)
}

/// `Max(x, x * s)` (`node` is the Max) as one pass.
pub fn fuse_max_of_scaled(model: &TypedModel, node: &TypedNode) -> TractResult<Option<TypedModelPatch>> {
    rule_if!(node.op_as::<OptBinUnicast>().is_some_and(|op| op.binop.is::<Max>()));
    for (slot, other) in [(0, 1), (1, 0)] {
        let mul = model.node(node.inputs[other].node);
        if mul.outputs[0].successors.len() != 1 || model.output_outlets()?.contains(&node.inputs[other]) {
            continue;
        }
        let Some((x, slope)) = scaled_by_row(model, mul)? else { continue };
        if x != node.inputs[slot] || slot != 0 {
            continue;
        }
        return replace(model, node, x, slope, PReluForm::MaxOfScaled);
    }
    Ok(None)
}

/// `Iff(0 > x, x * s, x)` (`node` is the Iff) as one pass.
pub fn fuse_scaled_below_zero(model: &TypedModel, node: &TypedNode) -> TractResult<Option<TypedModelPatch>> {
    rule_if!(node.op_is::<Iff>() && node.inputs.len() == 3);
    let x = node.inputs[2];
    let cond = model.node(node.inputs[0].node);
    rule_if!(cond.op_as::<TypedBinOp>().is_some_and(|op| op.0.is::<CompGT>()));
    rule_if!(cond.inputs[1] == x);
    let zero = model.outlet_fact(cond.inputs[0])?;
    rule_if_some!(zero = &zero.konst);
    rule_if!(zero.len() == 1 && zero.cast_to_scalar::<f32>().is_ok_and(|z| z == 0.0));
    let mul = model.node(node.inputs[1].node);
    rule_if_some!((scaled, slope) = scaled_by_row(model, mul)?);
    rule_if!(scaled == x);
    replace(model, node, x, slope, PReluForm::ScaledBelowZero)
}

fn replace(
    model: &TypedModel,
    node: &TypedNode,
    x: OutletId,
    slope: Arc<Tensor>,
    form: PReluForm,
) -> TractResult<Option<TypedModelPatch>> {
    let mut patch = TypedModelPatch::default();
    let wire = patch.tap_model(model, x)?;
    let out = patch.wire_node(&node.name, OptPReluRows { slope, form }, &[wire])?[0];
    patch.shunt_outside(model, node.id.into(), out)?;
    Ok(Some(patch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::array::{Pad, PadMode};
    use crate::ops::binary::TypedBinOp;
    use crate::ops::cnn::{Conv, KernelFormat, MaxPool, PaddingSpec, PoolSpec};
    use crate::ops::logic::{comp_gt, Iff};
    use crate::ops::nn::DataFormat;

    /// A FaceMesh block as tf2onnx leaves it: NHWC input moved to NCHW, a depthwise conv, PRelu
    /// as `Iff(0 > x, x * s, x)`, a 2x2 max pool, the residual branch's channel pad, and PRelu as
    /// `Max(x, x * s)`. Optimised, the whole block runs channel-last (the Iff, pool and pad
    /// follow the depthwise conv's layout suggestion), both PRelus are one `OptPReluRows` pass,
    /// and the values are the reference ops'. 16 and 32 channels are FaceMesh's first layers.
    #[test]
    fn facemesh_block_runs_channel_last_with_fused_prelu() {
        for c in [16usize, 32] {
            let (h, w) = (10, 6);
            let x: Vec<f32> = (0..h * w * c).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
            let kernel: Vec<f32> = (0..c * 9).map(|i| (i as f32 * 0.21).cos()).collect();
            let bias: Vec<f32> = (0..c).map(|i| i as f32 * 0.05 - 0.4).collect();
            // Mixed slopes (some above 1) for the Iff form, all <= 1 for the Max form.
            let s1: Vec<f32> = (0..c).map(|i| 0.3 + (i % 5) as f32 * 0.4).collect();
            let s2: Vec<f32> = (0..2 * c).map(|i| (i % 7) as f32 * 0.14 - 0.2).collect();
            let build = |optimized: bool| -> TractResult<TypedModel> {
                let mut m = TypedModel::default();
                let src = m.add_source("x", f32::fact([1, h, w, c]))?;
                let nchw = m.wire_node("to_nchw", AxisOp::Move(3, 1), &[src])?[0];
                let k = m.add_const("k", Tensor::from_shape(&[c, 1, 3, 3], &kernel)?)?;
                let b = m.add_const("b", Tensor::from_shape(&[c], &bias)?)?;
                let spec = |kernel: usize, strides: Option<TVec<usize>>, padding: PaddingSpec| PoolSpec {
                    data_format: DataFormat::NCHW,
                    kernel_shape: tvec!(kernel, kernel),
                    padding,
                    dilations: None,
                    strides,
                    input_channels: c,
                    output_channels: c,
                };
                let conv = Conv {
                    pool_spec: spec(3, None, PaddingSpec::SameUpper),
                    kernel_fmt: KernelFormat::OIHW,
                    group: c,
                    q_params: None,
                };
                let y = m.wire_node("dw", conv, &[nchw, k, b])?[0];
                let zero = m.add_const("zero", tensor4(&[[[[0f32]]]]))?;
                let s1 = m.add_const("s1", Tensor::from_shape(&[1, c, 1, 1], &s1)?)?;
                let below = m.wire_node("below", TypedBinOp(comp_gt(), None), &[zero, y])?[0];
                let scaled = m.wire_node("scaled1", crate::ops::math::mul(), &[y, s1])?[0];
                let y = m.wire_node("prelu1", Iff, &[below, scaled, y])?[0];
                let pool = MaxPool::new(spec(2, Some(tvec!(2, 2)), PaddingSpec::Valid), None);
                let y = m.wire_node("pool", pool, &[y])?[0];
                let pad = Pad {
                    pads: vec![(0, 0), (0, c), (0, 0), (0, 0)],
                    mode: PadMode::Constant(tensor0(0f32).into_arc_tensor()),
                };
                let y = m.wire_node("pad", pad, &[y])?[0];
                let s2 = m.add_const("s2", Tensor::from_shape(&[1, 2 * c, 1, 1], &s2)?)?;
                let scaled = m.wire_node("scaled2", crate::ops::math::mul(), &[y, s2])?[0];
                let y = m.wire_node("prelu2", crate::ops::math::max(), &[y, scaled])?[0];
                let y = m.wire_node("to_nhwc", AxisOp::Move(1, 3), &[y])?;
                m.select_output_outlets(&y)?;
                let m = m.into_decluttered()?;
                if optimized { m.into_optimized() } else { Ok(m) }
            };
            let optimized = build(true).unwrap();
            let names: Vec<String> = optimized.nodes.iter().map(|n| n.op().name().to_string()).collect();
            let dw = optimized.nodes.iter().find(|n| n.op().name() == "DepthWiseConv");
            let dw_in = optimized.outlet_fact(dw.expect("a DepthWise").inputs[0]).unwrap();
            assert_eq!(dw_in.shape.as_concrete(), Some(&[1, h, w, c][..]), "c={c}: {names:?}");
            let fused = names.iter().filter(|n| *n == "OptPReluRows").count();
            assert_eq!(fused, 2, "c={c}: {names:?}");
            assert!(!names.iter().any(|n| n == "Iff" || n.contains("Mul")), "c={c}: {names:?}");
            let input = Tensor::from_shape(&[1, h, w, c], &x).unwrap().into_tvalue();
            let run = |m: TypedModel| m.into_runnable().unwrap().run(tvec![input.clone()]).unwrap().remove(0);
            let got = run(optimized);
            let want = run(build(false).unwrap());
            let got = got.to_plain_array_view::<f32>().unwrap().to_owned();
            let want = want.to_plain_array_view::<f32>().unwrap().to_owned();
            assert_eq!(got.shape(), &[1, h / 2, w / 2, 2 * c]);
            assert_eq!(got.shape(), want.shape());
            let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(worst < 1e-5, "c={c}: {worst}");
            assert!(want.iter().any(|&v| v < 0.0), "the slopes must be exercised");
        }
    }

    /// A row broadcast the vector kernels cannot take (16 floats with AVX-512's 64-float
    /// alignment, 24 anywhere) runs as `OptBinRows`, with the values of the generic op.
    #[test]
    fn unaligned_row_broadcast_runs_as_rows() {
        for c in [3usize, 16, 24] {
            for op in [crate::ops::math::add(), crate::ops::math::sub(), crate::ops::math::max()] {
                let x: Vec<f32> = (0..5 * 4 * c).map(|i| (i as f32 * 0.7).sin()).collect();
                let r: Vec<f32> = (0..c).map(|i| i as f32 * 0.1 - 0.5).collect();
                let build = |optimized: bool| -> TractResult<TypedModel> {
                    let mut m = TypedModel::default();
                    let src = m.add_source("x", f32::fact([1, 5, 4, c]))?;
                    let row = m.add_const("r", Tensor::from_shape(&[1, 1, 1, c], &r)?)?;
                    let y = m.wire_node("op", op.clone(), &[src, row])?;
                    m.select_output_outlets(&y)?;
                    let m = m.into_decluttered()?;
                    if optimized { m.into_optimized() } else { Ok(m) }
                };
                let optimized = build(true).unwrap();
                let names: Vec<String> = optimized.nodes.iter().map(|n| n.op().name().to_string()).collect();
                assert!(names.iter().any(|n| n.ends_with("Rows") || n.ends_with("Unicast")), "{names:?}");
                let input = Tensor::from_shape(&[1, 5, 4, c], &x).unwrap().into_tvalue();
                let run = |m: TypedModel| m.into_runnable().unwrap().run(tvec![input.clone()]).unwrap().remove(0);
                let got = run(optimized);
                let want = run(build(false).unwrap());
                assert_eq!(got, want, "c={c} {names:?}");
            }
        }
    }
}
