"""Run every exported file on the same inputs as the Keras model and compare.

Per file: max abs error at batch 1 and at batch > 1 (where the file allows a
batch), argmax agreement (classifiers), accuracy and its delta against Keras
when labels are given, file size and median batch-1 latency.

Pass criteria: float32 files (SavedModel, ONNX, TFLite fp32) within
`FP32_TOL` absolute error; reduced-precision classifier files (fp16, dynamic,
int8, ONNX int8) with labels: an accuracy drop of at most the export's budget
(`max_accuracy_drop` in `zoo_export.json`, in points; default
`MAX_ACCURACY_DROP`), without labels: argmax agreement (`AGREEMENT`);
regressors by error relative to the output scale.
"""

import os
import zipfile

import numpy as np

from export import card, common, cpu
from export import manifest as manifest_lib
from export import publish as publish_lib
from export.formats import FORMATS, runner
from pipelines import files
from zoo import metrics, tasks
from zoo.timing import timed

FP32_TOL = 1e-4
AGREEMENT = {"fp16": 0.98, "dynamic": 0.95, "int8": 0.95}
RELATIVE_TOL = {"fp16": 1e-2, "dynamic": 5e-2, "int8": 1e-1}
MAX_ACCURACY_DROP = 1.0  # points
CHUNK = 256


def _load(entry, out_dir):
    """The entry's runner, or an `ExportError` naming the file that does not load."""
    try:
        return runner(entry, out_dir)
    except common.ExportError:
        raise
    except Exception as err:  # each runtime raises its own types for a corrupt file
        path = os.path.join(out_dir, entry["path"])
        raise common.ExportError(f"{path!r} ({entry['format']}) cannot be loaded: "
                                 f"{' '.join(str(err).split())[:300]}. It is corrupt or truncated: export the "
                                 "model again.") from None


def _slice(inputs, n):
    return {k: v[:n] for k, v in inputs.items()}


def _run_file(entry, out_dir, inputs, batch, n_total):
    """`(outputs at batch 1 for the first `batch` examples, outputs of all, batch sizes run, batch-1 ms)`."""
    run, dynamic_batch = _load(entry, out_dir)
    got = np.concatenate([run(_slice({k: v[i:i + 1] for k, v in inputs.items()}, 1))
                          for i in range(min(batch, n_total))], axis=0)
    full = np.concatenate([run({k: v[i:i + CHUNK] for k, v in inputs.items()})
                           for i in range(0, n_total, CHUNK)]) if dynamic_batch else np.concatenate(
        [got] + [run({k: v[i:i + 1] for k, v in inputs.items()}) for i in range(len(got), n_total)])
    return got, full, [1, n_total] if dynamic_batch else [1], timed(lambda: run(_slice(inputs, 1)), 20) * 1000


def verify_files(out_dir, model, inputs, labels=None, *, manifest=None, batch=8, emulated=None):
    """Check each file in `manifest["files"]`; returns the report dict, with the CPU it ran on (`cpu`).

    `emulated`: `(cpu class, {key: outputs})` from `export.cpu.run_as`: those files are judged on the
    outputs an emulated host of that class gave (no latency: emulation is not the host's speed)."""
    manifest = manifest or manifest_lib.read(out_dir)
    task = tasks.get(manifest["task"])
    budget = manifest.get("max_accuracy_drop", MAX_ACCURACY_DROP) / 100
    names = [i["name"] for i in manifest["inputs"]]
    ordered = [inputs[n] for n in names]
    reference = common.predict_in_chunks(model, ordered, CHUNK)
    n_total = len(ordered[0])
    batch = min(batch, n_total)
    rows = []
    # Tables: the metrics people read on every file (and Keras), next to the baseline.
    tabular = labels is not None and task.kind in ("classification", "regression") and \
        (manifest.get("preprocessing") or {}).get("type") == "tabular"
    cpu_class, outputs = emulated or (None, None)
    for key, entry in manifest["files"].items():
        if outputs is not None:  # as the emulated host answered (every batch size goes through one kernel)
            full = np.asarray(outputs[key], "float32")
            got, sizes, latency = full[:batch], [n_total], None
        else:
            got, full, sizes, latency = _run_file(entry, out_dir, inputs, batch, n_total)
        err_b1 = float(np.abs(got - reference[:len(got)]).max())
        full = np.asarray(full, "float32")
        err_bn = float(np.abs(full - reference).max())
        row = {"file": key, "format": entry["format"], "quantization": entry.get("quantization", "fp32"),
               "size_bytes": FORMATS[entry["format"]].size(entry, out_dir),
               "max_abs_err_batch1": err_b1, "max_abs_err_batchN": err_bn,
               "batch_sizes": sizes, "latency_ms_batch1": latency,
               **({"interpreter_options": entry["interpreter_options"]} if entry.get("interpreter_options") else {})}
        if task.kind in ("classification", "seq2seq"):
            row["agreement"] = float(np.mean(full.argmax(-1) == reference.argmax(-1)))
            if labels is not None and task.kind == "classification":
                row["accuracy"] = float(np.mean(full.argmax(-1) == labels))
                row["keras_accuracy"] = float(np.mean(reference.argmax(-1) == labels))
                row["accuracy_delta"] = row["accuracy"] - row["keras_accuracy"]
        elif labels is not None and np.size(labels) == full.size:  # regression / forecasting (model units)
            target = np.asarray(labels, "float32").reshape(full.shape)
            row["rmse"] = float(np.sqrt(np.mean((full - target) ** 2)))
            row["keras_rmse"] = float(np.sqrt(np.mean((reference - target) ** 2)))
            if common.has_budget(task):
                row["rmse_increase"] = common.budget_loss(task, labels, reference, full)
        if tabular:
            row["metrics"] = metrics.score(task.kind, labels, full)
        row["criterion"], row["passed"] = _criterion(row, task, manifest, reference, budget)
        rows.append(row)
    report = {"model": manifest["name"], "examples": n_total, "labels_given": labels is not None,
              "results": rows, "passed": all(r["passed"] for r in rows),
              "cpu": cpu.emulated(cpu_class) if cpu_class else cpu.host()}
    if tabular:
        report["keras_metrics"] = metrics.score(task.kind, labels, reference)
        found = metrics.baseline(task.kind, labels, manifest.get("preprocessing"), reference.shape[-1])
        if found:
            report["baseline"] = {"name": found[0], **found[1]}
    return report


def _criterion(row, task, manifest, reference, budget):
    """`(criterion, passed)` of one file's row: float32 files by their error against Keras, reduced-precision
    files by the accuracy budget (labels), agreement (no labels) or error relative to the output scale."""
    quant, err = row["quantization"], max(row["max_abs_err_batch1"], row["max_abs_err_batchN"])
    units = task.kind == "regression" or (manifest.get("preprocessing") or {}).get("units") == "series"
    if quant == "fp32" and units:  # outputs in target or series units: float32's relative precision
        scale = float(np.abs(reference).max()) + 1.0
        return f"max_abs_err <= {FP32_TOL} x (1 + max|y|)", err <= FP32_TOL * scale
    if quant == "fp32":
        return f"max_abs_err <= {FP32_TOL}", err <= FP32_TOL
    if "rmse_increase" in row:  # tabular regression with labels: the budget, in percent of the RMSE
        return f"RMSE increase <= {100 * budget:g}%", row["rmse_increase"] <= budget + 1e-9
    if task.kind in ("classification", "seq2seq"):
        # With labels, the accuracy budget is the contract (what --max-accuracy-drop sets); without
        # them, agreement with the Keras model stands in for it.
        if "accuracy" in row:
            return f"accuracy drop <= {100 * budget:g} points", row["accuracy_delta"] >= -budget - 1e-9
        return f"agreement >= {AGREEMENT[quant]}", row["agreement"] >= AGREEMENT[quant]
    scale = float(np.abs(reference).max()) + 1.0
    return f"max_abs_err <= {RELATIVE_TOL[quant]} x (1 + max|y|)", err <= RELATIVE_TOL[quant] * scale


def format_table(report):
    scored = "rmse" if report["results"] and "rmse" in report["results"][0] else "acc"
    header = f"{'file':<34} {'size':>9} {'max|err| b1':>12} {'max|err| bN':>12} {'agree':>7} {scored:>7} {'drop':>6} {'ms b1':>8}  ok"
    lines = [f"Verification of {report['model']} on {report['examples']} examples", header, "-" * len(header)]
    for r in report["results"]:
        size = f"{r['size_bytes'] / 1e6:.2f}MB" if r["size_bytes"] >= 1e5 else f"{r['size_bytes'] / 1e3:.1f}KB"
        agree = f"{r['agreement']:.3f}" if "agreement" in r else "-"
        acc = f"{r['accuracy']:.3f}" if "accuracy" in r else f"{r['rmse']:.4f}" if "rmse" in r else "-"
        drop = (f"{-100 * r['accuracy_delta']:.2f}" if "accuracy_delta" in r  # accuracy points lost
                else f"{100 * r['rmse_increase']:.2f}%" if "rmse_increase" in r else "-")  # RMSE gained
        lines.append(f"{r['file']:<34} {size:>9} {r['max_abs_err_batch1']:>12.2e} {r['max_abs_err_batchN']:>12.2e} "
                     f"{agree:>7} {acc:>7} {drop:>6} {card.format_ms(r['latency_ms_batch1']):>8}  "
                     f"{'yes' if r['passed'] else 'NO'}")
    if report["results"] and "keras_accuracy" in report["results"][0]:
        lines.append(f"Keras model accuracy on the same examples: {report['results'][0]['keras_accuracy']:.4f}")
    if report["results"] and "keras_rmse" in report["results"][0]:
        lines.append(f"Keras model RMSE (model output units) on the same examples: "
                     f"{report['results'][0]['keras_rmse']:.4f}")
    if "keras_metrics" in report:  # tables: the metrics people read, next to the baseline
        rows = [("keras", report["keras_metrics"])] + [(r["file"], r["metrics"]) for r in report["results"]]
        if "baseline" in report:
            rows.append((report["baseline"]["name"], {k: v for k, v in report["baseline"].items() if k != "name"}))
        lines.append(metrics.table(rows, f"{report['examples']:,} labelled examples"))
    for r in report["results"]:  # run with options other than the runtime's defaults: say which
        if r.get("interpreter_options"):
            lines.append(f"note: {r['file']} was run with {r['interpreter_options']} (not the runtime's "
                         "default options; the manifest and MODEL_CARD.md say why)")
    if report.get("cpu"):
        lines.append(("Emulated CPU: " if report["cpu"].get("emulated") else "CPU: ") + cpu.describe(report["cpu"]))
    if report.get("cpu_note"):
        lines.append("note: " + report["cpu_note"])
    if report.get("not_emulated"):
        lines.append(f"not run under emulation (their runtimes are not emulated): {', '.join(report['not_emulated'])}")
    lines.append("all files passed" if report["passed"] else "SOME FILES FAILED their criterion")
    return "\n".join(lines)


def cpu_note(exported_on, here):
    """What `zoo verify` says when the export was verified on a CPU of another int8 class (None if the same
    class, or the export did not record its CPU)."""
    if not exported_on or cpu.same_class(exported_on, here):
        return None
    host = "the emulated host is" if here.get("emulated") else "this host is"
    return (f"the export was verified on {cpu.describe(exported_on)}; {host} {cpu.describe(here)}. Integer "
            "kernels differ between these classes, so every file, its int8 budget included, was checked again "
            "on it (the results above).")


def verify_export(out_dir, *, verbose=True, emulate=None):
    """Re-run the verification of an export folder against its `model.keras`.

    A file (or `model.keras`, `verify_inputs.npz`) whose SHA-256 differs from
    the one recorded at export fails the report, named in `changed_since_export`.
    On a host whose CPU is of another int8 class than the export's (`export.cpu`),
    the report says so (`cpu_note`): its results are this host's.

    `emulate="avx2"`: run the ONNX, LiteRT and OpenVINO files as an AVX2-only host
    would (`export.cpu.run_as`) and judge them by the same criteria; the other
    files are left out, and the export's `report.json` and card are left as they are.
    """
    if publish_lib.complete(out_dir):
        print(f"Completed the publish of an export that was killed while moving its files into {out_dir}.")
    manifest = manifest_lib.read(out_dir)
    listed = list(manifest["files"].values()) + list(manifest.get("references", {}).values())
    missing = [e["path"] for e in listed if not os.path.exists(os.path.join(out_dir, e["path"]))]
    if missing:
        raise common.ExportError(f"Files listed in {os.path.join(out_dir, manifest_lib.MANIFEST)} are missing: "
                                 f"{missing}. Export the model again.")
    missing_emulator = emulate and cpu.emulation_missing(emulate, {e["format"] for e in manifest["files"].values()})
    if missing_emulator:
        raise common.ExportError(f"zoo verify --emulate-cpu {emulate}: {missing_emulator}")
    changed = manifest_lib.changed_files(out_dir, manifest)
    entries = {**manifest.get("references", {}), **manifest["files"]}
    named = ", ".join(f"{os.path.join(out_dir, entries[k]['path'])} ({k})" for k in changed)
    try:
        report = _verify_against_keras(out_dir, manifest, emulate)
    except ValueError as err:  # ExportError, and the loaders' own ValueErrors
        if not changed:
            raise
        # A file that no longer loads: say which files differ from the export, not only the one that broke.
        raise common.ExportError(f"{err} Changed since export (sha256 differs): {named}.") from None
    report["changed_since_export"] = changed
    report["passed"] = report["passed"] and not changed
    note = cpu_note(manifest.get("verified_on"), report["cpu"])
    if note:
        report["cpu_note"] = note
    if emulate is None:
        files.write_json(os.path.join(out_dir, manifest_lib.REPORT), report)
        card.write(out_dir, report, manifest)  # the card's figures are the report's
    if verbose:
        print(format_table(report))
        if changed:
            print("FAILED: changed since export (sha256 differs): " + named)
    return report


def _verify_against_keras(out_dir, manifest, emulate=None):
    """`verify_files` on the export's own `model.keras` and `verify_inputs.npz` (with `emulate`, on the files
    an emulated host of that class can run, as it runs them)."""
    from zoo.registry import load_model

    model = load_model(os.path.join(out_dir, "model.keras"))
    inputs_path = os.path.join(out_dir, "verify_inputs.npz")
    try:
        with np.load(inputs_path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise common.ExportError(f"{inputs_path!r} (the inputs every file is checked on) cannot be read "
                                 f"({type(err).__name__}: {err}): it was damaged after the export. Export the model "
                                 "again (zoo export ... --overwrite).") from None
    labels = arrays.pop("__labels__", None)
    if emulate is None:
        return verify_files(out_dir, model, arrays, labels, manifest=manifest)
    runnable = {k: e for k, e in manifest["files"].items() if e["format"] in cpu.EMULATED_FORMATS}
    if not runnable:
        raise common.ExportError(f"{out_dir!r} has no file an emulated {emulate} host can run (formats "
                                 f"{list(cpu.EMULATED_FORMATS)}).")
    outputs = cpu.run_as(emulate, out_dir, runnable, arrays)
    report = verify_files(out_dir, model, arrays, labels, manifest={**manifest, "files": runnable},
                          emulated=(emulate, outputs))
    report["not_emulated"] = [k for k in manifest["files"] if k not in runnable]
    return report
