"""Read a posture model's ONNX (export_onnx.py's output) back into the arrays export_onnx.py built
it from (OUT.npz: conv{i}.weight/bias/stride with batch norm folded, feat.*, head0.*, head1.* in
real output units), so a later run can start from the shipped weights (train.py --init-export)
when the training run's own checkpoint is gone.

    python onnx_weights.py models/trained/posture_net.onnx OUT.npz   (in the model venv: it has onnx)
"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def main(src, dst):
    m = onnx.load(src)
    w = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    out = {}
    for node in m.graph.node:
        if node.op_type == "Conv":
            layer = node.input[1].removesuffix(".w")  # conv{i} (body crop) or hconv{i} (head crop)
            strides = next(a.ints for a in node.attribute if a.name == "strides")
            out[f"{layer}.weight"], out[f"{layer}.bias"] = w[node.input[1]], w[node.input[2]]
            out[f"{layer}.stride"] = np.array(strides[0])
    for name in ("feat", "head0", "head1"):
        if f"{name}.w" in w:
            out[f"{name}.weight"], out[f"{name}.bias"] = w[f"{name}.w"], w[f"{name}.b"]
    meta = {p.key: p.value for p in m.metadata_props}
    np.savez(dst, **out, targets=np.array(meta.get("targets", "").split(",")))
    print(f"{dst}: {len(out)} arrays from {src} (targets {meta.get('targets')})")


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
