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
    // Vector inputs (the posture model's body points) follow the image, named "features".
    let (vectors, outputs): (Vec<&Entry>, Vec<&Entry>) = meta.tensors[1..].iter().partition(|e| e.name == "features");
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
    for (e, g) in outputs.iter().copied().zip(&got) {
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
