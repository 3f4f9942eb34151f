"""Batch-1 inference latency of an image model per runtime on this CPU: Keras
(eager call, compiled predict_on_batch), SavedModel, ONNX Runtime fp32 and int8, LiteRT
fp32 and int8 -- all from the same weights, measured in one process, interleaved. The int8
ONNX files: the zoo's for x86 (its default: U8 activations, 7-bit S8 weights) and for ARM
(S8 activations), next to ONNX Runtime's own `quantize_static` defaults (QDQ, S8 activations and
weights; per channel here), each as a ratio to the ONNX fp32 file; the CPU flags are in the machine line.

A text model is measured with the zoo's own weights (`--model transformer_classifier:imdb`) on token ids of
its training length, with ONNX Runtime's `quantize_dynamic` beside the static files (the recipe its guide
gives for transformers); the int8 files' accuracy on real test data is in its weight card.

usage: python benchmarks/export_latency.py [--model resnet50 | NAME:WEIGHTS] [--image-size 224] [--repeats 30]
                                           [--threads 2]
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def model_arguments(parser, model, image_size, threads):
    """The options `_model_and_inputs` reads (`--model`, `--image-size`, `--calibration`), and `--threads`."""
    parser.add_argument("--model", default=model)
    parser.add_argument("--image-size", type=int, default=image_size)
    parser.add_argument("--calibration", type=int, default=32)
    parser.add_argument("--threads", type=int, default=threads, help="threads of each runtime (ONNX Runtime, LiteRT)")


def main():
    p = argparse.ArgumentParser()
    model_arguments(p, "resnet50", 224, 2)
    p.add_argument("--repeats", type=int, default=30)
    args = p.parse_args()

    import tensorflow as tf

    from benchmarks.common import save, scratch, timed
    from export import common, export_model
    from export import onnx as onnx_format
    from export import tflite

    model, calib, what = _model_and_inputs(args)
    feed = common.input_names(model)[0]  # the input's name
    x = calib[:1]
    out = scratch("zoo-bench-export-")
    # float files first, then int8 on its own: with random weights an int8 file can miss its agreement
    # criterion on 8 random images, which would withhold the SavedModel of a joint export
    report = export_model(model, out, quantizations=("fp32",), eval_data=calib[:8], verbose=False)
    int8_report = export_model(model, out, formats=("tflite", "onnx"), quantizations=("int8",),
                               calibration_data=calib, eval_data=calib[:8], verbose=False, overwrite=True)
    report = {**report, "results": report["results"] + int8_report["results"]}
    sm = tf.saved_model.load(os.path.join(out, "saved_model", model.name, "1")).signatures["serving_default"]
    float_onnx = os.path.join(out, f"{model.name}.onnx")
    zoo_int8 = os.path.join(out, f"{model.name}.int8.onnx")
    sessions = {"fp32": float_onnx, "zoo x86": zoo_int8,
                "arm": onnx_format.quantize_int8(float_onnx, {feed: calib}, target="arm"),
                "ort": _ort_recipe(float_onnx, feed, calib)}
    narrowed = json.load(open(os.path.join(out, "zoo_export.json")))["files"]["onnx_int8"].get("quantized_ops")
    if narrowed:  # the zoo's x86 file has only some ops in int8: next to it, the file with every op in int8
        sessions["x86 every op"] = onnx_format.quantize_int8(float_onnx, {feed: calib}, target="x86")
    dynamic = len(model.inputs[0].shape) == 2  # token ids: ONNX Runtime's guide quantizes transformers dynamically
    if dynamic:
        sessions["ort dynamic"] = _ort_dynamic(float_onnx)
    sessions = {k: onnx_format.session(v, threads=args.threads) for k, v in sessions.items()}
    fp32 = tflite.interpreter(model_path=os.path.join(out, f"{model.name}.fp32.tflite"), threads=args.threads)
    int8 = tflite.interpreter(model_path=os.path.join(out, f"{model.name}.int8.tflite"), threads=args.threads)
    t = f"{args.threads} thread" + ("s" if args.threads > 1 else "")
    onnx_fp32, zoo_x86, lite_fp32_name = f"ONNX Runtime fp32 ({t})", "ONNX Runtime int8, zoo x86 file (U8 act., 7-bit S8 " \
        f"weights{', int8 only in ' + '/'.join(narrowed) if narrowed else ''})", f"LiteRT fp32 ({t})"
    runtimes = {
        "Keras call (eager)": lambda: model(x, training=False),
        "Keras predict_on_batch (compiled)": lambda: model.predict_on_batch(x),
        "SavedModel signature": lambda: sm(**{feed: tf.constant(x)}),
        onnx_fp32: lambda: sessions["fp32"].run(None, {feed: x}),
        zoo_x86: lambda: sessions["zoo x86"].run(None, {feed: x}),
        **({"ONNX Runtime int8, x86 file with every op in int8": lambda: sessions["x86 every op"].run(None, {feed: x})}
           if narrowed else {}),
        "ONNX Runtime int8, zoo arm file (S8 act.) on this CPU": lambda: sessions["arm"].run(None, {feed: x}),
        "ONNX Runtime int8, ORT quantize_static defaults (S8 act., per-channel)": lambda: sessions["ort"].run(
            None, {feed: x}),
        **({"ONNX Runtime int8, ORT quantize_dynamic (its recipe for transformers; MatMul/Gemm, per-channel)":
            lambda: sessions["ort dynamic"].run(None, {feed: x})} if dynamic else {}),
        lite_fp32_name: lambda: tflite.run(fp32, {feed: x}),
        f"LiteRT int8 ({t})": lambda: tflite.run(int8, {feed: x}),
    }
    sizes = {"SavedModel signature": "saved_model", onnx_fp32: "onnx", zoo_x86: "onnx_int8",
             lite_fp32_name: "tflite_fp32", f"LiteRT int8 ({t})": "tflite_int8"}
    float_of = {n: (onnx_fp32 if n.startswith("ONNX") else lite_fp32_name if n.startswith("LiteRT") else None)
                for n in runtimes}
    by_file = {r["file"]: r for r in report["results"]}
    times = {name: [] for name in runtimes}
    for fn in runtimes.values():
        fn()  # warm up
    for _ in range(3):  # interleaved rounds
        for name, fn in runtimes.items():
            times[name].append(timed(fn, args.repeats // 3, warmup=0))
    lite_fp32 = float(np.median(times[lite_fp32_name]))
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
    save("export_latency" + ("" if args.model == "resnet50" else f"_{args.model.replace(':', '_')}")
         + ("" if args.threads == 2 else f"_{args.threads}_threads"),
         f"Exported {args.model} batch-1 latency per runtime (CPU, {t})", rows,
         notes=(f"{what}, so its agreement figure says little about accuracy (see the accuracy tables and weight "
                f"cards for int8 on real data). Median over {args.repeats} calls in 3 interleaved rounds."),
         columns=["runtime", "batch-1 latency (ms)", "vs its fp32 file", "vs LiteRT fp32", "file MB",
                  "max abs err vs Keras", "argmax agreement"])


def _model_and_inputs(args):
    """`(model, calibration inputs, what they are)`: an image model with random weights on random images, or a
    model with the zoo's own weights (`NAME:WEIGHTS`) -- a text model on random token ids of its training length.
    Seeded: every run measures the same weights and inputs."""
    import keras

    import zoo
    from zoo import pretrained

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    if ":" not in args.model:
        shape = (args.image_size, args.image_size, 3)
        model = zoo.create_model(args.model, input_shape=shape)
        return (model, rng.uniform(0, 1, size=(args.calibration,) + shape).astype("float32"),
                f"{args.model} with random weights (no download here), {args.image_size}x{args.image_size}; int8 "
                f"calibrated on {args.calibration} random images")
    model_name, weights = args.model.split(":", 1)
    model = pretrained.load(model_name, weights, strings=False)
    info = pretrained.card(model_name, weights)
    if len(model.inputs[0].shape) == 2:  # token ids
        length = info["preprocessing"]["sequence_length"]
        vocab = info["preprocessing"]["vocab_size"]
        calib = rng.integers(2, vocab, size=(args.calibration, length)).astype("int32")
        return model, calib, (f"{args.model} (the zoo's weights) on random token ids of length {length}; int8 "
                              f"calibrated on {args.calibration} such sequences")
    shape = tuple(model.inputs[0].shape[1:])
    return (model, rng.uniform(0, 1, size=(args.calibration,) + shape).astype("float32"),
            f"{args.model} (the zoo's weights); int8 calibrated on {args.calibration} random inputs")


def _ort_recipe(float_path, name, calibration):
    """ONNX Runtime's `quantize_static` with its defaults (QDQ, S8 activations and weights, 8 bits) and per-channel
    weights, for comparison: the serialized model."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._batches = iter([{name: calibration[i:i + 8]} for i in range(0, len(calibration), 8)])

        def get_next(self):
            return next(self._batches, None)

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "ort.onnx")
        quantize_static(float_path, path, Reader(), quant_format=QuantFormat.QDQ, per_channel=True)
        with open(path, "rb") as f:
            return f.read()


def _ort_dynamic(float_path):
    """ONNX Runtime's `quantize_dynamic` (int8 weights; activations quantized to U8 at run time by its
    DynamicQuantizeMatMul kernels), the recipe its quantization guide gives for transformers, on the ops the
    zoo's x86 file quantizes (MatMul/Gemm, per-channel): the serialized model."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "dynamic.onnx")
        quantize_dynamic(float_path, path, per_channel=True, weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul", "Gemm"])
        with open(path, "rb") as f:
            return f.read()


if __name__ == "__main__":
    main()
