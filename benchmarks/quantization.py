"""The quantization table: each family trained with its accuracy recipe (`benchmarks/accuracy.py`) on
the real data in ../shared/data, exported as float32 and int8 for LiteRT and ONNX Runtime, and every
file scored on the full test split with its size and its batch-1 / batch-32 latency. Latencies are
timed interleaved in one process (file A, B, C, D, A, B, ... over the rounds), so they compare.

usage: python benchmarks/quantization.py [TASK ...] [--epochs N] [--keep DIR]
TASK: mlp_mnist | resnet20_cifar10 | bilstm_imdb | gru_sst2 | transformer_imdb (default: all)

`--keep DIR` saves each trained model as DIR/TASK.keras and reuses it on the next run.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from benchmarks.common import scratch  # noqa: E402

ORDER = ("mlp_mnist", "resnet20_cifar10", "bilstm_imdb", "gru_sst2", "transformer_imdb")
FILES = {"tflite_fp32": "LiteRT fp32", "tflite_int8": "LiteRT int8", "onnx": "ONNX fp32", "onnx_int8": "ONNX int8"}


def latencies(runners, inputs, rounds=3, repeats=10):
    """`{file: (batch-1 ms, batch-32 ms)}`, medians over interleaved rounds. A file with a fixed batch
    of 1 (recurrent LiteRT) serves 32 examples as 32 calls."""
    from zoo.timing import timed  # median seconds of `repeats` calls after one warm-up call

    one = {k: v[:1] for k, v in inputs.items()}
    many = {k: v[:32] for k, v in inputs.items()}
    out = {k: ([], []) for k in runners}
    for fn, dynamic in runners.values():  # warm-up
        fn(one)
        fn(many) if dynamic else None
    for _ in range(rounds):
        for key, (fn, dynamic) in runners.items():
            out[key][0].append(timed(lambda fn=fn: fn(one), repeats) * 1000)
            batch32 = (lambda fn=fn: fn(many)) if dynamic else (
                lambda fn=fn: [fn({k: v[i:i + 1] for k, v in many.items()}) for i in range(32)])
            out[key][1].append(timed(batch32, max(2, repeats // 3)) * 1000)
    return {k: (float(np.median(a)), float(np.median(b))) for k, (a, b) in out.items()}


def _selective_note(entry):
    """What a selectively quantized file kept in float (or, for many ops, what it kept in int8)."""
    float_ops, only = entry.get("float_ops"), entry.get("quantized_ops")
    if float_ops and len(float_ops) > 3:
        only = sorted(set(entry["ops"]) - set(float_ops) - {"QUANTIZE", "DEQUANTIZE"})
    elif float_ops:
        return f" ({', '.join(float_ops)} in float)"
    return f" (only {', '.join(only)} in int8)" if only else ""


def train_or_load(name, task, data, epochs, keep):
    import zoo
    from zoo.recipes import model_kwargs_for
    from zoo.train import TrainConfig, fit

    path = os.path.join(keep, f"{name}.keras") if keep else None
    vocab_path = path and os.path.join(keep, f"{name}.vocabulary.json")
    vocabulary = data.vectorizer.get_vocabulary() if data.vectorizer is not None else None
    if path and os.path.exists(path):
        kept = json.load(open(vocab_path)) if os.path.exists(vocab_path) else None
        if kept == vocabulary:
            return zoo.load_model(path), None
        # token ids of a model trained on another split's vocabulary would be scored as garbage
        print(f"{path}: trained with another vocabulary than this data's; retraining", flush=True)
    kwargs = model_kwargs_for(task["model"], data)
    config = TrainConfig(epochs=epochs or task["epochs"], verbose=2, seed=0, **task["config"])
    start = time.time()
    model = fit(lambda: zoo.create_model(task["model"], **kwargs), data, config=config).model
    minutes = (time.time() - start) / 60
    if path:
        os.makedirs(keep, exist_ok=True)
        model.save(path)
        with open(vocab_path, "w") as f:
            json.dump(vocabulary, f)
    return model, minutes


def measure(name, epochs=None, keep=None):
    import pipelines
    from benchmarks.accuracy import TASKS, arrays
    from benchmarks.common import SHARED
    from export import ExportError, export_model
    from export.formats import runner

    task = TASKS[name]
    data = pipelines.load_dataset(task["dataset"], os.path.join(SHARED, task["subdir"]), **task.get("data", {}))
    model, minutes = train_or_load(name, task, data, epochs, keep)
    split = "val" if task["dataset"] == "sst2" else "test"
    x_test, y_test = arrays(data, split)
    x_train, _ = arrays(data, "train")
    calibration = x_train[np.random.default_rng(0).permutation(len(x_train))[:300]]
    out = scratch(f"zoo-quant-{name}-")
    options = dict(formats=("tflite", "onnx"), quantizations=("fp32", "int8"), calibration_data=calibration,
                   eval_data=(x_test, y_test), class_names=data.labels, preprocessing=data.preprocessing, verbose=True)
    try:  # as `zoo export` makes it: within the default 1-point budget (narrower int8 files if needed)
        report = export_model(model, out, **options)
        over_budget = None
    except ExportError as err:  # no file within the budget: measure the full-integer files anyway
        over_budget = str(err)
        out = scratch(f"zoo-quant-{name}-")
        report = export_model(model, out, max_accuracy_drop=100, **options)
    manifest = json.load(open(os.path.join(out, "zoo_export.json")))
    input_name = manifest["inputs"][0]["name"]
    runners = {k: runner(manifest["files"][k], out) for k in FILES}
    timed = latencies(runners, {input_name: x_test[:32]})
    results = {r["file"]: r for r in report["results"]}
    rows = []
    for key, label in FILES.items():
        r = results[key]
        rows.append({"model / data": f"{task['model']} / {task['dataset']}",
                     "file": label + _selective_note(manifest["files"][key]),
                     "test accuracy": r["accuracy"], "vs float (points)": 100 * r["accuracy_delta"],
                     "size MB": r["size_bytes"] / 1e6, "batch-1 ms": timed[key][0], "batch-32 ms": timed[key][1],
                     "x fp32 batch-1": timed[key][0] / timed["tflite_fp32" if key.startswith("tflite") else "onnx"][0]})
    return rows, {"examples": len(x_test), "keras_accuracy": results["onnx"]["keras_accuracy"],
                  "train_minutes": minutes, "epochs": epochs or task["epochs"], "over_budget": over_budget}


def notes(extra):
    """The table's notes from each task's `measure` extras."""
    return ("Each model trained with its `benchmarks/accuracy.py` recipe ("
            + ", ".join(f"{t}: {v['epochs']} epochs" for t, v in extra.items())
            + "); int8 (LiteRT full-integer, builtin ops; ONNX static QDQ, 7-bit per-channel weights) calibrated "
              "on 300 training examples; accuracy on the full test split (SST-2: the dev split); latency: "
              "median ms of interleaved rounds in one process, 2 threads; recurrent LiteRT files have a "
              "fixed batch of 1, so their batch-32 figure is 32 calls. int8 files are made as `zoo export` makes "
              "them: within the default 1-point budget; over it, LiteRT op types kept in float and ONNX files "
              "with only the weight ops in int8 (named in the file column)."
            + "".join(f" {t}: no int8 file met the budget, so the full-integer files are shown ({v['over_budget']})"
                      for t, v in extra.items() if v.get("over_budget")))


def main():
    from benchmarks.accuracy import TASKS
    from benchmarks.common import RESULTS_DIR, save

    p = argparse.ArgumentParser()
    p.add_argument("tasks", nargs="*", default=list(ORDER), help=" | ".join(ORDER))
    p.add_argument("--epochs", type=int, help="override every task's epochs (quick runs)")
    p.add_argument("--keep", help="folder of trained models to save and reuse")
    args = p.parse_args()
    unknown = [t for t in args.tasks if t not in ORDER]
    if unknown:
        p.error(f"unknown task(s) {unknown}; choose from {list(ORDER)}")
    rank = {TASKS[t]["model"]: i for i, t in enumerate(ORDER)}
    path = os.path.join(RESULTS_DIR, "quantization.json")
    rows, extra = [], {}
    if os.path.exists(path):  # tasks measured by an earlier run stay in the table
        record = json.load(open(path))
        rerun = {TASKS[t]["model"] for t in args.tasks}
        rows = [r for r in record["rows"] if r["model / data"].split(" / ")[0] not in rerun]
        extra = {k: v for k, v in record.get("extra", {}).items() if k not in args.tasks}
    for name in args.tasks:
        new_rows, extra[name] = measure(name, args.epochs, args.keep)
        for r in new_rows:
            print(r, flush=True)
        rows = sorted(rows + new_rows, key=lambda r: rank.get(r["model / data"].split(" / ")[0], 9))
        save("quantization", "Quantization: float32 vs int8, LiteRT and ONNX Runtime", rows, notes=notes(extra))
        record = json.load(open(path))
        record["extra"] = extra
        with open(path, "w") as f:
            json.dump(record, f, indent=2)


if __name__ == "__main__":
    main()
