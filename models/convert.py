#!/usr/bin/env python3
"""Turn the pinned, hash-checked MediaPipe sources into the ONNX models cdposture runs.

Called by models/fetch.sh inside a private venv (models/requirements.txt); never at run time.
Inputs: a folder of verified downloads. Output folder gets:
  *.onnx                  the five models (pose landmark models cut to the outputs we use)
  canonical_face.json     MediaPipe's canonical face mesh (468 vertices) + Procrustes weights
  golden/<model>.json|bin a reference input and LiteRT's outputs for it, checked by a Rust test
                          (tf2onnx output is not byte-reproducible, so we pin numbers, not hashes)
  photos/*                real test photos from the scikit-image and mahotas wheels
  posture_net.onnx        our own posture model (models/trained/, trained by models/train/), copied
                          after checking its sha256 against its recipe, with its golden vectors
  manifest.toml           what each file is, where it came from, tensor shapes and meanings
Each step skips work whose output already exists, so an interrupted run resumes.
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile

import numpy as np

DL, OUT = sys.argv[1], sys.argv[2]
TRAINED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trained")
WORK = os.path.join(OUT, "work")
os.makedirs(WORK, exist_ok=True)
os.makedirs(os.path.join(OUT, "golden"), exist_ok=True)
os.makedirs(os.path.join(OUT, "photos"), exist_ok=True)

WHEEL = "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
POSE_TGZ = "mediapipe-pose-0.5.1675469404.tgz"
MESH_TGZ = "mediapipe-face_mesh-0.4.1657299874.tgz"
SKIMAGE = "scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl"
MAHOTAS = "mahotas-1.4.19-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"

# name -> (archive, member, sha256 of the extracted .tflite)
TFLITE = {
    "face_detection_short_range": (WHEEL, "mediapipe/modules/face_detection/face_detection_short_range.tflite",
                                   "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"),
    "face_landmark": (WHEEL, "mediapipe/modules/face_landmark/face_landmark.tflite",
                      "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814"),
    "pose_detection": (WHEEL, "mediapipe/modules/pose_detection/pose_detection.tflite",
                       "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c"),
    "pose_landmark_lite": (POSE_TGZ, "package/pose_landmark_lite.tflite",
                           "f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61"),
    "pose_landmark_full": (POSE_TGZ, "package/pose_landmark_full.tflite",
                           "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f"),
}
GEOMETRY_SHA = "bdbcda96dfcb7da883da124aaa2c55dee49770d934f0fcc71747f8c21bdc75b4"
# file -> (archive, member). camera.png and luispedro.jpg: heads turned and pitched, for the sign tests.
PHOTOS = {
    "astronaut.png": (SKIMAGE, "skimage/data/astronaut.png"),
    "chelsea.png": (SKIMAGE, "skimage/data/chelsea.png"),
    "coffee.png": (SKIMAGE, "skimage/data/coffee.png"),
    "camera.png": (SKIMAGE, "skimage/data/camera.png"),
    "luispedro.jpg": (MAHOTAS, "mahotas/demos/data/luispedro.jpg"),
}


def log(msg):
    print(f"[models] {msg}", flush=True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_member(archive, member):
    path = os.path.join(DL, archive)
    if archive.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            return z.read(member)
    with tarfile.open(path) as t:
        return t.extractfile(member).read()


def extract_tflite():
    for name, (archive, member, want) in TFLITE.items():
        dst = os.path.join(WORK, name + ".tflite")
        if not os.path.exists(dst):
            with open(dst + ".part", "wb") as f:
                f.write(read_member(archive, member))
            os.replace(dst + ".part", dst)
        got = sha256(dst)
        if got != want:
            sys.exit(f"[models] {name}.tflite: sha256 {got} != pinned {want}; the source archive changed")


def densify_pose_detector():
    """pose_detection.tflite stores 38 weights sparse behind DENSIFY ops, which tf2onnx cannot read.
    Run it once in LiteRT (without XNNPACK: with it the preserved tensors read back wrong), bake each
    DENSIFY output in as a dense constant and drop the op; then prove the outputs are unchanged."""
    src = os.path.join(WORK, "pose_detection.tflite")
    dst = os.path.join(WORK, "pose_detection_dense.tflite")
    if os.path.exists(dst):
        return
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from tensorflow.lite.tools import flatbuffer_utils
    from tensorflow.lite.python import schema_py_generated as schema

    def interpreter(path):
        it = Interpreter(model_path=path, experimental_preserve_all_tensors=True,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        it.allocate_tensors()
        return it

    x = golden_input("pose_detection", (1, 224, 224, 3), -1.0, 1.0)
    it = interpreter(src)
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    ref = [it.get_tensor(o["index"]).copy() for o in it.get_output_details()]

    model = flatbuffer_utils.read_model(src)
    sub = model.subgraphs[0]
    keep = []
    dense = 0
    for op in sub.operators:
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        if builtin == schema.BuiltinOperator.DENSIFY:
            t = op.outputs[0]
            value = it.get_tensor(t)
            buf = schema.BufferT()
            buf.data = np.frombuffer(value.tobytes(), dtype=np.uint8)
            model.buffers.append(buf)
            sub.tensors[t].buffer = len(model.buffers) - 1
            # tf2onnx parses every tensor, used or not: make the sparse input a plain dense constant too.
            src_t = sub.tensors[op.inputs[0]]
            src_t.buffer, src_t.sparsity, src_t.shape = sub.tensors[t].buffer, None, sub.tensors[t].shape
            dense += 1
        else:
            keep.append(op)
    sub.operators = keep
    flatbuffer_utils.write_model(model, dst + ".part")

    it2 = interpreter(dst + ".part")
    it2.set_tensor(it2.get_input_details()[0]["index"], x)
    it2.invoke()
    for r, o in zip(ref, it2.get_output_details()):
        diff = float(np.max(np.abs(r - it2.get_tensor(o["index"]))))
        if diff > 1e-5:
            sys.exit(f"[models] densified pose detector differs from the original by {diff}")
    os.replace(dst + ".part", dst)
    log(f"pose_detection: baked {dense} DENSIFY outputs into constants, outputs unchanged")


def to_onnx(name, tflite):
    dst = os.path.join(OUT, name + ".onnx")
    if os.path.exists(dst):
        return
    raw = os.path.join(WORK, name + ".raw.onnx")
    if not os.path.exists(raw):
        log(f"{name}: tf2onnx (takes 20-60 s)")
        subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--tflite", tflite, "--output", raw + ".part",
                        "--opset", "13"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.replace(raw + ".part", raw)
    import onnx
    m = onnx.load(raw)
    outputs = [o.name for o in m.graph.output]
    if name.startswith("pose_landmark"):
        # Segmentation (Identity_2) and heatmap (Identity_3) are unused; cutting them halves tract's time.
        keep = [o for o in outputs if o in ("Identity", "Identity_1", "Identity_4")]
        m = onnx.utils.Extractor(m).extract_model([i.name for i in m.graph.input], keep)
    prelu_as_max(m, name)
    onnx.checker.check_model(m)
    onnx.save(m, dst + ".part")
    os.replace(dst + ".part", dst)


def prelu_as_max(m, name):
    """PRelu(x, s) = Max(x, s * x) wherever every slope s <= 1 (both sides then pick x for x >= 0
    and s * x for x < 0). tract runs PRelu as compare + multiply + select; the two-op form took
    13 % of FaceMesh's instructions off (callgrind, 67.2 M -> 58.4 M per run). The golden vectors,
    from LiteRT on the original model, check the result."""
    from onnx import helper, numpy_helper
    consts = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    nodes, rewritten = [], 0
    for n in m.graph.node:
        slope = consts.get(n.input[1]) if n.op_type == "PRelu" else None
        if slope is not None and float(slope.max()) <= 1.0:
            scaled = n.output[0] + "/prelu_scaled"
            nodes.append(helper.make_node("Mul", [n.input[0], n.input[1]], [scaled], name=n.name + "/mul"))
            nodes.append(helper.make_node("Max", [n.input[0], scaled], [n.output[0]], name=n.name + "/max"))
            rewritten += 1
        else:
            nodes.append(n)
    if rewritten:
        del m.graph.node[:]
        m.graph.node.extend(nodes)
        log(f"{name}: {rewritten} PRelu as Max(x, s*x)")


def golden_input(name, shape, lo, hi):
    """A real picture (the astronaut, resized to the model input) in the model's value range."""
    import tensorflow as tf
    png = tf.io.read_file(os.path.join(OUT, "photos", "astronaut.png"))
    img = tf.cast(tf.io.decode_png(png, channels=3), tf.float32) / 255.0
    img = tf.image.resize(img[None], shape[1:3], method="bilinear").numpy()
    return (lo + (hi - lo) * img).astype(np.float32)


RANGES = {
    "face_detection_short_range": ((1, 128, 128, 3), -1.0, 1.0),
    "face_landmark": ((1, 192, 192, 3), 0.0, 1.0),
    "pose_detection": ((1, 224, 224, 3), -1.0, 1.0),
    "pose_landmark_lite": ((1, 256, 256, 3), 0.0, 1.0),
    "pose_landmark_full": ((1, 256, 256, 3), 0.0, 1.0),
}


def golden(name, tflite):
    meta_path = os.path.join(OUT, "golden", name + ".json")
    if os.path.exists(meta_path):
        return
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    import onnx
    shape, lo, hi = RANGES[name]
    x = golden_input(name, shape, lo, hi)
    it = Interpreter(model_path=tflite,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    onnx_outputs = {o.name for o in onnx.load(os.path.join(OUT, name + ".onnx")).graph.output}
    blobs = [("input", x)]
    for o in it.get_output_details():
        if o["name"] in onnx_outputs:
            blobs.append((o["name"], it.get_tensor(o["index"]).astype(np.float32)))
    offset = 0
    entries = []
    with open(os.path.join(OUT, "golden", name + ".bin"), "wb") as f:
        for tensor_name, arr in blobs:
            data = np.ascontiguousarray(arr, dtype="<f4").tobytes()
            f.write(data)
            entries.append({"name": tensor_name, "shape": list(arr.shape), "offset": offset, "len": arr.size})
            offset += len(data)
    with open(meta_path + ".part", "w") as f:
        json.dump({"model": name + ".onnx", "reference": "ai-edge-litert 2.3.0 (builtin ops, no XNNPACK)",
                   "tensors": entries}, f, indent=1)
    os.replace(meta_path + ".part", meta_path)


def parse_protobuf(buf):
    """Minimal protobuf wire-format reader: yields (field, wire_type, value)."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        field, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wt}")
        yield field, wt, v


def varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def canonical_face():
    """Canonical face geometry from the face_mesh npm package. The .binarypb is a byte range of the
    packed assets; the loader script lists the range. Layout: field 1 = mesh {3: vertex buffer
    468 x (x, y, z, u, v) f32}, field 2 = Procrustes basis {1: landmark id, 2: weight}."""
    dst = os.path.join(OUT, "canonical_face.json")
    if os.path.exists(dst):
        return
    loader = read_member(MESH_TGZ, "package/face_mesh_solution_packed_assets_loader.js").decode()
    m = re.search(r'"filename": "[^"]*geometry_pipeline_metadata_landmarks\.binarypb", "start": (\d+), "end": (\d+)',
                  loader)
    if not m:
        sys.exit("[models] face_mesh loader lists no geometry_pipeline_metadata_landmarks.binarypb")
    packed = read_member(MESH_TGZ, "package/face_mesh_solution_packed_assets.data")
    blob = packed[int(m.group(1)):int(m.group(2))]
    if hashlib.sha256(blob).hexdigest() != GEOMETRY_SHA:
        sys.exit("[models] canonical face geometry: sha256 mismatch")
    vertices, weights = None, []
    for field, wt, v in parse_protobuf(blob):
        if field == 1 and wt == 2:
            floats = []
            for f2, wt2, v2 in parse_protobuf(v):
                if f2 == 3 and wt2 == 2:  # packed
                    floats.extend(np.frombuffer(v2, dtype="<f4"))
                elif f2 == 3 and wt2 == 5:  # unpacked, one float each (what this file has)
                    floats.append(np.frombuffer(v2, dtype="<f4")[0])
            vertices = np.array(floats, dtype=np.float32).reshape(-1, 5)[:, :3]
        elif field == 2 and wt == 2:
            lid, w = 0, 0.0
            for f2, wt2, v2 in parse_protobuf(v):
                if f2 == 1:
                    lid = v2
                elif f2 == 2:
                    w = float(np.frombuffer(v2, dtype="<f4")[0])
            weights.append([lid, w])
    if vertices is None or vertices.shape[0] != 468 or len(weights) < 10:
        sys.exit("[models] canonical face geometry: unexpected layout")
    with open(dst + ".part", "w") as f:
        json.dump({"source": "@mediapipe/face_mesh@0.4.1657299874 geometry_pipeline_metadata_landmarks.binarypb",
                   "units": "cm, x = image right, y = up, z = toward the camera",
                   "vertices": [[round(float(c), 6) for c in p] for p in vertices],
                   "procrustes_weights": weights}, f)
    os.replace(dst + ".part", dst)


def photos():
    for p, (archive, member) in PHOTOS.items():
        dst = os.path.join(OUT, "photos", p)
        if not os.path.exists(dst):
            with open(dst + ".part", "wb") as f:
                f.write(read_member(archive, member))
            os.replace(dst + ".part", dst)


def onnx_io(name):
    import onnx
    m = onnx.load(os.path.join(OUT, name + ".onnx"))
    dims = lambda t: [d.dim_value or d.dim_param for d in t.type.tensor_type.shape.dim]
    return ([(i.name, dims(i)) for i in m.graph.input], [(o.name, dims(o)) for o in m.graph.output])


MEANING = {
    "face_detection_short_range": "BlazeFace short range. Input RGB in [-1,1], letterboxed. Outputs: [1,896,16] box "
                                  "(cx,cy,w,h) + 6 keypoints (x,y) in 128-px units relative to anchors; [1,896,1] logits",
    "face_landmark": "FaceMesh 468. Input RGB in [0,1], rotated ROI. Outputs: [1,1,1,1404] 468 x (x,y,z) in crop "
                     "pixels; [1,1,1,1] face presence logit",
    "pose_detection": "BlazePose detector. Input RGB in [-1,1], letterboxed. Outputs: [1,2254,12] box + 4 keypoints "
                      "(0 hip centre, 1 full-body scale point, 2 shoulder centre, 3 upper-body scale point); [1,2254,1] logits",
    "pose_landmark_lite": "BlazePose GHUM lite, cut to 3 outputs. Input RGB in [0,1], rotated ROI. Outputs: [1,195] 39 x "
                          "(x,y,z,visibility logit,presence logit) crop px; [1,1] presence (sigmoid applied); "
                          "[1,117] 39 x world (x,y,z) metres, hip-centred",
    "pose_landmark_full": "BlazePose GHUM full, cut to 3 outputs; same layout as pose_landmark_lite",
}
SOURCES = {WHEEL: "PyPI mediapipe==0.10.21", POSE_TGZ: "npm @mediapipe/pose@0.5.1675469404",
           MESH_TGZ: "npm @mediapipe/face_mesh@0.4.1657299874", SKIMAGE: "PyPI scikit-image==0.26.0",
           MAHOTAS: "PyPI mahotas==1.4.19 (MIT; luispedro.jpg is its author's portrait)"}


def first_party():
    """Our own trained model: committed with its recipe (models/trained/posture_net.toml)."""
    import shutil
    import tomllib
    recipe = tomllib.load(open(os.path.join(TRAINED, "posture_net.toml"), "rb"))
    src = os.path.join(TRAINED, "posture_net.onnx")
    if sha256(src) != recipe["onnx_sha256"]:
        sys.exit(f"{src}: sha256 differs from models/trained/posture_net.toml; re-export the model "
                 "with models/train/export_onnx.py, which writes both")
    for a, b in [(src, os.path.join(OUT, "posture_net.onnx")),
                 (os.path.join(TRAINED, "golden", "posture_net.json"), os.path.join(OUT, "golden", "posture_net.json")),
                 (os.path.join(TRAINED, "golden", "posture_net.bin"), os.path.join(OUT, "golden", "posture_net.bin"))]:
        shutil.copyfile(a, b + ".part")
        os.replace(b + ".part", b)
    return recipe


def manifest():
    lines = ["# Written by models/fetch.sh. Models are Apache-2.0 (MediaPipe); photos from scikit-image (public domain) and mahotas (MIT).",
             'schema = 1', '']
    for name, (archive, member, tsha) in TFLITE.items():
        ins, outs = onnx_io(name)
        lines += ["[[model]]", f'name = "{name}"', f'file = "{name}.onnx"',
                  f'source = "{SOURCES[archive]}"', f'source_file = "{archive}"',
                  f'source_sha256 = "{sha256(os.path.join(DL, archive))}"', f'member = "{member}"',
                  f'tflite_sha256 = "{tsha}"', f'onnx_sha256 = "{sha256(os.path.join(OUT, name + ".onnx"))}"',
                  f'inputs = {json.dumps([f"{n} {d}" for n, d in ins])}',
                  f'outputs = {json.dumps([f"{n} {d}" for n, d in outs])}',
                  f'meaning = "{MEANING[name]}"', '']
    recipe = first_party()
    ins, outs = onnx_io("posture_net")
    lines += ["[[model]]", 'name = "posture_net"', 'file = "posture_net.onnx"',
              'source = "first-party: models/train (recipe models/trained/posture_net.toml)"',
              f'onnx_sha256 = "{recipe["onnx_sha256"]}"', f'data_hash = "{recipe["data_hash"]}"',
              f'generator_sha256 = "{recipe["generator_sha256"]}"',
              f'inputs = {json.dumps([f"{n} {d}" for n, d in ins])}',
              f'outputs = {json.dumps([f"{n} {d}" for n, d in outs])}',
              'meaning = "cdposture posture model. Inputs: the posture crop RGB in [0,1] (NHWC, 128 px) and 49 body-point '
              'features (src/landmarks/posture_net.rs). Output [1,14]: head yaw, pitch, roll relative to the trunk (deg), '
              'lateral and sagittal shift (shoulder widths), shoulder elevation (deg), trunk yaw (deg), then the 7 log '
              'Laplace scales (uncertainty)"', '']
    lines += ["[[asset]]", 'file = "canonical_face.json"', f'source = "{SOURCES[MESH_TGZ]}"',
              f'sha256 = "{GEOMETRY_SHA}"', '']
    for p, (archive, _) in PHOTOS.items():
        lines += ["[[asset]]", f'file = "photos/{p}"', f'source = "{SOURCES[archive]}"',
                  f'sha256 = "{sha256(os.path.join(OUT, "photos", p))}"', '']
    with open(os.path.join(OUT, "manifest.toml.part"), "w") as f:
        f.write("\n".join(lines))
    os.replace(os.path.join(OUT, "manifest.toml.part"), os.path.join(OUT, "manifest.toml"))


def main():
    photos()
    canonical_face()
    extract_tflite()
    densify_pose_detector()
    for name in TFLITE:
        tfl = os.path.join(WORK, ("pose_detection_dense" if name == "pose_detection" else name) + ".tflite")
        to_onnx(name, tfl)
        golden(name, tfl)
    manifest()
    log(f"done: {OUT}")


if __name__ == "__main__":
    main()
