"""int8 variants of our ONNX models, timed in onnxruntime (one thread) against the float files.

Static quantization with onnxruntime's quantizer: per-channel int8 weights, uint8 activations
calibrated on real pictures (the committed avatar renders and the demo photo, resized to the
model's input as a crop would be). Variants: every Conv as QLinearConv (`all`), and the pointwise
and full convolutions only, depthwise left in float (`pw`). QOperator format: tract runs
QLinearConv natively; in QDQ format it would fold the weights back to float.
Writes OUT/<model>_int8_<variant>.onnx and prints one `ort <file> <ms>` line per file.
"""
import glob
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image

MODELS = {"pose_landmark_lite": 256, "face_landmark": 192}


def calibration_pictures(root: Path, models: Path):
    return sorted(glob.glob(str(root / "tests/data/avatars/images/*.jpg")))[:40] + [str(models / "photos/astronaut.png")]


def to_input(path, size, centre_square):
    im = Image.open(path).convert("RGB")
    w, h = im.size
    if centre_square:  # a face crop: the middle of the picture
        s = min(w, h)
        im = im.crop(((w - s) // 2, (h - s) // 2, (w + s) // 2, (h + s) // 2))
    else:  # a body crop: the whole picture letterboxed
        s = max(w, h)
        c = Image.new("RGB", (s, s))
        c.paste(im, ((s - w) // 2, (s - h) // 2))
        im = c
    return (np.asarray(im.resize((size, size)), np.float32) / 255.0)[None]


class Pictures(CalibrationDataReader):
    def __init__(self, paths, name, size):
        self.it = iter([{"input_1": to_input(p, size, name == "face_landmark")} for p in paths])

    def get_next(self):
        return next(self.it, None)


def ort_ms(path, runs):
    o = ort.SessionOptions()
    o.intra_op_num_threads = o.inter_op_num_threads = 1
    s = ort.InferenceSession(str(path), o, providers=["CPUExecutionProvider"])
    feeds = {i.name: np.random.default_rng(0).random(i.shape, np.float32) for i in s.get_inputs()}
    for _ in range(5):
        s.run(None, feeds)
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        s.run(None, feeds)
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)) * 1e3


def main():
    root, models, out, runs = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    out.mkdir(parents=True, exist_ok=True)
    pictures = calibration_pictures(root, models)
    for name, size in MODELS.items():
        pre = out / f"{name}_pre.onnx"
        quant_pre_process(str(models / f"{name}.onnx"), str(pre), skip_symbolic_shape=True)
        graph = onnx.load(pre).graph
        pointwise = [n.name for n in graph.node if n.op_type == "Conv"
                     and all(a.i == 1 for a in n.attribute if a.name == "group")]
        for variant, nodes in (("all", None), ("pw", pointwise)):
            q = out / f"{name}_int8_{variant}.onnx"
            if not q.exists():
                quantize_static(str(pre), str(q), Pictures(pictures, name, size), quant_format=QuantFormat.QOperator,
                                op_types_to_quantize=["Conv"], nodes_to_quantize=nodes, per_channel=True,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        for f in [models / f"{name}.onnx", out / f"{name}_int8_all.onnx", out / f"{name}_int8_pw.onnx"]:
            print(f"ort {f} {ort_ms(f, runs):.3f}", flush=True)


if __name__ == "__main__":
    main()
