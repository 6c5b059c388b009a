use crate::internal::*;

/// How a padded region is filled. A `Constant` value carries a single element
/// in the datum type the model builder gave it, f32 for a float graph, and no
/// pass retypes it: a consumer casts it to the datum type of the tensor it pads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PadMode {
    Constant(Arc<Tensor>),
    Reflect,
    Edge,
}

impl Default for PadMode {
    fn default() -> PadMode {
        PadMode::Constant(Arc::new(0.0f32.into()))
    }
}

#[derive(Debug, Clone, new, Default, Hash, PartialEq, Eq)]
pub struct Pad {
    pub pads: Vec<(usize, usize)>,
    pub mode: PadMode,
}

impl Pad {
    fn eval_t<T>(&self, input_tensor: TValue) -> TractResult<TValue>
    where
        T: Copy + Datum,
    {
        use tract_ndarray::*;
        let input = input_tensor.to_plain_array_view::<T>()?;
        let output_shape: Vec<usize> =
            input.shape().iter().zip(self.pads.iter()).map(|(&d, &(a, b))| d + a + b).collect();
        let element = match &self.mode {
            PadMode::Constant(f) => f.cast_to_scalar::<T>()?,
            _ => T::default(),
        };
        let mut output = ArrayD::<T>::from_elem(output_shape, element);
        let slice_spec: Vec<SliceInfoElem> = self
            .pads
            .iter()
            .map(|&(a, b)| SliceInfoElem::Slice {
                start: a as isize,
                end: if b != 0 { Some(-(b as isize)) } else { None },
                step: 1,
            })
            .collect();
        let slice_info = SliceInfo::<_, IxDyn, IxDyn>::try_from(slice_spec).unwrap();
        match (input.as_slice(), output.as_slice_mut()) {
            (Some(src), Some(dst)) => copy_into_padded(src, input.shape(), &self.pads, dst),
            _ => output.slice_mut(slice_info.as_ref()).assign(&input),
        }
        if self.mode == PadMode::Reflect || self.mode == PadMode::Edge {
            for (ax, &(bef, aft)) in self.pads.iter().enumerate() {
                let axis = Axis(ax);
                let dim = output.shape()[ax];
                {
                    let (mut pad, data) = output.view_mut().split_at(axis, bef);
                    for i in 0..bef {
                        let mut target = pad.slice_axis_mut(axis, Slice::from(i..i + 1));
                        let source_slice = match self.mode {
                            PadMode::Edge => 0,
                            PadMode::Reflect => bef - i,
                            _ => panic!(),
                        };
                        let source =
                            data.slice_axis(axis, Slice::from(source_slice..source_slice + 1));
                        target.assign(&source);
                    }
                }
                {
                    let (data, mut pad) = output.view_mut().split_at(axis, dim - aft);
                    for i in 0..aft {
                        let mut target = pad.slice_axis_mut(axis, Slice::from(i..i + 1));
                        let source_slice = match self.mode {
                            PadMode::Edge => dim - aft - 1,
                            PadMode::Reflect => dim - aft - 2 - i,
                            _ => panic!(),
                        };
                        let source =
                            data.slice_axis(axis, Slice::from(source_slice..source_slice + 1));
                        target.assign(&source);
                    }
                }
            }
        }
        let mut output = output.into_tensor();
        unsafe { output.set_datum_type(input_tensor.datum_type()) }
        Ok(output.into_tvalue())
    }
}

/// Copy a row-major `src` of shape `shape` into the row-major padded `dst`, one contiguous run
/// at a time. `assign` through a dynamic-rank slice walks element by element, which on an NHWC
/// image padded in H and W (runs of 3 channels) cost 0.3-0.6 ms per 256x256 input, as much as a
/// convolution; the rows here are whole `W * C` runs.
fn copy_into_padded<T: Copy>(src: &[T], shape: &[usize], pads: &[(usize, usize)], dst: &mut [T]) {
    let rank = shape.len();
    if rank == 0 || src.is_empty() {
        dst.copy_from_slice(src);
        return;
    }
    let out_shape: Vec<usize> = shape.iter().zip(pads).map(|(&d, &(a, b))| d + a + b).collect();
    // The innermost axis that is padded (or the first), and the run it starts: every axis
    // inside it is unpadded, so the run is contiguous in both tensors.
    let j = (0..rank).rev().find(|&ax| pads[ax] != (0, 0)).unwrap_or(0);
    let inner: usize = shape[j + 1..].iter().product();
    let run = shape[j] * inner;
    let mut out_strides = vec![1usize; rank];
    for ax in (0..rank - 1).rev() {
        out_strides[ax] = out_strides[ax + 1] * out_shape[ax + 1];
    }
    let base: usize = (0..rank).map(|ax| pads[ax].0 * out_strides[ax]).sum();
    let mut index = vec![0usize; j];
    for chunk in src.chunks_exact(run) {
        let at = base + index.iter().zip(&out_strides).map(|(i, s)| i * s).sum::<usize>();
        dst[at..at + run].copy_from_slice(chunk);
        for ax in (0..j).rev() {
            index[ax] += 1;
            if index[ax] < shape[ax] {
                break;
            }
            index[ax] = 0;
        }
    }
}

impl Op for Pad {
    fn name(&self) -> StaticName {
        "Pad".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("Mode: {:?}, pads: {:?})", self.mode, self.pads,)])
    }

    op_as_typed_op!();
}

impl EvalOp for Pad {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        Ok(tvec!(dispatch_numbers!(Self::eval_t(input.datum_type())(self, input))?))
    }
}

impl TypedOp for Pad {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut fact = inputs[0].without_value();
        if self.pads.len() != fact.rank() {
            bail!("Inconsistent pad: input of rank {}, pads are: {:?}", fact.rank(), self.pads);
        }
        for (ix, (b, e)) in self.pads.iter().enumerate() {
            fact.shape.set(ix, fact.shape[ix].clone() + *b + *e);
        }
        Ok(tvec!(fact))
    }

    fn input_roi(
        &self,
        model: &TypedModel,
        node: &TypedNode,
    ) -> TractResult<Option<TVec<Option<TDim>>>> {
        let output_fact = model.outlet_fact(OutletId::new(node.id, 0))?;
        rule_if_some!(roi = &output_fact.region_of_interest);
        // For each padded axis, substitute 🎯axis → 🎯axis - before
        let mut input_roi = roi.clone();
        for (axis, &(before, _)) in self.pads.iter().enumerate() {
            if before == 0 {
                continue;
            }
            if let Some(sym) = input_roi
                .symbols()
                .into_iter()
                .find(|s| crate::ops::logic::sym_to_coord_axis(s) == Some(axis))
            {
                let shifted = TDim::Sym(sym.clone()) - TDim::Val(before as i64);
                input_roi = input_roi.substitute(&sym, &shifted).unwrap_or(input_roi);
            }
        }
        Ok(Some(tvec![Some(input_roi)]))
    }

    fn axes_mapping(
        &self,
        inputs: &[&TypedFact],
        outputs: &[&TypedFact],
    ) -> TractResult<AxesMapping> {
        let mut result = AxesMapping::disconnected(inputs, outputs)?;
        for (ix, pads) in self.pads.iter().enumerate() {
            if pads == &(0, 0) {
                result = result.linking((InOut::In(0), ix), (InOut::Out(0), ix))?;
            }
        }
        Ok(result)
    }

    fn change_axes(
        &self,
        model: &TypedModel,
        node: &TypedNode,
        io: InOut,
        change: &AxisOp,
    ) -> TractResult<Option<AxisChangeConsequence>> {
        let mut new_op = self.clone();
        if let (InOut::In(0), AxisOp::Rm(ix)) = (io, change)
            && new_op.pads.remove(*ix) == (0, 0)
        {
            return Ok(Some(AxisChangeConsequence::new(
                model,
                node,
                Some(Box::new(new_op)),
                change,
            )));
        }
        if let (InOut::In(0), AxisOp::Add(ix)) = (io, change) {
            new_op.pads.insert(*ix, (0, 0));
            return Ok(Some(AxisChangeConsequence::new(
                model,
                node,
                Some(Box::new(new_op)),
                change,
            )));
        }
        // A moved axis takes its padding along (input and output have the same rank): a channel
        // pad (FaceMesh's residual branches) must not block a move to channel-last.
        if let AxisOp::Move(from, to) = change
            && *from < new_op.pads.len()
            && *to < new_op.pads.len()
        {
            let moved = new_op.pads.remove(*from);
            new_op.pads.insert(*to, moved);
            return Ok(Some(AxisChangeConsequence::new(
                model,
                node,
                Some(Box::new(new_op)),
                change,
            )));
        }
        Ok(None)
    }

    fn declutter(
        &self,
        model: &TypedModel,
        node: &TypedNode,
    ) -> TractResult<Option<TypedModelPatch>> {
        if self.pads.iter().all(|p| p.0 == 0 && p.1 == 0) {
            TypedModelPatch::shunt_one_op(model, node)
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod copy_into_padded_test {
    use super::*;

    /// The run copy against ndarray's `assign`, on every padded-axis pattern of a rank-4 tensor.
    #[test]
    fn matches_assign() {
        use tract_ndarray::*;
        let shape = [2usize, 3, 4, 5];
        let src: Vec<f32> = (0..shape.iter().product::<usize>()).map(|i| i as f32).collect();
        let input = ArrayD::from_shape_vec(IxDyn(&shape), src.clone()).unwrap();
        for mask in 0..16u32 {
            let pads: Vec<(usize, usize)> = (0..4)
                .map(|ax| if mask & (1 << ax) != 0 { (ax % 2 + 1, 2 - ax % 2) } else { (0, 0) })
                .collect();
            let out_shape: Vec<usize> =
                shape.iter().zip(&pads).map(|(&d, &(a, b))| d + a + b).collect();
            let mut expected = ArrayD::<f32>::from_elem(out_shape.clone(), -1.0);
            let spec: Vec<SliceInfoElem> = pads
                .iter()
                .map(|&(a, b)| SliceInfoElem::Slice {
                    start: a as isize,
                    end: if b != 0 { Some(-(b as isize)) } else { None },
                    step: 1,
                })
                .collect();
            let info = SliceInfo::<_, IxDyn, IxDyn>::try_from(spec).unwrap();
            expected.slice_mut(info.as_ref()).assign(&input);
            let mut got = vec![-1.0f32; out_shape.iter().product()];
            copy_into_padded(&src, &shape, &pads, &mut got);
            assert_eq!(got, expected.as_slice().unwrap(), "pads {pads:?}");
        }
    }
}
