"""Batch-1 latency of the same exported model through ONNX Runtime (Python), onnxruntime-web in Node.js
(WebAssembly, through the bundle's zoo-model.js) and OpenVINO's CPU plugin, fp32 and int8, measured side by
side in one process (interleaved rounds), with each int8 file's accuracy drop on real test data.

Models: resnet50 (random weights: no ImageNet weights or data offline, so latency only), the zoo's
`mlp:mnist` on MNIST's test split and `transformer_classifier:imdb` on IMDB test reviews (`../shared/data`).
onnxruntime-web runs one thread here (a page without cross-origin isolation gets one); ONNX Runtime and
OpenVINO run `--threads` (default 1, the same). Node's figure is `session.run` timed inside JavaScript
(no pipe to Python in it).

usage: python benchmarks/web_openvino_latency.py [--models resnet50,mlp:mnist,transformer_classifier:imdb]
                                                 [--data-dir ../shared/data] [--eval-size 2000] [--threads 1]
"""

import argparse
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

DATASETS = {"mnist": "mnist", "imdb": "imdb"}  # weights -> the dataset (folder of ../shared/data) they were trained on


def _export(spec, out, args):
    """Export `spec` (a registered name, or NAME:WEIGHTS) to onnx, web and openvino, fp32 and int8."""
    name, _, weights = spec.partition(":")
    command = [sys.executable, "-m", "app.cli", "export", name, "--out", out, "--formats", "onnx,web,openvino",
               "--eval-size", str(args.eval_size), "--quantize", "fp32,int8"]
    if weights:
        command += ["--weights", weights, "--dataset", DATASETS[weights], "--data-dir",
                    os.path.join(args.data_dir, DATASETS[weights])]
        subprocess.run(command, check=True, cwd=REPO)
        return
    import zoo
    from export import export_model

    model = zoo.create_model(name)  # random weights: latency only
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(32,) + tuple(model.inputs[0].shape[1:])).astype("float32")
    export_model(model, out, formats=("onnx", "web", "openvino"), quantizations=("fp32", "int8"),
                 calibration_data=x, eval_data=x[:8], verbose=False, max_accuracy_drop=100)


def _runners(out, threads):
    """`{row name: (call, file key)}`; Node's calls return JavaScript's own milliseconds."""
    from export import onnx as onnx_format
    from export import openvino, web

    manifest = json.load(open(os.path.join(out, "zoo_export.json")))
    x = {k: v[:1] for k, v in np.load(os.path.join(out, "verify_inputs.npz")).items() if k != "__labels__"}
    runners = {}
    for key, label in (("onnx", "fp32"), ("onnx_int8", "int8")):
        sess = onnx_format.session(os.path.join(out, manifest["files"][key]["path"]), threads=threads)
        runners[f"ONNX Runtime (Python) {label}"] = ((lambda s=sess: onnx_format.run(s, x)), key)
    for key, label in (("web", "fp32"), ("web_int8", "int8")):
        node = web.NodeSession(os.path.join(out, "web"), label)

        def in_node(n=node):
            n.run(x, repeat=5)
            return n.last_ms  # JavaScript's own timing of each session.run

        runners[f"onnxruntime-web (Node.js, WASM) {label}"] = (in_node, key)
    for key, label in (("openvino", "fp32"), ("openvino_int8", "int8")):
        options = {**openvino.F32, "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
        request = openvino.compile_file(os.path.join(out, manifest["files"][key]["path"]), options).create_infer_request()
        runners[f"OpenVINO CPU {label}"] = ((lambda r=request: r.infer(x)), key)
    return runners


def _measure(runners, repeats):
    """Median batch-1 milliseconds per runner over `repeats` calls, in interleaved rounds."""
    import time

    times = {name: [] for name in runners}
    for call, _ in runners.values():
        call()  # warm up
    for _ in range(3):
        for name, (call, _) in runners.items():
            for _ in range(max(1, repeats // 3)):
                start = time.perf_counter()
                js = call()
                wall = (time.perf_counter() - start) * 1000
                times[name].extend(js if isinstance(js, list) else [wall])
    return {name: float(np.median(v)) for name, v in times.items()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", default="resnet50,mlp:mnist,transformer_classifier:imdb")
    p.add_argument("--data-dir", default=os.path.join(os.path.dirname(REPO), "shared", "data"))
    p.add_argument("--eval-size", type=int, default=2000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=30)
    args = p.parse_args()
    from benchmarks.common import save, scratch

    rows = []
    for spec in args.models.split(","):
        out = scratch("zoo-bench-web-ov-")
        _export(spec, out, args)
        report = {r["file"]: r for r in json.load(open(os.path.join(out, "report.json")))["results"]}
        runners = _runners(out, args.threads)
        ms = _measure(runners, args.repeats)
        for name, (_, key) in runners.items():
            fp32 = name.replace(" int8", " fp32")
            row = {"model": spec, "runtime": name, "batch-1 ms": ms[name], "vs its fp32 file": ms[name] / ms[fp32],
                   "vs ONNX Runtime fp32": ms[name] / ms["ONNX Runtime (Python) fp32"],
                   "file MB": report[key]["size_bytes"] / 1e6, "max abs err vs Keras": report[key]["max_abs_err_batchN"],
                   "accuracy": report[key].get("accuracy", ""),
                   "int8 drop (points)": (-100 * report[key]["accuracy_delta"] or 0.0)
                   if "accuracy_delta" in report[key] and "int8" in name else ""}
            rows.append(row)
            print(row, flush=True)
        examples = json.load(open(os.path.join(out, "report.json")))["examples"]
        print(f"{spec}: accuracy on {examples} examples", flush=True)
    save("web_openvino_latency" + ("" if args.threads == 1 else f"_{args.threads}_threads"),
         "Batch-1 latency: ONNX Runtime (Python) vs onnxruntime-web (Node.js, WASM) vs OpenVINO, fp32 and int8",
         rows, notes=(f"One process, interleaved rounds, median of {args.repeats} calls; ONNX Runtime and OpenVINO "
                      f"with {args.threads} thread(s), onnxruntime-web with 1 (Node.js {_node_version()}; its time "
                      "is session.run inside JavaScript). resnet50 has random weights (latency only; no ImageNet "
                      f"offline); mlp:mnist and transformer_classifier:imdb are the zoo's weights, scored on "
                      f"{args.eval_size} real test examples (MNIST, IMDB) by `zoo export`; an int8 file's drop is "
                      "its accuracy against the Keras model's on the same examples. OpenVINO runs with "
                      "INFERENCE_PRECISION_HINT=f32 (this CPU defaults to bf16)."),
         columns=["model", "runtime", "batch-1 ms", "vs its fp32 file", "vs ONNX Runtime fp32", "file MB",
                  "max abs err vs Keras", "accuracy", "int8 drop (points)"])


def _node_version():
    try:
        return subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


if __name__ == "__main__":
    main()
