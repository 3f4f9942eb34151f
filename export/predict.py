"""Predict with what you trained or exported: `Predictor(source)` reads raw inputs (image files, text,
table rows, a series) and answers in the user's terms (class names and probabilities, target units,
series units), through any runtime.

`source` is an export folder (`zoo export`: its `zoo_export.json` says how inputs were preprocessed;
default runtime: the fastest file that passed verification, from `report.json`), a `zoo train` run
folder (its `model.keras` and `data.json`), or one file: a `.keras` model, a SavedModel version folder,
a `.tflite` or `.onnx` file inside an export folder (both also carry the metadata themselves: a lone file works).
Every runtime runs through the formats' own runners (`export.formats`), the code that verified the
files, after the same preprocessing the training data had.

```python
from export import Predictor
p = Predictor("exports/digits")                       # the fastest verified file
p.predict(["seven.png"], top_k=3)                     # [{"input": "seven.png", "classes": [("7", 0.98), ...]}]
Predictor("exports/reviews", runtime="onnx").predict(["A moving, funny film."])
Predictor("runs/airline").predict(["airline-passengers.csv"])   # the next H values, in passengers
```
"""

import glob
import json
import os

import numpy as np

from export import common
from export import manifest as manifest_lib
from export import publish as publish_lib
from export.formats import FORMATS, load_formats

KERAS = "keras"  # the runtime name of the Keras model (a run folder's, or an export's model.keras)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".csv.gz", ".tsv.gz", ".jsonl.gz")


class PredictError(ValueError):
    """A source or an input that cannot be predicted on; the message names it and the fix."""


# --------------------------------------------------------------------------
# Opening a source: (metadata, runner)


def _export_folder(path):
    """The export folder `path` is in (itself, or up to three levels above: saved_model/NAME/VERSION), or None."""
    folder = os.path.abspath(path if os.path.isdir(path) else os.path.dirname(path))
    for _ in range(4):
        if os.path.exists(os.path.join(folder, manifest_lib.MANIFEST)):
            return folder
        folder = os.path.dirname(folder)
    return None


def _fastest(folder, manifest):
    """The manifest key of the fastest file that passed verification (`report.json`'s batch-1 latency)."""
    try:
        with open(os.path.join(folder, manifest_lib.REPORT)) as f:
            rows = json.load(f)["results"]
    except (OSError, ValueError, KeyError):
        rows = []
    passed = [r for r in rows if r.get("passed") and r.get("file") in manifest["files"]]
    if passed:
        return min(passed, key=lambda r: r.get("latency_ms_batch1", float("inf")))["file"]
    return next(iter(manifest["files"]), KERAS)


def _keras_runner(model):
    names = common.input_names(model)

    def run(inputs):
        return common.predict_in_chunks(model, [inputs[n] for n in names])
    return run, True


def _meta(task, labels, preprocessing, inputs, output, folder=None, vectorizer=None):
    return {"task": task, "labels": labels, "preprocessing": preprocessing or {}, "inputs": inputs,
            "output": output, "folder": folder, "vectorizer": vectorizer}


def _open_export(folder, runtime, file_path=None):
    publish_lib.complete(folder)  # an export killed while publishing: its files, as a whole
    manifest = manifest_lib.read(folder)
    meta = _meta(manifest["task"], manifest.get("labels"), manifest.get("preprocessing"), manifest["inputs"],
                 manifest["output"], folder)
    if file_path is not None:  # one file of the export: the entry whose path it is
        rel = os.path.relpath(os.path.abspath(file_path), folder)
        keys = [k for k, e in manifest["files"].items() if os.path.normpath(e["path"]) == os.path.normpath(rel)]
        if rel == "model.keras":
            keys = [KERAS]
        if not keys:
            raise PredictError(f"{file_path!r} is not one of the files {folder!r} exported (its zoo_export.json "
                               f"lists {[e['path'] for e in manifest['files'].values()]}): it belongs to another "
                               "model or export. Pass its own export folder.")
        runtime = keys[0]
    runtime = runtime or _fastest(folder, manifest)
    if runtime == KERAS:
        from zoo.registry import load_model

        run = _keras_runner(load_model(os.path.join(folder, "model.keras")))
    elif runtime in manifest["files"]:
        load_formats()
        entry = manifest["files"][runtime]
        run = FORMATS[entry["format"]].runner(entry, folder)
    else:
        raise PredictError(f"Unknown runtime {runtime!r} for {folder!r}. Allowed: "
                           f"{[KERAS, *manifest['files']]}.")
    if os.path.exists(os.path.join(folder, "vocabulary.txt")):
        meta["vectorizer"] = _vectorizer_from_vocabulary(os.path.join(folder, "vocabulary.txt"), meta["preprocessing"])
    return meta, run, runtime


def _open_run(source, runtime):
    if runtime not in (None, KERAS):
        raise PredictError(f"{source!r} is a training run: its runtime is 'keras'. Export it (`zoo export "
                           f"{source} --out FOLDER`) to predict with {runtime!r}.")
    from zoo.run_folder import load_run

    model, info = load_run(source)
    if not info:
        raise PredictError(f"{source!r} has no data.json beside its model: there is no record of how its "
                           "inputs were preprocessed. Pass the run folder `zoo train --out` wrote, or an export.")
    task = getattr(getattr(model, "task", None), "name", None) or info.get("task")
    meta = _meta(task, info.get("labels"), info.get("preprocessing"),
                 [{"name": n, "shape": list(s)} for n, s in zip(common.input_names(model),
                                                                 [t.shape for t in model.inputs])],
                 None, os.path.dirname(os.path.abspath(source)) if source.endswith(".keras") else source,
                 info.get("vectorizer"))
    return meta, _keras_runner(model), KERAS


def _open_onnx_alone(path):
    """An `.onnx` file outside its export folder: the `zoo.*` metadata it carries."""
    import onnx

    proto = onnx.load(path, load_external_data=False)
    props = {p.key: p.value for p in proto.metadata_props}
    if "zoo.task" not in props:
        raise PredictError(f"{path!r} carries no zoo metadata and sits outside an export folder: pass the "
                           "folder `zoo export` wrote.")
    load_formats()
    entry = {"format": "onnx", "path": os.path.basename(path)}
    inputs = [{"name": i.name, "shape": [d.dim_value or None for d in i.type.tensor_type.shape.dim]}
              for i in proto.graph.input]
    meta = _meta(props["zoo.task"], json.loads(props.get("zoo.labels", "null")) or None,
                 json.loads(props.get("zoo.preprocessing", "{}")), inputs, None, os.path.dirname(path))
    return meta, FORMATS["onnx"].runner(entry, os.path.dirname(os.path.abspath(path))), "onnx"


def _open_tflite_alone(path):
    """A `.tflite` file outside its export folder: the `zoo` metadata entry it carries."""
    from export import litert_metadata, tflite

    with open(path, "rb") as f:
        flatbuffer = f.read()
    try:
        info = litert_metadata.zoo_info(flatbuffer)
    except Exception:  # not a flatbuffer LiteRT reads: the runner below says so, naming the file
        info = None
    if not info:
        tflite.interpreter(model_path=path)  # a damaged file is named as such first
        raise PredictError(f"{path!r} carries no zoo metadata (written before it existed, or by another tool) and "
                           "sits outside an export folder: pass the folder `zoo export` wrote.")
    load_formats()
    entry = {"format": "tflite", "path": os.path.basename(path)}
    meta = _meta(info["task"], info.get("labels") or None, info.get("preprocessing") or {}, info["inputs"], None,
                 os.path.dirname(path))
    vocabulary = litert_metadata.packed(flatbuffer).get(litert_metadata.VOCABULARY_FILE)
    if vocabulary is not None:  # a text model carries its token list
        from pipelines.text import vectorizer_from_vocabulary

        meta["vectorizer"] = vectorizer_from_vocabulary(vocabulary.decode("utf-8").split("\n"), meta["preprocessing"])
    return meta, FORMATS["tflite"].runner(entry, os.path.dirname(os.path.abspath(path))), "tflite"


def _open_pretrained(model_name, weights, runtime):
    """`MODEL:WEIGHTS`: a registered model with the zoo's own weights (`zoo.pretrained`), run by Keras."""
    from zoo import pretrained

    if runtime not in (None, KERAS):
        raise PredictError(f"{model_name}:{weights} runs in Keras (runtime 'keras'). Export it (`zoo export "
                           f"{model_name} --weights {weights} --out FOLDER`) to predict with {runtime!r}.")
    info = pretrained.data_info(model_name, weights)
    model = pretrained.load(model_name, weights, strings=False)
    inputs = [{"name": n, "shape": list(t.shape)} for n, t in zip(common.input_names(model), model.inputs)]
    return (_meta(info["task"], info["labels"], info["preprocessing"], inputs, None, None, info.get("vectorizer")),
            _keras_runner(model), KERAS)


def _open(source, runtime):
    from zoo import pretrained

    shipped = pretrained.parse_source(source)
    if shipped:
        return _open_pretrained(*shipped, runtime)
    if not os.path.exists(source):
        name, _, weights = source.partition(":")
        if weights and name in pretrained.available():
            raise PredictError(f"{source!r}: the zoo ships no {weights!r} weights for {name}; it ships "
                               f"{', '.join(f'{name}:{w}' for w in pretrained.names(name))}.")
        raise PredictError(f"{source!r} does not exist: pass a run folder, an export folder, an exported file, or "
                           "MODEL:WEIGHTS for the zoo's own weights (`zoo list --weights`).")
    if os.path.isdir(source) and os.path.exists(os.path.join(source, manifest_lib.MANIFEST)):
        return _open_export(source, runtime)
    if os.path.isdir(source) and os.path.exists(os.path.join(source, "model.keras")):
        return _open_run(source, runtime)
    folder = _export_folder(source)
    is_saved_model = os.path.isdir(source) and os.path.exists(os.path.join(source, "saved_model.pb"))
    if folder and (is_saved_model or source.endswith((".tflite", ".onnx", ".keras", ".xml"))):
        return _open_export(folder, runtime, file_path=source)
    if source.endswith(".keras"):
        return _open_run(source, runtime)
    if source.endswith(".onnx"):
        return _open_onnx_alone(source)
    if source.endswith(".tflite"):
        return _open_tflite_alone(source)
    raise PredictError(f"{source!r} is not a run folder, an export folder, a .keras, .tflite or .onnx file, or a "
                       "SavedModel or OpenVINO .xml inside an export folder (a lone SavedModel does not record how its inputs were "
                       "preprocessed: pass the export folder).")


def _vectorizer_from_vocabulary(path, preprocessing):
    from pipelines.text import vectorizer_from_vocabulary

    with open(path, encoding="utf-8") as f:
        return vectorizer_from_vocabulary(f.read().split("\n"), preprocessing)


# --------------------------------------------------------------------------
# Reading raw inputs as the training data was read


def _image_paths(items):
    paths = []
    for item in items:
        if os.path.isdir(item):
            found = sorted(p for p in glob.glob(os.path.join(item, "**", "*"), recursive=True)
                           if p.lower().endswith(IMAGE_SUFFIXES))
        elif any(c in item for c in "*?["):
            found = sorted(glob.glob(item, recursive=True))
        else:
            found = [item]
        if not found:
            raise PredictError(f"No image files in {item!r} (looked for {', '.join(IMAGE_SUFFIXES)}).")
        paths += found
    return paths


class _Progress:
    """`done/total` redrawn on stderr while many inputs are read and run, where a terminal shows it."""

    MIN_ITEMS = 64

    def __init__(self, what, total, enabled):
        import sys

        self.what, self.total, self.done = what, total, 0
        self.stream = sys.stderr
        self.enabled = enabled and total >= self.MIN_ITEMS and bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, n=1):
        self.done += n
        if self.enabled:
            end = "\n" if self.done >= self.total else ""
            print(f"\r{self.what} {self.done:,}/{self.total:,}", end=end, file=self.stream, flush=True)


def _images(items, meta, progress=False):
    """`(names, (n, height, width, channels) float32)`: decoded, resized as training did, rescaled."""
    import tensorflow as tf

    pre, shape = meta["preprocessing"], meta["inputs"][0]["shape"] if meta["inputs"] else None
    size = tuple(pre.get("image_size") or shape[1:3])
    channels = int(shape[-1]) if shape else 3
    names, arrays = _image_paths(items), []
    bar = _Progress("images read", len(names), progress)
    for path in names:
        if not os.path.isfile(path):
            raise PredictError(f"Image {path!r} does not exist.")
        try:
            image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        except tf.errors.OpError:
            raise PredictError(f"{path!r} is not an image this model can read (PNG, JPEG, BMP or GIF).") from None
        if tuple(image.shape[:2]) != size:
            image = tf.cast(tf.image.resize(image, size, antialias=True), tf.uint8)
        arrays.append(image.numpy())
        bar.update()
    x = np.stack(arrays).astype("float32") * float(pre.get("scale", 1 / 255)) + float(pre.get("offset", 0.0))
    return names, x


def _text_rows(path, column):
    from pipelines.delimited import (
        column_index,
        first_row_is_header,
        guess_columns,
        read_rows,
    )

    if path.endswith((".txt", ".txt.gz")):
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f if line.strip()]
    fmt, rows = read_rows(path)
    rows = [r for _, r in rows]
    if fmt == "jsonl":
        header = list(rows[0])
        rows = [[r.get(k, "") for k in header] for r in rows]
    else:
        header = rows[0] if first_row_is_header(rows[:50]) else None
        rows = rows[1:] if header else rows
    if column is not None:
        index = column_index(column, header, path, "text column")
    else:
        index = guess_columns(rows[:2000], len(rows[0]))[0]
    return [str(r[index]) for r in rows]


def _texts(items, meta, column=None):
    """`(names, token ids)`: strings as given, or the lines / a column of text and table files."""
    from pipelines.text import vectorize

    texts = []
    for item in items:
        if os.path.isfile(item) and item.endswith((".txt", *TABLE_SUFFIXES)):
            texts += _text_rows(item, column)
        else:
            texts.append(item)
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        raise PredictError(f"Text {empty[0]} is empty: there is nothing to classify. Pass some words.")
    if meta["vectorizer"] is None:
        raise PredictError("This source has no vocabulary (vocabulary.txt or vectorizer.keras) to turn text into "
                           "token ids: predict from its run or export folder.")
    pre = meta["preprocessing"]
    ids = vectorize(meta["vectorizer"], np.asarray(texts, dtype=object), pre.get("sequence_length", 200),
                    pre.get("truncate", "post")).numpy()
    return [t if len(t) <= 60 else t[:57] + "..." for t in texts], ids


def _table(items, meta):
    """`(names, encoded features)` of the rows of CSV/TSV/JSONL files with the training columns."""
    from pipelines.delimited import read_rows
    from pipelines.sources.tabular_file import raw_features, tabular_encoder

    pre = meta["preprocessing"]
    needed = [c["name"] for c in pre["numeric"]] + [c["name"] for c in pre["categorical"]]
    columns, names = {c: [] for c in needed}, []
    for path in items:
        if not os.path.isfile(path) or not path.lower().endswith(TABLE_SUFFIXES):
            raise PredictError(f"{path!r} is not a table: a table model predicts on the rows of CSV/TSV/JSONL "
                               f"files (also .gz) with the columns {needed}.")
        fmt, rows = read_rows(path)
        rows = [r for _, r in rows]
        header, body = (list(rows[0]), rows) if fmt == "jsonl" else (rows[0], rows[1:])
        missing = [c for c in needed if c not in header]
        if missing:
            raise PredictError(f"{path!r} lacks the training column(s) {missing}; its header is {list(header)}.")
        for i, row in enumerate(body):
            get = (lambda c: row.get(c, "")) if fmt == "jsonl" else (lambda c: row[header.index(c)])
            for c in needed:
                columns[c].append(str(get(c) if get(c) is not None else ""))
            names.append(f"{os.path.basename(path)}:{i + 2 if fmt != 'jsonl' else i + 1}")
    if not names:
        raise PredictError(f"{items} hold no rows to predict on.")
    return names, tabular_encoder(pre)(raw_features(columns, pre)).numpy()


def _series(items, meta, column=None):
    """`(names, windows, bases)`: the last `input_width` values of each series, transformed as in training."""
    from pipelines.sources.series_file import read_series

    pre, windows, bases, names = meta["preprocessing"], [], [], []
    width = int(pre["input_width"])
    for path in items:
        if not os.path.isfile(path):
            raise PredictError(f"{path!r} is not a file: a forecaster predicts from a CSV series.")
        values = np.asarray(read_series(path, column), "float64")
        if len(values) < width:
            raise PredictError(f"{path!r} holds {len(values)} values; the model reads the last {width}.")
        z = values[-width:]
        if pre.get("units") == "series":  # the file does the transform itself
            windows.append(z[:, None])
            bases.append(0.0)
            names.append(path)
            continue
        if pre.get("log"):
            if (z <= 0).any():
                raise PredictError(f"{path!r}: the model works on log values and the last {width} hold a value "
                                   "<= 0.")
            z = np.log(z)
        base = z[-1] if pre.get("type") == "relative" else pre["mean"]
        windows.append(((z - base) / pre["std"])[:, None])
        bases.append(base)
        names.append(path)
    return names, np.asarray(windows, "float32"), np.asarray(bases, "float64")


# --------------------------------------------------------------------------
# The predictor


def _items(inputs):
    """The inputs as a list of strings (one path or text alone is a list of one)."""
    items = [str(i) for i in ([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs)]
    if not items:
        raise PredictError("No inputs given: pass image files, texts, table or series files.")
    return items


class Predictor:
    """A model and its preprocessing, from a run folder, an export folder or one exported file.

    Args:
        source: the folder or file (see the module docstring).
        runtime: `"keras"` or an export's file by its manifest key (`tflite_fp32`, `onnx_int8`, ...);
            default: the fastest file that passed verification (a run folder: `"keras"`).
    """

    def __init__(self, source, *, runtime=None):
        self.source = source
        self.meta, (self._run, self._any_batch), self.runtime = _open(source, runtime)
        self.task = self.meta["task"]
        self.class_names = self.meta["labels"]
        if self.task == "seq2seq" or self.task is None:
            raise PredictError(f"{source!r}: `predict` reads classification, regression and forecasting models "
                               f"(this one is {self.task!r}).")

    def _outputs(self, x, progress=False):
        name = self.meta["inputs"][0]["name"]
        step = 256 if self._any_batch else 1
        bar, out = _Progress(f"predicted ({self.runtime})", len(x), progress), []
        for i in range(0, len(x), step):
            out.append(np.asarray(self._run({name: x[i:i + step]}), "float32"))
            bar.update(len(out[-1]))
        return np.concatenate(out)

    def encode(self, inputs, *, column=None, progress=False):
        """`(names, model inputs)` of raw inputs, preprocessed as the training data was."""
        items = _items(inputs)
        if self.task == "image_classification":
            return _images(items, self.meta, progress)
        if self.task == "text_classification":
            return _texts(items, self.meta, column)
        if self.task in ("tabular_classification", "regression"):
            return _table(items, self.meta)
        if self.task == "forecasting":
            return _series(items, self.meta, column)[:2]
        raise PredictError(f"No reader for {self.task!r} inputs.")

    def predict(self, inputs, *, top_k=5, column=None, progress=False):
        """One result per input: `{"input", "classes": [(name, probability), ...]}` (top `top_k`),
        `{"input", "value"}` (regression, target units) or `{"input", "forecast": [...]}` (series units).
        `progress`: a `done/total` line on a terminal's stderr while 64 or more inputs are read and run."""
        if self.task == "forecasting":
            from pipelines.series import from_model_space

            names, x, bases = _series(_items(inputs), self.meta, column)
            pre = self.meta["preprocessing"]
            values = self._outputs(x)[..., 0].astype("float64")
            if pre.get("units") != "series":  # model space: back to series units here
                values = from_model_space(values, bases[:, None], pre)
            return [{"input": n, "forecast": [float(v) for v in row]} for n, row in zip(names, values)]
        names, x = self.encode(inputs, column=column, progress=progress)
        y = self._outputs(x, progress)
        if self.task == "regression":
            return [{"input": n, "value": float(v)} for n, v in zip(names, y.reshape(len(y), -1)[:, 0])]
        if self.meta.get("output") == "logits" or (y.min() < 0 or not np.allclose(y.sum(-1), 1, atol=1e-2)):
            y = np.exp(y - y.max(-1, keepdims=True))
            y /= y.sum(-1, keepdims=True)
        labels = self.class_names or [str(i) for i in range(y.shape[-1])]
        top = np.argsort(-y, axis=-1)[:, :max(1, top_k)]
        return [{"input": n, "classes": [(labels[j], float(p[j])) for j in t]} for n, p, t in zip(names, y, top)]


def predict(source, inputs, *, runtime=None, top_k=5, column=None):
    """`Predictor(source, runtime=runtime).predict(inputs, ...)`."""
    return Predictor(source, runtime=runtime).predict(inputs, top_k=top_k, column=column)
