"""Export zoo models to SavedModel (TF Serving), TFLite/LiteRT and ONNX, and
verify every file against the Keras model.

Example:

```python
import zoo
from export import export_model, verify
model = zoo.mlp_tiny()
report = export_model(model, "exports/mlp", formats=("saved_model", "tflite", "onnx"))
report["passed"]                          # every file matched Keras
verify("exports/mlp")["passed"]           # re-checks later
```

Layout of `out_dir`:

    saved_model/<name>/<version>/     TF Serving model base path: saved_model/<name>
    <name>.<fp32|fp16|dynamic|int8>.tflite
    <name>.onnx
    model.keras                       the reference the files are checked against
    verify_inputs.npz                 the verification inputs (and labels)
    vocabulary.txt                    token ids of text models
    zoo_export.json                   name, input spec, preprocessing, labels, versions, files
    report.json                       the last verification
"""

import datetime
import hashlib
import os

import keras
import numpy as np

from export import common, verify as _verify
from export import onnx as onnx_format
from export import saved_model as sm_format
from export import tflite as tflite_format
from export.common import ExportError

FORMATS = ("saved_model", "tflite", "onnx")
__all__ = ["FORMATS", "ExportError", "export_model", "verify", "QUANTIZATIONS"]
QUANTIZATIONS = tflite_format.QUANTIZATIONS


def _versions():
    import importlib.metadata as md

    out = {}
    for pkg in ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "ai-edge-litert", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    import zoo

    out["zoo"] = zoo.__version__
    return out


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _as_input_dict(model, data):
    """`{input name: array}` from an array, a list, a dict or a (x, y) tuple."""
    names = common.input_names(model)
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
    specs = dict(zip(names, common.input_specs(model)))
    for name, value in data.items():
        want = specs[name].shape[1:]
        if len(value.shape) - 1 != len(want) or any(w is not None and w != v for w, v in zip(want, value.shape[1:])):
            raise ExportError(f"Input {name!r} has shape {value.shape}; the model expects (batch, {tuple(want)}).")
        data[name] = value.astype(specs[name].dtype.as_numpy_dtype)
    return data, labels


def export_model(model, out_dir, *, formats=FORMATS, name=None, quantizations=("fp32", "fp16", "dynamic"),
                 calibration_data=None, eval_data=None, labels=None, preprocessing=None, vectorizer=None,
                 opset=onnx_format.DEFAULT_OPSET, version=None, int8_io=False, allow_flex=False,
                 overwrite=False, verbose=True):
    """Export `model` to `formats` under `out_dir`, verify every file, return the report.

    Args:
        model: a built Keras model (mixed-precision models are exported
            from a float32 copy).
        out_dir: export folder (see the module docstring for the layout).
        formats: any of `("saved_model", "tflite", "onnx")`.
        name: model name in paths and TF Serving (default: `model.name`).
        quantizations: TFLite variants among `fp32, fp16, dynamic, int8`;
            `int8` is added automatically when `calibration_data` is given.
        calibration_data: representative inputs for int8 (array / dict / list).
        eval_data: `(inputs, labels)` or inputs to verify on (default: random
            inputs of the right spec); labels add accuracy and its delta.
        labels, preprocessing: stored in `zoo_export.json` and ONNX metadata.
        vectorizer: the fitted `TextVectorization` of a text model; adds a
            `serving_text` signature and writes `vocabulary.txt`.
        opset: ONNX opset.
        version: TF Serving version (default: next free integer).
        int8_io: int8 input/output tensors for the int8 TFLite file.
        allow_flex: let TFLite fall back to Flex (TF) ops (off: builtins only).
        overwrite: replace existing `.tflite`/`.onnx`/`model.keras` files.
    """
    common.check_built(model)
    formats = tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ExportError(f"Unknown export format(s) {unknown}. Allowed: {list(FORMATS)}. "
                          f"Received: formats={list(formats)}")
    quantizations = tuple(quantizations)
    bad = [q for q in quantizations if q not in QUANTIZATIONS]
    if bad:
        raise ExportError(f"Unknown TFLite quantization(s) {bad}. Allowed: {list(QUANTIZATIONS)}.")
    skipped = {}
    recurrent = common.has_recurrent_layers(model)
    if "int8" in quantizations and recurrent and "tflite" in formats:
        raise ExportError(
            "Full-integer int8 TFLite of LSTM/GRU models is not supported: the TFLite calibrator "
            "crashes on their WHILE loops (TF 2.21). Use quantizations=('dynamic',) (int8 weights, "
            "float activations) or fp16.")
    if calibration_data is not None and "int8" not in quantizations:
        if recurrent:
            skipped["tflite_int8"] = "recurrent model: full-integer int8 unsupported; use dynamic"
        else:
            quantizations += ("int8",)
    if "int8" in quantizations and calibration_data is None and "tflite" in formats:
        raise ExportError("int8 quantization needs calibration_data (representative inputs, "
                          "e.g. a few hundred training examples).")
    name = name or model.name
    if not name or not all(c.isalnum() or c in "_-." for c in name):
        raise ExportError(f"`name` must be letters, digits, '_', '-' or '.'. Received: name={name!r}")
    model = common.float32_copy(model)
    task = common.task_of(model)

    # Inputs to verify on, and calibration inputs, as {input name: array}.
    if eval_data is None:
        eval_inputs, eval_labels = dict(zip(common.input_names(model), common.sample_inputs(model, batch=8))), None
    else:
        eval_inputs, eval_labels = _as_input_dict(model, eval_data)
    calibration = _as_input_dict(model, calibration_data)[0] if calibration_data is not None else None

    os.makedirs(out_dir, exist_ok=True)
    planned = ["model.keras"] + (["verify_inputs.npz"])
    if "tflite" in formats:
        planned += [f"{name}.{q}.tflite" for q in quantizations]
    if "onnx" in formats:
        planned.append(f"{name}.onnx")
    existing = [p for p in planned if os.path.exists(os.path.join(out_dir, p))]
    if existing and not overwrite:
        raise ExportError(f"{out_dir!r} already holds {existing}. Choose a new output folder, or pass "
                          "overwrite=True (--overwrite) to replace them.")

    token_length = None
    for spec, value in zip(common.input_specs(model), eval_inputs.values()):
        if spec.dtype.is_integer:
            token_length = value.shape[1]
    files = {}
    if "saved_model" in formats:
        path = sm_format.export_saved_model(
            model, os.path.join(out_dir, "saved_model"), name=name, version=version,
            preprocessing=preprocessing, vectorizer=vectorizer,
            warmup_inputs=list(eval_inputs.values()))
        files["saved_model"] = {"format": "saved_model", "path": os.path.relpath(path, out_dir),
                                "output": common.output_name(model),
                                "signatures": sm_signatures(path)}
    if "tflite" in formats:
        for q in quantizations:
            rep = None if calibration is None else [calibration[n] for n in common.input_names(model)]
            flat = tflite_format.convert(model, quantization=q, representative_inputs=rep, int8_io=int8_io,
                                         allow_flex=allow_flex, sequence_length=token_length)
            rel = f"{name}.{q}.tflite"
            common.atomic_write(os.path.join(out_dir, rel), flat)
            files[f"tflite_{q}"] = {"format": "tflite", "quantization": q, "path": rel,
                                    "ops": tflite_format.op_names(flat)}
    if "onnx" in formats:
        metadata = {"name": name, "task": task, "labels": labels or [], "preprocessing": preprocessing or {}}
        data = onnx_format.convert(model, opset=opset, metadata=metadata)
        rel = f"{name}.onnx"
        common.atomic_write(os.path.join(out_dir, rel), data)
        files["onnx"] = {"format": "onnx", "path": rel, "opset": opset}
    for entry in files.values():
        full = os.path.join(out_dir, entry["path"])
        if os.path.isfile(full):
            entry["sha256"] = _sha256(full)

    from zoo.train import atomic_save_model

    atomic_save_model(model, os.path.join(out_dir, "model.keras"))
    arrays = dict(eval_inputs)
    if eval_labels is not None:
        arrays["__labels__"] = eval_labels
    tmp = os.path.join(out_dir, ".tmp-verify_inputs.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, os.path.join(out_dir, "verify_inputs.npz"))
    if vectorizer is not None:
        common.atomic_write(os.path.join(out_dir, "vocabulary.txt"),
                            "\n".join(vectorizer.get_vocabulary()).encode())
    manifest = {
        "name": name, "task": task,
        "inputs": [{"name": s.name, "shape": [None if d is None else int(d) for d in s.shape],
                    "dtype": s.dtype.name} for s in common.input_specs(model)],
        "output": common.output_name(model),
        "tflite_inputs": [{"name": s.name, "shape": [None if d is None else int(d) for d in s.shape]}
                          for s in tflite_format.tflite_specs(model, token_length)] if "tflite" in formats else None,
        "labels": labels, "preprocessing": preprocessing or {},
        "files": files, "skipped": skipped, "versions": _versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    common.write_json(os.path.join(out_dir, "zoo_export.json"), manifest)
    report = _verify.verify_files(out_dir, model, eval_inputs, eval_labels, manifest=manifest)
    common.write_json(os.path.join(out_dir, "report.json"), report)
    if verbose:
        print(_verify.format_table(report))
    return report


def sm_signatures(path):
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    return {k: {"inputs": sorted(f.structured_input_signature[1]), "outputs": sorted(f.structured_outputs)}
            for k, f in loaded.signatures.items()}


def verify(out_dir, *, verbose=True):
    """Re-run the verification of an export folder against its `model.keras`."""
    manifest_path = os.path.join(out_dir, "zoo_export.json")
    if not os.path.exists(manifest_path):
        raise ExportError(f"{out_dir!r} is not a zoo export folder (no zoo_export.json).")
    import json

    manifest = json.load(open(manifest_path))
    missing = [e["path"] for e in manifest["files"].values() if not os.path.exists(os.path.join(out_dir, e["path"]))]
    if missing:
        raise ExportError(f"Files listed in {manifest_path} are missing: {missing}.")
    changed = [k for k, e in manifest["files"].items()
               if "sha256" in e and _sha256(os.path.join(out_dir, e["path"])) != e["sha256"]]
    model = keras.saving.load_model(os.path.join(out_dir, "model.keras"))
    with np.load(os.path.join(out_dir, "verify_inputs.npz")) as f:
        arrays = {k: f[k] for k in f.files}
    labels = arrays.pop("__labels__", None)
    report = _verify.verify_files(out_dir, model, arrays, labels, manifest=manifest)
    report["changed_since_export"] = changed
    common.write_json(os.path.join(out_dir, "report.json"), report)
    if verbose:
        print(_verify.format_table(report))
        if changed:
            print(f"note: {changed} changed since export (sha256 differs)")
    return report
