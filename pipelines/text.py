"""Text: the vectorizer every text source shares, `DataSplits` of token ids, the IMDB and SST-2
presets (of `textfolder:` and `text:`), in-memory readers. Token ids come from a
`keras.layers.TextVectorization` adapted on the training split only; it is
kept in `DataSplits.vectorizer` so the trainer saves it beside the model and
exports can take raw strings.
"""

import csv
import os

import keras
import numpy as np
import tensorflow as tf

from pipelines.core import AUTOTUNE, DataSplits


def read_text_folder(path, split=None):
    """`(texts, labels, class_names)` arrays from `<root>/<class>/*.txt` (a folder, or a `.tar`/`.tar.gz`
    holding one, read in place); `split` picks a split folder (`"train"`, `"test"`). In memory: for
    training, `pipelines.text_folder` streams the same layouts."""
    from pipelines.folder_source import SPLIT_FOLDERS, SPLITS, _documents, _layout, _list_names

    entries, classes, _ = _layout(path, _list_names(path, (".txt",)), None)
    if split is not None:
        entries = [e for e in entries if e[1] == SPLITS.index(SPLIT_FOLDERS.get(split, split))]
        if not entries:
            raise ValueError(f"No {split}/<class>/*.txt files found in {path!r}.")
    texts, labels = [], []
    for text, label, _ in _documents(path, entries)():
        texts.append(text.decode("utf8", errors="replace"))
        labels.append(label)
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
    adapted on the training texts only: an array of strings, or a `tf.data`
    dataset of string batches (adapted in one streaming pass).

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
    if not isinstance(train_texts, tf.data.Dataset):
        train_texts = tf.data.Dataset.from_tensor_slices(np.asarray(train_texts).astype(str)).batch(1024)
    vectorizer.adapt(train_texts)
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
    pairs = {"train": train, "val": val, "test": test}
    for split, pair in pairs.items():
        if pair is not None and len(pair[0]) == 0:
            raise ValueError(f"The {split} split of {name!r} is empty.")
    for split, pair in pairs.items():
        if pair is not None and ((pair[1] < 0) | (pair[1] >= len(labels))).any():
            row = int(np.flatnonzero((pair[1] < 0) | (pair[1] >= len(labels)))[0])
            raise ValueError(f"{name!r} {split} split, example {row}: label {int(pair[1][row])} is outside the "
                             f"{len(labels)} class names {list(labels)}. Fix the labels or the class names.")
    batches = {s: tf.data.Dataset.from_tensor_slices((p[0].astype(str), p[1])).batch(1024)
               for s, p in pairs.items() if p is not None}
    return batched_text_splits(batches, {s: len(p[0]) for s, p in pairs.items() if p is not None}, name=name,
                               labels=labels, max_tokens=max_tokens, sequence_length=sequence_length,
                               vectorizer=vectorizer, truncate=truncate)


def batched_text_splits(batches, sizes, *, name, labels, max_tokens=20000, sequence_length=200, vectorizer=None,
                        truncate="post", cacheable=True):
    """`DataSplits` of token ids from `{split: dataset of (string batch, int label batch)}`
    whose labels are already checked; the vectorizer is adapted on `batches["train"]`
    unless given."""
    if vectorizer is None:
        vectorizer = make_vectorizer(batches["train"].map(lambda t, y: t), max_tokens=max_tokens,
                                     sequence_length=sequence_length, truncate=truncate)

    def ids(ds):
        if ds is None:
            return None
        return ds.map(lambda t, y: (vectorize(vectorizer, t, sequence_length, truncate), tf.cast(y, tf.int32)),
                      num_parallel_calls=AUTOTUNE).unbatch()

    return DataSplits(
        train=ids(batches.get("train")), val=ids(batches.get("val")), test=ids(batches.get("test")),
        task="text_classification", input_shape=(sequence_length,), input_dtype="int32",
        num_classes=len(labels), labels=list(labels), sizes=dict(sizes),
        preprocessing={"type": "text_vectorization", "vocab_size": int(vectorizer.vocabulary_size()),
                       "sequence_length": sequence_length, "standardize": _standardize_name(vectorizer),
                       "split": "whitespace", "padding_id": 0, "oov_id": 1, "truncate": truncate},
        vectorizer=vectorizer, name=name, cacheable=cacheable,
        checked=("train", "val", "test"),  # labels checked at the source; token ids cannot be NaN
    )


def _standardize_name(vectorizer):
    value = vectorizer.get_config().get("standardize")
    return "zoo.standardize" if callable(value) or isinstance(value, dict) else value


def imdb(data_dir, *, max_tokens=20000, sequence_length=200, val_fraction=0.1, seed=0, limit=None,
         truncate="pre", vectorizer=None):
    """IMDB reviews (aclImdb: `train/` and `test/` class folders `neg`, `pos`), a preset of the
    `textfolder:` source (`pipelines.text_folder`): `data_dir` holds the `aclImdb` folder or its
    `.tar.gz` (read in place), or is the folder. Validation reviews are carved out of `train/` by a
    fingerprint of each review. `limit` keeps a seeded sample of that many reviews per split folder
    (quick runs). Long reviews keep their last `sequence_length` tokens by default."""
    from pipelines.folder_source import ARCHIVES, text_folder

    source = data_dir
    if os.path.isdir(os.path.join(data_dir, "aclImdb")):
        source = os.path.join(data_dir, "aclImdb")
    elif os.path.isdir(data_dir) and not os.path.isdir(os.path.join(data_dir, "train")):
        tars = sorted(f for f in os.listdir(data_dir) if f.endswith(ARCHIVES))
        if not tars:
            raise ValueError(f"No aclImdb folder or tar archive in data_dir={data_dir!r}.")
        source = os.path.join(data_dir, tars[0])
    data = text_folder(source, class_names=["neg", "pos"], val_fraction=val_fraction, test_fraction=0.0, limit=limit,
                       seed=seed, max_tokens=max_tokens, sequence_length=sequence_length, truncate=truncate,
                       vectorizer=vectorizer)
    data.name, data.source = "imdb", data_dir
    return data


def sst2(data_dir, *, max_tokens=20000, sequence_length=64, truncate="post", vectorizer=None):
    """SST-2 from GLUE-style TSVs (`train.tsv`, `dev.tsv`, optional `test.tsv`; header `sentence<TAB>label`,
    labels 0/1): a preset of the `text:` source (`pipelines.text_file`), streamed and checked the same way.
    Pass a fitted `vectorizer` (e.g. a run's) to reuse its vocabulary."""
    from pipelines.text_source import text_file

    paths = {s: os.path.join(data_dir, f"{f}.tsv") for s, f in (("train", "train"), ("val", "dev"), ("test", "test"))}
    if not os.path.exists(paths["train"]):
        raise ValueError(f"{paths['train']!r} not found: point --data-dir at the SST-2 folder.")
    data = text_file(paths["train"], val=paths["val"] if os.path.exists(paths["val"]) else None,
                     test=paths["test"] if os.path.exists(paths["test"]) else None, text_column="sentence",
                     label_column="label", header=True, class_names=["negative", "positive"], max_tokens=max_tokens,
                     sequence_length=sequence_length, truncate=truncate, vectorizer=vectorizer)
    data.name, data.source = "sst2", data_dir
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
