"""NASNet next to the families users compare it with, on this CPU, in one process:

* batch-1 inference latency of `nasnet_mobile`, `resnet50` and `densenet121`
  (224x224) per runtime: Keras (compiled predict_on_batch), ONNX Runtime,
  LiteRT fp32 -- each model's files from `export_model`, all timed interleaved;
* training throughput (img/s, SGD step on a fixed CIFAR-size batch, as
  `zoo bench` measures it) of `nasnet_cifar` (NASNet-A 6 @ 768) next to `resnet20`;
* `nasnet_mobile` (224x224) and `nasnet_cifar` exported to SavedModel, LiteRT
  fp32/fp16/dynamic/int8 and ONNX, each file verified against Keras.

usage: python benchmarks/nasnet.py [--repeats 30] [--train-batch 64] [--train-steps 3]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from benchmarks.common import scratch  # noqa: E402

LATENCY_MODELS = ("nasnet_mobile", "resnet50", "densenet121")
TRAIN_MODELS = ("nasnet_cifar", "resnet20")


def _runtimes(name, seed=0):
    import keras

    import zoo
    from export import export_model
    from export import onnx as onnx_format
    from export import tflite

    keras.utils.set_random_seed(seed)
    model = zoo.create_model(name)
    x = np.random.default_rng(seed).uniform(0, 1, size=(1, 224, 224, 3)).astype("float32")
    out = scratch(f"zoo-bench-{name}-")
    export_model(model, out, formats=("tflite", "onnx"), quantizations=("fp32",), eval_data=np.repeat(x, 2, 0),
                 verbose=False)
    sess = onnx_format.session(os.path.join(out, f"{name}.onnx"))
    interp = tflite.interpreter(model_path=os.path.join(out, f"{name}.fp32.tflite"))
    return model.count_params(), {
        "Keras predict_on_batch": lambda: model.predict_on_batch(x),
        "ONNX Runtime": lambda: sess.run(None, {"images": x}),
        "LiteRT fp32": lambda: tflite.run(interp, {"images": x}),
    }


def _export_checks():
    """nasnet_mobile (224x224) and nasnet_cifar exported to every format, int8 included, and verified."""
    import keras

    import zoo
    from export import export_model
    from export import tflite

    rows = []
    for name, shape in (("nasnet_mobile", (224, 224, 3)), ("nasnet_cifar", (32, 32, 3))):
        keras.utils.set_random_seed(0)
        model = zoo.create_model(name)
        x = np.random.default_rng(0).uniform(0, 1, size=(16,) + shape).astype("float32")
        out = scratch(f"zoo-bench-{name}-")
        report = export_model(model, out, quantizations=("fp32", "fp16", "dynamic", "int8"), calibration_data=x,
                              eval_data=x[:8], verbose=False)
        ops = tflite.op_names(open(os.path.join(out, f"{name}.int8.tflite"), "rb").read())
        for r in report["results"]:
            rows.append({"what": f"{name} export: {r['file']}", "runtime": "verified against Keras",
                         "params": model.count_params(), "value": "passed" if r["passed"] else "FAILED",
                         "unit": f"max abs err {r['max_abs_err_batchN']:.1e}, agreement {r.get('agreement', 1):.3f}"
                                 + (", builtins only" if r["file"] == "tflite_int8" and
                                    not [o for o in ops if o.startswith("CUSTOM")] else "")})
            print(rows[-1])
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--train-batch", type=int, default=64)
    p.add_argument("--train-steps", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()

    import zoo
    from benchmarks.common import save, timed, train_step_runner

    fns, params = {}, {}
    for name in LATENCY_MODELS:
        params[name], by_runtime = _runtimes(name)
        for runtime, fn in by_runtime.items():
            fn()  # warm up
            fns[(name, runtime)] = fn
    times = {k: [] for k in fns}
    for _ in range(args.rounds):  # interleaved: every model and runtime once per round
        for key, fn in fns.items():
            times[key].append(timed(fn, max(1, args.repeats // args.rounds), warmup=0))
    rows = []
    for (name, runtime), t in times.items():
        ms = float(np.median(t)) * 1000
        ref = float(np.median(times[("resnet50", runtime)])) * 1000
        rows.append({"what": f"{name} batch-1 latency", "runtime": runtime, "params": params[name],
                     "value": round(ms, 2), "unit": "ms", "vs resnet50 (same runtime)": round(ms / ref, 3)})
        print(rows[-1])
    runners = {name: train_step_runner(zoo.create_model(name, classes=10), args.train_batch)
               for name in TRAIN_MODELS}
    steps = {name: [] for name in TRAIN_MODELS}
    for _ in range(args.rounds):
        for name, run in runners.items():
            steps[name].append(run(args.train_steps))
    resnet20 = args.train_batch / float(np.median(steps["resnet20"]))
    for name in TRAIN_MODELS:
        rate = args.train_batch / float(np.median(steps[name]))
        rows.append({"what": f"{name} training (32x32, batch {args.train_batch})", "runtime": "Keras train step",
                     "params": zoo.create_model(name, classes=10).count_params(), "value": round(rate, 1),
                     "unit": "img/s", "vs resnet20 (same step)": round(rate / resnet20, 3)})
        print(rows[-1])
    rows += _export_checks()
    save("nasnet", "NASNet-A next to ResNet and DenseNet (CPU)", rows,
         notes=("Random weights (no download here). Latency: batch 1, 224x224, each model's files exported by "
                f"export_model, median of {args.repeats} calls in {args.rounds} interleaved rounds over every "
                "model and runtime (ONNX Runtime and LiteRT with 2 threads). Training: the compiled Keras "
                f"train step (SGD momentum) on one fixed batch of {args.train_batch} CIFAR-size images, data "
                f"loading excluded, median of {args.rounds} interleaved rounds of {args.train_steps} steps; "
                "nasnet_cifar trains with its ScheduledDropPath layers active."),
         columns=["what", "runtime", "params", "value", "unit", "vs resnet50 (same runtime)",
                  "vs resnet20 (same step)"])


if __name__ == "__main__":
    main()
