"""Run every exported file on the same inputs as the Keras model and compare.

Per file: max abs error at batch 1 and at batch > 1 (where the file allows a
batch), argmax agreement (classifiers), accuracy and its delta against Keras
when labels are given, file size and median batch-1 latency.

Pass criteria: float32 files (SavedModel, ONNX, TFLite fp32) within
`FP32_TOL` absolute error; reduced-precision TFLite files (fp16, dynamic,
int8) by argmax agreement (`AGREEMENT`) and, with labels, an accuracy drop
of at most `MAX_ACCURACY_DROP`; regressors by error relative to the output
scale.
"""

import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

from export import common
from export import onnx as onnx_format
from export import saved_model as sm_format
from export import tflite as tflite_format

FP32_TOL = 1e-4
AGREEMENT = {"fp16": 0.98, "dynamic": 0.95, "int8": 0.95}
RELATIVE_TOL = {"fp16": 1e-2, "dynamic": 5e-2, "int8": 1e-1}
MAX_ACCURACY_DROP = 0.02
CHUNK = 256


def _latency_ms(fn, repeats=20):
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def _runner(entry, out_dir):
    path = os.path.join(out_dir, entry["path"])
    if entry["format"] == "saved_model":
        loaded = tf.saved_model.load(path)
        fn = loaded.signatures["serving_default"]
        output = entry["output"]

        def run(inputs):
            return fn(**{k: tf.constant(v) for k, v in inputs.items()})[output].numpy()
        return run, True
    if entry["format"] == "onnx":
        sess = onnx_format.session(path)
        return (lambda inputs: onnx_format.run(sess, inputs)), True
    interp = tflite_format.interpreter(model_path=path)
    dynamic = all(d["shape_signature"][0] == -1 for d in interp.get_input_details())
    return (lambda inputs: tflite_format.run(interp, inputs)), dynamic


def _slice(inputs, n):
    return {k: v[:n] for k, v in inputs.items()}


def verify_files(out_dir, model, inputs, labels=None, *, manifest=None, batch=8):
    """Check each file in `manifest["files"]`; returns the report dict."""
    manifest = manifest or json.load(open(os.path.join(out_dir, "zoo_export.json")))
    task = manifest["task"]
    names = [i["name"] for i in manifest["inputs"]]
    ordered = [inputs[n] for n in names]
    # In chunks: a full test split (25,000 reviews) in one call would not fit in memory.
    reference = np.concatenate([
        np.asarray(keras.ops.convert_to_numpy(common.call_model(model, [x[i:i + CHUNK] for x in ordered])), "float32")
        for i in range(0, len(ordered[0]), CHUNK)])
    n_total = len(ordered[0])
    batch = min(batch, n_total)
    rows = []
    for key, entry in manifest["files"].items():
        run, dynamic_batch = _runner(entry, out_dir)
        got = np.concatenate([run(_slice({k: v[i:i + 1] for k, v in inputs.items()}, 1))
                              for i in range(min(batch, n_total))], axis=0)
        err_b1 = float(np.abs(got - reference[:len(got)]).max())
        full = np.concatenate([run({k: v[i:i + CHUNK] for k, v in inputs.items()})
                               for i in range(0, n_total, CHUNK)]) if dynamic_batch else np.concatenate(
            [got] + [run({k: v[i:i + 1] for k, v in inputs.items()}) for i in range(len(got), n_total)])
        full = np.asarray(full, "float32")
        err_bn = float(np.abs(full - reference).max())
        row = {"file": key, "format": entry["format"], "quantization": entry.get("quantization", "fp32"),
               "size_bytes": os.path.getsize(os.path.join(out_dir, entry["path"]))
               if os.path.isfile(os.path.join(out_dir, entry["path"])) else _dir_size(os.path.join(out_dir, entry["path"])),
               "max_abs_err_batch1": err_b1, "max_abs_err_batchN": err_bn,
               "batch_sizes": [1, n_total] if dynamic_batch else [1],
               "latency_ms_batch1": _latency_ms(lambda: run(_slice(inputs, 1)))}
        if task in ("classifier", "seq2seq"):
            row["agreement"] = float(np.mean(full.argmax(-1) == reference.argmax(-1)))
            if labels is not None and task == "classifier":
                row["accuracy"] = float(np.mean(full.argmax(-1) == labels))
                row["keras_accuracy"] = float(np.mean(reference.argmax(-1) == labels))
                row["accuracy_delta"] = row["accuracy"] - row["keras_accuracy"]
        quant = row["quantization"]
        if quant == "fp32":
            row["criterion"] = f"max_abs_err <= {FP32_TOL}"
            row["passed"] = max(err_b1, err_bn) <= FP32_TOL
        elif task in ("classifier", "seq2seq"):
            need = AGREEMENT[quant]
            row["criterion"] = f"agreement >= {need}" + (
                f", accuracy drop <= {MAX_ACCURACY_DROP}" if "accuracy" in row else "")
            row["passed"] = row["agreement"] >= need and row.get("accuracy_delta", 0.0) >= -MAX_ACCURACY_DROP
        else:
            scale = float(np.abs(reference).max()) + 1.0
            row["criterion"] = f"max_abs_err <= {RELATIVE_TOL[quant]} x (1 + max|y|)"
            row["passed"] = max(err_b1, err_bn) <= RELATIVE_TOL[quant] * scale
        rows.append(row)
    return {"model": manifest["name"], "examples": n_total, "labels_given": labels is not None,
            "results": rows, "passed": all(r["passed"] for r in rows)}


def _dir_size(path):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, files in os.walk(path) for f in files)


def format_table(report):
    header = f"{'file':<34} {'size':>9} {'max|err| b1':>12} {'max|err| bN':>12} {'agree':>7} {'acc':>7} {'ms b1':>8}  ok"
    lines = [f"Verification of {report['model']} on {report['examples']} examples", header, "-" * len(header)]
    for r in report["results"]:
        size = f"{r['size_bytes'] / 1e6:.2f}MB" if r["size_bytes"] >= 1e5 else f"{r['size_bytes'] / 1e3:.1f}KB"
        agree = f"{r['agreement']:.3f}" if "agreement" in r else "-"
        acc = f"{r['accuracy']:.3f}" if "accuracy" in r else "-"
        lines.append(f"{r['file']:<34} {size:>9} {r['max_abs_err_batch1']:>12.2e} {r['max_abs_err_batchN']:>12.2e} "
                     f"{agree:>7} {acc:>7} {r['latency_ms_batch1']:>8.3f}  {'yes' if r['passed'] else 'NO'}")
    if report["results"] and "keras_accuracy" in report["results"][0]:
        lines.append(f"Keras model accuracy on the same examples: {report['results'][0]['keras_accuracy']:.4f}")
    lines.append("all files passed" if report["passed"] else "SOME FILES FAILED their criterion")
    return "\n".join(lines)
