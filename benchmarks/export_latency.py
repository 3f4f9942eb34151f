"""Batch-1 inference latency of resnet50 per runtime on this CPU: Keras
(eager call, compiled predict_on_batch), SavedModel, ONNX Runtime, LiteRT
fp32 and int8 -- all from the same weights, measured in one process.

usage: python benchmarks/export_latency.py [--model resnet50] [--image-size 224] [--repeats 30]
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="resnet50")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--calibration", type=int, default=32)
    args = p.parse_args()

    import keras
    import tensorflow as tf

    import zoo
    from benchmarks.common import save, timed
    from export import export_model
    from export import onnx as onnx_format
    from export import tflite

    keras.utils.set_random_seed(0)
    shape = (args.image_size, args.image_size, 3)
    model = zoo.create_model(args.model, input_shape=shape)
    rng = np.random.default_rng(0)
    calib = rng.uniform(0, 1, size=(args.calibration,) + shape).astype("float32")
    x = calib[:1]
    out = tempfile.mkdtemp(prefix="zoo-bench-export-")
    report = export_model(model, out, quantizations=("fp32", "int8"), calibration_data=calib,
                          eval_data=calib[:8], verbose=False)
    sm = tf.saved_model.load(os.path.join(out, "saved_model", model.name, "1")).signatures["serving_default"]
    sess = onnx_format.session(os.path.join(out, f"{model.name}.onnx"))
    fp32 = tflite.interpreter(model_path=os.path.join(out, f"{model.name}.fp32.tflite"))
    int8 = tflite.interpreter(model_path=os.path.join(out, f"{model.name}.int8.tflite"))
    runtimes = {
        "Keras call (eager)": lambda: model(x, training=False),
        "Keras predict_on_batch (compiled)": lambda: model.predict_on_batch(x),
        "SavedModel signature": lambda: sm(images=tf.constant(x)),
        "ONNX Runtime (2 threads)": lambda: sess.run(None, {"images": x}),
        "LiteRT fp32 (2 threads)": lambda: tflite.run(fp32, {"images": x}),
        "LiteRT int8 (2 threads)": lambda: tflite.run(int8, {"images": x}),
    }
    sizes = {"SavedModel signature": "saved_model", "ONNX Runtime (2 threads)": "onnx",
             "LiteRT fp32 (2 threads)": "tflite_fp32", "LiteRT int8 (2 threads)": "tflite_int8"}
    by_file = {r["file"]: r for r in report["results"]}
    times = {name: [] for name in runtimes}
    for fn in runtimes.values():
        fn()  # warm up
    for _ in range(3):  # interleaved rounds
        for name, fn in runtimes.items():
            times[name].append(timed(fn, args.repeats // 3, warmup=0))
    lite_fp32 = float(np.median(times["LiteRT fp32 (2 threads)"]))
    rows = []
    for name in runtimes:
        ms = float(np.median(times[name])) * 1000
        row = {"runtime": name, "batch-1 latency (ms)": ms, "vs LiteRT fp32": ms / (lite_fp32 * 1000)}
        if name in sizes:
            f = by_file[sizes[name]]
            row["file MB"] = f["size_bytes"] / 1e6
            row["max abs err vs Keras"] = f["max_abs_err_batchN"]
            row["argmax agreement"] = f.get("agreement", "")
        rows.append(row)
        print(row)
    save("export_latency", f"Exported {args.model} batch-1 latency per runtime (CPU)", rows,
         notes=(f"{args.model} with random weights (no download here), {args.image_size}x{args.image_size}; "
                f"int8 calibrated on {args.calibration} random images, so its agreement figure says "
                "little about accuracy (see the accuracy tables for int8 on real data). Median over "
                f"{args.repeats} calls in 3 interleaved rounds."),
         columns=["runtime", "batch-1 latency (ms)", "vs LiteRT fp32", "file MB", "max abs err vs Keras",
                  "argmax agreement"])


if __name__ == "__main__":
    main()
