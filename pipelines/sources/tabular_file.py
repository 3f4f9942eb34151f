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

Missing values (empty cells and `MISSING`'s spellings, plus `na_values=`): in a numeric column they
are imputed with the training mean and flagged by a missing-indicator feature (for every numeric
column that has missing values anywhere in the file); in a categorical column they are one category
of their own (`""`); rows whose target is missing are left out (counted in `extras["dropped_rows"]`).
The SavedModel's `serving_features` takes NaN (numeric) and `""`/NA (categorical) and does the same.

Encoded vector layout (`preprocessing["layout"]`): standardized numeric columns first (what
`zoo.mlp.TabularMLP` embeds), then the missing indicators, then the one-hot categorical columns.
Regression targets are described by `preprocessing["target_scale"]` (training mean and standard
deviation): `zoo train` builds the regressor with them, so its output is in target units in Keras and
in every exported file while the network itself fits a standardized target.
"""

import itertools
import os
import re
from collections import Counter

import keras
import numpy as np
import tensorflow as tf

from pipelines.core import AUTOTUNE, DataSplits, check_fractions
from pipelines.delimited import column_index, iter_rows, read_class_names, refuse_repeated_header, text_format
from pipelines.registry import option, register_source
from pipelines.splits import SPLITS, split_code

MISSING = ("", "na", "n/a", "nan", "null", "none", "?")
MAX_CLASSES = 50  # an integer target with more distinct values is a quantity: regression
MAX_TARGET_VALUES = 10_000  # distinct target values kept by the profiling pass (a classifier's classes)
NUMBER = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?"  # what a numeric column holds (besides missing values)
INTEGER = r"[+-]?\d+(\.0*)?"
BATCH = 4096
CACHE_BYTES = 2**30  # an encoded table up to this size is kept in memory after the first epoch


NON_FINITE = r"[+-]?(inf|infinity|nan)"  # spellings of non-finite numbers (NaN only where it is not a missing value)


def missing_spellings(na_values=()):
    """Every spelling of a missing value, lower case: `MISSING` and a table's own `na_values`."""
    return tuple(dict.fromkeys(MISSING + tuple(v.lower() for v in na_values)))


def raw_features(columns, preprocessing):
    """`tabular_encoder`'s features from `{column: [strings as read from a file]}`: numbers (NaN where a value
    is missing, as in training) for numeric columns, the strings for categorical ones."""
    spellings = tf.constant(list(missing_spellings(preprocessing.get("na_values", []))))
    numeric = {c["name"] for c in preprocessing["numeric"]}
    return {column: _numbers(tf.strings.strip(values), spellings).numpy() if column in numeric
            else np.asarray(values, dtype=object) for column, values in columns.items()}


def _non_finite(value, spellings=MISSING):
    """True for a cell that spells an infinity (or a NaN that is not a missing-value spelling), or a number
    too large for float32 (`1e400`)."""
    text = str(value).strip().lower()
    if text in spellings:
        return False
    if re.fullmatch(NON_FINITE, text):
        return True
    return _is_number(text) and not np.isfinite(np.float32(float(text)))


def _refuse_non_finite(path, fmt, header, spellings):
    line, row = _first_row(path, fmt, header, lambda row: any(_non_finite(v, spellings) for v in row))
    column = next((c for c, v in zip(header, row or []) if _non_finite(v, spellings)), "?")
    value = next((v for v in row or [] if _non_finite(v, spellings)), "?")
    raise ValueError(f"{path!r} line {line}: column {column!r} holds {value!r}, which is not a finite number "
                     "(infinity, or too large for float32). Fix or remove it; a missing value can be left empty.")


def _is_number(value):
    """What the profiling pass counts as a number (`NUMBER`), for the rows Python reads again."""
    return value is not None and re.fullmatch(NUMBER, str(value).strip()) is not None


# --------------------------------------------------------------------------
# Reading: (batch, columns) string matrices, streamed


def _parquet_file(path):
    try:
        import pyarrow
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError(f"Reading {path!r} needs pyarrow: pip install 'keras-zoo[parquet]' (or pyarrow), or save the "
                         "table as CSV.") from None
    if not os.path.isfile(path):
        raise ValueError(f"Parquet file {path!r} does not exist.")
    try:
        return pq.ParquetFile(path), pyarrow
    except (OSError, pyarrow.ArrowException) as err:
        raise ValueError(f"{path!r} is not a readable Parquet file ({err}). Re-write it (e.g. "
                         "pandas.DataFrame.to_parquet) or save the table as CSV.") from None


def _format(path, delimiter):
    return "parquet" if path.lower().endswith((".parquet", ".pq")) else text_format(path, delimiter)


def _header(path, fmt):
    """The column names: the Parquet schema, the first JSON object's keys, or the first CSV/TSV row."""
    if fmt == "parquet":
        return list(_parquet_file(path)[0].schema_arrow.names)
    first = next(iter_rows(path, fmt), None)
    if first is None:
        raise ValueError(f"{path!r} holds no rows.")
    header = list(first[1]) if fmt == "jsonl" else [h.strip() for h in first[1]]
    if fmt != "jsonl" and sum(_is_number(h) for h in header) * 2 > len(header):  # mostly numbers: data, not names
        raise ValueError(f"{path!r} line 1 is {header[:4]}...: a tabular file needs a header row naming its "
                         "columns (the names become the SavedModel's input names). Add one.")
    return header


def _data_rows(path, fmt, header):
    """`(line or row number, [str, ...])` of every data row, in Python (errors name lines; JSON Lines and
    Parquet are read this way)."""
    if fmt == "parquet":
        table, pyarrow = _parquet_file(path)
        number = 0
        try:
            for batch in table.iter_batches(batch_size=BATCH):
                columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
                for values in zip(*columns):
                    number += 1
                    yield number, ["" if v is None else str(v) for v in values]
        except (OSError, pyarrow.ArrowException) as err:
            raise ValueError(f"{path!r} is not a readable Parquet file ({err}). Re-write it (e.g. "
                             "pandas.DataFrame.to_parquet) or save the table as CSV.") from None
        return
    rows = iter_rows(path, fmt)
    if fmt != "jsonl":
        next(rows, None)  # the header
    for number, row in rows:
        yield number, (["" if row.get(c) is None else str(row.get(c)) for c in header] if fmt == "jsonl" else row)


def _string_batches(path, fmt, header):
    """`(batch, columns)` string matrices of every data row, in file order: CSV/TSV through
    `tf.data.experimental.CsvDataset` (a row of another width is an error), JSON Lines and Parquet from Python."""
    width = len(header)
    if fmt in ("jsonl", "parquet"):
        def batches():
            rows = (row for _, row in _data_rows(path, fmt, header))
            while chunk := list(itertools.islice(rows, BATCH)):
                yield np.array(chunk, dtype=object).reshape(len(chunk), width)

        return tf.data.Dataset.from_generator(batches, output_signature=tf.TensorSpec((None, width), tf.string))
    ds = tf.data.experimental.CsvDataset(
        path, [tf.constant([""], tf.string)] * width, header=True, field_delim=fmt, use_quote_delim=fmt != "\t",
        buffer_size=1 << 20, compression_type="GZIP" if path.endswith(".gz") else "")
    return ds.batch(BATCH).map(lambda *fields: tf.stack(fields, axis=1), num_parallel_calls=AUTOTUNE)


def _explain(path, fmt, header, err):
    """Name the row `tf.data` refused (re-read in Python), and raise."""
    for number, row in _data_rows(path, fmt, header):  # raises on bad UTF-8 / JSON / a truncated file
        if len(row) != len(header):
            raise ValueError(f"{path!r} line {number}: {len(row)} field(s), but the header names {len(header)}. "
                             "Fix the row (a stray delimiter, or a quote left open).")
    message = getattr(err, "message", str(err)).split(" [Op:")[0].split("}}")[-1].strip()
    raise ValueError(f"{path!r} could not be parsed: {message}. Check its quoting and re-save it.") from None


def _first_row(path, fmt, header, test):
    """`(line number, row)` of the first data row for which `test(row)` holds (for an error message)."""
    return next(((number, row) for number, row in _data_rows(path, fmt, header) if test(row)), ("?", None))


# --------------------------------------------------------------------------
# The profiling pass: column kinds, the target's values per split, every row checked


def _split_code(rows, val_fraction, test_fraction):
    """0 (train), 1 (val) or 2 (test) from a fingerprint of the row's content: adding rows to the file
    keeps every old row's split."""
    return split_code(tf.strings.reduce_join(rows, axis=1, separator="\x1f"), val_fraction, test_fraction)


def _profile(path, fmt, header, target, fractions, missing_values=MISSING):
    """One pass over the file: `{"text": per column, a value that is neither a number nor missing;
    "missing": per column, a missing value; "rows": {split: rows with a target}; "dropped": {split: rows
    whose target is missing}; "targets": {split: Counter(target value -> rows)} (empty past
    `MAX_TARGET_VALUES` distinct values); "target": its numbers/integers/capped flags (over the rows
    that have one)}`."""
    spellings = tf.constant(list(missing_values))
    names = tf.constant([h.strip() for h in header])

    def stats(rows):
        rows = tf.strings.unicode_transcode(rows, "UTF-8", "UTF-8", errors="strict")  # bad bytes: _explain names the line
        values = tf.strings.strip(rows)
        repeated = tf.reduce_any(tf.reduce_all(tf.equal(values, names), axis=1))  # a header line among the data
        missing = _is_missing(values, spellings)
        number = tf.strings.regex_full_match(values, NUMBER)
        lowered = tf.strings.lower(values)
        infinite = (tf.strings.regex_full_match(lowered, NON_FINITE) & ~missing) | (number & tf.math.is_inf(
            tf.strings.to_number(tf.where(number, values, "0"))))  # 1e400 overflows float32
        has_target = ~missing[:, target]
        flags = tf.stack([tf.reduce_all(number[:, target] | ~has_target), tf.reduce_all(
            tf.strings.regex_full_match(values[:, target], INTEGER) | ~has_target)])
        return (tf.reduce_any(~number & ~missing, axis=0), tf.reduce_any(missing, axis=0),
                values[:, target], _split_code(rows, *fractions), has_target, flags, tf.reduce_any(infinite),
                repeated)

    text, missing = np.zeros(len(header), bool), np.zeros(len(header), bool)
    targets, rows, dropped = {s: Counter() for s in SPLITS}, dict.fromkeys(SPLITS, 0), dict.fromkeys(SPLITS, 0)
    about = {"numbers": True, "integers": True, "capped": False}  # the target's values
    try:
        for is_text, is_missing, values, codes, has_target, flags, infinite, repeated in _string_batches(
                path, fmt, header).map(stats, num_parallel_calls=AUTOTUNE).prefetch(2):
            if repeated:  # concatenated files: the header as data would make every column a category
                refuse_repeated_header(path, _first_row(path, fmt, header, lambda row: [
                    str(v).strip() for v in row] == [h.strip() for h in header])[0])
            if infinite:  # an infinity would silently turn its column into categories (or a target into classes)
                _refuse_non_finite(path, fmt, header, missing_values)
            text |= is_text.numpy()
            missing |= is_missing.numpy()
            numbers, integers = flags.numpy()
            about.update(numbers=about["numbers"] and numbers, integers=about["integers"] and integers)
            values, codes, has_target = values.numpy(), codes.numpy(), has_target.numpy()
            for code in np.unique(codes):
                here = codes == code
                dropped[SPLITS[code]] += int((here & ~has_target).sum())
                here &= has_target
                rows[SPLITS[code]] += int(here.sum())
                if not about["capped"] and here.any():  # a numeric target's values are not kept past the cap
                    found, n = np.unique(values[here], return_counts=True)
                    targets[SPLITS[code]].update({v.decode("utf8"): int(k) for v, k in zip(found, n)})
            about["capped"] = about["capped"] or len(set().union(*targets.values())) > MAX_TARGET_VALUES
    except tf.errors.OpError as err:
        _explain(path, fmt, header, err)
    if not sum(rows.values()) and not sum(dropped.values()):
        raise ValueError(f"{path!r} has a header but no data rows.")
    if not sum(rows.values()):
        raise ValueError(f"{path!r}: the target column {header[target]!r} is empty in every row. Pick another "
                         "label_column.")
    if about["capped"]:
        targets = {s: Counter() for s in SPLITS}
    return {"text": text, "missing": missing, "targets": targets, "rows": rows, "target": about,
            "dropped": {s: n for s, n in dropped.items() if n}}


def tabular_encoder(preprocessing):
    """`encode(features) -> (batch, encoded_size) float32` from a tabular `DataSplits.preprocessing`:
    `features` maps each column name to a `(batch,)` tensor (float for numeric columns, NaN where a
    value is missing; string for categorical ones, `""` or an NA spelling where missing). Built from
    Keras preprocessing layers with the recorded state; the returned function also exposes them as
    `encode.layers` (for tracking in an export).

    Layout: standardized numeric columns (missing -> the training mean, i.e. 0), then one 0/1
    missing indicator per numeric column recorded with `"missing": true`, then the one-hot
    categorical columns (missing values are the category `""`)."""
    numeric, categorical = preprocessing["numeric"], preprocessing["categorical"]
    norm = None
    if numeric:
        norm = keras.layers.Normalization(mean=[c["mean"] for c in numeric], variance=[c["variance"] for c in numeric],
                                          name="numeric_normalization")
    means = tf.constant([[c["mean"] for c in numeric]], tf.float32)  # (1, numeric)
    flagged = [i for i, c in enumerate(numeric) if c.get("missing")]
    # Runs recorded before missing values were read ("na_values" absent) kept NA spellings as categories.
    spellings = None if "na_values" not in preprocessing else tf.constant(
        list(missing_spellings(preprocessing["na_values"])))
    lookups = {c["name"]: keras.layers.StringLookup(vocabulary=c["vocabulary"], num_oov_indices=1,
                                                     output_mode="one_hot", name=f"lookup_{i}")
               for i, c in enumerate(categorical)}

    def encode(features):
        parts = []
        if norm is not None:
            columns = [tf.cast(tf.reshape(features[c["name"]], [-1]), tf.float32) for c in numeric]
            x = tf.stack(columns, axis=-1)  # (batch, numeric)
            absent = tf.math.is_nan(x)
            parts.append(norm(tf.where(absent, means, x)))  # imputed with the training mean
            if flagged:
                parts.append(tf.cast(tf.gather(absent, flagged, axis=1), tf.float32))  # (batch, flagged)
        for c in categorical:
            value = tf.reshape(features[c["name"]], [-1])
            if value.dtype != tf.string:
                value = tf.strings.as_string(value)
            if spellings is not None:
                value = _missing_as_empty(value, spellings)
            parts.append(tf.cast(lookups[c["name"]](value), tf.float32))  # (batch, vocabulary + 1)
        return tf.concat(parts, axis=-1)

    encode.layers = [layer for layer in [norm, *lookups.values()] if layer is not None]
    # Build every layer (an export tracks only built layers): one placeholder row.
    encode({**{c["name"]: np.zeros((1,), "float32") for c in numeric},
            **{c["name"]: np.array([""], dtype=object) for c in categorical}})
    return encode


def _missing_as_empty(values, spellings):
    """Strings stripped, with every missing-value spelling (case-insensitive) as `""`."""
    values = tf.strings.strip(values)
    return tf.where(_is_missing(values, spellings), "", values)


def encoded_layout(preprocessing):
    """`{"numeric": n, "indicators": m, "categorical": k}`: how many encoded columns of each part, in order."""
    numeric = preprocessing["numeric"]
    return {"numeric": len(numeric), "indicators": sum(bool(c.get("missing")) for c in numeric),
            "categorical": int(sum(len(c["vocabulary"]) + 1 for c in preprocessing["categorical"]))}


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


@register_source("tabular", path="FILE", description="a table of features and a target (CSV/TSV/JSONL/Parquet)",
                 options={"label_column": option("target column (default: the last), name or position"),
                          "task": option("default auto (strings or few integers: classification, else regression)",
                                         choices=("auto", "classification", "regression")),
                          "categorical_columns": option("'a,b' one-hot encoded even if numeric (strings always are)"),
                          "ignore_columns": option("'id,notes' left out of the features"),
                          "na_values": option("more spellings of a missing value, e.g. '-,missing' (besides empty, "
                                              "NA, N/A, NaN, null, None, ?)"),
                          "class_names": option("'a,b,c' or a file with one name per line (fixes the order)"), "val_fraction": option("held-out share for validation", type="float"), "test_fraction": option("held-out share for testing", type="float")})
def tabular_file(path, *, label_column=None, task="auto", categorical_columns=None, ignore_columns=None,
                 delimiter=None, val_fraction=0.1, test_fraction=0.2, class_names=None, na_values=None):
    """Tabular classification or regression from your own CSV, TSV or JSON Lines file (also `.gz`), or a
    Parquet file (pyarrow: `pip install 'keras-zoo[parquet]'`), streamed. The first row (or schema) names the
    columns; `label_column` (a name or index; default the last column) is the target: strings, or
    integers with at most 50 distinct values, make a classification (class names sorted, or
    `class_names=`); other numbers a regression (or `task=`). Other columns are features: numeric unless
    they hold non-numbers or are in `categorical_columns`; `ignore_columns` drops some (ids, free text).
    Rows go to train/val/test by a fingerprint of the row, so adding rows keeps every old row's split.

    Missing values: empty cells and `NA`, `N/A`, `NaN`, `null`, `None`, `?` (any case; `na_values`
    adds spellings, e.g. `"-,missing"`). Numeric columns impute the training mean and gain a missing
    indicator; categorical columns keep them as a category; rows without a target are left out and
    counted (`data.extras["dropped_rows"]`).

    Streaming: one pass checks every row and finds the column kinds and the target's values, one pass
    per encoder adapts it on the training rows, and epochs read the file again (kept in memory after
    the first epoch when the encoded table fits `CACHE_BYTES`).

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
    extra = [v.lower() for v in _names(na_values)]
    missing_values = missing_spellings(extra)
    fmt = _format(path, delimiter)
    header = _header(path, fmt)
    target, features, forced = _roles(path, header, label_column, ignore_columns, categorical_columns)
    fractions = (val_fraction, test_fraction)
    profile = _profile(path, fmt, header, target, fractions, missing_values)
    numeric, categorical = _column_kinds(profile, features, forced)
    task, names = _target(path, fmt, header, target, task, class_names, profile, missing_values)
    sizes = {s: n for s, n in profile["rows"].items() if n}
    if sizes.get("train", 0) < 2:
        raise ValueError(f"{path!r}: {sizes.get('train', 0)} row(s) with a target fell in the training split. Add "
                         "rows or lower val_fraction/test_fraction.")
    spellings = tf.constant(list(missing_values))

    def rows_of(split):
        return _split_rows(path, fmt, header, target, fractions, spellings, split)

    spec_numeric, spec_categorical, target_scale = _encoder_state(
        header, numeric, categorical, rows_of("train"), spellings, profile["missing"],
        target if task == "regression" else None)
    columns = [header[i] for i in features]
    inputs = [input_name(c) for c in columns]
    if len(set(inputs)) != len(inputs):
        raise ValueError(f"{path!r}: columns {columns} give clashing input names {inputs} (only letters, digits and "
                         "_ are kept). Rename the columns.")
    preprocessing = {"type": "tabular", "columns": columns, "inputs": inputs, "numeric": spec_numeric,
                     "categorical": spec_categorical, "target": header[target], "task": task, "na_values": extra}
    encode = tabular_encoder(preprocessing)
    preprocessing["layout"] = encoded_layout(preprocessing)
    preprocessing["encoded_size"] = int(sum(preprocessing["layout"].values()))
    if task == "regression":
        preprocessing["target_scale"] = target_scale  # the regressor's output layer: target units
    label = _label_fn(task, names, profile, target)

    def example(rows):  # (batch, encoded) float32, labels
        features_ = {header[i]: _numbers(rows[:, i], spellings) if i in numeric else rows[:, i] for i in features}
        return encode(features_), label(rows)

    splits = {s: rows_of(s).map(example, num_parallel_calls=AUTOTUNE).unbatch() for s in sizes}
    data = DataSplits(
        **splits, task="tabular_classification" if task == "classification" else "regression",
        input_shape=(preprocessing["encoded_size"],), input_dtype="float32",
        num_classes=len(names) if names else None, labels=names, sizes=sizes,
        preprocessing=preprocessing, name=f"tabular:{os.path.basename(path)}", source=path,
        cacheable=sum(sizes.values()) * (preprocessing["encoded_size"] + 1) * 4 <= CACHE_BYTES)
    _describe(data, header, target, features, numeric, names, profile)
    return data


def _describe(data, header, target, features, numeric, names, profile):
    """What the run folder and the reports show about the table: column kinds and gaps, rows left out for a
    missing target, class counts per split and the training split's majority class (the baseline)."""
    kinds = {header[i]: "numeric" for i in numeric}
    columns = [header[i] for i in features]
    data.extras["columns"] = {"features": columns, "target": header[target],
                              "kinds": {c: kinds.get(c, "categorical") for c in columns},
                              "with_missing": [header[i] for i in features if profile["missing"][i]]}
    if profile["dropped"]:
        data.extras["dropped_rows"] = {"reason": f"target {header[target]!r} missing", **profile["dropped"]}
    if not names:
        return
    index = {name: k for k, name in enumerate(names)}
    data.extras["class_counts"] = {split: {name: sum(n for v, n in found.items() if index[v] == k)
                                           for k, name in enumerate(names)}
                                   for split, found in profile["targets"].items() if found}
    train_counts = data.extras["class_counts"].get("train", {})
    if train_counts:
        data.preprocessing["majority_class"] = names.index(max(names, key=lambda n: train_counts.get(n, 0)))


def _split_rows(path, fmt, header, target, fractions, spellings, split):
    """`(batch, columns)` stripped strings of the rows of one split that have a target, streamed."""
    code = SPLITS.index(split)

    def keep(rows):
        stripped = tf.strings.strip(rows)
        has_target = ~_is_missing(stripped[:, target], spellings)
        return tf.boolean_mask(stripped, tf.equal(_split_code(rows, *fractions), code) & has_target)

    return _string_batches(path, fmt, header).map(keep, num_parallel_calls=AUTOTUNE).filter(
        lambda rows: tf.shape(rows)[0] > 0)


def _is_missing(values, spellings):
    """(batch,) bool: stripped `values` that spell a missing value (case-insensitive)."""
    return tf.reduce_any(tf.equal(tf.strings.lower(values)[..., None], spellings), axis=-1)


def _numbers(values, spellings):
    """Stripped numeric strings as float32, NaN where missing."""
    return tf.strings.to_number(tf.where(_is_missing(values, spellings), "nan", values), tf.float32)


def _roles(path, header, label_column, ignore_columns, categorical_columns):
    """`(target index, feature indices, indices forced categorical)` from the options (names or positions)."""
    def index(spec, what):
        return column_index(spec, header, path, what) % len(header)

    target = index(label_column if label_column is not None else len(header) - 1, "label_column")
    dropped = {index(c, "ignore_columns") for c in _names(ignore_columns)}
    features = [i for i in range(len(header)) if i != target and i not in dropped]
    if not features:
        raise ValueError(f"{path!r}: no feature columns left besides the target {header[target]!r}.")
    return target, features, {index(c, "categorical_columns") for c in _names(categorical_columns)}


def _column_kinds(profile, features, forced):
    """(numeric, categorical) feature indices. Kinds come from the whole file (a text value first seen in
    the test rows still makes the column categorical); statistics from the training rows only. A numeric
    column with missing values stays numeric (imputed, with a missing indicator)."""
    numeric, categorical = [], []
    for i in features:
        (categorical if i in forced or profile["text"][i] else numeric).append(i)
    return numeric, categorical


def _target(path, fmt, header, target, task, class_names, profile, missing_values=MISSING):
    """(task, class names or None): the task from the target's values (rows that have one) unless given."""
    t = profile["target"]
    distinct = {v for c in profile["targets"].values() for v in c}
    if task == "auto":
        task = "classification" if not t["numbers"] or (t["integers"] and not t["capped"] and
                                                       len(distinct) <= MAX_CLASSES) else "regression"
    if task == "regression":
        if not t["numbers"]:
            line, row = _first_row(path, fmt, header, lambda row: not _is_number(row[target])
                                   and not _missing(row[target], missing_values))
            raise ValueError(f"{path!r} line {line}: task='regression' needs a numeric target; column "
                             f"{header[target]!r} holds {(row[target] if row else '').strip()!r}.")
        return task, None
    if t["capped"]:
        raise ValueError(f"{path!r}: the target column {header[target]!r} holds more than {MAX_TARGET_VALUES:,} "
                         "distinct values, too many classes. Pick another label_column, or task='regression' for "
                         "a numeric target.")
    names = read_class_names(class_names) or sorted(distinct, key=lambda v: (float(v), v) if t["integers"] else (0, v))
    if len(names) < 2:
        raise ValueError(f"{path!r}: the target column {header[target]!r} holds one value ({names[0]!r}); a "
                         "classifier needs two or more classes.")
    unknown = sorted(distinct - set(names))
    if unknown:
        line, _ = _first_row(path, fmt, header, lambda row: row[target].strip() == unknown[0])
        raise ValueError(f"{path!r} line {line}: label {unknown[0]!r} is not one of class_names {names}. "
                         "Add it to class_names or fix the row.")
    return task, names


def _label_fn(task, names, profile, target):
    """`rows -> labels`: class indices `(batch,)` int32, or regression targets `(batch, 1)` float32 (the
    model's output shape)."""
    if task == "regression":
        return lambda rows: tf.strings.to_number(rows[:, target], tf.float32)[:, None]
    index = {name: k for k, name in enumerate(names)}
    values = sorted({v for c in profile["targets"].values() for v in c})
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        values, tf.constant([index[v] for v in values], tf.int32)), default_value=-1)
    return lambda rows: table.lookup(rows[:, target])


def _encoder_state(header, numeric, categorical, train, spellings, missing, target=None):
    """The encoder's recorded state from the training rows (`train`: a dataset of stripped
    `(batch, columns)` strings): each numeric column's mean and variance over its present values (and
    whether it has missing values anywhere in the file: `missing`), each categorical column's
    vocabulary (Keras' `StringLookup` adapted, missing values as `""`), and with `target` (a
    regression) the target's `{"mean", "std"}`."""
    spec_numeric, target_scale = [], None
    columns = numeric + ([target] if target is not None else [])
    if columns:
        count, total, squares = (np.zeros(len(columns)) for _ in range(3))
        for x in train.map(lambda rows: tf.stack([_numbers(rows[:, i], spellings) for i in columns], axis=1)):
            x = x.numpy().astype("float64")
            present = ~np.isnan(x)
            count += present.sum(0)
            total += np.where(present, x, 0).sum(0)
            squares += np.where(present, x * x, 0).sum(0)
        mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
        variance = np.maximum(np.divide(squares, count, out=np.zeros_like(total), where=count > 0) - mean ** 2, 0)
        # A constant column would divide by ~0 for any other value at serving time.
        spec_numeric = [{"name": header[i], "mean": float(m), "variance": float(v) if v > 1e-12 else 1.0,
                         "missing": bool(missing[i])}
                        for i, m, v in zip(numeric, mean, variance)]
        if target is not None:
            target_scale = {"mean": float(mean[-1]), "std": float(np.sqrt(variance[-1])) or 1.0}
    spec_categorical = []
    for i in categorical:
        lookup = keras.layers.StringLookup(num_oov_indices=1)
        lookup.adapt(train.map(lambda rows, i=i: _missing_as_empty(rows[:, i], spellings)))
        vocabulary = [str(v) for v in lookup.get_vocabulary() if v != "[UNK]"]
        spec_categorical.append({"name": header[i], "vocabulary": vocabulary})
    return spec_numeric, spec_categorical, target_scale


def _names(value):
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def _missing(value, spellings=MISSING):
    return value is None or str(value).strip().lower() in spellings

