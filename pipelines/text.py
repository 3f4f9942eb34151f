"""Text sources: class folders (the aclImdb layout, also read straight from
its `.tar.gz`), TSV/CSV files (SST-2), arrays. Token ids come from a
`keras.layers.TextVectorization` adapted on the training split only; it is
kept in `DataSplits.vectorizer` so the trainer saves it beside the model and
exports can take raw strings.
"""

import csv
import os
import tarfile

import keras
import numpy as np
import tensorflow as tf

from pipelines.core import AUTOTUNE, DataSplits, check_fractions


def read_text_folder(path, split=None):
    """`(texts, labels, class_names)` from `<root>/<class>/*.txt`.

    `path` is a folder, or a `.tar`/`.tar.gz` holding one (read in place, no
    extraction step); `split` picks a subfolder (`"train"`, `"test"`) in
    either. Subfolders without `.txt` files (aclImdb's `unsup`) are ignored.
    """
    by_class = {}
    if os.path.isfile(path) and tarfile.is_tarfile(path):
        try:
            with tarfile.open(path, "r:*") as tar:
                for member in tar:
                    if not (member.isfile() and member.name.endswith(".txt")):
                        continue
                    parts = member.name.split("/")
                    if len(parts) < 3 or (split is not None and parts[-3] != split):
                        continue
                    text = tar.extractfile(member).read().decode("utf8", errors="replace")
                    by_class.setdefault(parts[-2], []).append((member.name, text))
        except (tarfile.TarError, EOFError, OSError) as err:
            raise ValueError(f"{path!r} is truncated or not a readable tar archive ({err}).") from err
    elif os.path.isdir(path):
        root = os.path.join(path, split) if split else path
        if not os.path.isdir(root):
            raise ValueError(f"Text folder {root!r} does not exist.")
        for c in sorted(os.listdir(root)):
            folder = os.path.join(root, c)
            if not os.path.isdir(folder):
                continue
            for fname in sorted(os.listdir(folder)):
                if fname.endswith(".txt"):
                    with open(os.path.join(folder, fname), encoding="utf8", errors="replace") as f:
                        by_class.setdefault(c, []).append((fname, f.read()))
    else:
        raise ValueError(f"{path!r} is neither a folder nor a tar archive of class folders.")
    if not by_class:
        where = f"{path!r}" + (f" (split {split!r})" if split else "")
        raise ValueError(f"No `<class>/*.txt` files found in {where}.")
    classes = sorted(by_class)
    texts, labels = [], []
    for i, c in enumerate(classes):
        for _, text in sorted(by_class[c]):
            texts.append(text)
            labels.append(i)
    return np.array(texts, dtype=object), np.array(labels, "int32"), classes


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


TRUNCATE = ("post", "pre")

# Characters that only look like (or are) spaces and line breaks: Unicode
# separators (Z: spaces, no-break spaces, U+2028 line and U+2029 paragraph
# separators), controls (Cc: \t \n \r \v \f, U+0085 next line) and format
# characters (Cf: zero-width spaces and joiners, the byte-order mark). A
# token holding one cannot be stored one per line in a vocabulary file (it
# reads back as several lines), so they split tokens instead.
SPACE_LIKE = r"[\p{Z}\p{Cc}\p{Cf}]+"
PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'  # Keras' lower_and_strip_punctuation


@keras.saving.register_keras_serializable(package="zoo")
def standardize(texts):
    """Lower-case (ASCII), every space-like character -> " ", punctuation removed.

    Keras' `"lower_and_strip_punctuation"` plus the `SPACE_LIKE` rule; used
    by training, `serving_text` and so `vocabulary.txt` alike.

    Example:

    ```python
    import tensorflow as tf
    standardize(tf.constant(["Good\u0085movie!", "a\u00a0b"]))  # [b"good movie", b"a b"]
    ```
    """
    texts = tf.strings.lower(texts)
    texts = tf.strings.regex_replace(texts, SPACE_LIKE, " ")
    return tf.strings.regex_replace(texts, PUNCTUATION, "")


def unstorable(token):
    """True for a token that a one-token-per-line vocabulary file cannot hold."""
    return token != "" and (token.splitlines() != [token] or "\r" in token)


def make_vectorizer(train_texts, *, max_tokens=20000, sequence_length=200, truncate="post"):
    """A `TextVectorization` (`standardize`: lower-case, space-like characters
    to spaces, strip punctuation; int ids, 0 = padding, 1 = out-of-vocabulary)
    adapted on the training texts only.

    With `truncate="pre"` the layer returns ragged ids and `vectorize` keeps
    the *last* `sequence_length` tokens (keras' `pad_sequences` default,
    what `keras.datasets.imdb` examples train on: reviews end with the verdict).
    """
    if truncate not in TRUNCATE:
        raise ValueError(f"`truncate` must be one of {list(TRUNCATE)}. Received: truncate={truncate!r}")
    vectorizer = keras.layers.TextVectorization(
        max_tokens=max_tokens, standardize=standardize,
        output_sequence_length=sequence_length if truncate == "post" else None,
        ragged=truncate == "pre", name="vectorizer")
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(train_texts.astype(str)).batch(1024))
    return vectorizer


def vectorize(vectorizer, texts, sequence_length, truncate="post"):
    """`(batch, sequence_length)` int32 ids of a batch of strings, right-padded
    with 0; `truncate="pre"` keeps the last tokens of long texts. Exports use
    this same function, so served models see exactly the training ids."""
    ids = vectorizer(texts)
    if truncate == "pre":
        ids = ids[:, -sequence_length:].to_tensor(default_value=0, shape=[None, sequence_length])
    return tf.cast(ids, tf.int32)


def text_splits(train, val=None, test=None, *, name, labels, max_tokens=20000, sequence_length=200,
                vectorizer=None, truncate="post"):
    """`DataSplits` of token ids from `(texts, labels)` array pairs."""
    for split, pair in (("train", train), ("val", val), ("test", test)):
        if pair is not None and len(pair[0]) == 0:
            raise ValueError(f"The {split} split of {name!r} is empty.")
    for split, pair in (("train", train), ("val", val), ("test", test)):
        if pair is not None and ((pair[1] < 0) | (pair[1] >= len(labels))).any():
            row = int(np.flatnonzero((pair[1] < 0) | (pair[1] >= len(labels)))[0])
            raise ValueError(f"{name!r} {split} split, example {row}: label {int(pair[1][row])} is outside the "
                             f"{len(labels)} class names {list(labels)}. Fix the labels or the class names.")
    vectorizer = vectorizer or make_vectorizer(train[0], max_tokens=max_tokens, sequence_length=sequence_length,
                                               truncate=truncate)

    def ids(pair):
        if pair is None:
            return None
        texts, y = pair
        ds = tf.data.Dataset.from_tensor_slices((texts.astype(str), y))
        return ds.batch(1024).map(lambda t, l: (vectorize(vectorizer, t, sequence_length, truncate), l),
                                  num_parallel_calls=AUTOTUNE).unbatch()

    vocab_size = vectorizer.vocabulary_size()
    return DataSplits(
        train=ids(train), val=ids(val), test=ids(test), task="text_classification",
        input_shape=(sequence_length,), input_dtype="int32", num_classes=len(labels),
        labels=list(labels),
        sizes={k: len(p[0]) for k, p in (("train", train), ("val", val), ("test", test)) if p is not None},
        preprocessing={"type": "text_vectorization", "vocab_size": int(vocab_size),
                       "sequence_length": sequence_length, "standardize": _standardize_name(vectorizer),
                       "split": "whitespace", "padding_id": 0, "oov_id": 1, "truncate": truncate},
        vectorizer=vectorizer, name=name,
        checked=("train", "val", "test"),  # labels checked above; token ids cannot be NaN
    )


def _standardize_name(vectorizer):
    value = vectorizer.get_config().get("standardize")
    return "zoo.standardize" if callable(value) or isinstance(value, dict) else value


def _hold_out(texts, labels, fraction, seed):
    order = np.random.default_rng(seed).permutation(len(texts))
    n = int(len(texts) * fraction)
    return (texts[order[n:]], labels[order[n:]]), (texts[order[:n]], labels[order[:n]])


def imdb(data_dir, *, max_tokens=20000, sequence_length=200, val_fraction=0.1, seed=0, limit=None,
         truncate="pre", vectorizer=None):
    """IMDB reviews from the aclImdb layout: a folder or `aclImdb_v1*.tar.gz`
    in `data_dir`. `limit` keeps a seeded subset per split (for quick runs).
    Long reviews keep their last `sequence_length` tokens by default."""
    source = data_dir
    if os.path.isdir(os.path.join(data_dir, "aclImdb")):
        source = os.path.join(data_dir, "aclImdb")
    elif os.path.isdir(data_dir) and not os.path.isdir(os.path.join(data_dir, "train")):
        tars = sorted(f for f in os.listdir(data_dir) if f.endswith((".tar.gz", ".tgz", ".tar")))
        if not tars:
            raise ValueError(f"No aclImdb folder or tar archive in data_dir={data_dir!r}.")
        source = os.path.join(data_dir, tars[0])
    if os.path.isfile(source):
        # One pass over the archive for both splits.
        all_texts, all_labels, classes = _read_tar_splits(source)
        texts = {s: (all_texts[s], all_labels[s]) for s in ("train", "test")}
    else:
        texts = {}
        for split in ("train", "test"):
            t, l, classes = read_text_folder(source, split)
            texts[split] = (t, l)
    if classes != ["neg", "pos"]:
        raise ValueError(f"Expected aclImdb classes ['neg', 'pos'], found {classes}.")
    if limit:
        rng = np.random.default_rng(seed)
        texts = {s: tuple(a[idx] for a in p) for s, p in texts.items()
                 for idx in [np.sort(rng.permutation(len(p[0]))[:limit])]}
    train, val = _hold_out(*texts["train"], val_fraction, seed)
    return text_splits(train, val if len(val[0]) else None, texts["test"], name="imdb",
                       labels=classes, max_tokens=max_tokens, sequence_length=sequence_length,
                       truncate=truncate, vectorizer=vectorizer)


def _read_tar_splits(path):
    out, labels, classes = {"train": [], "test": []}, {"train": [], "test": []}, set()
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                parts = member.name.split("/")
                if not (member.isfile() and member.name.endswith(".txt") and len(parts) >= 3):
                    continue
                split, c = parts[-3], parts[-2]
                if split not in out or c not in ("neg", "pos"):
                    continue
                classes.add(c)
                out[split].append((member.name, tar.extractfile(member).read().decode("utf8", errors="replace")))
    except (tarfile.TarError, EOFError, OSError) as err:
        raise ValueError(f"{path!r} is truncated or not a readable tar archive ({err}). Re-copy it.") from err
    classes = sorted(classes)
    texts = {}
    for split in out:
        rows = sorted(out[split])
        texts[split] = np.array([t for _, t in rows], dtype=object)
        labels[split] = np.array([classes.index(n.split("/")[-2]) for n, _ in rows], "int32")
        if len(rows) == 0:
            raise ValueError(f"{path!r} has no {split}/<class>/*.txt files.")
    return texts, labels, classes


def sst2(data_dir, *, max_tokens=20000, sequence_length=64, truncate="post", vectorizer=None):
    """SST-2 from `train.tsv`, `dev.tsv`, `test.tsv` (`sentence<TAB>label`).
    Pass a fitted `vectorizer` (e.g. a run's) to reuse its vocabulary."""
    paths = {s: os.path.join(data_dir, f"{f}.tsv") for s, f in (("train", "train"), ("val", "dev"), ("test", "test"))}
    if not os.path.exists(paths["train"]):
        raise ValueError(f"{paths['train']!r} not found: point --data-dir at the SST-2 folder.")
    pairs = {s: read_table(p) if os.path.exists(p) else None for s, p in paths.items()}
    for split, pair in pairs.items():
        if pair is not None and (pair[1] > 1).any():
            row = int(np.flatnonzero(pair[1] > 1)[0])
            raise ValueError(f"{paths[split]!r} data row {row + 1}: label {int(pair[1][row])}; SST-2 labels are "
                             "0 (negative) and 1 (positive).")
    data = text_splits(pairs["train"], pairs["val"], pairs["test"], name="sst2",
                       labels=["negative", "positive"], max_tokens=max_tokens,
                       sequence_length=sequence_length, truncate=truncate, vectorizer=vectorizer)
    data.source = data_dir
    return data


# --------------------------------------------------------------------------
# Saved vectorizers: save (checked), load, and repair of runs saved before
# `standardize` existed, whose vocabularies can hold unstorable tokens.

_VOCAB_FILE = "assets/layers/text_vectorization/_lookup_layer/vocabulary.txt"


def save_vectorizer(vectorizer, path):
    """Save a fitted `TextVectorization` as a small `.keras` model (strings in,
    token ids out), then load it back: a vocabulary that does not survive the
    round trip fails here, not in a later export."""
    from zoo.run_folder import save_model

    wrapper = keras.Sequential([keras.Input(shape=(), dtype="string"), vectorizer], name="vectorizer")
    bad = [t for t in vectorizer.get_vocabulary() if unstorable(str(t))]
    if bad:
        raise ValueError(f"The vocabulary holds tokens a vocabulary file cannot store ({bad[:5]!r}): build the "
                         "vectorizer with pipelines.text.make_vectorizer (standardize=pipelines.text.standardize).")
    save_model(wrapper, path)
    again = keras.saving.load_model(path).layers[-1].get_vocabulary()
    if [str(t) for t in again] != [str(t) for t in vectorizer.get_vocabulary()]:
        os.remove(path)
        raise ValueError(f"The vectorizer saved to {path!r} does not load back with the same vocabulary.")


def _raw_vocabulary(path):
    """The vocabulary of a saved vectorizer as written (one token per '\\n'), or None."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            if _VOCAB_FILE not in z.namelist():
                return None
            return z.read(_VOCAB_FILE).decode("utf-8").split("\n")
    except (zipfile.BadZipFile, OSError) as err:
        raise ValueError(f"{path!r} is not a readable .keras file ({err}).") from err


def load_vectorizer(path, model=None):
    """`(vectorizer, model)` from a saved vectorizer.

    A vectorizer saved before `standardize` existed may hold tokens with
    line-breaking characters, which Keras reads back as several lines (a
    shifted or refused vocabulary). Such a vocabulary is repaired: the
    unstorable tokens are dropped, and the rows of `model`'s token embedding
    are reordered so every other token keeps its embedding (the dropped
    tokens read as out-of-vocabulary, which they are for the file anyway).
    Without `model` the repair is refused (token ids would shift).
    """
    raw = _raw_vocabulary(path)
    bad = [i for i, t in enumerate(raw or []) if unstorable(t)]
    if not bad:
        return keras.saving.load_model(path).layers[-1], model
    if model is None:
        raise ValueError(f"{path!r} holds {len(bad)} token(s) a vocabulary file cannot store (saved before "
                         "zoo's text standardization). Load it with the run's model to repair both "
                         "(pipelines.text.load_vectorizer(path, model); `zoo export RUN` does), or retrain.")
    keep = [i for i in range(len(raw)) if i not in set(bad)]
    vectorizer = _vectorizer_from_config(path)
    vectorizer.set_vocabulary([raw[i] for i in keep][2:])  # without '' (padding) and '[UNK]'
    vectorizer(tf.constant(["build"]))  # built, as a loaded layer is (exports track it)
    _reorder_token_embedding(model, keep + bad, len(raw))
    return vectorizer, model


def _vectorizer_from_config(path):
    import json
    import zipfile

    with zipfile.ZipFile(path) as z:
        config = json.loads(z.read("config.json"))
    layer = next(l for l in config["config"]["layers"] if l["class_name"] == "TextVectorization")
    return keras.layers.TextVectorization.from_config(layer["config"])


def _reorder_token_embedding(model, order, vocab_length):
    """Row i of the token embedding becomes old row order[i] (rows past the vocabulary stay)."""
    embeddings = [l for l in model._flatten_layers() if isinstance(l, keras.layers.Embedding)
                  and "position" not in l.name and l.input_dim >= vocab_length]
    if len(embeddings) != 1:
        raise ValueError(f"Cannot repair the vocabulary: model {model.name!r} has {len(embeddings)} token "
                         "embeddings of the vocabulary's size (expected 1). Retrain the model.")
    layer = embeddings[0]
    weights = keras.ops.convert_to_numpy(layer.embeddings)
    rows = list(order) + list(range(vocab_length, len(weights)))
    layer.embeddings.assign(weights[rows])


# --------------------------------------------------------------------------
# A user's own text file: CSV, TSV or JSON Lines (optionally gzipped).

_TEXT_FORMATS = {".csv": ",", ".tsv": "\t", ".txt": "\t", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}


def _text_format(path, delimiter):
    if delimiter:
        return {"tab": "\t", "\\t": "\t", "comma": ","}.get(delimiter, delimiter)
    stem = path[:-3] if path.endswith(".gz") else path
    ext = os.path.splitext(stem)[1].lower()
    if ext not in _TEXT_FORMATS:
        raise ValueError(f"Cannot tell the format of {path!r} from its extension: name it .csv, .tsv or .jsonl "
                         "(optionally .gz), or pass delimiter= (--data-arg delimiter=tab).")
    return _TEXT_FORMATS[ext]


def _open_text(path):
    import gzip

    if not os.path.isfile(path):
        raise ValueError(f"Text file {path!r} does not exist.")
    return gzip.open(path, "rt", encoding="utf8", newline="") if path.endswith(".gz") else \
        open(path, encoding="utf8", newline="")


def _rows(path, fmt):
    """`(line number, row)` of a CSV/TSV (lists) or JSON Lines (dicts) file, streamed."""
    import json

    with _open_text(path) as f:
        try:
            if fmt == "jsonl":
                for number, line in enumerate(f, start=1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as err:
                        raise ValueError(f"{path!r} line {number}: not a JSON object ({err.msg}). JSON Lines "
                                         "files hold one object per line.") from None
                    if not isinstance(row, dict):
                        raise ValueError(f"{path!r} line {number}: a JSON {type(row).__name__}, not an object "
                                         "({\"text\": ..., \"label\": ...}).")
                    yield number, row
            else:
                # TSV files (GLUE's, SST-2's) are not quoted: a quote is part of the text there.
                reader = csv.reader(f, delimiter=fmt, quoting=csv.QUOTE_NONE if fmt == "\t" else csv.QUOTE_MINIMAL)
                for row in reader:
                    if row:
                        yield reader.line_num, row
        except UnicodeDecodeError as err:
            raise ValueError(f"{path!r} is not UTF-8 text ({err.reason} at byte {err.start} of a block). Re-save "
                             "it as UTF-8.") from None
        except (OSError, EOFError) as err:  # a truncated .gz
            raise ValueError(f"{path!r} could not be read to the end ({err}). Re-copy the file.") from None


def _column_index(spec, header, path, what):
    """Index of a column given by name or position (int or digit string)."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.lstrip("-").isdigit()):
        index = int(spec)
        if header is not None and not -len(header) <= index < len(header):
            raise ValueError(f"{what}={spec!r}: {path!r} has {len(header)} columns {header}.")
        return index
    if header is None:
        raise ValueError(f"{what}={spec!r} names a column but {path!r} is read without a header (header=False): "
                         "give the column's position (0, 1, ...) instead.")
    if spec not in header:
        import difflib

        close = difflib.get_close_matches(str(spec), header, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"{what}={spec!r} is not a column of {path!r}; its header is {header}.{hint}")
    return header.index(spec)


def _looks_numeric(value):
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


def read_rows(path, delimiter=None):
    """`(format, [(line number, row), ...])` of a CSV/TSV/JSONL file (also `.gz`); an empty file is refused."""
    fmt = _text_format(path, delimiter)
    rows = list(_rows(path, fmt))
    if not rows:
        raise ValueError(f"{path!r} holds no rows.")
    return fmt, rows


def _read_labelled_text(path, *, text_column, label_column, header, delimiter):
    """`(texts, raw labels, line numbers, columns)` of a CSV/TSV/JSONL file."""
    fmt, rows = read_rows(path, delimiter)
    if fmt == "jsonl":
        keys = list(rows[0][1])
        text_keys = text_column or next((k for k in ("text", "sentence", "review", "content") if k in keys), None)
        label_key = label_column or next((k for k in ("label", "category", "class", "target") if k in keys), None)
        if text_keys is None or label_key is None:
            raise ValueError(f"{path!r}: pass text_column= and label_column= (--text-column/--label-column); the "
                             f"first object's keys are {keys}.")
        text_keys = str(text_keys).split(",")
        texts, labels, lines = [], [], []
        for number, row in rows:
            missing = [k for k in [*text_keys, label_key] if k not in row]
            if missing:
                raise ValueError(f"{path!r} line {number}: no key(s) {missing} (keys: {list(row)}). Fix the line "
                                 "or remove it.")
            texts.append(" ".join(str(row[k]) for k in text_keys))
            labels.append(str(row[label_key]).strip())
            lines.append(number)
        return texts, labels, lines, {"text": text_keys, "label": label_key, "header": None}
    names = [c.strip() for c in rows[0][1]]
    if header in (None, "auto"):
        named = [c for c in (*str(text_column or "").split(","), str(label_column or "")) if c and not c.isdigit()]
        header = bool(named) or _first_row_is_header(rows)
    header_names = names if header else None
    body = rows[1:] if header else rows
    if not body:
        raise ValueError(f"{path!r} holds a header and no rows.")
    if text_column is None or label_column is None:
        guessed_text, guessed_label = _guess_columns([r for _, r in body[:2000]], len(names))
        text_column = guessed_text if text_column is None else text_column
        label_column = guessed_label if label_column is None else label_column
    text_specs = text_column.split(",") if isinstance(text_column, str) else [text_column]
    text_cols = [_column_index(c, header_names, path, "text_column") for c in text_specs]
    label_col = _column_index(label_column, header_names, path, "label_column")
    need = max(*text_cols, label_col) if len(text_cols) else label_col
    texts, labels, lines = [], [], []
    for number, row in body:
        if max(need, -min(*text_cols, label_col) - 1) >= len(row):
            raise ValueError(f"{path!r} line {number}: {len(row)} field(s) where {len(names)} are expected (the "
                             "first row's count). A text holding the delimiter must be quoted; or a field is "
                             "missing. Fix the line or remove it.")
        texts.append(" ".join(row[c] for c in text_cols))
        labels.append(row[label_col].strip())
        lines.append(number)
    columns = {"text": [header_names[c] if header_names else c for c in text_cols],
               "label": header_names[label_col] if header_names else label_col, "header": bool(header)}
    return texts, labels, lines, columns


def _first_row_is_header(rows):
    """Whether the first row names the columns: its value in the label-like column (the one with the
    fewest distinct values below it) never occurs below it, or csv.Sniffer says so."""
    first, sample = rows[0][1], [r for _, r in rows[1:2001]]
    if not sample:
        return False
    columns = [[r[i] for r in sample if i < len(r)] for i in range(len(first))]
    label = min(range(len(first)), key=lambda i: len(set(columns[i])))
    if len(set(columns[label])) <= max(1, len(sample) // 2):
        return first[label] not in set(columns[label])
    if len(sample) < 20:  # too few rows to compare: short, non-numeric names, unseen below
        return all(f.strip() and not _looks_numeric(f) and len(f) <= 40 and f.count(" ") <= 2 for f in first) \
            and all(first[i] not in set(columns[i]) for i in range(len(first)))
    try:
        return csv.Sniffer().has_header("\n".join(",".join(r) for _, r in rows[:50]))
    except csv.Error:
        return False


def _guess_columns(sample, width):
    """(text column, label column) of a sample of rows: the text has the longest values, the label the
    fewest distinct ones among the others."""
    if width < 2:
        raise ValueError("A text file needs a text and a label column; this one has one column.")
    columns = [[r[i] for r in sample if i < len(r)] for i in range(width)]
    text = max(range(width), key=lambda i: np.mean([len(v) for v in columns[i]] or [0]))
    label = min((i for i in range(width) if i != text), key=lambda i: len(set(columns[i])))
    return text, label


def _split_of(text, label, val_fraction, test_fraction):
    """'train', 'val' or 'test' from a hash of the row: adding rows to a file keeps every old row's split."""
    import hashlib

    bucket = int.from_bytes(hashlib.sha1(f"{label}\x1f{text}".encode("utf8")).digest()[:8], "big") / 2.0**64
    return "test" if bucket < test_fraction else "val" if bucket < test_fraction + val_fraction else "train"


def read_class_names(class_names):
    """Class names from a list, a comma-separated string or a file with one name per line."""
    if class_names is None:
        return None
    if isinstance(class_names, str):
        if os.path.isfile(class_names):
            with open(class_names, encoding="utf8") as f:
                class_names = [line.strip() for line in f if line.strip()]
        else:
            class_names = [c.strip() for c in class_names.split(",") if c.strip()]
    names = [str(c) for c in class_names]
    if len(set(names)) != len(names) or len(names) < 2:
        raise ValueError(f"class_names needs two or more distinct names. Received: class_names={names!r}")
    return names


def _encode_labels(raw, class_names, path, lines):
    """Integer labels and class names from string or integer labels."""
    if class_names is None:
        values = sorted(set(raw))
        if all(v.lstrip("-").isdigit() for v in values):  # integer labels: class indices 0..K-1
            ints = sorted({int(v) for v in values})
            if ints[0] < 0:
                row = raw.index(str(ints[0]))
                raise ValueError(f"{path!r} line {lines[row]}: label {ints[0]} is negative. Integer labels are "
                                 "class indices 0, 1, ...; or pass class_names=.")
            class_names = [str(i) for i in range(ints[-1] + 1)]
            if len(class_names) < 2:
                raise ValueError(f"{path!r}: every row has the label 0; a classifier needs two or more classes. "
                                 "Check label_column=.")
            return np.array([int(v) for v in raw], "int32"), class_names
        class_names = values
    index = {c: i for i, c in enumerate(class_names)}
    labels = np.empty(len(raw), "int32")
    for i, value in enumerate(raw):
        if value not in index:
            if value.lstrip("-").isdigit() and 0 <= int(value) < len(class_names):
                labels[i] = int(value)  # integer labels with named classes
                continue
            raise ValueError(f"{path!r} line {lines[i]}: label {value!r} is not one of the class names "
                             f"{class_names}. Fix the label or the class names.")
        labels[i] = index[value]
    if len(class_names) < 2:
        raise ValueError(f"{path!r}: every row has the label {class_names[0]!r}; a classifier needs two or more "
                         "classes. Check label_column=.")
    return labels, list(class_names)


def text_file(path, *, text_column=None, label_column=None, header="auto", delimiter=None, val=None, test=None,
              val_fraction=0.1, test_fraction=0.1, class_names=None, max_tokens=20000, sequence_length=128,
              truncate="post", vectorizer=None):
    """Text classification from your own CSV, TSV or JSON Lines file (also `.gz`).

    Columns are named (`text_column="Text"`) or numbered (`1`); several text
    columns joined with commas (`"title,body"`) are joined with a space.
    Without them the text column is the one with the longest values and the
    label column the one with the fewest distinct values. The header row is
    detected (`header=True/False` to say so). Labels may be strings or integers;
    class names are the sorted distinct labels (or `class_names=`, a list, a
    comma-separated string or a file, which fixes their order).

    Splits: `val=`/`test=` files, else each row goes to train/val/test by a
    hash of its text and label (`val_fraction`, `test_fraction`), so adding
    rows keeps every old row's split.

    Example:

    ```python
    import pipelines
    data = pipelines.text_file("reviews.csv", text_column="Text", label_column="Category")
    data.labels, data.sizes
    ```
    """
    check_fractions(val_fraction, test_fraction)
    options = dict(text_column=text_column, label_column=label_column, header=header, delimiter=delimiter)
    texts, raw, lines, columns = _read_labelled_text(path, **options)
    parts = {"train": ([], [], [])}
    if val is None and test is None:
        parts = {"train": ([], [], []), "val": ([], [], []), "test": ([], [], [])}
        for t, label, line in zip(texts, raw, lines):
            part = parts[_split_of(t, label, val_fraction, test_fraction)]
            part[0].append(t), part[1].append(label), part[2].append(line)
    else:
        parts["train"] = (texts, raw, lines)
        for split, other in (("val", val), ("test", test)):
            if other is not None:
                # The train file's resolved columns, so every file is read the same way.
                same = dict(options, text_column=",".join(str(c) for c in columns["text"]),
                            label_column=columns["label"], header=columns["header"])
                parts[split] = _read_labelled_text(other, **same)[:3]
    names = read_class_names(class_names)
    if names is None:
        names = _encode_labels([l for p in parts.values() for l in p[1]], None, path,
                               [n for p in parts.values() for n in p[2]])[1]
    pairs = {}
    for split, (t, label, line) in parts.items():
        if not t:
            continue
        y, _ = _encode_labels(label, names, path if split == "train" or (val is None and test is None) else
                              (val if split == "val" else test), line)
        pairs[split] = (np.array(t, dtype=object), y)
    if "train" not in pairs:
        raise ValueError(f"{path!r}: no rows fell in the training split. Lower val_fraction/test_fraction.")
    data = text_splits(pairs["train"], pairs.get("val"), pairs.get("test"), name=f"text:{os.path.basename(path)}",
                       labels=names, max_tokens=max_tokens, sequence_length=sequence_length, truncate=truncate,
                       vectorizer=vectorizer)
    data.source = path
    data.extras["columns"] = columns
    data.extras["class_counts"] = {s: {names[i]: int(c) for i, c in enumerate(np.bincount(p[1], minlength=len(names)))}
                                   for s, p in pairs.items()}
    return data
