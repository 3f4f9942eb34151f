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
import time

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
    return f"{cpu}{mem}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def versions():
    from export import _versions

    out = _versions()
    try:
        import importlib.metadata as md

        out["jax"] = md.version("jax")
    except Exception:  # jax is optional here
        pass
    return out


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
         "accuracy_resnet20_cifar10"]


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


from zoo.bench import count_flops, timed, train_step_runner  # noqa: E402,F401  (shared with `zoo bench`)
