"""`text:` — text classification from a user's CSV, TSV or JSON Lines file (also `.gz`),
streamed through `tf.data`.

CSV/TSV go through `tf.data.experimental.CsvDataset` (C++ parsing, quoted fields
spanning lines included); JSON Lines through a Python generator. Nothing is held
in Python lists: one pass counts the labels of every split (class names, sizes,
the class balance) and checks each record, one pass adapts the vocabulary on the
training split, and training batches are read from the file again each epoch
(kept in memory only for files up to `CACHE_ROWS` rows). A bad record is then
found again by the plain-Python reader, which names its line and the fix.
"""

import csv
import itertools
import os
from collections import Counter

import numpy as np
import tensorflow as tf

from pipelines.core import AUTOTUNE, check_fractions
from pipelines.delimited import (
    column_index,
    first_bad_line,
    first_row_is_header,
    guess_columns,
    iter_rows,
    open_text,
    read_class_names,
    refuse_repeated_header,
    text_format,
)
from pipelines.registry import option, register_dataset, register_source
from pipelines.splits import SPLITS
from pipelines.text import BATCH, CACHE_ROWS, batched_text_splits, text_split_code

# --------------------------------------------------------------------------
# Columns, from the file's first rows


def _columns(path, fmt, *, text_column, label_column, header):
    """Where the text and the label are: `{"text", "label", "header"}` as the user names them (recorded in
    the run) plus the positions/keys the readers use. Decided on the first 2,000 rows."""
    sample = list(itertools.islice(iter_rows(path, fmt), 2001))
    if not sample:
        raise ValueError(f"{path!r} holds no rows.")
    if fmt == "jsonl":
        keys = list(sample[0][1])
        text_keys = text_column or next((k for k in ("text", "sentence", "review", "content") if k in keys), None)
        label_key = label_column or next((k for k in ("label", "category", "class", "target") if k in keys), None)
        if text_keys is None or label_key is None:
            raise ValueError(f"{path!r}: pass text_column= and label_column= (--text-column/--label-column); the "
                             f"first object's keys are {keys}.")
        text_keys = str(text_keys).split(",")
        return {"text": text_keys, "label": label_key, "header": None}
    names = [c.strip() for c in sample[0][1]]
    if header in (None, "auto"):
        named = [c for c in (*str(text_column or "").split(","), str(label_column or "")) if c and not c.isdigit()]
        header = bool(named) or first_row_is_header(sample)
    header_names = names if header else None
    body = sample[1:] if header else sample
    if not body:
        raise ValueError(f"{path!r} holds a header and no rows.")
    if text_column is None or label_column is None:
        guessed_text, guessed_label = guess_columns([r for _, r in body], len(names))
        text_column = guessed_text if text_column is None else text_column
        label_column = guessed_label if label_column is None else label_column
    text_specs = text_column.split(",") if isinstance(text_column, str) else [text_column]
    width = len(names)
    text_idx = [column_index(c, header_names, path, "text_column") % width for c in text_specs]
    label_idx = column_index(label_column, header_names, path, "label_column") % width
    return {"text": [header_names[c] if header_names else c for c in text_idx],
            "label": header_names[label_idx] if header_names else label_idx, "header": bool(header),
            "text_idx": text_idx, "label_idx": label_idx, "width": width, "names": names}


# --------------------------------------------------------------------------
# Streaming (text, label) string batches


def _batches(path, fmt, cols):
    """`(texts, labels)` string batches of the whole file, in file order."""
    if fmt == "jsonl":
        def rows():
            for number, row in iter_rows(path, fmt):
                if any(k not in row for k in (*cols["text"], cols["label"])):
                    raise ValueError(f"line {number}: missing key")  # named by _explain
                yield " ".join(str(row[k]) for k in cols["text"]), str(row[cols["label"]]).strip()

        spec = tf.TensorSpec((), tf.string)
        return tf.data.Dataset.from_generator(rows, output_signature=(spec, spec)).batch(BATCH)
    keep = sorted({*cols["text_idx"], cols["label_idx"]})
    at = {c: i for i, c in enumerate(keep)}
    ds = tf.data.experimental.CsvDataset(
        path, [tf.constant([], tf.string)] * len(keep), header=cols["header"], field_delim=fmt,
        # TSV files (GLUE's, SST-2's) are not quoted: a quote is part of the text there.
        use_quote_delim=fmt != "\t", select_cols=keep, buffer_size=1 << 20,
        compression_type="GZIP" if path.endswith(".gz") else "")

    def pair(*fields):
        texts = [fields[at[c]] for c in cols["text_idx"]]
        text = texts[0] if len(texts) == 1 else tf.strings.join(texts, separator=" ")
        return text, tf.strings.strip(fields[at[cols["label_idx"]]])

    return ds.batch(BATCH).map(pair, num_parallel_calls=AUTOTUNE)


def _split_batches(ds, split, fractions):
    if fractions is None:  # a file that is one split
        return ds
    code = SPLITS.index(split)

    def keep(texts, labels):
        mask = tf.equal(text_split_code(texts, labels, *fractions), code)
        return tf.boolean_mask(texts, mask), tf.boolean_mask(labels, mask)

    return ds.map(keep, num_parallel_calls=AUTOTUNE).filter(lambda t, y: tf.size(y) > 0)


# --------------------------------------------------------------------------
# The counting pass (and what it finds wrong)


def _count(path, fmt, cols, fractions, only_split):
    """`{split: Counter(raw label -> rows)}` over the whole file, checking that every record is complete
    UTF-8 (`only_split`: the split of a file that is one)."""
    def codes(texts, labels):
        texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="strict")  # raises on bad bytes
        labels = tf.strings.unicode_transcode(labels, "UTF-8", "UTF-8", errors="strict")
        code = text_split_code(texts, labels, *fractions) if fractions else tf.zeros_like(labels, tf.int64)
        return code, labels

    counts = {s: Counter() for s in SPLITS}
    try:
        for code, labels in _batches(path, fmt, cols).map(codes, num_parallel_calls=AUTOTUNE).prefetch(2):
            code, labels = code.numpy(), labels.numpy()
            for c in np.unique(code):
                values, n = np.unique(labels[code == c], return_counts=True)
                counts[SPLITS[c] if fractions else only_split].update(
                    {v.decode("utf8"): int(k) for v, k in zip(values, n)})
    except tf.errors.OpError as err:
        _explain(path, fmt, cols, err)
    return {s: c for s, c in counts.items() if c}


def _explain(path, fmt, cols, err):
    """Re-read the file in Python to name the line that `tf.data` refused, and raise."""
    if fmt == "jsonl":
        for number, row in iter_rows(path, fmt):  # raises on bad JSON / UTF-8
            missing = [k for k in [*cols["text"], cols["label"]] if k not in row]
            if missing:
                raise ValueError(f"{path!r} line {number}: no key(s) {missing} (keys: {list(row)}). Fix the line "
                                 "or remove it.")
    else:
        need = max(*cols["text_idx"], cols["label_idx"])
        with open_text(path) as f:
            reader = csv.reader(f, delimiter=fmt, quoting=csv.QUOTE_NONE if fmt == "\t" else csv.QUOTE_MINIMAL)
            try:
                for row in reader:
                    if not row:
                        raise ValueError(f"{path!r} line {reader.line_num} is blank. Remove the blank lines.")
                    if need >= len(row):
                        raise ValueError(f"{path!r} line {reader.line_num}: {len(row)} field(s) where {cols['width']} "
                                         "are expected (the first row's count). A text holding the delimiter must "
                                         "be quoted; or a field is missing. Fix the line or remove it.")
            except UnicodeDecodeError as e:
                raise ValueError(f"{path!r} is not UTF-8 text ({e.reason} at line {first_bad_line(path)}). "
                                 "Re-save it as UTF-8.") from None
            except (OSError, EOFError) as e:  # a truncated .gz
                raise ValueError(f"{path!r} could not be read to the end ({e}). Re-copy the file.") from None
    message = getattr(err, "message", str(err)).split(" [Op:")[0].split("}}")[-1].strip()
    raise ValueError(f"{path!r} could not be parsed: {message}. Check its quoting (a field that starts with a "
                     "quote must end with one) and re-save it.") from None


def _check_no_repeated_header(cols, files_of):
    """Refuse a data row that repeats the header (files concatenated with their headers): it would add a
    class named after the label column."""
    label_name = cols["label"] if cols["header"] else None
    if not isinstance(label_name, str) or label_name not in files_of:
        return
    path, fmt = files_of[label_name]
    for number, row in iter_rows(path, fmt):
        if number > 1 and [c.strip() for c in row[:cols["width"]]] == [str(n) for n in cols["names"]]:
            refuse_repeated_header(path, number)


def _first_line(path, fmt, cols, label):
    """The line number of the first row whose label is `label` (for an error message)."""
    for number, row in iter_rows(path, fmt):
        value = row.get(cols["label"]) if fmt == "jsonl" else (
            row[cols["label_idx"]] if cols["label_idx"] < len(row) else None)
        if value is not None and str(value).strip() == label:
            return number
    return "?"


def _label_index(values, class_names, path, line_of):
    """`({raw label: class index}, class names)` from the distinct raw labels; `line_of(label)` is
    `(file, line)` of a row with that label, for errors."""
    def at(label):
        file, line = line_of(label)
        return f"{file!r} line {line}"

    values = sorted(values)
    if class_names is None:
        if all(v.lstrip("-").isdigit() for v in values):  # integer labels: class indices 0..K-1
            ints = sorted(int(v) for v in values)
            if ints[0] < 0:
                raise ValueError(f"{at(str(ints[0]))}: label {ints[0]} is negative. Integer labels are class "
                                 "indices 0, 1, ...; or pass class_names=.")
            class_names, index = [str(i) for i in range(ints[-1] + 1)], {v: int(v) for v in values}
        else:
            class_names, index = values, {v: i for i, v in enumerate(values)}
    else:
        named = {c: i for i, c in enumerate(class_names)}
        index = {}
        for v in values:
            if v in named:
                index[v] = named[v]
            elif v.lstrip("-").isdigit() and 0 <= int(v) < len(class_names):
                index[v] = int(v)  # integer labels with named classes
            else:
                raise ValueError(f"{at(v)}: label {v!r} is not one of the class names {class_names}. Fix the "
                                 "label or the class names.")
    if len(class_names) < 2:
        raise ValueError(f"{path!r}: every row has the label {class_names[0]!r}; a classifier needs two or more "
                         "classes. Check label_column=.")
    return index, list(class_names)


# --------------------------------------------------------------------------
# The source


def _read_files(path, fmt, cols, val, test, fractions, delimiter):
    """`{split: Counter}` of every split and `{split: (file, format)}` it is read from: one counting pass
    per file, every file read with the train file's resolved columns."""
    if fractions is not None:
        counts = _count(path, fmt, cols, fractions, None)
        return counts, dict.fromkeys(counts, (path, fmt))
    counts, where = {}, {}
    for split, file in (("train", path), ("val", val), ("test", test)):
        if file is not None:
            file_fmt = fmt if file == path else text_format(file, delimiter)
            found = _count(file, file_fmt, cols, None, split)
            if found:
                counts[split], where[split] = found[split], (file, file_fmt)
    return counts, where


@register_source("text", path="FILE", description="text classification from a CSV, TSV or JSON Lines file (also .gz)",
                 options={"text_column": option("column name or position; 'title,body' joins columns"),
                          "label_column": option("label column, name or position"),
                          "header": option("the first row is data (default: detected)", negate="--no-header"),
                          "class_names": option("'a,b,c' or a file with one name per line (fixes the order)"), "val_fraction": option("held-out share for validation", type="float"), "test_fraction": option("held-out share for testing", type="float")})
def text_file(path, *, text_column=None, label_column=None, header="auto", delimiter=None, val=None, test=None,
              val_fraction=0.1, test_fraction=0.1, class_names=None, max_tokens=20000, sequence_length=128,
              truncate="post", vectorizer=None):
    """Text classification from your own CSV, TSV or JSON Lines file (also `.gz`), streamed.

    Columns are named (`text_column="Text"`) or numbered (`1`); several text
    columns joined with commas (`"title,body"`) are joined with a space.
    Without them the text column is the one with the longest values and the
    label column the one with the fewest distinct values. The header row is
    detected (`header=True/False` to say so). Labels may be strings or integers;
    class names are the sorted distinct labels (or `class_names=`, a list, a
    comma-separated string or a file, which fixes their order).

    Splits: `val=`/`test=` files, else each row goes to train/val/test by a
    fingerprint of its text and label (`val_fraction`, `test_fraction`), so
    adding rows keeps every old row's split.

    Example:

    ```python
    import pipelines
    data = pipelines.text_file("reviews.csv", text_column="Text", label_column="Category")
    data.labels, data.sizes, data.extras["class_counts"]
    ```
    """
    check_fractions(val_fraction, test_fraction)
    fmt = text_format(path, delimiter)
    cols = _columns(path, fmt, text_column=text_column, label_column=label_column, header=header)
    one_file = val is None and test is None and (val_fraction or test_fraction)
    fractions = (val_fraction, test_fraction) if one_file else None  # None: each file is one split
    counts, where = _read_files(path, fmt, cols, val, test, fractions, delimiter)
    if "train" not in counts:
        raise ValueError(f"{path!r}: no rows fell in the training split. Lower val_fraction/test_fraction.")
    files_of = {label: where[s] for s in reversed(SPLITS) if s in counts for label in counts[s]}
    _check_no_repeated_header(cols, files_of)
    index, names = _label_index({v for c in counts.values() for v in c}, read_class_names(class_names), path,
                                lambda v: (files_of[v][0], _first_line(*files_of[v], cols, v)))
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        list(index), tf.constant(list(index.values()), tf.int32)), default_value=-1)
    batches = {s: _split_batches(_batches(*where[s], cols), s, fractions).map(
        lambda t, y: (t, table.lookup(y)), num_parallel_calls=AUTOTUNE) for s in counts}
    sizes = {s: sum(c.values()) for s, c in counts.items()}
    data = batched_text_splits(batches, sizes, name=f"text:{os.path.basename(path)}", labels=names,
                               max_tokens=max_tokens, sequence_length=sequence_length, truncate=truncate,
                               vectorizer=vectorizer, cacheable=sum(sizes.values()) <= CACHE_ROWS)
    data.source = path
    data.extras["columns"] = {k: cols[k] for k in ("text", "label", "header")}
    data.extras["class_counts"] = {}
    for split, found in counts.items():
        per_class = [0] * len(names)
        for label, n in found.items():
            per_class[index[label]] += n
        data.extras["class_counts"][split] = dict(zip(names, per_class))
    return data


# --------------------------------------------------------------------------
# TFRecord shards of text


def tfrecord_text(path, *, text_key, label_key="label", class_names=None, train="train-*.tfrecord",
                  test="test-*.tfrecord", val_fraction=0.1, max_tokens=20000, sequence_length=128,
                  truncate="post", vectorizer=None):
    """Text classification from `tf.train.Example` shards holding a text (bytes) feature `text_key`
    and an int64 class index `label_key`, streamed like `text_file` (one counting pass that checks
    every record, one pass adapting the vocabulary). Class names come from `class_names` or
    `labels.txt` in the folder; the first `val_fraction` of the training records is held out.

    Example:

    ```python
    import pipelines
    data = pipelines.tfrecords("reviews/", text_key="review", label_key="stars", class_names="bad,ok,good")
    ```
    """
    import glob

    if not os.path.isdir(path):
        raise ValueError(f"TFRecord folder {path!r} does not exist.")
    names = read_class_names(class_names)
    if names is None:
        if not os.path.exists(os.path.join(path, "labels.txt")):
            raise ValueError(f"No class names for the TFRecords in {path!r}: pass class_names= (--class-names a,b,c "
                             "or a file with one name per line), or put labels.txt in the folder.")
        names = read_class_names(os.path.join(path, "labels.txt"))
    features = {text_key: tf.io.FixedLenFeature([], tf.string), label_key: tf.io.FixedLenFeature([], tf.int64)}

    def records(pattern):
        files = sorted(glob.glob(os.path.join(path, pattern)))
        return files, tf.data.TFRecordDataset(files).batch(BATCH).map(
            lambda r: (lambda ex: (ex[text_key], tf.cast(ex[label_key], tf.int32)))(
                tf.io.parse_example(r, features)), num_parallel_calls=AUTOTUNE)

    files, train_ds = records(train)
    if not files:
        raise ValueError(f"No TFRecord files match {os.path.join(path, train)!r} (train=).")
    counts = {"train": _count_records(files, train_ds, names, text_key, label_key)}
    test_files, test_ds = records(test)
    if test_files:
        counts["test"] = _count_records(test_files, test_ds, names, text_key, label_key)
    n_val = int(sum(counts["train"]) * val_fraction)
    rows = train_ds.unbatch()
    batches = {"train": rows.skip(n_val).batch(BATCH), **({"val": rows.take(n_val).batch(BATCH)} if n_val else {}),
               **({"test": test_ds} if test_files else {})}
    sizes = {"train": sum(counts["train"]) - n_val, **({"val": n_val} if n_val else {}),
             **({"test": sum(counts["test"])} if test_files else {})}
    data = batched_text_splits(batches, sizes, name=f"tfrecord:{os.path.basename(os.path.normpath(path))}",
                               labels=names, max_tokens=max_tokens, sequence_length=sequence_length,
                               truncate=truncate, vectorizer=vectorizer, cacheable=sum(sizes.values()) <= CACHE_ROWS)
    data.source = path
    data.extras["class_counts"] = {s: dict(zip(names, map(int, c))) for s, c in counts.items()}
    return data


def _count_records(files, ds, names, text_key, label_key):
    """Per-class record counts of TFRecord text shards, every record checked (parses, UTF-8 text, label
    in range), else a `ValueError` naming the files, the keys and the fix."""
    counts, seen = np.zeros(len(names), "int64"), 0
    try:
        for texts, labels in ds.map(lambda t, y: (tf.strings.unicode_transcode(t, "UTF-8", "UTF-8", errors="strict"),
                                                   y)):
            labels = labels.numpy()
            bad = np.flatnonzero((labels < 0) | (labels >= len(names)))
            if len(bad):
                raise ValueError(f"{files[0]!r}...: record {seen + int(bad[0])} has label {int(labels[bad[0]])}, "
                                 f"outside the {len(names)} class names {names}. Fix the labels or the class names.")
            counts += np.bincount(labels, minlength=len(names))
            seen += len(labels)
    except tf.errors.OpError as err:
        message = getattr(err, "message", str(err)).split(" [Op:")[0].split("}}")[-1].strip()
        raise ValueError(f"The TFRecords {files[0]!r}... cannot be read as text examples with text_key={text_key!r} "
                         f"(bytes) and label_key={label_key!r} (int64): {message}. Pass the keys your records use "
                         "(--data-arg text_key=... --data-arg label_key=...).") from None
    if not seen:
        raise ValueError(f"The TFRecord files {files} hold no records.")
    return counts


# --------------------------------------------------------------------------
# SST-2 (a preset of `text:`) and an in-memory reader


@register_dataset("sst2", description="SST-2 train/dev/test .tsv")
def sst2(data_dir, *, max_tokens=20000, sequence_length=64, truncate="post", vectorizer=None):
    """SST-2 from GLUE-style TSVs (`train.tsv`, `dev.tsv`, optional `test.tsv`; header `sentence<TAB>label`,
    labels 0/1): a preset of the `text:` source (`pipelines.text_file`), streamed and checked the same way.
    Pass a fitted `vectorizer` (e.g. a run's) to reuse its vocabulary."""
    paths = {s: os.path.join(data_dir, f"{f}.tsv") for s, f in (("train", "train"), ("val", "dev"), ("test", "test"))}
    if not os.path.exists(paths["train"]):
        raise ValueError(f"{paths['train']!r} not found: point --data-dir at the SST-2 folder.")
    data = text_file(paths["train"], val=paths["val"] if os.path.exists(paths["val"]) else None,
                     test=paths["test"] if os.path.exists(paths["test"]) else None, text_column="sentence",
                     label_column="label", header=True, class_names=["negative", "positive"], max_tokens=max_tokens,
                     sequence_length=sequence_length, truncate=truncate, vectorizer=vectorizer)
    data.name, data.source = "sst2", data_dir
    return data


def read_table(path, *, text_column="sentence", label_column="label", delimiter=None):
    """`(texts, labels)` from a TSV/CSV file with a header row (SST-2's layout)."""
    if not os.path.exists(path):
        raise ValueError(f"Text table {path!r} does not exist.")
    delimiter = delimiter or ("\t" if path.endswith((".tsv", ".tsv.gz")) else ",")
    texts, labels = [], []
    try:
        with open(path, encoding="utf8", newline="") as f:
            reader = csv.DictReader(f, delimiter=delimiter,
                                    quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL)
            missing = {text_column, label_column} - set(reader.fieldnames or [])
            if missing:
                raise ValueError(f"{path!r} lacks the column(s) {sorted(missing)}; its header is "
                                 f"{reader.fieldnames}. Pass text_column=/label_column=.")
            for row_number, row in enumerate(reader, start=2):
                try:
                    labels.append(int(row[label_column]))
                except (TypeError, ValueError):
                    raise ValueError(f"{path!r} line {row_number}: label {row[label_column]!r} is not an "
                                     "integer.") from None
                if labels[-1] < 0:
                    raise ValueError(f"{path!r} line {row_number}: label {labels[-1]} is negative; labels are "
                                     "class indices 0, 1, ...")
                texts.append(row[text_column])
    except UnicodeDecodeError as err:
        raise ValueError(f"{path!r} is not UTF-8 text (byte {err.object[err.start]:#x} at offset {err.start}). "
                         "Re-save it as UTF-8.") from None
    if not texts:
        raise ValueError(f"{path!r} holds no rows.")
    return np.array(texts, dtype=object), np.array(labels, "int32")
