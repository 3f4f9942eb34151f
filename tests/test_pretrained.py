"""The zoo's own weights (`zoo/pretrained_weights/`): every shipped set loads offline through its builder,
is checked against its card's SHA-256, has a card whose figures are its `card.json`'s, refuses arguments
it was not trained with, and classifies real test examples from ../shared/data."""

import gzip
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import zoo
from export import PredictError, Predictor
from zoo import pretrained

from conftest import REPO, SHARED_DATA

SHIPPED = [f"{m}:{w}" for m, names in pretrained.available().items() for w in names]
EXPECTED = {"mlp:mnist", "lstm_classifier:imdb", "transformer_classifier:imdb", "lstm_attention_classifier:sst2",
            "lstm_forecaster:airline"}


def test_the_weight_sets_the_zoo_promises_are_shipped():
    assert EXPECTED <= set(SHIPPED)
    catalog = zoo.registry.read_catalog()
    for key in SHIPPED:
        model_name, weights = key.split(":")
        assert weights in catalog[model_name]["pretrained"]  # what `zoo list`/`zoo info` show


@pytest.mark.parametrize("key", SHIPPED)
def test_a_weight_set_loads_checked_with_a_card_that_states_its_measurements(key):
    model_name, weights = key.split(":")
    card = pretrained.card(model_name, weights)
    folder = os.path.join(pretrained.WEIGHTS_DIR, f"{model_name}-{weights}")
    for name in card["files"]:  # every file as shipped
        pretrained.checked_file(model_name, weights, name)
    with open(os.path.join(folder, pretrained.CARD_MD), encoding="utf-8") as f:
        assert f.read() == pretrained.card_markdown(card)
    rows = {row["file"]: row["value"] for row in card["metrics"]["rows"]}
    assert {"Keras model", "saved_model", "tflite_fp32", "tflite_int8", "onnx", "onnx_int8"} <= set(rows)
    assert card["recipe"]["command"].startswith(f"zoo train {model_name} ")
    assert card["storage"]["dtype"] in ("float16", "float32")
    if card["metrics"]["metric"] == "accuracy":
        assert rows["Keras model"] > 0.8
    model = zoo.create_model(model_name, weights=weights)  # the builder, offline
    if card["task"] == "text_classification":  # raw strings in, the vocabulary inside
        out = model.predict(np.array(["a wonderful, moving film", "dull and far too long"], dtype=object), verbose=0)
        assert out.shape == (2, len(card["labels"])) and np.allclose(out.sum(-1), 1, atol=1e-4)
        from pipelines.text import vectorize

        token_model = pretrained.load(model_name, weights, strings=False)
        pre = card["preprocessing"]
        ids = vectorize(pretrained.vectorizer(model_name, weights), np.array(["a wonderful, moving film",
                        "dull and far too long"], dtype=object), pre["sequence_length"], pre["truncate"])
        assert np.allclose(token_model.predict(np.asarray(ids), verbose=0), out, atol=1e-5)
    else:
        x = np.zeros((1, *card["builder"]["input_shape"]), "float32") if "input_shape" in card["builder"] else \
            np.zeros((1, *model.input_shape[1:]), "float32")
        assert np.isfinite(model.predict(x, verbose=0)).all()


def test_a_changed_weights_file_is_refused(tmp_path):
    model_name, weights = next(k.split(":") for k in SHIPPED)
    folder = tmp_path / "copy"
    shutil.copytree(os.path.join(pretrained.WEIGHTS_DIR, f"{model_name}-{weights}"), folder)
    with open(folder / pretrained.WEIGHTS_FILE, "r+b") as f:
        f.seek(200)
        byte = f.read(1)
        f.seek(200)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(ValueError, match="does not match the SHA-256 its card records"):
        pretrained.checked_file(model_name, weights, pretrained.WEIGHTS_FILE, folder=str(folder))
    os.remove(folder / pretrained.WEIGHTS_FILE)
    with pytest.raises(ValueError, match="is missing"):
        pretrained.checked_file(model_name, weights, pretrained.WEIGHTS_FILE, folder=str(folder))


def test_arguments_the_weights_were_not_trained_with_are_refused():
    with pytest.raises(ValueError, match=r"trained with classes=10.*Received: classes=5"):
        zoo.mlp(weights="mnist", classes=5)
    with pytest.raises(ValueError, match=r"neither a weight set of 'mlp'.*'mnist'.*Received: weights='mnits'"):
        zoo.mlp(weights="mnits")
    features = zoo.mlp(weights="mnist", include_top=False)  # a feature extractor: the head left out
    full = zoo.mlp(weights="mnist")
    shared = {v.path: np.asarray(v) for v in full.weights}
    assert all(np.array_equal(np.asarray(v), shared[v.path]) for v in features.weights)
    assert len(features.weights) < len(full.weights)


def test_list_and_info_show_the_shipped_weights(zoo_cli):
    out = zoo_cli("list", "--weights")
    assert out.returncode == 0
    rows = {line.split()[0]: line for line in out.stdout.splitlines()[1:]}
    assert "mnist" in rows["mlp"] and "imagenet" in rows["resnet50"]
    assert "mlp_tiny" not in rows
    out = zoo_cli("info", "mlp")
    info = json.loads(out.stdout)
    card = pretrained.card("mlp", "mnist")
    assert info["weights"]["mnist"]["measured"]["Keras model"] == card["metrics"]["rows"][0]["value"]
    assert info["weights"]["mnist"]["card"].endswith("MODEL_CARD.md")


def test_predict_names_the_weight_sets_of_a_model():
    with pytest.raises(PredictError, match="ships no 'cifar10' weights for mlp; it ships mlp:mnist"):
        Predictor("mlp:cifar10")
    with pytest.raises(PredictError, match="runs in Keras"):
        Predictor("mlp:mnist", runtime="onnx")


# --------------------------------------------------------------------------
# Real test examples (../shared/data)

needs_shared = pytest.mark.skipif(not os.path.isdir(SHARED_DATA), reason="../shared/data is not beside the repo")


def _mnist_test(n):
    with gzip.open(os.path.join(SHARED_DATA, "mnist", "t10k-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:n]
    with gzip.open(os.path.join(SHARED_DATA, "mnist", "t10k-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
    return images, labels


@needs_shared
def test_mnist_weights_classify_real_test_digits_through_zoo_predict(tmp_path):
    import tensorflow as tf

    images, labels = _mnist_test(300)
    card = pretrained.card("mlp", "mnist")
    pred = zoo.mlp(weights="mnist").predict(images[..., None].astype("float32") / 255, verbose=0)
    accuracy = np.mean(pred.argmax(-1) == labels)
    assert accuracy >= card["metrics"]["rows"][0]["value"] - 0.03  # 300 of the card's 10,000 examples
    path = tmp_path / "digit.png"
    tf.io.write_file(str(path), tf.io.encode_png(images[0][..., None]))
    out = subprocess.run([sys.executable, "-m", "app.cli", "predict", "mlp:mnist", str(path), "--json"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["classes"][0][0] == str(labels[0])


@needs_shared
def test_sst2_weights_classify_real_test_sentences():
    import csv

    with open(os.path.join(SHARED_DATA, "sst2", "test.tsv"), encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:201]
    texts, labels = [r[0] for r in rows], np.array([int(r[1]) for r in rows])
    card = pretrained.card("lstm_attention_classifier", "sst2")
    answers = Predictor("lstm_attention_classifier:sst2").predict(texts, top_k=1)
    accuracy = np.mean([card["labels"].index(a["classes"][0][0]) == y for a, y in zip(answers, labels)])
    assert accuracy >= card["metrics"]["rows"][0]["value"] - 0.06  # 200 of the card's 1,821 sentences
    strings = zoo.lstm_attention_classifier(weights="sst2").predict(np.array(texts, dtype=object), verbose=0)
    assert np.array_equal(strings.argmax(-1), [card["labels"].index(a["classes"][0][0]) for a in answers])


@needs_shared
def test_imdb_weights_classify_real_test_reviews():
    import tarfile

    texts, labels = [], []
    with tarfile.open(os.path.join(SHARED_DATA, "imdb", "aclImdb_v1_train_test.tar.gz")) as tar:
        for member in tar:
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 4 and parts[1] == "test" and parts[2] in ("neg", "pos"):
                if labels.count(parts[2] == "pos") < 40:
                    texts.append(tar.extractfile(member).read().decode("utf-8"))
                    labels.append(parts[2] == "pos")
            if len(labels) == 80:
                break
    for model_name in ("lstm_classifier", "transformer_classifier"):
        card = pretrained.card(model_name, "imdb")
        answers = Predictor(f"{model_name}:imdb").predict(texts, top_k=1)
        accuracy = np.mean([card["labels"].index(a["classes"][0][0]) == y for a, y in zip(answers, labels)])
        assert accuracy >= card["metrics"]["rows"][0]["value"] - 0.12, model_name  # 80 reviews


@needs_shared
def test_airline_weights_forecast_the_real_series():
    card = pretrained.card("lstm_forecaster", "airline")
    series = os.path.join(SHARED_DATA, "timeseries", "airline-passengers.csv")
    [answer] = Predictor("lstm_forecaster:airline").predict([series])
    forecast = answer["forecast"][0]  # the month after December 1960, in passengers (thousands)
    assert 380 < forecast < 560  # January 1960: 417, the 1960 monthly range 390-622
    assert card["metrics"]["metric"] == "rmse"
    assert card["metrics"]["rows"][0]["value"] < card["metrics"]["baselines"]["seasonal_naive"]


def test_the_gpu_trainer_runs_the_zoo_train_recipe_without_tensorflow():
    """`benchmarks/gpu_resnet20.py` (a GPU machine with JAX and no TensorFlow) builds the same `TrainConfig` as
    `zoo train` with the set's arguments, and the optimizer and model code it imports need no TensorFlow."""
    sys.path.insert(0, REPO)
    from app.cli import build_parser
    from app.commands import train_config
    from benchmarks import gpu_resnet20
    from benchmarks.pretrained import SETS

    args = build_parser().parse_args(["train", "resnet20", "--dataset", "cifar10", *SETS["resnet20:cifar10"]["train"],
                                      "--no-mixed-precision", "--seed", "0"])
    cli = train_config(args, "image_classification", 50000)
    mine = gpu_resnet20.recipe_config()
    ignored = {"out_dir", "backup_every_steps", "verbose"}
    assert {k: v for k, v in vars(cli).items() if k not in ignored} == \
        {k: v for k, v in vars(mine).items() if k not in ignored}
    changed = gpu_resnet20.train_args(gpu_resnet20.recipe_config(weight_decay=5e-3, label_smoothing=0.1, seed=1))
    assert changed[changed.index("--weight-decay") + 1] == "0.005"
    assert changed[-4:] == ["--label-smoothing", "0.1", "--seed", "1"]
    code = ("import sys; sys.modules['tensorflow'] = None\n"  # any TensorFlow import fails
            "import zoo, zoo.optim\nfrom zoo.config import TrainConfig\n"
            "model = zoo.create_model('resnet20', input_shape=(32, 32, 3), classes=10)\n"
            "opt = zoo.optim.make_optimizer(TrainConfig(optimizer='sgd', weight_decay=1e-3, warmup_epochs=0.5), 10)\n"
            "print(type(opt).__name__, len(zoo.optim.batch_norm_layers(model)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "KERAS_BACKEND": "numpy"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["SGD", "19"]
