"""`MODEL_CARD.md`: what a person reads in an export folder, written from `zoo_export.json` and
`report.json` (the export writes it, `zoo verify` rewrites it with its new report): the model and
task, the data and recipe it was trained with, every file's measured metrics, size and batch-1
latency, each file's inputs and outputs, how to run each file, and the checksums.
"""

import os

from export import cpu
from export import manifest as manifest_lib
from export.formats import FORMATS, load_formats
from pipelines import files

CARD = "MODEL_CARD.md"


def _size(n):
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} KB"


def _quality(row):
    """The file's headline figure, as the report holds it."""
    if "accuracy" in row:
        return f"accuracy {row['accuracy']:.4f}"
    if "rmse" in row:
        return f"RMSE {row['rmse']:.4g}"
    if "agreement" in row:
        return f"agreement {row['agreement']:.4f}"
    return f"max abs err {row['max_abs_err_batchN']:.2e}"


def _results(report):
    where = f" on {cpu.describe(report['cpu'])}" if report.get("cpu") else ""
    lines = [f"Measured on {report['examples']:,} held-out examples{where} (`report.json`):", "",
             "| file | format | quantization | size | quality | max abs error vs Keras | batch-1 ms | passed |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in report["results"]:
        lines.append(f"| `{row['file']}` | {row['format']} | {row['quantization']} | {_size(row['size_bytes'])} | "
                     f"{_quality(row)} | {row['max_abs_err_batchN']:.2e} | {format_ms(row['latency_ms_batch1'])} | "
                     f"{'yes' if row['passed'] else 'NO'} |")
    if report.get("cpu_note"):
        lines += ["", f"Note: {report['cpu_note']}"]
    if "keras_accuracy" in (report["results"] or [{}])[0]:
        lines += ["", f"The Keras model on the same examples: accuracy {report['results'][0]['keras_accuracy']:.4f}."]
    elif "keras_rmse" in (report["results"] or [{}])[0]:
        lines += ["", f"The Keras model on the same examples: RMSE {report['results'][0]['keras_rmse']:.4g}."]
    return lines


def _seven_bit(manifest, folder):
    """The files whose int8 weights stay within 7 bits (ONNX x86 target, OpenVINO's overflow fix): they compute
    the same on x86 CPUs without VNNI."""
    keys = [k for k, e in manifest["files"].items()
            if e.get("reduce_range") or str(e.get("int8", "")).startswith("overflow_fix")]
    if not keys:
        return []
    verb = "keeps its" if len(keys) == 1 else "keep their"
    return ["", f"{', '.join(f'`{k}`' for k in keys)} {verb} int8 weights within 7 bits, so x86 CPUs without VNNI "
            f"(AVX2 only) compute what this CPU computed; `zoo verify {folder} --emulate-cpu avx2` runs the files as "
            "such a host would."]


def format_ms(latency):
    """A batch-1 latency for the tables (`-` where none was measured: an emulated host)."""
    return "-" if latency is None else f"{latency:.3f}"


def _training(manifest):
    training = manifest.get("training") or {}
    data, config = training.get("data") or {}, training.get("config") or {}
    lines = []
    if data:
        sizes = ", ".join(f"{k} {v:,}" for k, v in (data.get("sizes") or {}).items())
        lines.append(f"- Data: `{data.get('name')}` ({data.get('task')}; {sizes})")
        if data.get("source"):
            lines.append(f"- Source: `{data['source']}`")
        if data.get("labels"):
            shown = ", ".join(data["labels"][:20]) + (" ..." if len(data["labels"]) > 20 else "")
            lines.append(f"- Classes ({len(data['labels'])}): {shown}")
    if config:
        keys = ("epochs", "batch_size", "optimizer", "learning_rate", "weight_decay", "schedule", "warmup_epochs",
                "label_smoothing", "mixed_precision", "early_stopping_patience", "precise_bn_examples", "seed")
        lines.append("- Recipe: " + ", ".join(f"{k} {config[k]}" for k in keys if k in config))
    if training.get("command"):
        lines.append(f"- Command: `{training['command']}`")
    return lines or ["Not recorded (exported from a model, not from a `zoo train` run folder)."]


def _signature(manifest):
    lines = ["| file | inputs | output | preprocessing |", "| --- | --- | --- | --- |"]
    inputs = ", ".join(f"`{i['name']}` {i['dtype']} {tuple(i['shape'])}" for i in manifest["inputs"])
    pre = (manifest.get("preprocessing") or {}).get("type", "none")
    for key, entry in manifest["files"].items():
        shown = inputs
        if entry["format"] == "tflite" and manifest.get("tflite_inputs"):
            shown = ", ".join(f"`{i['name']}` {tuple(i['shape'])}" for i in manifest["tflite_inputs"])
        inside = FORMATS[entry["format"]].raw_inputs(entry) if entry["format"] in FORMATS else None
        lines.append(f"| `{key}` | {shown} | `{manifest['output']}` | {pre} "
                     f"{'inside (' + inside + ')' if inside else 'outside: apply it first (`zoo predict` does)'} |")
    return lines


def render(manifest, report, folder="EXPORT"):
    """The card's Markdown."""
    load_formats()
    name, task = manifest["name"], manifest["task"]
    lines = [f"# {name}", "", f"A {task.replace('_', ' ')} model exported by zoo on {manifest.get('created', '?')}; "
             f"every file below was checked against the Keras model (`zoo verify {folder}` checks again).", "",
             "## Training", "", *_training(manifest), "", "## Files and measured results", "", *_results(report),
             *_seven_bit(manifest, folder), "", "## Inputs and outputs", "", *_signature(manifest), ""]
    if manifest.get("labels"):
        lines += [f"Output classes, in order: {', '.join(manifest['labels'])}.", ""]
    lines += ["## Use it", "", "Any file, with the training preprocessing applied for you:", "", "```",
              f"zoo predict {folder} INPUT...            # the fastest verified file",
              f"zoo predict {folder} INPUT... --runtime {next(iter(manifest['files']), 'keras')}", "```", ""]
    by_format = {}
    for key, entry in manifest["files"].items():
        by_format.setdefault(entry["format"], []).append((key, entry))
    for fmt_name, entries in by_format.items():  # one snippet per format; its other files run the same way
        fmt = FORMATS.get(fmt_name)
        usage = fmt.usage(entries[0][1], manifest, folder) if fmt else None
        if usage:
            others = [f"`{e['path']}`" for _, e in entries[1:]]
            lines += [f"`{entries[0][0]}`" + (f" (the same for {', '.join(others)}):" if others else ":"), "",
                      usage.rstrip(), ""]
        for key, entry in entries:  # a file the runtime's default options refuse or change: the option it needs
            if entry.get("interpreter_options"):
                options = ", ".join(f"{k}={v}" for k, v in entry["interpreter_options"].items())
                lines += [f"`{key}` needs `{options}`; with the runtime's defaults: "
                          f"{entry.get('default_interpreter_error', '?')}.", ""]
    lines += ["## Checksums (SHA-256)", "", "| file | sha256 |", "| --- | --- |"]
    for entry in list(manifest["files"].values()) + list((manifest.get("references") or {}).values()):
        lines.append(f"| `{entry['path']}` | `{entry.get('sha256', '-')}` |")
        for rel, digest in (entry.get("assets") or {}).items():  # a bundle's other files (web page, IR weights)
            lines.append(f"| `{entry['bundle']}/{rel}` | `{digest}` |")
    versions = manifest.get("versions") or {}
    if versions:
        lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + "."]
    return "\n".join(lines) + "\n"


def write(out_dir, report, manifest=None, folder=None):
    """Write `MODEL_CARD.md` into `out_dir` (atomically) from its manifest and `report`; `folder` is the
    export folder's name in the card's commands (default: `out_dir`'s)."""
    manifest = manifest or manifest_lib.read(out_dir)
    folder = folder or os.path.basename(os.path.abspath(out_dir))
    files.atomic_write(os.path.join(out_dir, CARD), render(manifest, report, folder))
