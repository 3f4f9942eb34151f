"""Text vocabularies survive saving: standardization never makes a token a vocabulary
file cannot hold, runs saved before it are repaired, and IMDB runs export and verify."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from conftest import SHARED_DATA
from pipelines import text as text_lib
from zoo.train import TrainConfig, fit

# Every character that splits a line when a vocabulary file is read back, or only looks like a space.
TRICKY = ["good\u0085movie", "bad\u2028film", "fine\rplot", "nice\u00a0one", "zero\u200bwidth",
          "para\u2029graph", "tab\tbed", "form\x0cfeed"]


def _texts(rng, n):
    words = ["great", "awful", "plot", "acting", "boring", "superb", "the", "a"] + TRICKY
    rows, labels = [], []
    for _ in range(n):
        label = int(rng.integers(0, 2))
        picked = rng.choice(words, size=6).tolist() + (["superb", "great"] if label else ["awful", "boring"])
        rows.append(" ".join(picked))
        labels.append(label)
    return np.array(rows, dtype=object), np.array(labels, "int32")


def test_standardize_turns_space_like_characters_into_spaces():
    out = text_lib.standardize(tf.constant(TRICKY + ["Hello, World!"])).numpy().tolist()
    assert out == [b"good movie", b"bad film", b"fine plot", b"nice one", b"zero width", b"para graph",
                   b"tab bed", b"form feed", b"hello world"]
    assert text_lib.unstorable("good\u0085movie") and text_lib.unstorable("a\rb")
    assert not text_lib.unstorable("good") and not text_lib.unstorable("")


def test_a_tricky_text_run_trains_saves_reloads_and_exports(tmp_path, zoo_cli):
    rng = np.random.default_rng(0)
    train, test = _texts(rng, 300), _texts(rng, 60)
    data = text_lib.text_splits(train, None, test, name="tricky", labels=["neg", "pos"], max_tokens=100,
                                sequence_length=12)
    vocab = [str(t) for t in data.vectorizer.get_vocabulary()]
    assert not [t for t in vocab if text_lib.unstorable(t)] and "movie" in vocab and "good" in vocab
    run = str(tmp_path / "run")
    result = fit(lambda: zoo.lstm_classifier_tiny(vocab_size=data.preprocessing["vocab_size"], classes=2), data,
                 config=TrainConfig(epochs=2, batch_size=32, learning_rate=1e-2, out_dir=run, verbose=0))
    reloaded = zoo.train.load_vectorizer(os.path.join(run, "vectorizer.keras"))
    assert [str(t) for t in reloaded.get_vocabulary()] == vocab
    proc = zoo_cli("export", run, "--out", str(tmp_path / "x"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert zoo_cli("verify", str(tmp_path / "x")).returncode == 0
    _assert_serving_text_matches(tmp_path / "x", result.model, data.vectorizer, test[0], 12, "post")


def _assert_serving_text_matches(export_dir, model, vectorizer, texts, length, truncate):
    manifest = json.load(open(export_dir / "zoo_export.json"))
    served = tf.saved_model.load(str(export_dir / manifest["files"]["saved_model"]["path"]))
    ids = served.signatures["serving_text"](text=tf.constant(list(texts)))["class_ids"].numpy()
    tokens = text_lib.vectorize(vectorizer, tf.constant(list(texts)), length, truncate)
    expected = np.argmax(keras.ops.convert_to_numpy(model(tokens, training=False)), -1)
    np.testing.assert_array_equal(ids, expected)
    vocabulary = open(export_dir / "vocabulary.txt", encoding="utf-8").read().split("\n")
    assert vocabulary == [str(t) for t in vectorizer.get_vocabulary()]


def test_a_run_saved_before_the_fix_is_repaired_and_exports(tmp_path, zoo_cli):
    """The old way: Keras' default standardization keeps U+0085 & co inside tokens, and the
    vectorizer was saved unchecked. `zoo export RUN` repairs vocabulary and embedding rows."""
    rng = np.random.default_rng(1)
    train, test = _texts(rng, 300), _texts(rng, 60)
    old = keras.layers.TextVectorization(max_tokens=100, output_sequence_length=12, name="vectorizer")
    old.adapt(tf.data.Dataset.from_tensor_slices(train[0].astype(str)).batch(64))
    old_vocab = [str(t) for t in old.get_vocabulary()]
    assert [t for t in old_vocab if text_lib.unstorable(t)]  # the bug: unstorable tokens
    data = text_lib.text_splits(train, None, test, name="old", labels=["neg", "pos"], sequence_length=12,
                                vectorizer=old)
    run = tmp_path / "run"
    result = fit(lambda: zoo.lstm_classifier_tiny(vocab_size=100, classes=2), data,
                 config=TrainConfig(epochs=1, batch_size=32, learning_rate=1e-2, verbose=0))
    os.makedirs(run)
    result.model.save(run / "model.keras")
    keras.Sequential([keras.Input(shape=(), dtype="string"), old], name="vectorizer").save(run / "vectorizer.keras")
    json.dump(data.summary(), open(run / "data.json", "w"))
    with pytest.raises(ValueError, match="cannot store.*or retrain"):
        text_lib.load_vectorizer(str(run / "vectorizer.keras"))
    repaired, model = text_lib.load_vectorizer(str(run / "vectorizer.keras"), zoo.load_model(str(run / "model.keras")))
    assert [str(t) for t in repaired.get_vocabulary()] == [t for t in old_vocab if not text_lib.unstorable(t)]
    # Texts made of storable tokens get exactly the old predictions.
    clean = np.array([" ".join(t for t in row.split(" ") if not text_lib.unstorable(t)) for row in test[0]],
                     dtype=object)
    before = result.model(old(tf.constant(list(clean))), training=False)
    after = model(repaired(tf.constant(list(clean))), training=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(after), keras.ops.convert_to_numpy(before), atol=1e-6)
    proc = zoo_cli("export", str(run), "--out", str(tmp_path / "x"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert zoo_cli("verify", str(tmp_path / "x")).returncode == 0
    _assert_serving_text_matches(tmp_path / "x", model, repaired, clean, 12, "post")


IMDB = os.path.join(SHARED_DATA, "imdb")


@pytest.mark.skipif(not os.path.isdir(IMDB), reason="../shared/data/imdb is not present")
def test_an_imdb_run_exports_and_verifies_through_the_cli(tmp_path, zoo_cli):
    run, out = str(tmp_path / "run"), tmp_path / "x"
    proc = zoo_cli("train", "lstm_classifier_tiny", "--dataset", "imdb", "--data-dir", IMDB, "--data-arg", "limit=800",
                "--epochs", "1", "--quiet", "--out", run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = zoo_cli("export", run, "--out", str(out), "--eval-size", "200",  # scored on 200 test reviews
                   "--quantize", "fp32,dynamic")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.load(open(out / "report.json"))  # scored on the run's IMDB test reviews (its recorded spec)
    assert report["examples"] == 200 and all(r["accuracy"] >= r["keras_accuracy"] - 0.02 for r in report["results"])
    # A seeded random sample of the test reviews, both classes (the archive lists 12,500 negative ones first,
    # on which a one-epoch model that leans positive scored 0.0): one epoch on 720 reviews is near chance.
    assert 0.3 < report["results"][0]["keras_accuracy"] < 0.95, report["results"][0]
    proc = zoo_cli("verify", str(out))
    assert proc.returncode == 0 and "all files passed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    # serving_text (raw reviews in) gives the Keras model's classes on IMDB test reviews.
    vectorizer = zoo.train.load_vectorizer(os.path.join(run, "vectorizer.keras"))
    model = zoo.load_model(os.path.join(run, "model.keras"))
    pre = json.load(open(os.path.join(run, "data.json")))["preprocessing"]
    sample = _test_reviews(200)
    _assert_serving_text_matches(out, model, vectorizer, sample, pre["sequence_length"], pre["truncate"])


def _test_reviews(n):
    """The first `n` test reviews of the archive (read in place, stopping early)."""
    import tarfile

    source, texts = _imdb_source(), []
    if os.path.isdir(source):
        folders = [os.path.join(source, "test", c) for c in ("neg", "pos")]
        for folder in folders:
            for name in sorted(os.listdir(folder))[:n // 2]:
                texts.append(open(os.path.join(folder, name), encoding="utf8", errors="replace").read())
        return np.array(texts, dtype=object)
    with tarfile.open(source, "r:*") as tar:
        for member in tar:
            if member.isfile() and "/test/" in member.name and member.name.endswith(".txt"):
                texts.append(tar.extractfile(member).read().decode("utf8", errors="replace"))
                if len(texts) == n:
                    break
    return np.array(texts, dtype=object)


def _imdb_source():
    tars = sorted(f for f in os.listdir(IMDB) if f.endswith((".tar.gz", ".tgz", ".tar")))
    return os.path.join(IMDB, tars[0]) if tars else os.path.join(IMDB, "aclImdb")
