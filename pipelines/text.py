"""Text: the vectorizer every text source shares (and its save/load), `DataSplits` of token ids, the
split fingerprint of text rows. Token ids come from a
`keras.layers.TextVectorization` adapted on the training split only; it is
kept in `DataSplits.vectorizer` so the trainer saves it beside the model and
exports can take raw strings.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from pipelines import files
from pipelines.core import AUTOTUNE, DataSplits
from pipelines.splits import split_code

BATCH = 1024  # rows a text source reads at a time
CACHE_ROWS = 200_000  # text sources with more rows are re-read each epoch instead of held in memory


def text_split_code(texts, labels, val_fraction, test_fraction):
    """0 (train), 1 (val) or 2 (test) from a fingerprint of the row's label and text: adding rows to a file
    keeps every old row's split."""
    return split_code(tf.strings.join([labels, texts], separator="\x1f"), val_fraction, test_fraction)


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


@keras.saving.register_keras_serializable(package="zoo")
class TextToIds(keras.layers.Layer):
    """Raw strings `(batch,)` -> `(batch, sequence_length)` int32 token ids: a fitted vectorizer and the
    source's truncation (`vectorize`), as one layer, so a text model can take what a user has.

    Args:
        vectorizer: a fitted `TextVectorization` (ragged for `truncate="pre"`).
        sequence_length: the token ids per text.
        truncate: `"post"` keeps the first tokens of a long text, `"pre"` the last.
    """

    def __init__(self, vectorizer, sequence_length, truncate="post", **kwargs):
        super().__init__(**kwargs)
        if truncate not in TRUNCATE:
            raise ValueError(f"`truncate` must be one of {list(TRUNCATE)}. Received: truncate={truncate!r}")
        if isinstance(vectorizer, dict):
            vectorizer = keras.saving.deserialize_keras_object(vectorizer)
        self.vectorizer, self.sequence_length, self.truncate = vectorizer, int(sequence_length), truncate

    def call(self, texts):
        return vectorize(self.vectorizer, texts, self.sequence_length, self.truncate)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.sequence_length)

    def get_config(self):
        return {**super().get_config(), "vectorizer": keras.saving.serialize_keras_object(self.vectorizer),
                "sequence_length": self.sequence_length, "truncate": self.truncate}


def vectorizer_from_vocabulary(vocabulary, preprocessing):
    """The `TextVectorization` of a vocabulary as exports and shipped weights store it (one token per line,
    `''` and `[UNK]` first) and the `preprocessing` a text source records (sequence length, truncation)."""
    truncate = preprocessing.get("truncate", "post")
    layer = keras.layers.TextVectorization(
        standardize=standardize, output_sequence_length=preprocessing.get("sequence_length")
        if truncate == "post" else None, ragged=truncate == "pre", name="vectorizer")
    layer.set_vocabulary(list(vocabulary)[2:])  # without '' (padding) and '[UNK]', which the layer adds
    return layer


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


# --------------------------------------------------------------------------
# Saved vectorizers: save (checked), load, and repair of runs saved before
# `standardize` existed, whose vocabularies can hold unstorable tokens.

_VOCAB_FILE = "assets/layers/text_vectorization/_lookup_layer/vocabulary.txt"


def save_vectorizer(vectorizer, path):
    """Save a fitted `TextVectorization` as a small `.keras` model (strings in,
    token ids out), then load it back: a vocabulary that does not survive the
    round trip fails here, not in a later export."""
    wrapper = keras.Sequential([keras.Input(shape=(), dtype="string"), vectorizer], name="vectorizer")
    bad = [t for t in vectorizer.get_vocabulary() if unstorable(str(t))]
    if bad:
        raise ValueError(f"The vocabulary holds tokens a vocabulary file cannot store ({bad[:5]!r}): build the "
                         "vectorizer with pipelines.text.make_vectorizer (standardize=pipelines.text.standardize).")
    with files.atomic_path(path) as tmp:  # never a half-written file at `path`
        wrapper.save(tmp)
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
    _vectorizer_config(path)  # checked before Keras reads anything of it
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


def _vectorizer_config(path):
    """The TextVectorization config of a saved vectorizer, checked: its vocabulary lives in the file itself
    (a config naming a vocabulary *path* would make Keras read any file) and its standardization is a name
    or the zoo's registered function (never serialized code)."""
    import json
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
        layer = next(l for l in config["config"]["layers"] if l["class_name"] == "TextVectorization")["config"]
    except (zipfile.BadZipFile, OSError, KeyError, StopIteration, TypeError, ValueError) as err:
        raise ValueError(f"{path!r} is not a saved zoo vectorizer ({type(err).__name__}: {err}). Train the run "
                         "again or restore the file.") from None
    standardize = layer.get("standardize")
    named = standardize is None or isinstance(standardize, str) or (  # Keras' names, or zoo's registered function
        isinstance(standardize, dict) and standardize.get("class_name") == "function"
        and standardize.get("config") == "zoo>standardize")
    problem = ("a vocabulary file path" if not isinstance(layer.get("vocabulary"), (list, type(None))) else
               "code to run as its standardization" if not named else
               "code to run as its split" if not isinstance(layer.get("split", "whitespace"), (str, type(None)))
               else None)
    if problem:
        raise ValueError(f"{path!r} names {problem}: a zoo vectorizer holds its vocabulary and only names Keras' or "
                         "the zoo's functions. Refused: train the run again or restore the file.")
    return layer


def _vectorizer_from_config(path):
    return keras.layers.TextVectorization.from_config(_vectorizer_config(path))


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
