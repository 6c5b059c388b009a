"""Build the posture model's ONNX graph from train.py's weights.npz (runs in the model supply
chain's venv, which has `onnx`; the training venv has torch but not `onnx`).

The graph is written by hand from the few layer types train.py uses, so nothing of torch's
exporter (or its version) ends up in the product:
  crop [1,128,128,3] RGB in 0..1 (NHWC, like the MediaPipe models) ─ Transpose ─ Conv+ReLU × n ─ GlobalAveragePool ─ Flatten ─┐
  head [1,112,112,3] (only with a head tower) ─ the same ───────────────────────────────────────────────────────────────────────┤
  features [1,49] ─ Gemm+ReLU ──────────────────────────────────────────────────────────┴ Concat ─
  Gemm+ReLU ─ Gemm → output [1,18]: 9 means, then 9 log Laplace scales (train.py's TARGETS).
It then checks the graph against golden.npz with onnx's reference evaluator.

usage: export_onnx.py TRAIN_OUT DEST (models/trained): writes DEST/posture_net.onnx, its recipe
DEST/posture_net.toml (training config, data hash, generator hash, validation figures, sha256) and
DEST/golden/posture_net.{json,bin} (torch's output on a validation item, checked by tests/golden.rs).
"""
import hashlib
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator


def build(w, cfg):
    nodes, inits = [], []

    def init(name, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), name))
        return name

    inputs, parts = [], []

    def tower(prefix, name, px):
        """NHWC input `name` ─ Transpose ─ (Conv+ReLU)× ─ GlobalAveragePool ─ Flatten: its code."""
        inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, px, px, 3]))
        nodes.append(helper.make_node("Transpose", [name], [f"{name}_nchw"], perm=[0, 3, 1, 2]))
        x = f"{name}_nchw"
        for i in range(sum(1 for k in w if k.startswith(prefix) and k.endswith(".stride"))):
            s, c = int(w[f"{prefix}{i}.stride"]), f"{prefix}{i}"
            nodes.append(helper.make_node(
                "Conv", [x, init(f"{c}.w", w[f"{c}.weight"]), init(f"{c}.b", w[f"{c}.bias"])],
                [c], kernel_shape=[3, 3], strides=[s, s], pads=[1, 1, 1, 1]))
            nodes.append(helper.make_node("Relu", [c], [f"{prefix}relu{i}"]))
            x = f"{prefix}relu{i}"
        nodes.append(helper.make_node("GlobalAveragePool", [x], [f"{name}_pooled"]))
        nodes.append(helper.make_node("Flatten", [f"{name}_pooled"], [f"{name}_code"], axis=1))
        parts.append(f"{name}_code")

    # The codes in torch's order (PostureNet.forward): body crop, head crop, points.
    if "conv0.weight" in w:
        tower("conv", "crop", cfg["crop_px"])
    if "hconv0.weight" in w:
        tower("hconv", "head", cfg["head_px"])
    if "feat.weight" in w:
        inputs.append(helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, cfg["n_features"]]))
        nodes.append(helper.make_node("Gemm", ["features", init("feat.w", w["feat.weight"]), init("feat.b", w["feat.bias"])],
                                      ["feat_lin"], transB=1))
        nodes.append(helper.make_node("Relu", ["feat_lin"], ["feat_code"]))
        parts.append("feat_code")
    if len(parts) > 1:
        nodes.append(helper.make_node("Concat", parts, ["code"], axis=1))
        code = "code"
    else:
        code = parts[0]
    nodes.append(helper.make_node("Gemm", [code, init("head0.w", w["head0.weight"]), init("head0.b", w["head0.bias"])],
                                  ["head0"], transB=1))
    nodes.append(helper.make_node("Relu", ["head0"], ["head0_relu"]))
    nodes.append(helper.make_node("Gemm", ["head0_relu", init("head1.w", w["head1.weight"]), init("head1.b", w["head1.bias"])],
                                  ["output"], transB=1))
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 2 * len(cfg["targets"])])
    graph = helper.make_graph(nodes, "cdposture_posture_net", inputs, [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="cdposture models/train")
    model.ir_version = 8
    meta = {"targets": ",".join(cfg["targets"]), "data_hash": cfg["data_hash"], "variant": cfg["variant"]}
    for k, v in meta.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.checker.check_model(model)
    return model


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def write_golden(g, dest):
    """tests/golden.rs's format: named little-endian f32 blobs in one .bin, described by a .json."""
    blobs = [("input", g["crop"][:1])] + ([("head", g["head"][:1])] if "head" in g else []) + [
        ("features", g["features"][:1]), ("output", g["output"][:1])]
    entries, offset = [], 0
    os.makedirs(os.path.join(dest, "golden"), exist_ok=True)
    with open(os.path.join(dest, "golden", "posture_net.bin"), "wb") as f:
        for name, arr in blobs:
            data = np.ascontiguousarray(arr, dtype="<f4").tobytes()
            f.write(data)
            entries.append({"name": name, "shape": list(arr.shape), "offset": offset, "len": int(arr.size)})
            offset += len(data)
    with open(os.path.join(dest, "golden", "posture_net.json"), "w") as f:
        json.dump({"model": "posture_net.onnx", "reference": "PyTorch (models/train/train.py), eval mode",
                   "tensors": entries}, f, indent=1)


def write_recipe(src, dest, cfg, onnx_path):
    here = os.path.dirname(os.path.abspath(__file__))
    render = os.path.join(here, "..", "synthetic", "render.py")
    report = open(os.path.join(src, "report.txt")).read().strip().splitlines()
    lines = ["# The posture model's recipe, written by models/train/export_onnx.py. models/fetch.sh checks",
             "# onnx_sha256 before it installs the model. Reproduce: models/train/README.md.",
             f'onnx_sha256 = "{sha256(onnx_path)}"',
             f'data_hash = "{cfg["data_hash"]}"  # sha256 of the sorted training+validation item names',
             f'generator_sha256 = "{sha256(render)}"  # models/synthetic/render.py at export',
             f'variant = "{cfg["variant"]}"', f'widths = {json.dumps(cfg["widths"])}',
             f'epochs = {cfg["epochs"]}', f'batch = {cfg["batch"]}', f'lr = {cfg["lr"]}', f'seed = {cfg["seed"]}',
             f'val_share = {cfg["val_share"]}', f'n_train = {cfg["n_train"]}', f'n_val = {cfg["n_val"]}',
             f'torch = "{cfg["torch"]}"', f'targets = {json.dumps(cfg["targets"])}',
             f'command = "{cfg.get("command", "")}"',
             f'init = {json.dumps(json.dumps(cfg.get("init")))}  # the run it started from (--init), or null',
             "validation = [", *[f"  {json.dumps(l)}," for l in report], "]", ""]
    open(os.path.join(dest, "posture_net.toml"), "w").write("\n".join(lines))


def main():
    src, dest = sys.argv[1], sys.argv[2]
    w = dict(np.load(f"{src}/weights.npz"))
    cfg = json.load(open(f"{src}/config.json"))
    model = build(w, cfg)
    g = np.load(f"{src}/golden.npz")
    ev = ReferenceEvaluator(model)
    worst = 0.0
    for i in range(len(g["output"])):
        feeds = {"crop": g["crop"][i:i + 1], "features": g["features"][i:i + 1]}
        if "head" in g:
            feeds["head"] = g["head"][i:i + 1]
        out = ev.run(None, feeds)[0]
        worst = max(worst, float(np.max(np.abs(out - g["output"][i:i + 1]))))
    if worst > 1e-3:
        sys.exit(f"the ONNX graph differs from torch by {worst:.2e} on the golden inputs")
    os.makedirs(dest, exist_ok=True)
    onnx_path = os.path.join(dest, "posture_net.onnx")
    onnx.save(model, onnx_path)
    write_golden(g, dest)
    write_recipe(src, dest, cfg, onnx_path)
    print(f"{onnx_path}: {os.path.getsize(onnx_path) / 1e6:.2f} MB, matches torch within {worst:.1e}")


if __name__ == "__main__":
    main()
