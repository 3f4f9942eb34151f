"""Where ONNX Runtime spends a batch-1 call of the float file and of the zoo's x86 int8 file: kernel time per
op type from ONNX Runtime's own profiler, next to each file's wall-clock latency (median of interleaved
rounds, one process, the same input). It explains the int8/fp32 ratios of `benchmarks/export_latency.py`:
which kernels int8 speeds up, and what each int8 graph adds (quantize/dequantize, integer element-wise ops).

usage: python benchmarks/onnx_op_profile.py [--model resnet20 | NAME:WEIGHTS] [--image-size 32] [--threads 1]
"""

import argparse
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def op_times(path, feed, x, threads, calls, folder):
    """`({op type: (µs per call, nodes)}, kernel µs per call)` from ONNX Runtime's profiler over `calls` calls."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.enable_profiling, options.profile_file_prefix = True, os.path.join(folder, "profile")
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    for _ in range(calls):
        session.run(None, {feed: x})
    with open(session.end_profiling()) as f:
        events = json.load(f)
    total, nodes = collections.Counter(), collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            total[e["args"]["op_name"]] += e["dur"]
            nodes[e["args"]["op_name"]] += 1
    # the first call (profiled too) is a warm-up; spread over all calls it changes nothing that matters
    return {op: (us / calls, nodes[op] // calls) for op, us in total.most_common()}, sum(total.values()) / calls


def main():
    from benchmarks.export_latency import _model_and_inputs, model_arguments

    p = argparse.ArgumentParser()
    model_arguments(p, "resnet20", 32, 1)
    p.add_argument("--calls", type=int, default=300)
    args = p.parse_args()


    from benchmarks.common import save, scratch, timed
    from export import common, export_model
    from export import onnx as onnx_format

    model, calib, what = _model_and_inputs(args)
    feed = common.input_names(model)[0]
    x = calib[:1]
    out = scratch("zoo-bench-opprofile-")
    for quantization in ("fp32", "int8"):  # apart: with random weights, int8 may miss its agreement check
        export_model(model, out, formats=("onnx",), quantizations=(quantization,), calibration_data=calib,
                     eval_data=calib[:8], verbose=False, overwrite=True)
    files = {"fp32": os.path.join(out, f"{model.name}.onnx"),
             "int8 (zoo x86)": os.path.join(out, f"{model.name}.int8.onnx")}
    sessions = {k: onnx_format.session(v, threads=args.threads) for k, v in files.items()}
    times = {k: [] for k in files}
    for _ in range(3):  # interleaved rounds of wall-clock latency
        for k, s in sessions.items():
            times[k].append(timed(lambda: s.run(None, {feed: x}), args.calls // 3, warmup=10))
    wall = {k: float(np.median(v)) * 1e6 for k, v in times.items()}
    rows = []
    for k, path in files.items():
        ops, kernels = op_times(path, feed, x, args.threads, args.calls, out)
        rows.append({"file": k, "op type": "(wall-clock call)", "µs per call": wall[k],
                     "vs fp32 call": wall[k] / wall["fp32"]})
        rows.append({"file": k, "op type": "(all kernels)", "µs per call": kernels})
        rows += [{"file": k, "op type": op, "nodes": n, "µs per call": us, "share of kernels": us / kernels}
                 for op, (us, n) in ops.items()]
    for r in rows:
        print(r)
    t = f"{args.threads} thread" + ("s" if args.threads > 1 else "")
    save(f"onnx_op_profile_{args.model.replace(':', '_')}", f"ONNX Runtime kernel time per op type: {args.model}, "
         f"batch 1, {t}", rows, columns=["file", "op type", "nodes", "µs per call", "share of kernels",
                                         "vs fp32 call"],
         notes=(f"{what}. The zoo's int8 file as `zoo export` writes it for x86 (U8 activations, 7-bit S8 "
                f"per-channel weights). Kernel times from ONNX Runtime's profiler over {args.calls} calls of each "
                "file (after its graph optimizations: fused and layout-transformed nodes appear under the op "
                f"type ONNX Runtime runs); wall-clock: median of 3 interleaved rounds of {args.calls // 3} calls."))


if __name__ == "__main__":
    main()
