"""Batch-1 inference latency of an image model per runtime on this CPU: Keras
(eager call, compiled predict_on_batch), SavedModel, ONNX Runtime fp32 and int8, LiteRT
fp32 and int8 -- all from the same weights, measured in one process, interleaved. The int8
ONNX files: the zoo's for x86 (its default: U8 activations, 7-bit S8 weights) and for ARM
(S8 activations), next to ONNX Runtime's own `quantize_static` defaults (QDQ, S8 activations and
weights; per channel here), each as a ratio to the ONNX fp32 file; the CPU flags are in the machine line.

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
    # float files first, then int8 on its own: with random weights an int8 file can miss its agreement
    # criterion on 8 random images, which would withhold the SavedModel of a joint export
    report = export_model(model, out, quantizations=("fp32",), eval_data=calib[:8], verbose=False)
    int8_report = export_model(model, out, formats=("tflite", "onnx"), quantizations=("int8",),
                               calibration_data=calib, eval_data=calib[:8], verbose=False, overwrite=True)
    report = {**report, "results": report["results"] + int8_report["results"]}
    sm = tf.saved_model.load(os.path.join(out, "saved_model", model.name, "1")).signatures["serving_default"]
    float_onnx = os.path.join(out, f"{model.name}.onnx")
    sess = onnx_format.session(float_onnx)
    int8_onnx = onnx_format.session(os.path.join(out, f"{model.name}.int8.onnx"))
    arm_onnx = onnx_format.session(onnx_format.quantize_int8(float_onnx, {"images": calib}, target="arm"))
    ort_onnx = onnx_format.session(_ort_recipe(float_onnx, calib))
    fp32 = tflite.interpreter(model_path=os.path.join(out, f"{model.name}.fp32.tflite"))
    int8 = tflite.interpreter(model_path=os.path.join(out, f"{model.name}.int8.tflite"))
    runtimes = {
        "Keras call (eager)": lambda: model(x, training=False),
        "Keras predict_on_batch (compiled)": lambda: model.predict_on_batch(x),
        "SavedModel signature": lambda: sm(images=tf.constant(x)),
        "ONNX Runtime fp32 (2 threads)": lambda: sess.run(None, {"images": x}),
        "ONNX Runtime int8, zoo x86 file (U8 act., 7-bit S8 weights)": lambda: int8_onnx.run(None, {"images": x}),
        "ONNX Runtime int8, zoo arm file (S8 act.) on this CPU": lambda: arm_onnx.run(None, {"images": x}),
        "ONNX Runtime int8, ORT quantize_static defaults (S8 act., per-channel)": lambda: ort_onnx.run(None, {"images": x}),
        "LiteRT fp32 (2 threads)": lambda: tflite.run(fp32, {"images": x}),
        "LiteRT int8 (2 threads)": lambda: tflite.run(int8, {"images": x}),
    }
    sizes = {"SavedModel signature": "saved_model", "ONNX Runtime fp32 (2 threads)": "onnx",
             "ONNX Runtime int8, zoo x86 file (U8 act., 7-bit S8 weights)": "onnx_int8",
             "LiteRT fp32 (2 threads)": "tflite_fp32", "LiteRT int8 (2 threads)": "tflite_int8"}
    float_of = {name: ("ONNX Runtime fp32 (2 threads)" if name.startswith("ONNX") else
                       "LiteRT fp32 (2 threads)" if name.startswith("LiteRT") else None) for name in runtimes}
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
        row = {"runtime": name, "batch-1 latency (ms)": ms, "vs LiteRT fp32": ms / (lite_fp32 * 1000),
               "vs its fp32 file": ms / (float(np.median(times[float_of[name]])) * 1000) if float_of[name] else ""}
        if name in sizes:
            f = by_file[sizes[name]]
            row["file MB"] = f["size_bytes"] / 1e6
            row["max abs err vs Keras"] = f["max_abs_err_batchN"]
            row["argmax agreement"] = f.get("agreement", "")
        rows.append(row)
        print(row)
    save("export_latency" + ("" if args.model == "resnet50" else f"_{args.model}"),
         f"Exported {args.model} batch-1 latency per runtime (CPU)", rows,
         notes=(f"{args.model} with random weights (no download here), {args.image_size}x{args.image_size}; "
                f"int8 calibrated on {args.calibration} random images, so its agreement figure says "
                "little about accuracy (see the accuracy tables for int8 on real data). Median over "
                f"{args.repeats} calls in 3 interleaved rounds."),
         columns=["runtime", "batch-1 latency (ms)", "vs its fp32 file", "vs LiteRT fp32", "file MB",
                  "max abs err vs Keras", "argmax agreement"])


def _ort_recipe(float_path, calibration):
    """ONNX Runtime's `quantize_static` with its defaults (QDQ, S8 activations and weights, 8 bits) and per-channel
    weights, for comparison: the serialized model."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._batches = iter([{"images": calibration[i:i + 8]} for i in range(0, len(calibration), 8)])

        def get_next(self):
            return next(self._batches, None)

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "ort.onnx")
        quantize_static(float_path, path, Reader(), quant_format=QuantFormat.QDQ, per_channel=True)
        with open(path, "rb") as f:
            return f.read()


if __name__ == "__main__":
    main()
