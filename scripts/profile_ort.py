"""Where onnxruntime spends a model's time, node by node: the baseline beside
`examples/profile_model.rs` (tract), to find the layers where tract loses (issue 12).

    ~/.cache/cdposture/bench-venv-*/bin/python scripts/profile_ort.py MODEL.onnx [RUNS]

One thread, all graph optimisations (as `scripts/bench_ort.py`), fixed random inputs. Prints the
mean milliseconds a run per op kind, then the slowest nodes (`TOP`, 25) with their input and
output shapes as onnxruntime reports them after its graph optimisations.
"""
import collections
import json
import os
import sys
import tempfile

from bench_ort import random_feed, session


def profile(path, runs):
    sess = session(path, profile_prefix=os.path.join(tempfile.mkdtemp(), "ort"))
    feed = random_feed(sess)
    for _ in range(runs):
        sess.run(None, feed)
    with open(sess.end_profiling()) as f:
        return json.load(f)


def shapes(entries):
    return [list(d.values())[0] for d in entries or []]


def main():
    path, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100
    by_op, by_node, info = collections.defaultdict(float), collections.defaultdict(float), {}
    for e in profile(path, runs):
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        ms = e["dur"] / 1000 / runs
        args = e["args"]
        by_op[args.get("op_name")] += ms
        by_node[e["name"]] += ms
        info[e["name"]] = (args.get("op_name"), shapes(args.get("input_type_shape"))[:2],
                           shapes(args.get("output_type_shape")))
    print(f"{path}: {sum(by_op.values()):.3f} ms/run in nodes (first runs included)")
    for op, ms in sorted(by_op.items(), key=lambda x: -x[1]):
        print(f"  {op:<24} {ms:8.3f} ms")
    for name, ms in sorted(by_node.items(), key=lambda x: -x[1])[: int(os.environ.get("TOP", 25))]:
        op, ins, out = info[name]
        print(f"  {ms:7.3f} ms  {op:<14} in {ins} out {out}")


if __name__ == "__main__":
    main()
