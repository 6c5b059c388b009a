//! tract's outputs on the converted ONNX models must match the reference runtime (LiteRT on the
//! original .tflite) on the golden input recorded by models/fetch.sh. Converted ONNX files are not
//! byte-reproducible, so this is how we know conversion and runtime are right. Our own posture
//! model (models/trained/) is checked the same way against PyTorch's output at training time.

mod common;
use cdposture::inference::Model;

#[derive(serde::Deserialize)]
struct Golden {
    model: String,
    tensors: Vec<Entry>,
}
#[derive(serde::Deserialize)]
struct Entry {
    name: String,
    shape: Vec<usize>,
    offset: usize,
    len: usize,
}

fn check(name: &str) {
    let dir = common::model_dir().join("golden");
    let meta: Golden =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap()).unwrap();
    let blob = std::fs::read(dir.join(format!("{name}.bin"))).unwrap();
    let read = |e: &Entry| -> Vec<f32> {
        blob[e.offset..e.offset + 4 * e.len]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    let input = &meta.tensors[0];
    assert_eq!(input.name, "input");
    // Further inputs follow the image: the posture model's head crop ("head", a model with a head
    // tower) and body points ("features").
    let (vectors, outputs): (Vec<&Entry>, Vec<&Entry>) = meta.tensors[1..]
        .iter()
        .partition(|e| e.name == "features" || e.name == "head");
    let lens: Vec<usize> = outputs.iter().map(|e| e.len).collect();
    let vector_lens: Vec<usize> = vectors.iter().map(|e| e.len).collect();
    let model = Model::load_with_vectors(
        &common::model_dir().join(&meta.model),
        (input.shape[1], input.shape[2]),
        &vector_lens,
        &lens,
    )
    .unwrap();
    let vector_values: Vec<Vec<f32>> = vectors.iter().map(|e| read(e)).collect();
    let vector_refs: Vec<&[f32]> = vector_values.iter().map(|v| v.as_slice()).collect();
    let got = model.run_with_vectors(read(input), &vector_refs).unwrap();
    compare(name, &outputs, &got, read);
    // A model keeps its session (tract's state, its input tensors filled in place) between runs:
    // another input in between must not leave anything behind, and must itself be seen.
    let reversed: Vec<f32> = read(input).into_iter().rev().collect();
    let other_vectors: Vec<Vec<f32>> = vector_values
        .iter()
        .map(|v| v.iter().map(|x| x * 0.5 + 0.1).collect())
        .collect();
    let other_refs: Vec<&[f32]> = other_vectors.iter().map(|v| v.as_slice()).collect();
    let other = model.run_with_vectors(reversed, &other_refs).unwrap();
    assert_ne!(
        other, got,
        "{name}: another input gave the same outputs (the input was not refilled)"
    );
    let again = model.run_with_vectors(read(input), &vector_refs).unwrap();
    assert_eq!(
        again, got,
        "{name}: the same input gave other outputs on a reused session"
    );
}

fn compare(name: &str, outputs: &[&Entry], got: &[Vec<f32>], read: impl Fn(&Entry) -> Vec<f32>) {
    for (e, g) in outputs.iter().copied().zip(got) {
        let want = read(e);
        let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let worst = want.iter().zip(g).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        // Float reordering between runtimes: agreement to 1e-3 of the output's magnitude.
        assert!(
            worst <= 1e-3 * scale,
            "{name}/{}: max |tract - LiteRT| = {worst} (scale {scale})",
            e.name
        );
        println!("{name}/{}: max diff {worst:.2e} of scale {scale:.1}", e.name);
    }
}

#[test]
fn face_detector_matches_reference() {
    check("face_detection_short_range");
}
#[test]
fn face_mesh_matches_reference() {
    check("face_landmark");
}
#[test]
fn pose_detector_matches_reference() {
    check("pose_detection");
}
#[test]
fn pose_lite_matches_reference() {
    check("pose_landmark_lite");
}
#[test]
fn pose_full_matches_reference() {
    check("pose_landmark_full");
}
#[test]
fn posture_model_matches_pytorch() {
    check("posture_net");
}

/// A model file as tract optimises it for one NHWC input of `size` x `size` pixels.
fn optimized_model(name: &str, size: usize) -> tract_onnx::prelude::TypedModel {
    use tract_onnx::prelude::*;
    let path = common::model_dir().join(format!("{name}.onnx"));
    tract_onnx::onnx()
        .model_for_path(&path)
        .and_then(|m| m.with_input_fact(0, f32::fact([1, size, size, 3]).into()))
        .and_then(|m| m.into_optimized())
        .unwrap()
}

/// `third_party/tract-core`'s one change: depthwise convolutions of 16 channels or more run
/// channel-last on x86_64 and aarch64 (the generic loop vectorises there; 2.5-3x faster on
/// BlazePose lite than the per-channel path stock tract 0.23.9 picks). Without the patch the
/// pose model's 5x5 depthwise convolutions run channel-first and this fails; the golden tests
/// above say the outputs still match the reference runtime.
#[test]
fn depthwise_convolutions_run_channel_last() {
    let model = optimized_model("pose_landmark_lite", 256);
    let depthwise: Vec<String> = model
        .nodes()
        .iter()
        .filter(|n| n.op().name() == "DepthWiseConv")
        .map(|n| format!("{:?}", n.op()))
        .filter(|d| d.contains("kernel: 5,5"))
        .collect();
    // The 5x5 ones are 70 % of the depthwise time; a few 3x3 ones on 4x4 and 2x2 planes in the
    // heads stay channel-first (the layout change does not propagate there) and cost 0.4 ms.
    assert_eq!(depthwise.len(), 9, "5x5 depthwise convolutions in BlazePose lite");
    let channel_first: Vec<&String> = depthwise
        .iter()
        .filter(|d| !d.contains("input_shape: NHWC") && !d.contains("input_shape: HWC"))
        .collect();
    assert!(
        channel_first.is_empty(),
        "{} of {} depthwise convolutions run channel-first, e.g. {}",
        channel_first.len(),
        depthwise.len(),
        channel_first.first().map(|s| &s[..s.len().min(300)]).unwrap_or("")
    );
}

/// The patch's fifth change: FaceMesh runs channel-last too. Its PRelus (lowered to
/// `Iff`/`Max` with per-channel slopes), max pools and channel pads used to block the layout
/// change, so its depthwise convolutions ran channel-first; now 19 of 20 run channel-last and
/// each of its 21 PRelus is one fused pass (`OptPReluRows`). `face_mesh_matches_reference`
/// above says the outputs still match the reference runtime.
#[test]
fn face_mesh_runs_channel_last_with_fused_prelu() {
    let model = optimized_model("face_landmark", 192);
    let ops: Vec<String> = model.nodes().iter().map(|n| n.op().name().to_string()).collect();
    let depthwise: Vec<String> = model
        .nodes()
        .iter()
        .filter(|n| n.op().name() == "DepthWiseConv")
        .map(|n| format!("{:?}", n.op()))
        .collect();
    assert_eq!(depthwise.len(), 20, "depthwise convolutions in FaceMesh");
    let channel_first = depthwise
        .iter()
        .filter(|d| !d.contains("input_shape: NHWC") && !d.contains("input_shape: HWC"))
        .count();
    // One, on a 3x3 plane in a small output head (0.01 ms), stays channel-first: the layout
    // change does not propagate through that head's reshapes.
    assert!(
        channel_first <= 1,
        "{channel_first} of {} depthwise convolutions run channel-first",
        depthwise.len()
    );
    let fused = ops.iter().filter(|o| *o == "OptPReluRows").count();
    assert_eq!(fused, 21, "PRelus fused into one pass: {ops:?}");
    assert!(!ops.iter().any(|o| o == "Iff"), "a PRelu left as compare + select");
}

/// The patch's eighth change: a convolution whose output points read few values (an RGB
/// network's first layer, 3x3x3) runs as `ChannelLastSmallConv`, straight from the image with
/// its padding skipped, instead of a `Pad` and an im2col matrix product. BlazePose lite's,
/// FaceMesh's and our posture model's first layers take it (BlazePose's with its ReLU6 fused; our
/// posture model has two pictures, the body crop and the head crop, each with its first layer).
#[test]
fn first_rgb_convolutions_run_direct_from_the_image() {
    for (name, size, clamped, pictures) in [
        ("pose_landmark_lite", 256, true, 1),
        ("face_landmark", 192, false, 1),
        ("posture_net", 128, true, 2),
    ] {
        let model = optimized_model(name, size);
        let direct: Vec<String> = model
            .nodes()
            .iter()
            .filter(|n| n.op().name() == "ChannelLastSmallConv")
            .map(|n| n.op().info().unwrap().join(" "))
            .collect();
        assert_eq!(direct.len(), pictures, "{name}: direct first convolutions {direct:?}");
        for d in &direct {
            assert_eq!(d.contains("clamped"), clamped, "{name}: {d}");
        }
        let sources: Vec<usize> = model.input_outlets().unwrap().iter().map(|o| o.node).collect();
        assert!(
            !model
                .nodes()
                .iter()
                .any(|n| n.op().name() == "Pad" && n.inputs.iter().any(|i| sources.contains(&i.node))),
            "{name}: a picture is still padded before its first convolution"
        );
    }
}

/// `ChannelLastSmallConv` against a convolution written out in f64, over the shapes it takes:
/// 8 to 32 output channels, strides 1 and 2, padding on any side, 1 to 4 input channels, odd
/// sizes (so a row ends in single points), each kernel layout.
#[test]
fn the_direct_small_convolution_matches_a_plain_one() {
    use tract_onnx::prelude::*;
    use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
    use tract_onnx::tract_core::ops::nn::DataFormat;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % 2001) as f32 / 1000.0 - 1.0
    };
    let cases = [
        // h, w, ci, co, kh, kw, stride, pad (top, left, bottom, right), kernel format
        (17, 23, 3, 24, 3, 3, 2, [1, 1, 1, 1], KernelFormat::OIHW),
        (16, 16, 3, 16, 3, 3, 1, [1, 1, 1, 1], KernelFormat::HWIO),
        (13, 9, 4, 8, 3, 3, 1, [0, 2, 1, 0], KernelFormat::OHWI),
        (12, 15, 1, 32, 5, 5, 2, [2, 2, 2, 2], KernelFormat::OIHW),
        (8, 11, 2, 24, 2, 3, 1, [0, 0, 0, 0], KernelFormat::OIHW),
    ];
    for (h, w, ci, co, kh, kw, s, [pt, pl, pb, pr], fmt) in cases {
        let kernel_shape = match fmt {
            KernelFormat::OIHW => [co, ci, kh, kw],
            KernelFormat::HWIO => [kh, kw, ci, co],
            KernelFormat::OHWI => [co, kh, kw, ci],
        };
        let kernel: Vec<f32> = (0..co * ci * kh * kw).map(|_| random()).collect();
        let bias: Vec<f32> = (0..co).map(|_| random()).collect();
        let image: Vec<f32> = (0..h * w * ci).map(|_| random()).collect();
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([1, h, w, ci])).unwrap();
        let k = model
            .add_const("k", Tensor::from_shape(&kernel_shape, &kernel).unwrap())
            .unwrap();
        let b = model.add_const("b", Tensor::from_shape(&[co], &bias).unwrap()).unwrap();
        let conv = Conv {
            pool_spec: PoolSpec {
                data_format: DataFormat::NHWC,
                kernel_shape: tvec![kh, kw],
                padding: PaddingSpec::Explicit(tvec![pt, pl], tvec![pb, pr]),
                dilations: None,
                strides: Some(tvec![s, s]),
                input_channels: ci,
                output_channels: co,
            },
            kernel_fmt: fmt,
            group: 1,
            q_params: None,
        };
        let y = model.wire_node("conv", conv, &[x, k, b]).unwrap();
        model.select_output_outlets(&y).unwrap();
        let model = model.into_optimized().unwrap();
        let case = format!("{h}x{w}x{ci} -> {co}, kernel {kh}x{kw} {fmt:?}, stride {s}");
        assert!(
            model.nodes().iter().any(|n| n.op().name() == "ChannelLastSmallConv"),
            "{case}: not direct"
        );
        let out = model
            .into_runnable()
            .unwrap()
            .run(tvec!(Tensor::from_shape(&[1, h, w, ci], &image).unwrap().into()))
            .unwrap();
        let got = out[0].to_plain_array_view::<f32>().unwrap();
        let (oh, ow) = ((h + pt + pb - kh) / s + 1, (w + pl + pr - kw) / s + 1);
        assert_eq!(got.shape(), &[1, oh, ow, co], "{case}");
        let weight = |o: usize, i: usize, y: usize, x: usize| -> f64 {
            let at = match fmt {
                KernelFormat::OIHW => ((o * ci + i) * kh + y) * kw + x,
                KernelFormat::HWIO => ((y * kw + x) * ci + i) * co + o,
                KernelFormat::OHWI => ((o * kh + y) * kw + x) * ci + i,
            };
            kernel[at] as f64
        };
        for (oy, ox, o) in (0..oh).flat_map(|a| (0..ow).flat_map(move |b| (0..co).map(move |c| (a, b, c)))) {
            let mut want = bias[o] as f64;
            for (ky, kx, i) in (0..kh).flat_map(|a| (0..kw).flat_map(move |b| (0..ci).map(move |c| (a, b, c)))) {
                let (iy, ix) = (
                    (oy * s + ky) as isize - pt as isize,
                    (ox * s + kx) as isize - pl as isize,
                );
                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                    want += weight(o, i, ky, kx) * image[(iy as usize * w + ix as usize) * ci + i] as f64;
                }
            }
            let have = got[[0, oy, ox, o]] as f64;
            assert!(
                (have - want).abs() < 1e-5,
                "{case}: at {oy},{ox},{o}: {have} against {want}"
            );
        }
    }
}
