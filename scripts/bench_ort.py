"""onnxruntime baseline for scripts/bench.sh: the same ONNX files, one thread, CPU.

Prints `model ms` lines (median of the timed runs, after warm-up) for every model in the folder.
Inputs are fixed random tensors of each model's declared shape: inference time does not depend
on the pixel values for these convolutional graphs.
"""
import os
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort


def session(path, profile_prefix=None):
    """One thread, sequential, every graph optimisation; onnxruntime's profiler when a prefix is given."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def random_feed(sess):
    """Fixed random inputs of the declared shapes (a dynamic dimension taken as 1)."""
    rng = np.random.default_rng(0)
    feed = {}
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in i.shape]
        feed[i.name] = rng.random(shape, dtype=np.float32)
    return feed


def time_model(path, runs):
    sess = session(path)
    feed = random_feed(sess)
    for _ in range(10):
        sess.run(None, feed)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main():
    folder, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100
    for name in sorted(os.listdir(folder)):
        if name.endswith(".onnx"):
            ms = time_model(os.path.join(folder, name), runs)
            print(f"{name[:-5]} {ms:.4f}", flush=True)


if __name__ == "__main__":
    main()
