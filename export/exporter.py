"""`export_model`: one entry point over the format table (`export.formats.FORMATS`)."""

import contextlib
import dataclasses
import os

import numpy as np

from export import card, common
from export import manifest as manifest_lib
from export import publish as publish_lib
from export.common import ExportError
from export.formats import FORMATS, all_quantizations, load_formats
from export.verify import format_table, verify_files
from pipelines import files


def _as_input_dict(signature, model, data):
    """`{input name: array}` (and labels) from an array, a list, a dict or a (x, y) tuple."""
    names = list(signature.input_names)
    labels = None
    if isinstance(data, tuple) and len(data) == 2 and not isinstance(data[0], (int, float)):
        data, labels = data
        labels = None if labels is None else np.asarray(labels)
    if isinstance(data, dict):
        by_model = dict(zip([t.name for t in model.inputs], names))
        data = {by_model.get(k, k): np.asarray(v) for k, v in data.items()}
    elif isinstance(data, (list, tuple)):
        data = dict(zip(names, [np.asarray(v) for v in data]))
    else:
        data = {names[0]: np.asarray(data)}
    missing = set(names) - set(data)
    if missing:
        raise ExportError(f"Inputs {sorted(missing)} are missing; the model takes {names}.")
    specs = dict(zip(names, signature.specs))
    for name, value in data.items():
        want = specs[name].shape[1:]
        if len(value.shape) - 1 != len(want) or any(w is not None and w != v for w, v in zip(want, value.shape[1:])):
            raise ExportError(f"Input {name!r} has shape {value.shape}; the model expects (batch, {tuple(want)}).")
        data[name] = value.astype(specs[name].dtype.as_numpy_dtype)
    return data, labels


def _defaults(formats, quantizations, name):
    """Every registered format, every quantization but int8 (added with calibration data), as tuples."""
    load_formats()
    for what, value in (("formats", formats), ("quantizations", quantizations)):
        if isinstance(value, str):  # "onnx" would read as ('o', 'n', 'n', 'x')
            raise ExportError(f"`{what}` is a list of names, e.g. {what}=({value!r},). Received: {what}={value!r}")
    if quantizations is None:
        quantizations = tuple(q for q in all_quantizations() if q != "int8")
    if formats is None:
        formats = [name for name, fmt in FORMATS.items() if fmt.default]
    return tuple(formats), tuple(quantizations), name


def _check_args(model, formats, quantizations, name, options, max_accuracy_drop):
    common.check_built(model)
    max_pixels = options.get("max_pixels")
    if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1):
        raise ExportError(f"`max_pixels` is a positive integer (pixels an encoded image may declare). Received: "
                          f"max_pixels={max_pixels!r}")
    if isinstance(max_accuracy_drop, bool) or not isinstance(max_accuracy_drop, (int, float)) or \
            not 0 <= max_accuracy_drop <= 100:
        raise ExportError(f"`max_accuracy_drop` is in accuracy points, from 0 to 100. Received: "
                          f"max_accuracy_drop={max_accuracy_drop!r}")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ExportError(f"Unknown export format(s) {unknown}. Allowed: {list(FORMATS)}. "
                          f"Received: formats={list(formats)}")
    for fmt in formats:
        FORMATS[fmt].check_options(options)
    bad = [q for q in quantizations if q not in all_quantizations()]
    if bad:
        raise ExportError(f"Unknown quantization(s) {bad} (the LiteRT and ONNX variants). Allowed: "
                          f"{list(all_quantizations())}.")
    if not name or not all(c.isalnum() or c in "_-." for c in name) or set(name) == {"."}:
        raise ExportError(f"`name` must be letters, digits, '_', '-' or '.'. Received: name={name!r}")


def _plan_quantizations(formats, quantizations, calibration_data):
    """The quantizations to write (int8 added when there is calibration data)."""
    if calibration_data is not None and "int8" not in quantizations:
        quantizations += ("int8",)
    if "int8" in quantizations and calibration_data is None and any("int8" in FORMATS[f].quantizations
                                                                     for f in formats):
        raise ExportError("int8 quantization needs calibration_data (representative inputs, "
                          "e.g. a few hundred training examples).")
    return quantizations


def _check_free(out_dir, name, formats, quantizations, overwrite):
    planned = ["model.keras", "verify_inputs.npz"] + [
        p.path for f in formats if FORMATS[f].publish_when_failed  # the others are versioned (`prepare`)
        for p in FORMATS[f].planned(name, quantizations)]
    existing = [p for p in planned if os.path.exists(os.path.join(out_dir, p))]
    if existing and not overwrite:
        raise ExportError(f"{out_dir!r} already holds {existing}. Choose a new output folder, or pass "
                          "overwrite=True (--overwrite) to replace them.")


def _write_references(model, out_dir, eval_inputs, eval_labels, vectorizer):
    """model.keras, verify_inputs.npz and vocabulary.txt; returns their manifest entries."""
    from zoo.run_folder import save_model

    save_model(model, os.path.join(out_dir, "model.keras"))
    arrays = dict(eval_inputs)
    if eval_labels is not None:
        arrays["__labels__"] = eval_labels
    with files.atomic_path(os.path.join(out_dir, "verify_inputs.npz")) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    if vectorizer is not None:
        files.atomic_write(os.path.join(out_dir, "vocabulary.txt"), "\n".join(vectorizer.get_vocabulary()))
    return {k: {"path": k} for k in ("model.keras", "verify_inputs.npz")}


def _token_length(signature, preprocessing, eval_inputs):
    """Fix the token length of the LiteRT files: the vectorizer's (preprocessing), else that
    of the inputs the files are verified on (else the model's own, from `signature_of`)."""
    if not signature.has_tokens or (preprocessing or {}).get("sequence_length"):
        return signature
    lengths = {v.shape[1] for s, v in zip(signature.specs, eval_inputs.values()) if s.dtype.is_integer}
    if len(lengths) != 1:
        return signature
    return dataclasses.replace(signature, sequence_length=int(lengths.pop()))


def _hash_all(out_dir, *groups):
    for group in groups:
        for entry in group.values():
            entry["sha256"] = manifest_lib.sha256(os.path.join(out_dir, entry["path"]))


def export_model(model, out_dir, *, formats=None, name=None, quantizations=None,
                 calibration_data=None, eval_data=None, class_names=None, preprocessing=None, vectorizer=None,
                 opset=None, version=None, int8_io=False, allow_flex=False, overwrite=False,
                 task=None, max_accuracy_drop=1.0, verbose=True, labels=None, training=None, max_pixels=None,
                 onnx_target="x86"):
    """Export `model` to `formats` under `out_dir`, verify every file, return the report.

    Args:
        model: a built Keras model (mixed-precision models are exported from a float32 copy).
        out_dir: export folder (see the package docstring for the layout).
        formats: any of `export.FORMATS` (`saved_model`, `tflite`, `onnx`; default: all).
        name: model name in paths and TF Serving (default: `model.name`).
        quantizations: among `export.QUANTIZATIONS` (`fp32, fp16, dynamic, int8`; default: all but
            int8), each written by the formats that declare it (int8: LiteRT and ONNX); `int8` is
            added automatically when `calibration_data` is given.
        calibration_data: representative inputs for int8 (array / dict / list).
        eval_data: `(inputs, labels)` or inputs to verify on (default: random inputs); labels add accuracy.
        class_names: the classifier's class names, index-aligned with its output (a list of strings);
            stored in `zoo_export.json` and the ONNX metadata, and returned by the SavedModel as
            `class_names`. (The labels of `eval_data` are its second item.)
        preprocessing: stored in `zoo_export.json` and ONNX metadata.
        vectorizer: a text model's fitted `TextVectorization`: adds `serving_text`, writes `vocabulary.txt`.
        opset: ONNX opset (default `export.onnx.DEFAULT_OPSET`). version: TF Serving version (default: next
            free). int8_io: int8 TFLite input/output. allow_flex: let TFLite use Flex ops (off: builtins only).
        overwrite: replace existing `.tflite`/`.onnx`/`model.keras` files.
        task: the task of a plain Keras model (zoo models record theirs).
        max_accuracy_drop: the accuracy budget, in points: with labelled `eval_data`, a reduced-precision
            file (fp16, dynamic, int8) that loses more fails the export (nothing written), the drop said.
        labels: the earlier name of `class_names` (deprecated). training: the data and recipe it was trained
            with (`zoo.run_folder.read_training(run)`), for the card.
        max_pixels: the most pixels an image sent to `serving_bytes` may declare (default 25 megapixels).
        onnx_target: `"x86"` (default) or `"arm"`: the CPU family the int8 ONNX file is made for.
    """
    labels = _class_names(class_names, labels)
    formats, quantizations, name = _defaults(formats, quantizations, name or getattr(model, "name", None))
    _check_args(model, formats, quantizations, name, {"opset": opset, "max_pixels": max_pixels,
                                                      "onnx_target": onnx_target}, max_accuracy_drop)
    quantizations = _plan_quantizations(formats, quantizations, calibration_data)
    model = common.float32_copy(model)
    signature = common.signature_of(model, name=name, task=task,
                                    sequence_length=(preprocessing or {}).get("sequence_length"),
                                    truncate=(preprocessing or {}).get("truncate", "post"))
    if eval_data is None:
        eval_data = common.sample_inputs(model, batch=8, sequence_length=signature.sequence_length or 16)
    eval_inputs, eval_labels = _as_input_dict(signature, model, eval_data)
    _check_finite("eval_data", eval_inputs)
    signature = _token_length(signature, preprocessing, eval_inputs)
    calibration = _as_input_dict(signature, model, calibration_data)[0] if calibration_data is not None else None
    _check_finite("calibration_data", calibration or {})
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ExportError(f"{out_dir!r} is a file; the export needs a folder. Choose another --out.")
    os.makedirs(out_dir, exist_ok=True)
    with _export_lock(out_dir):  # one export at a time per folder: versions and files cannot race
        publish_lib.complete(out_dir)  # a killed export's publish, finished before anything else
        _remove_stale_temporaries(out_dir)
        _check_free(out_dir, name, formats, quantizations, overwrite)
        options = {"version": version, "preprocessing": preprocessing, "vectorizer": vectorizer, "labels": labels,
                   "warmup_inputs": list(eval_inputs.values()), "quantizations": quantizations,
                   "calibration": calibration, "int8_io": int8_io, "allow_flex": allow_flex, "opset": opset,
                   "max_accuracy_drop": float(max_accuracy_drop), "eval_inputs": eval_inputs,
                   "eval_labels": eval_labels, "training": training, "max_pixels": max_pixels,
                   "onnx_target": onnx_target}
        for fmt in formats:
            FORMATS[fmt].prepare(out_dir, name, options)  # e.g. the SavedModel's free version
        with files.temporary_folder(out_dir, "export") as stage:  # verified here, then published
            report, published = _export_and_verify(model, signature, stage, formats, options, eval_inputs,
                                                   eval_labels, vectorizer, labels, preprocessing)
            _check_budget(report, max_accuracy_drop)
            if not report["passed"]:
                published = _withhold(stage, published, formats)
            card.write(stage, report, folder=os.path.basename(os.path.abspath(out_dir)))  # the manifest as published
            published.insert(published.index(manifest_lib.MANIFEST), card.CARD)
            publish_lib.publish(stage, out_dir, published)
    if verbose:
        print(format_table(report))
        for fmt in formats if not report["passed"] else ():
            if not FORMATS[fmt].publish_when_failed:
                print(f"{FORMATS[fmt].withheld_note or f'The {fmt} files were not published'}: fix the failures "
                      "above and export again.")
    return report


def _class_names(class_names, labels):
    """The class names from `class_names=` (or the deprecated `labels=`), checked: a list of strings."""
    if labels is not None:
        import warnings

        if class_names is not None:
            raise ExportError("Pass the class names once, as class_names= (labels= is its deprecated name).")
        warnings.warn("export_model(labels=...) is deprecated: pass class_names=... (the labels of eval_data "
                      "are its second item).", DeprecationWarning, stacklevel=3)
        class_names = labels
    if class_names is None:
        return None
    if isinstance(class_names, (str, bytes, np.ndarray)) or not isinstance(class_names, (list, tuple)) or not all(
            isinstance(n, str) for n in class_names):
        shown = f"an array of shape {np.shape(class_names)}" if isinstance(class_names, np.ndarray) else repr(class_names)[:80]
        raise ExportError(f"`class_names` is the classifier's class names, a list of strings index-aligned with its "
                          f"output (e.g. ['cat', 'dog']). Received: {shown}. Targets to score the files on go in "
                          "eval_data=(inputs, targets).")
    return list(class_names)


def _lost(row):
    """`(amount, description)` of what a reduced-precision file loses against Keras, in the budget's units
    (accuracy points for classifiers, percent of the RMSE for regressors), or None where nothing is measured."""
    if "accuracy_delta" in row:
        return -100 * row["accuracy_delta"], (f"{row['file']} loses {-100 * row['accuracy_delta']:.2f} points "
                                              f"({row['keras_accuracy']:.4f} -> {row['accuracy']:.4f})")
    if "rmse_increase" in row:
        return 100 * row["rmse_increase"], (f"{row['file']} RMSE +{100 * row['rmse_increase']:.2f}% "
                                            f"({row['keras_rmse']:.4g} -> {row['rmse']:.4g})")
    return None


def _check_budget(report, budget):
    """An `ExportError` naming every reduced-precision file that loses more than `budget`: accuracy points
    (classifiers) or percent of the RMSE (regressors)."""
    losses = [(_lost(r), r) for r in report["results"] if r["quantization"] != "fp32"]
    over = [(lost, r) for lost, r in losses if lost is not None and lost[0] > budget + 1e-9]
    if not over:
        return
    worst = max(lost[0] for lost, _ in over)
    unit = "% of the RMSE" if "rmse_increase" in over[0][1] else " point(s)"
    raise ExportError(f"Accuracy budget exceeded on {report['examples']} labelled examples: "
                      f"{'; '.join(lost[1] for lost, _ in over)}; the budget is {budget:g}{unit}. Nothing was written. "
                      f"Calibrate on more or more representative data (--calibration-size), leave that quantization "
                      f"out (--quantize), or relax the budget (--max-accuracy-drop {np.ceil(worst * 10) / 10:g}).")


def _withhold(stage, paths, formats):
    """A failed verification: every file is published for inspection except those of the formats that
    are not `publish_when_failed` (the SavedModel version, which TF Serving would load); the manifest
    says so."""
    manifest = manifest_lib.read(stage)
    withheld = [key for key, entry in manifest["files"].items() if not FORMATS[entry["format"]].publish_when_failed]
    if not withheld:
        return paths
    for key in withheld:
        entry = manifest["files"].pop(key)
        manifest["skipped"][key] = "not published: verification failed (see report.json)"
        paths = [p for p in paths if p != entry["path"]]
    manifest_lib.write(stage, manifest)
    return paths


def _export_and_verify(model, signature, stage, formats, options, eval_inputs, eval_labels, vectorizer, labels,
                       preprocessing):
    """Write every file into `stage`, verify them there; returns (report, paths to publish)."""
    entries = {}
    for fmt in formats:
        entries.update(FORMATS[fmt].write(model, signature, stage, options))
    references = _write_references(model, stage, eval_inputs, eval_labels, vectorizer)
    _hash_all(stage, entries, references)
    fields = {field: None for fmt in FORMATS.values() for field in fmt.manifest_fields}
    for fmt in formats:
        fields.update(FORMATS[fmt].manifest_update(model, signature))
    manifest = manifest_lib.build(signature, entries=entries, labels=labels, preprocessing=preprocessing,
                                  skipped={}, references=references, **fields)
    manifest["max_accuracy_drop"] = options["max_accuracy_drop"]  # `zoo verify` judges by the same budget
    if options.get("training"):
        manifest["training"] = options["training"]
    report = verify_files(stage, model, eval_inputs, eval_labels, manifest=manifest)
    manifest_lib.write(stage, manifest)
    files.write_json(os.path.join(stage, manifest_lib.REPORT), report)
    paths = [e["path"] for e in list(entries.values()) + list(references.values())]
    paths += [f"{e['bundle']}/{rel}" for e in entries.values() for rel in e.get("assets", {})]  # e.g. web/*.js
    paths += ["vocabulary.txt"] * (vectorizer is not None) + [manifest_lib.REPORT, manifest_lib.MANIFEST]
    return report, paths  # the manifest last: a reader that sees it sees every file


def _check_finite(what, arrays):
    for name, value in arrays.items():
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            rows = np.flatnonzero(~np.isfinite(value.reshape(len(value), -1)).all(axis=1))
            raise ExportError(f"`{what}` input {name!r} has NaN or Inf in {rows.size} example(s), the first at "
                              f"{int(rows[0])}: the files cannot be checked on it. Pass finite data.")


@contextlib.contextmanager
def _export_lock(out_dir):
    """An exclusive lock on the export folder (released when the process ends, even if killed)."""
    import fcntl

    with open(os.path.join(out_dir, ".zoo-export.lock"), "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"Waiting for another zoo export writing to {out_dir} ...", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _remove_stale_temporaries(out_dir):
    """Temporary folders of exports that were killed (their process is gone)."""
    folders = [out_dir] + [os.path.join(out_dir, d) for d in os.listdir(out_dir)
                           if os.path.isdir(os.path.join(out_dir, d))]  # e.g. saved_model/
    folders += [os.path.join(f, d) for f in folders[1:] for d in os.listdir(f)
                if os.path.isdir(os.path.join(f, d))]  # e.g. saved_model/<name>/, where versions are written
    for folder in folders:
        for path in files.stale_temporaries(folder):
            files.remove(path)
