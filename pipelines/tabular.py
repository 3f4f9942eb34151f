"""Tables of your own: CSV/TSV/JSON Lines (also `.gz`) or Parquet rows of named features and one
target column.

Numeric columns are standardized with the training split's mean and variance
(`keras.layers.Normalization`), categorical ones (strings, or any column named in
`categorical_columns`) one-hot encoded over the training split's values plus one
out-of-vocabulary slot (`keras.layers.StringLookup`). Both are Keras preprocessing
layers adapted on the training split only; their state (means, variances,
vocabularies) is recorded in `DataSplits.preprocessing`, from which
`tabular_encoder(preprocessing)` rebuilds the same encoder anywhere: the run's
export puts it in front of the model as the SavedModel's `serving_features`
signature (one tensor per column, as TF Serving clients send them), while the
LiteRT and ONNX files take the encoded vector and carry the encoding in
`zoo_export.json`.
"""

import hashlib
import math
import os
import re

import keras
import numpy as np
import tensorflow as tf

from pipelines.core import DataSplits, check_fractions
from pipelines.table import _column_index, read_class_names, read_rows

MISSING = ("", "na", "n/a", "nan", "null", "none", "?")
MAX_CLASSES = 50  # an integer target with more distinct values is a quantity: regression


def _is_number(value):
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _read_parquet(path):
    """`(header, [(row number, [str or None, ...]), ...])` of a Parquet file, read in record batches."""
    try:
        import pyarrow
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError(f"Reading {path!r} needs pyarrow: pip install 'zoo[parquet]' (or pyarrow), or save the "
                         "table as CSV.") from None
    if not os.path.isfile(path):
        raise ValueError(f"Parquet file {path!r} does not exist.")
    try:
        table = pq.ParquetFile(path)
        header, rows = list(table.schema_arrow.names), []
        for batch in table.iter_batches(batch_size=65536):
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            rows.extend((len(rows) + k + 1, [None if v is None else str(v) for v in values])
                        for k, values in enumerate(zip(*columns)))
    except (OSError, pyarrow.ArrowException) as err:
        raise ValueError(f"{path!r} is not a readable Parquet file ({err}). Re-write it (e.g. "
                         "pandas.DataFrame.to_parquet) or save the table as CSV.") from None
    if not rows:
        raise ValueError(f"{path!r} has columns {header} but no rows.")
    return header, rows


def _read(path, delimiter):
    if path.lower().endswith((".parquet", ".pq")):
        return _read_parquet(path)
    fmt, rows = read_rows(path, delimiter)
    if fmt == "jsonl":
        header = list(rows[0][1])
        table = [(n, [None if r.get(c) is None else str(r.get(c)) for c in header]) for n, r in rows]
        return header, table
    (_, header), data = rows[0], rows[1:]
    if sum(_is_number(h) for h in header) * 2 > len(header):  # mostly numbers: a data row, not names
        raise ValueError(f"{path!r} line 1 is {header[:4]}...: a tabular file needs a header row naming its "
                         "columns (the names become the SavedModel's input names). Add one.")
    if not data:
        raise ValueError(f"{path!r} has a header but no data rows.")
    for number, row in data:
        if len(row) != len(header):
            raise ValueError(f"{path!r} line {number}: {len(row)} field(s), but the header names {len(header)}. "
                             "Fix the row (a stray delimiter, or a quote left open).")
    return header, data


def _split_of(row, val_fraction, test_fraction):
    # A hash of the row's content: adding rows to the file keeps every old row's split.
    h = int.from_bytes(hashlib.sha1("\x1f".join(row).encode("utf8")).digest()[:8], "big") / 2**64
    return "test" if h < test_fraction else "val" if h < test_fraction + val_fraction else "train"


def tabular_encoder(preprocessing):
    """`encode(features) -> (batch, encoded_size) float32` from a tabular `DataSplits.preprocessing`:
    `features` maps each column name to a `(batch,)` tensor (float for numeric columns, string for
    categorical ones). Built from Keras preprocessing layers with the recorded state; the returned
    function also exposes them as `encode.layers` (for tracking in an export)."""
    numeric, categorical = preprocessing["numeric"], preprocessing["categorical"]
    norm = None
    if numeric:
        norm = keras.layers.Normalization(mean=[c["mean"] for c in numeric], variance=[c["variance"] for c in numeric],
                                          name="numeric_normalization")
    lookups = {c["name"]: keras.layers.StringLookup(vocabulary=c["vocabulary"], num_oov_indices=1,
                                                     output_mode="one_hot", name=f"lookup_{i}")
               for i, c in enumerate(categorical)}

    def encode(features):
        parts = []
        if norm is not None:
            columns = [tf.cast(tf.reshape(features[c["name"]], [-1]), tf.float32) for c in numeric]
            parts.append(norm(tf.stack(columns, axis=-1)))  # (batch, numeric)
        for c in categorical:
            value = tf.reshape(features[c["name"]], [-1])
            if value.dtype != tf.string:
                value = tf.strings.as_string(value)
            parts.append(tf.cast(lookups[c["name"]](value), tf.float32))  # (batch, vocabulary + 1)
        return tf.concat(parts, axis=-1)

    encode.layers = [layer for layer in [norm, *lookups.values()] if layer is not None]
    # Build every layer (an export tracks only built layers): one placeholder row.
    encode({**{c["name"]: np.zeros((1,), "float32") for c in numeric},
            **{c["name"]: np.array([""], dtype=object) for c in categorical}})
    return encode


def input_name(column):
    """A column's name as a signature input (letters, digits, `_`): `sepal length (cm)` -> `sepal_length_cm`."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", column).strip("_") or "column"
    return name if not name[0].isdigit() else f"c_{name}"


def raw_feature_specs(preprocessing):
    """`tf.TensorSpec`s of the raw columns, in file order: float32 numeric, string categorical; named
    by `preprocessing["inputs"]` (the column names made valid signature names)."""
    kinds = {c["name"]: tf.float32 for c in preprocessing["numeric"]}
    kinds.update({c["name"]: tf.string for c in preprocessing["categorical"]})
    return [tf.TensorSpec([None], kinds[column], name=name)
            for column, name in zip(preprocessing["columns"], preprocessing["inputs"])]


def tabular_file(path, *, label_column=None, task="auto", categorical_columns=None, ignore_columns=None,
                 delimiter=None, val_fraction=0.1, test_fraction=0.2, class_names=None):
    """Tabular classification or regression from your own CSV, TSV or JSON Lines file (also `.gz`), or a
    Parquet file (pyarrow: `pip install 'zoo[parquet]'`). The first row (or schema) names the columns;
    `label_column` (a name or index; default the last column) is the target: strings, or integers with
    at most 50 distinct values, make a classification (class names sorted, or `class_names=`); other
    numbers a regression (or `task=`). Other columns are features: numeric unless they hold
    non-numbers or are in `categorical_columns`; `ignore_columns` drops some (ids, free text). Rows go
    to train/val/test by a hash of the row, so adding rows keeps every old row's split.

    Example:

    ```python
    import pipelines
    data = pipelines.tabular_file("penguins.csv", label_column="species", ignore_columns="id")
    data.input_shape, data.labels, data.preprocessing["columns"]
    ```
    """
    check_fractions(val_fraction, test_fraction)
    if task not in ("auto", "classification", "regression"):
        raise ValueError(f"`task` must be 'auto', 'classification' or 'regression'. Received: task={task!r}")
    header, rows = _read(path, delimiter)
    target = _column_index(label_column if label_column is not None else len(header) - 1, header, path,
                           "label_column")
    dropped = {_column_index(c, header, path, "ignore_columns") for c in _names(ignore_columns)}
    features = [i for i in range(len(header)) if i != target and i not in dropped]
    if not features:
        raise ValueError(f"{path!r}: no feature columns left besides the target {header[target]!r}.")
    forced = {_column_index(c, header, path, "categorical_columns") for c in _names(categorical_columns)}

    numeric, categorical = _column_kinds(path, header, rows, features, forced)
    task, names, raw_target = _target(path, header, rows, target, task, class_names)

    parts = {"train": [], "val": [], "test": []}
    for (number, row), value in zip(rows, raw_target):
        parts[_split_of(row, val_fraction, test_fraction)].append((row, value))
    if len(parts["train"]) < 2:
        raise ValueError(f"{path!r}: {len(parts['train'])} row(s) fell in the training split. Add rows or lower "
                         "val_fraction/test_fraction.")

    spec_numeric, spec_categorical = _encoder_state(header, numeric, categorical, [row for row, _ in parts["train"]])
    columns = [header[i] for i in features]
    inputs = [input_name(c) for c in columns]
    if len(set(inputs)) != len(inputs):
        raise ValueError(f"{path!r}: columns {columns} give clashing input names {inputs} (only letters, digits and "
                         "_ are kept). Rename the columns.")
    preprocessing = {"type": "tabular", "columns": columns, "inputs": inputs, "numeric": spec_numeric,
                     "categorical": spec_categorical, "target": header[target], "task": task}
    encode = tabular_encoder(preprocessing)
    preprocessing["encoded_size"] = int(len(spec_numeric) + sum(len(c["vocabulary"]) + 1 for c in spec_categorical))

    kinds = {header[i]: "numeric" for i in numeric}
    index = {name: k for k, name in enumerate(names or [])}
    splits, sizes = {}, {}
    for split, part in parts.items():
        if not part:
            continue
        x = encode({header[i]: (np.array([float(r[i]) for r, _ in part], "float32") if i in numeric else
                                np.array([_category(r[i]) for r, _ in part], dtype=object))
                    for i in features})
        if task == "classification":
            y = np.array([index[v] for _, v in part], "int32")
        else:
            y = np.array([[float(v)] for _, v in part], "float32")  # (n, 1): the model's output shape
        splits[split] = tf.data.Dataset.from_tensor_slices((np.asarray(x, "float32"), y))
        sizes[split] = len(part)
    data = DataSplits(
        **splits, task="tabular_classification" if task == "classification" else "regression",
        input_shape=(preprocessing["encoded_size"],), input_dtype="float32",
        num_classes=len(names) if names else None, labels=names, sizes=sizes,
        preprocessing=preprocessing, name=f"tabular:{os.path.basename(path)}", source=path)
    data.extras["columns"] = {"features": columns, "target": header[target],
                              "kinds": {c: kinds.get(c, "categorical") for c in columns}}
    if names:
        data.extras["class_counts"] = {
            s: {names[k]: int(c) for k, c in enumerate(np.bincount([index[v] for _, v in part],
                                                                   minlength=len(names)))}
            for s, part in parts.items() if part}
    return data


def _column_kinds(path, header, rows, features, forced):
    """(numeric, categorical) feature indices. Kinds come from the whole file (a text value first seen in
    the test rows still makes the column categorical); statistics from the training rows only."""
    numeric, categorical = [], []
    for i in features:
        values = [r[i] for _, r in rows]
        if i in forced or not all(_is_number(v) or _missing(v) for v in values):
            categorical.append(i)
            continue
        for number, r in rows:
            if _missing(r[i]):
                raise ValueError(f"{path!r} line {number}: column {header[i]!r} is empty ({r[i]!r}) in a numeric "
                                 "column. Fill it in, drop the row, or pass ignore_columns / categorical_columns "
                                 "(a categorical column keeps missing values as their own category).")
        numeric.append(i)
    return numeric, categorical


def _target(path, header, rows, target, task, class_names):
    """(task, class names or None, raw target values): the task from the values unless given."""
    raw_target = [r[target] for _, r in rows]
    for (number, _), value in zip(rows, raw_target):
        if _missing(value):
            raise ValueError(f"{path!r} line {number}: the target column {header[target]!r} is empty. Drop the "
                             "row or fill it in.")
    all_numbers = all(_is_number(v) for v in raw_target)
    integers = all_numbers and all(float(v).is_integer() for v in raw_target)
    if task == "auto":
        task = "classification" if not all_numbers or (integers and len(set(raw_target)) <= MAX_CLASSES) \
            else "regression"
    if task == "regression":
        if not all_numbers:
            bad = next(n for (n, _), v in zip(rows, raw_target) if not _is_number(v))
            raise ValueError(f"{path!r} line {bad}: task='regression' needs a numeric target; column "
                             f"{header[target]!r} holds {raw_target[[n for n, _ in rows].index(bad)]!r}.")
        return task, None, raw_target
    distinct = sorted(set(raw_target), key=lambda v: (float(v), v) if integers else (0, v))
    names = read_class_names(class_names) or distinct
    if len(names) < 2:
        raise ValueError(f"{path!r}: the target column {header[target]!r} holds one value ({names[0]!r}); a "
                         "classifier needs two or more classes.")
    unknown = sorted(set(raw_target) - set(names))
    if unknown:
        bad = next(n for (n, _), v in zip(rows, raw_target) if v in unknown)
        raise ValueError(f"{path!r} line {bad}: label {unknown[0]!r} is not one of class_names {names}. "
                         "Add it to class_names or fix the row.")
    return task, names, raw_target


def _encoder_state(header, numeric, categorical, train_rows):
    """The encoder's recorded state, from Keras' preprocessing layers adapted on the training rows."""
    spec_numeric = []
    if numeric:
        norm = keras.layers.Normalization()
        norm.adapt(np.array([[float(r[i]) for i in numeric] for r in train_rows], "float32"))
        mean, variance = (np.asarray(keras.ops.convert_to_numpy(v)).reshape(-1) for v in (norm.mean, norm.variance))
        # A constant column would divide by ~0 for any other value at serving time.
        spec_numeric = [{"name": header[i], "mean": float(m), "variance": float(v) if v > 1e-12 else 1.0}
                        for i, m, v in zip(numeric, mean, variance)]
    spec_categorical = []
    for i in categorical:
        lookup = keras.layers.StringLookup(num_oov_indices=1)
        lookup.adapt(np.array([_category(r[i]) for r in train_rows], dtype=object))
        vocabulary = [str(v) for v in lookup.get_vocabulary() if v != "[UNK]"]
        spec_categorical.append({"name": header[i], "vocabulary": vocabulary})
    return spec_numeric, spec_categorical


def _names(value):
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def _missing(value):
    return value is None or str(value).strip().lower() in MISSING


def _category(value):
    return "" if value is None else str(value).strip()
