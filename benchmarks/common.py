"""Measurement helpers shared by the benchmark scripts, and RESULTS.md.

Every script stores its figures in `benchmarks/results/<name>.json` with the
exact command, date, machine and versions; `render()` rebuilds
`benchmarks/RESULTS.md` from all of them. Comparisons are measured side by
side in one process, interleaved (A, B, A, B, ...), and reported as ratios.
"""

import datetime
import json
import os
import platform
import shlex
import sys

import numpy as np  # noqa: F401

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS_DIR = os.path.join(HERE, "results")
REPO = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
        cpu = f"{names[0]} x {len(names)} logical cores" if names else cpu
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}{_cpu_flags()}{mem}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def _cpu_flags():
    """The instruction sets that change bf16/int8 speed here (hosts differ between sessions)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return ""
    found = [f for f in ("avx512_bf16", "avx512_vnni", "amx_bf16", "avx512f") if f in flags]
    return f" ({', '.join(found)})" if found else (" (AVX2 only)" if "avx2" in flags else "")


def versions():
    from export.manifest import versions as _versions

    import importlib.metadata as md

    out = _versions()
    for optional in ("jax", "openvino", "nncf"):
        try:
            out[optional] = md.version(optional)
        except md.PackageNotFoundError:
            pass
    return out


def scratch(prefix):
    """A temporary folder removed when the benchmark exits (exported resnet50 files are 0.5 GB a run)."""
    import atexit
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, True)
    return path


def save(name, title, rows, *, notes="", columns=None):
    """Write `results/<name>.json` and re-render RESULTS.md."""
    os.makedirs(RESULTS_DIR, exist_ok=True)
    record = {
        "name": name, "title": title, "rows": rows, "columns": columns or list(rows[0]) if rows else [],
        "notes": notes,
        "command": "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(), "versions": versions(),
    }
    path = os.path.join(RESULTS_DIR, f"{name}.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=2, default=float)
    os.replace(tmp, path)
    render()
    return record


def _fmt(v):
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.4g}"
    return str(v)


ORDER = ["resnet50_vs_kapp", "export_latency", "pipeline", "accuracy_mlp_mnist", "accuracy_bilstm_imdb",
         "accuracy_transformer_imdb", "accuracy_gru_sst2", "accuracy_forecaster_airline",
         "accuracy_resnet20_cifar10", "resnet20_cifar10_gpu", "compression_mnist", "forecasting"]


def render():
    records = []
    for f in sorted(os.listdir(RESULTS_DIR)):
        if f.endswith(".json"):
            with open(os.path.join(RESULTS_DIR, f)) as fh:
                records.append(json.load(fh))
    records.sort(key=lambda r: (ORDER.index(r["name"]) if r["name"] in ORDER else 99, r["name"]))
    lines = ["# Benchmark results", "",
             "Every figure below was measured by the script named under it, with that exact command; "
             "regenerated from `benchmarks/results/*.json` by `benchmarks/common.py`. Comparisons were "
             "run side by side in one process and are given as ratios. Nothing here is copied from "
             "elsewhere except the columns marked *reference*.", ""]
    for r in records:
        lines += [f"## {r['title']}", ""]
        cols = r["columns"]
        lines.append("| " + " | ".join(cols) + " |")
        lines.append("|" + "---|" * len(cols))
        for row in r["rows"]:
            lines.append("| " + " | ".join(_fmt(row.get(c, "")) for c in cols) + " |")
        lines.append("")
        if r.get("notes"):
            lines += [r["notes"], ""]
        vers = ", ".join(f"{k} {v}" for k, v in r["versions"].items())
        lines += [f"Command: `{r['command']}`  ", f"Date: {r['date']}  ", f"Machine: {r['machine']}  ",
                  f"Versions: {vers}", ""]
    with open(os.path.join(HERE, "RESULTS.md"), "w") as f:
        f.write("\n".join(lines))
    if HERE == os.path.dirname(os.path.abspath(__file__)):
        _readme_headline(records)


_REFERENCES = {
    "accuracy_mlp_mnist": "98.40% (20 epochs)", "accuracy_bilstm_imdb": "84.28% (2 epochs)",
    "accuracy_transformer_imdb": "87.45% (2 epochs)",
    "accuracy_gru_sst2": "-", "accuracy_forecaster_airline": "seasonal naive",
    "accuracy_resnet20_cifar10": "91.25% (182 epochs; CPU budget stops ours short)",
}


def _tables_and_series_headline(by_name):
    """Headline rows of the tabular, forecasting and small-image benchmarks."""
    rows = []
    if "tabular_classification" in by_name:
        part = by_name["tabular_classification"]["rows"]
        worst = min(x["accuracy diff (points)"] for x in part)
        largest = max(sum(int(n.replace(",", "")) for n in x["rows train/val/test"].split("/")) for x in part)
        rows.append(f"| Tables: {len(part)} real classification sets (up to {largest:,} rows), zoo defaults vs "
                    f"HistGradientBoosting accuracy, worst | {worst:+.2f} pts | >= -1 pt |")
    if "tabular_regression" in by_name:
        part = by_name["tabular_regression"]["rows"]
        worst = max(x["RMSE ratio zoo/GBDT"] for x in part)
        rows.append(f"| Tables: {len(part)} real regression sets, zoo RMSE / HistGradientBoosting RMSE, worst | "
                    f"{worst:.2f}x | <= 1.15x |")
    if "forecasting" in by_name and "model / Holt-Winters" in by_name["forecasting"]["rows"][0]:
        part = by_name["forecasting"]["rows"]
        naive = sum(x["model / best naive"] <= 1.0 + 1e-9 for x in part)
        hw = sum(x["model / Holt-Winters"] < 1.0 for x in part)
        rows.append(f"| Forecasting: {len(part)} real series, model at or below the best naive forecast / below "
                    f"Holt-Winters (test RMSE) | {naive} / {hw} of {len(part)} | all / most |")
    if "resnet20_cifar10_gpu" in by_name:
        part = by_name["resnet20_cifar10_gpu"]["rows"]
        rows.append("| ResNet-20 on CIFAR-10 (JPEG copy), 182 epochs on a GPU (the paper's weight decay / 5x) | "
                    + " / ".join(f"{x['test accuracy (TensorFlow, here)']:.2%}" for x in part)
                    + " | 91.25% (He et al. 2016, on the original pixels; this copy is JPEG quality 75) |")
    if "small_images" in by_name:
        on = [x for x in by_name["small_images"]["rows"] if x["precise BN"] == "on"]
        off = [x for x in by_name["small_images"]["rows"] if x["precise BN"] == "off"]
        if on and off:
            rows.append(f"| ResNet-20 on {on[0]['train images']} CIFAR-10 images ({on[0]['classes']}), defaults: "
                        f"exported files with / without precise BN | {on[0]['exported files: min']:.1%}-"
                        f"{on[0]['exported files: max']:.1%} / {off[0]['exported files: min']:.1%}-"
                        f"{off[0]['exported files: max']:.1%} | far above chance (50%) |")
    return rows


def _readme_headline(records):
    """The README's headline table, between `<!-- headline -->` markers."""
    rows = ["| what | measured | reference / target |", "|---|---|---|"]
    by_name = {r["name"]: r for r in records}
    for name, r in by_name.items():
        if name in _REFERENCES:
            first = r["rows"][0]
            if "test accuracy" in first:
                files = [x["test accuracy"] for x in r["rows"][1:]]
                measured = f"{first['test accuracy']:.2%} (exported files {min(files):.2%}-{max(files):.2%})"
            else:
                base = [x for x in r["rows"] if x["artifact"].startswith("seasonal")][0]
                measured = (f"RMSE {first['test RMSE (passengers)']:.1f} vs seasonal naive "
                            f"{base['test RMSE (passengers)']:.1f}")
            epochs = r["notes"].split(" epochs")[0].rsplit(", ", 1)[-1]
            rows.append(f"| {r['title']} ({epochs} epochs) | {measured} | {_REFERENCES[name]} |")
    if "resnet50_vs_kapp" in by_name:
        for x in by_name["resnet50_vs_kapp"]["rows"]:
            if (x["train step"] == "zoo.train step" and not x["model"].startswith("keras")
                    and "unfused" not in x["model"]):  # that row only attributes the gain
                rows.append(f"| {x['model']} training vs keras.applications (CPU) | "
                            f"{x['ratio vs keras.applications']:.2f}x | >= 1.0 |")
    if "export_latency" in by_name:
        lite = {x["runtime"]: x for x in by_name["export_latency"]["rows"]}
        int8 = lite.get("LiteRT int8 (2 threads)")
        if int8:
            rows.append(f"| resnet50 LiteRT int8 / fp32 batch-1 latency | {int8['vs LiteRT fp32']:.2f}x | <= 0.5x |")
        for name, label in (("export_latency", "resnet50"), ("export_latency_resnet20", "ResNet-20"),
                            ("export_latency_transformer_classifier_imdb", "IMDB Transformer")):
            rows_of = by_name.get(name, {}).get("rows", [])
            onnx8 = [x for x in rows_of if x["runtime"].startswith("ONNX Runtime int8, zoo x86 file")]
            if onnx8:
                rows.append(f"| {label} ONNX int8 (x86 file) / fp32 batch-1 latency, 2 threads | "
                            f"{onnx8[0]['vs its fp32 file']:.2f}x | <= 0.35x |")
    if "pipeline" in by_name:
        epochs = [x for x in by_name["pipeline"]["rows"] if isinstance(x.get("epoch"), int)]
        loaded = [x for x in by_name["pipeline"]["rows"] if "load included" in str(x.get("epoch"))]
        if epochs and loaded:
            worst = min(x["zoo vs naive"] for x in epochs)
            rows.append(f"| CIFAR-10 tf.data epochs vs a naive pipeline: each epoch / epoch 1 with zoo's one-time "
                        f"load (check + decode) | {worst:.2f}x / {loaded[0]['zoo vs naive']:.2f}x | >= 1x |")
    if "compression_mnist" in by_name:
        c = {x["variant"]: x for x in by_name["compression_mnist"]["rows"]}
        for variant in ("pruned 90%", "pruned 90% + int8", "int8 (post-training)"):
            if variant in c:
                x = c[variant]
                rows.append(f"| MNIST MLP {variant}: gzipped file / latency / accuracy vs uncompressed | "
                            f"{x['gzipped size vs baseline']:.2f}x / {x['latency vs baseline']:.2f}x / "
                            f"{x['vs baseline (points)']:+.2f} pts | - |")
        pairs = [("all labels", "student distilled", "student alone")]
        for k in c:  # few-label rows: "student distilled, 1,000 labels + unlabeled"
            if k.startswith("student distilled, "):
                what = k.split(", ", 1)[1]
                pairs.append((what, k, "student alone, " + what.replace(" + unlabeled", "")))
        for what, distilled, alone in pairs:
            if distilled in c and alone in c:
                rows.append(f"| MNIST 784-64-10 student ({what}): distilled vs trained alone | "
                            f"{c[distilled]['test accuracy (file)']:.2%} vs "
                            f"{c[alone]['test accuracy (file)']:.2%} | - |")
    rows += _tables_and_series_headline(by_name)
    table = "\n".join(rows)
    path = os.path.join(REPO, "README.md")
    with open(path) as f:
        text = f.read()
    start, end = "<!-- headline -->", "<!-- /headline -->"
    if start not in text:
        return
    before = text.split(start)[0]
    after = text.split(end)[1] if end in text else text.split(start)[1]
    with open(path, "w") as f:
        f.write(before + start + "\n" + table + "\n" + end + after)


from app.bench import count_flops, train_step_runner  # noqa: E402,F401
from zoo.timing import timed  # noqa: E402,F401  (shared with `zoo bench`)
