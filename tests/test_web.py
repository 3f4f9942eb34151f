"""The `web` export format: zoo-model.js' preprocessing gives Python's inputs (token ids on real reviews,
images resized as `tf.image.resize` does), the bundle verifies in Node.js through its own preprocessing, and
index.html classifies a real image and a real sentence in headless Chromium like Keras."""

import csv
import io
import json
import os
import shutil
import subprocess
import tarfile

import numpy as np
import pytest
import tensorflow as tf

import pipelines
import zoo
from conftest import REPO, SHARED_DATA
from export import ExportError, export_model, verify_export, web
from pipelines.sources.tabular_file import raw_features

NODE_MODULES = web.node_modules(required=False)
needs_node = pytest.mark.skipif(NODE_MODULES is None or shutil.which("node") is None,
                                reason="Node.js or the pinned onnxruntime-web is missing: run `zoo setup-web`")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")
SHARED_IMDB = os.path.join(SHARED_DATA, "imdb", "aclImdb_v1_train_test.tar.gz")
SHARED_SST2 = os.path.join(SHARED_DATA, "sst2", "train.tsv")
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# Strings where standardization is easy to get wrong: non-ASCII capitals (tf.strings.lower leaves them), every
# kind of space and invisible character, punctuation next to letters, emoji, HTML, full-width forms.
HARD_TEXTS = ["ÉCOLE École naïve CAFÉ", "a\u00a0b\u2028c\u2029d\u0085e", "zero\u200bwidth\ufeffjoin\u200d",
              "tab\tnew\nline\r\nform\x0cfeed\x0bv", "Don't -- stop!!! (really?) [yes] {no} <br /><br />end",
              "emoji 😀 ok 👍🏽 fine", "Ｆｕｌｌ ｗｉｄｔｈ", "İstanbul ǅ Σίσυφος STRASSE Straße", "   ", "",
              "ünïcödé — “quotes” … ‘single’", "a_b c-d e.f g/h i\\j k~l m`n", "1,000 2.5 $30 100%"]


def _text_bundle(folder, vocabulary, preprocessing):
    """The files zoo-model.js reads for a text model's preprocessing (no ONNX file: tokenize only)."""
    os.makedirs(folder, exist_ok=True)
    spec = {"name": "vectorizer", "task": "text_classification", "inputs": [{"name": "tokens", "dtype": "int32"}],
            "output": "probabilities", "labels": None, "models": {},
            "text": {"vocabulary": "vocab.json", "standardize": preprocessing["standardize"], "oov_id": 1,
                     "padding_id": 0, "truncate": preprocessing["truncate"],
                     "sequence_length": preprocessing["sequence_length"]}}
    with open(os.path.join(folder, "model.json"), "w") as f:
        json.dump(spec, f)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(list(vocabulary), f, ensure_ascii=False)
    shutil.copy(os.path.join(web.ASSETS, "zoo-model.js"), folder)
    return web.NodeSession(str(folder), "none")


def _imdb_reviews(n):
    """The first `n` reviews of aclImdb's test split (half positive, half negative), as read from the tar."""
    reviews = {"pos": [], "neg": []}
    with tarfile.open(SHARED_IMDB) as tar:
        for member in tar:
            parts = member.name.split("/")
            if member.isfile() and member.name.endswith(".txt") and "test" in parts and parts[-2] in reviews \
                    and len(reviews[parts[-2]]) < n // 2:
                reviews[parts[-2]].append(tar.extractfile(member).read().decode("utf-8"))
            if all(len(v) >= n // 2 for v in reviews.values()):
                break
    return reviews["pos"] + reviews["neg"]


def _shipped_vocabulary(weights):
    folder = os.path.join(REPO, "zoo", "pretrained_weights", weights)
    with open(os.path.join(folder, "vocabulary.txt"), encoding="utf-8") as f:
        vocabulary = f.read().split("\n")
    with open(os.path.join(folder, "card.json")) as f:
        return vocabulary, json.load(f)["preprocessing"]


@needs_node
@pytest.mark.parametrize("weights", ["transformer_classifier-imdb", "lstm_attention_classifier-sst2"])
def test_token_ids_equal_pythons_on_real_reviews(weights, tmp_path):
    vocabulary, preprocessing = _shipped_vocabulary(weights)
    texts = list(HARD_TEXTS)
    if os.path.isfile(SHARED_IMDB):
        texts += _imdb_reviews(1000)
    vectorizer = pipelines.text.vectorizer_from_vocabulary(vocabulary, preprocessing)
    want = pipelines.text.vectorize(vectorizer, tf.constant(texts), preprocessing["sequence_length"],
                                    preprocessing["truncate"]).numpy()
    session = _text_bundle(tmp_path / "bundle", vocabulary, preprocessing)
    got = session.tokenize(texts)
    session.close()
    differ = [i for i in range(len(texts)) if not np.array_equal(got[i], want[i])]
    assert not differ, f"{len(differ)} of {len(texts)} texts tokenized differently, e.g. {texts[differ[0]]!r}"
    assert len(texts) >= 1000 or not os.path.isfile(SHARED_IMDB)
    assert (want == 1).any() and (want > 1).any()  # out-of-vocabulary and known words were both exercised


@needs_node
def test_images_are_resized_as_tensorflow_resizes_them(tmp_path):
    from sklearn.datasets import load_digits, load_sample_image

    photo = load_sample_image("china.jpg")  # (427, 640, 3): a real photo, bundled with scikit-learn
    digit = np.repeat((load_digits().images[0] * 255 / 16).astype("uint8")[..., None], 1, axis=-1)  # (8, 8, 1)
    cases = [(photo, (32, 32)), (photo, (224, 224)), (photo[:100, :150], (331, 199)), (digit, (28, 28))]
    script = tmp_path / "resize.mjs"
    script.write_text(
        "import fs from 'node:fs';\n"
        f"import {{ resizePixels }} from '{(tmp_path / 'zoo-model.js').as_uri()}';\n"
        "const [file, h, w, c, oh, ow] = process.argv.slice(2);\n"
        "const out = resizePixels(new Uint8Array(fs.readFileSync(file)), +h, +w, +c, +oh, +ow);\n"
        "fs.writeFileSync(file + '.out', out);\n")
    shutil.copy(os.path.join(web.ASSETS, "zoo-model.js"), tmp_path)
    for i, (image, size) in enumerate(cases):
        want = tf.cast(tf.image.resize(image, size, antialias=True), tf.uint8).numpy()
        path = tmp_path / f"image{i}.bin"
        path.write_bytes(image.tobytes())
        subprocess.run(["node", str(script), str(path), *map(str, image.shape), *map(str, size)], check=True)
        got = np.frombuffer((tmp_path / f"image{i}.bin.out").read_bytes(), "uint8").reshape(want.shape)
        assert np.abs(got.astype(int) - want).max() <= 1, (image.shape, size)
        assert np.mean(got == want) >= 0.999, (image.shape, size, np.mean(got == want))


def _photos(n, size=32):
    """`n` crops of scikit-learn's two real photos, resized to `size` (uint8)."""
    from sklearn.datasets import load_sample_image

    crops = []
    for name in ("china.jpg", "flower.jpg"):
        photo = load_sample_image(name)
        for i in range(n // 2 + 1):
            y, x = (37 * i) % 300, (53 * i) % 500
            crops.append(tf.cast(tf.image.resize(photo[y:y + 120, x:x + 120], (size, size), antialias=True),
                                 tf.uint8).numpy())
    return np.stack(crops[:n])


@pytest.fixture(scope="module")
def image_export(tmp_path_factory):
    out = tmp_path_factory.mktemp("web") / "cifar"
    model = zoo.resnet_tiny(input_shape=(32, 32, 3), classes=10)
    x = _photos(48).astype("float32") / 255
    y = np.arange(len(x)) % 10  # an untrained model: int8 judged by the budget, relaxed (agreement is noise)
    report = export_model(model, str(out), formats=("onnx", "web"), calibration_data=x[:32], eval_data=(x, y),
                          class_names=CIFAR10, verbose=False, max_accuracy_drop=100, preprocessing={
                              "type": "rescale", "scale": 1 / 255, "offset": 0.0, "layout": "NHWC",
                              "image_size": [32, 32]})
    return out, model, report


@needs_node
def test_an_image_bundle_verifies_in_node_through_its_own_preprocessing(image_export):
    out, model, report = image_export
    rows = {r["file"]: r for r in report["results"]}
    assert report["passed"] and {"web", "web_int8"} <= set(rows)
    assert rows["web"]["max_abs_err_batchN"] <= 1e-4
    # The same int8 file in WebAssembly as in ONNX Runtime's native build: the same outputs within float error.
    assert abs(rows["web_int8"]["max_abs_err_batchN"] - rows["onnx_int8"]["max_abs_err_batchN"]) <= 1e-4
    session = web.NodeSession(str(out / "web"))
    x = np.load(out / "verify_inputs.npz")["images"]
    assert "images" in session.request({"images": x[:2]})  # RGBA pixels, as a canvas gives them
    session.close()
    spec = json.loads((out / "web" / "model.json").read_text())
    assert spec["labels"] == CIFAR10 and spec["image"] == {"height": 32, "width": 32, "channels": 3,
                                                           "scale": 1 / 255, "offset": 0.0}
    assert json.loads((out / "web" / "labels.json").read_text()) == CIFAR10
    assert spec["models"] == {"fp32": "resnet_tiny.onnx", "int8": "resnet_tiny.int8.onnx"}
    assert verify_export(str(out), verbose=False)["passed"]


@needs_node
def test_a_changed_page_or_script_fails_verify(image_export, tmp_path):
    copy = tmp_path / "export"
    shutil.copytree(image_export[0], copy)
    with open(copy / "web" / "zoo-model.js", "a") as f:
        f.write("\n// edited\n")
    report = verify_export(str(copy), verbose=False)
    assert not report["passed"] and report["changed_since_export"] == ["web"]


@needs_node
def test_verify_says_how_to_install_node_or_the_packages(image_export, tmp_path, monkeypatch):
    out = image_export[0]
    monkeypatch.setenv("ZOO_WEB_RUNTIME", str(tmp_path / "empty"))
    with pytest.raises(ExportError, match=r"onnxruntime-web 1\.30\.0.*zoo setup-web"):
        verify_export(str(out), verbose=False)
    monkeypatch.undo()
    monkeypatch.setenv("PATH", str(tmp_path))  # no `node` on it
    with pytest.raises(ExportError, match=r"Node\.js.*not installed.*zoo setup-web"):
        verify_export(str(out), verbose=False)


def test_web_without_the_runtime_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_WEB_RUNTIME", str(tmp_path / "empty"))
    model = zoo.mlp_tiny(classes=3)
    with pytest.raises(ExportError, match="zoo setup-web"):
        export_model(model, str(tmp_path / "out"), formats=("web",), verbose=False)
    assert not (tmp_path / "out" / "zoo_export.json").exists()
    # The default formats leave it out: an export on a machine without Node.js still works.
    report = export_model(model, str(tmp_path / "out"), formats=None, quantizations=("fp32",), verbose=False)
    assert "web" not in {r["format"] for r in report["results"]}


def _sst2(n):
    with open(SHARED_SST2, encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:n + 1]
    return np.array([r[0] for r in rows], dtype=object), np.array([int(r[1]) for r in rows], "int32")


@pytest.fixture(scope="module")
def text_export(tmp_path_factory):
    if os.path.isfile(SHARED_SST2):
        texts, labels = _sst2(400)
    else:  # the same code path on a machine without ../shared/data
        texts = np.array(["a moving , funny film", "dull and far too long", "great fun", "awful boring mess"] * 40,
                         dtype=object)
        labels = np.array([1, 0, 1, 0] * 40, "int32")
    data = pipelines.text_splits((texts, labels), name="sst2", labels=["negative", "positive"], sequence_length=24)
    model = zoo.create_model("transformer_tiny", classes=2)
    x, y = pipelines.sample_arrays(data, "train", 64)
    out = tmp_path_factory.mktemp("web") / "sst2"
    report = export_model(model, str(out), formats=("web",), calibration_data=x, eval_data=(x, y),
                          class_names=data.labels, preprocessing=data.preprocessing, vectorizer=data.vectorizer,
                          verbose=False, max_accuracy_drop=100)
    return out, model, data, report


@needs_node
def test_a_text_bundle_verifies_in_node_from_texts(text_export):
    out, model, data, report = text_export
    assert report["passed"] and [r["file"] for r in report["results"]] == ["web", "web_int8"]
    session = web.NodeSession(str(out / "web"))
    x = np.load(out / "verify_inputs.npz")["tokens"]
    request = session.request({"tokens": x[:3]})
    assert len(request["texts"]) == 3 and all(isinstance(t, str) and t for t in request["texts"])
    texts = ["A moving, funny film.", "Dull — and far too long!"]
    want = model.predict(pipelines.text.vectorize(data.vectorizer, tf.constant(texts), 24).numpy(), verbose=0)
    np.testing.assert_allclose(session.run({"tokens": session.tokenize(texts)}), want, atol=1e-4)
    session.close()




def _browser(folder, kind, value, screenshot):
    result = web.check_in_browser(str(folder), kind, value, str(screenshot), chromium=CHROMIUM)
    assert not result["errors"] and not result["error"], result
    return result


@needs_node
@needs_browser
def test_the_page_shows_kerass_top_class_in_headless_chromium(image_export, text_export, tmp_path):
    from PIL import Image

    out, model, _ = image_export
    image = _cifar_image() if os.path.isdir(os.path.join(SHARED_DATA, "cifar10")) else _photos(1)[0]
    Image.fromarray(image).save(tmp_path / "image.png")
    want = CIFAR10[int(model.predict(image[None].astype("float32") / 255, verbose=0).argmax())]
    result = _browser(out / "web", "image", str(tmp_path / "image.png"), tmp_path / "image-page.png")
    assert result["top"] == want and len(result["rows"]) == 5
    assert (tmp_path / "image-page.png").stat().st_size > 10_000
    out, model, data, _ = text_export
    sentence = _sst2(1)[0][0] if os.path.isfile(SHARED_SST2) else "a moving , funny film"
    ids = pipelines.text.vectorize(data.vectorizer, tf.constant([sentence]), 24).numpy()
    want = data.labels[int(model.predict(ids, verbose=0).argmax())]
    result = _browser(out / "web", "text", sentence, tmp_path / "text-page.png")
    assert result["top"] == want


def _cifar_image():
    """The first image of CIFAR-10's test split in ../shared/data (uint8, 32x32x3)."""
    data = pipelines.load_dataset("cifar10", os.path.join(SHARED_DATA, "cifar10"))
    images = pipelines.take_arrays(data.batches("test", 8, training=False), 1)[0]
    return np.round(images[0] / data.preprocessing["scale"]).astype("uint8")


SHARED_AIRLINE = os.path.join(SHARED_DATA, "timeseries")


@needs_node
@needs_browser
@pytest.mark.skipif(not os.path.isdir(SHARED_AIRLINE), reason="no ../shared/data/timeseries")
def test_a_forecaster_bundle_forecasts_in_series_units_in_node_and_on_the_page(tmp_path):
    from app import cli
    from export import onnx as onnx_format

    out = tmp_path / "airline"
    assert cli.main(["export", "lstm_forecaster", "--weights", "airline", "--dataset", "airline", "--data-dir",
                     SHARED_AIRLINE, "--out", str(out), "--formats", "onnx,web", "--quantize", "fp32"]) == 0
    spec = json.loads((out / "web" / "model.json").read_text())
    assert spec["series"] == {"width": 12, "features": 1, "horizon": 1}
    x = np.load(out / "verify_inputs.npz")["series"]  # windows in passengers
    session = web.NodeSession(str(out / "web"))
    assert session.request({"series": x[:2]})["series"][0][0] == [float(x[0, 0, 0])]  # numbers, as a page has them
    session.close()
    window = x[-1, :, 0]
    want = onnx_format.run(onnx_format.session(str(out / "lstm_forecaster.onnx")), {"series": x[-1:]})
    result = _browser(out / "web", "series", ", ".join(f"{v:g}" for v in window), tmp_path / "forecast.png")
    np.testing.assert_allclose(json.loads(result["top"]), want.reshape(-1), rtol=1e-5)
    assert 100 < json.loads(result["top"])[0] < 1000  # passengers, not the log-relative values the network sees


def _iris_with_gaps(path):
    """iris as a CSV with the gaps real tables have: empty and `?` numeric cells, a categorical column with
    an `NA` cell, column names with spaces and brackets."""
    from sklearn.datasets import load_iris

    bunch = load_iris()
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sepal length (cm)", "sepal width (cm)", "site", "petal length (cm)", "petal width (cm)",
                         "species"])
        for i, (row, target) in enumerate(zip(bunch.data, bunch.target)):
            cells = [*row[:2], ["north", "south"][i % 2], *row[2:], bunch.target_names[target]]
            cells[1] = "" if i % 7 == 0 else cells[1]
            cells[3] = "?" if i % 11 == 3 else cells[3]
            cells[2] = "NA" if i % 13 == 5 else cells[2]
            writer.writerow(cells)
    return str(path)


@pytest.fixture(scope="module")
def table_export(tmp_path_factory):
    from zoo.recipes import model_kwargs_for
    from zoo.train import TrainConfig, fit

    root = tmp_path_factory.mktemp("web-table")
    data = pipelines.tabular_file(_iris_with_gaps(root / "iris.csv"), label_column="species")
    config = TrainConfig(epochs=5, batch_size=16, learning_rate=3e-3, out_dir=str(root / "run"), verbose=0,
                         precise_bn_examples=0)
    model = fit(lambda: zoo.create_model("mlp_tabular", **model_kwargs_for("mlp_tabular", data)), data,
                config=config).model
    x, y = pipelines.sample_arrays(data, "test", 64)
    report = export_model(model, str(root / "export"), formats=("onnx", "web"),
                          calibration_data=pipelines.sample_arrays(data, "train", 64)[0], eval_data=(x, y),
                          class_names=data.labels, preprocessing=data.preprocessing, verbose=False,
                          max_accuracy_drop=100)
    return root / "export", model, data, report


@needs_node
def test_a_table_bundle_encodes_rows_as_training_does_and_verifies_from_rows(table_export):
    out, model, data, report = table_export
    pre = data.preprocessing
    # int8 included: the per-feature embedding's batched MatMul weights are per tensor, which onnxruntime-web's
    # integer MatMul takes (per channel it refused the file)
    assert report["passed"] and [r["file"] for r in report["results"]] == ["onnx", "onnx_int8", "web", "web_int8"]
    spec = json.loads((out / "web" / "model.json").read_text())
    assert spec["table"]["columns"] == pre["columns"] and spec["table"]["missing_categories"]
    assert [c["missing"] for c in spec["table"]["numeric"]] == [False, True, True, False]
    manifest = json.loads((out / "zoo_export.json").read_text())
    assert manifest["files"]["web"]["takes"] == "rows"
    session = web.NodeSession(str(out / "web"))
    x = np.load(out / "verify_inputs.npz")["features"]
    rows = session.request({"features": x})["rows"]  # what a page has: the cells as text
    assert all(set(r) == set(pre["columns"]) for r in rows) and any(r["sepal width (cm)"] == "" for r in rows)
    np.testing.assert_allclose(session.encode_rows(rows), x, atol=1e-5)
    # Cells as users type them: spaces, other missing spellings, a category training never saw, JS numbers.
    typed = [{"sepal length (cm)": " 5.1 ", "sepal width (cm)": "N/A", "site": " south", "petal length (cm)": "1.4",
              "petal width (cm)": ".2"},
             {"sepal length (cm)": 6.7, "sepal width (cm)": "3e0", "site": "east", "petal length (cm)": "null",
              "petal width (cm)": "+2.3"},
             {"sepal length (cm)": "7", "sepal width (cm)": "3.0", "site": "none", "petal length (cm)": "?",
              "petal width (cm)": None}]
    columns = {c: [str(r[c] if r[c] is not None else "") for r in typed] for c in pre["columns"]}
    want = pipelines.tabular_encoder(pre)(raw_features(columns, pre)).numpy()
    got = session.encode_rows(typed)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert got[1, -4:].tolist() == [1, 0, 0, 0]  # "east": the out-of-vocabulary slot
    np.testing.assert_allclose(session.run({"features": want}), model.predict(want, verbose=0), atol=1e-5)
    with pytest.raises(ExportError, match=r"lacks the training column\(s\) \[\"site\"\]"):
        session.encode_rows([{c: "1" for c in pre["columns"] if c != "site"}])
    with pytest.raises(ExportError, match=r"column \"petal width \(cm\)\" holds \"wide\", not a finite number"):
        session.encode_rows([{**typed[0], "petal width (cm)": "wide"}])
    # Pasted lines of a file, split as Python's csv module splits them (quotes, commas and line breaks inside
    # quotes, doubled quotes, a quote inside a field, CRLF, a blank line, a short row) or as tab-separated text.
    pasted = ('name,"note, quoted",size\r\n"a ""big"" one","x,\ny",1.5\r\n\r\nb"c,,2\nshort\n')
    header, *records = list(csv.reader(io.StringIO(pasted, newline="")))
    want_rows = [dict(zip(header, r + [""] * (len(header) - len(r)))) for r in records if r]
    assert session.parse_table(pasted) == want_rows and len(want_rows) == 3
    assert session.parse_table("a\tb\n1\t\"2\"\n") == [{"a": "1", "b": '"2"'}]  # TSV: no quoting, as training reads it
    with pytest.raises(ExportError, match="the header line of the table, then at least one row"):
        session.parse_table("only,a,header")
    session.close()
    assert verify_export(str(out), verbose=False)["passed"]


@needs_node
@needs_browser
def test_the_page_predicts_a_typed_table_row_like_keras(table_export, tmp_path):
    out, model, data, _ = table_export
    row = {"sepal length (cm)": "6.3", "sepal width (cm)": "", "site": "north", "petal length (cm)": "4.9",
           "petal width (cm)": "1.5"}
    pre = data.preprocessing
    features = pipelines.tabular_encoder(pre)(raw_features({c: [v] for c, v in row.items()}, pre)).numpy()
    want = data.labels[int(model.predict(features, verbose=0).argmax())]
    result = _browser(out / "web", "table", json.dumps(row), tmp_path / "table-page.png")
    assert result["top"] == want and len(result["rows"]) == 3
    # The header and a line of the table's own file, pasted: they fill the boxes (the target column left out).
    with open(out.parent / "iris.csv") as f:
        lines = f.read().splitlines()
    cells = dict(zip(next(csv.reader([lines[0]])), next(csv.reader([lines[8]]))))  # row 7: a gap, "" width
    assert cells["sepal width (cm)"] == ""
    features = pipelines.tabular_encoder(pre)(raw_features({c: [cells[c]] for c in pre["columns"]}, pre)).numpy()
    want = data.labels[int(model.predict(features, verbose=0).argmax())]
    result = _browser(out / "web", "table-csv", "\n".join([lines[0], lines[8]]), tmp_path / "table-csv.png")
    assert result["top"] == want


@needs_node
@needs_browser
def test_a_table_regressor_predicts_in_target_units_on_the_page(tmp_path):
    from sklearn.datasets import load_diabetes

    from zoo.recipes import model_kwargs_for
    from zoo.train import TrainConfig, fit

    bunch = load_diabetes(scaled=False)  # the real units: age in years, bmi, blood pressure...
    path = tmp_path / "diabetes.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*bunch.feature_names, "progression"])
        writer.writerows([*row, target] for row, target in zip(bunch.data, bunch.target))
    data = pipelines.tabular_file(str(path), label_column="progression")
    config = TrainConfig(epochs=3, batch_size=32, learning_rate=3e-3, out_dir=str(tmp_path / "run"), verbose=0,
                         precise_bn_examples=0)
    model = fit(lambda: zoo.create_model("mlp_regressor", **model_kwargs_for("mlp_regressor", data)), data,
                config=config).model
    x, y = pipelines.sample_arrays(data, "test", 32)
    out = tmp_path / "export"
    assert export_model(model, str(out), formats=("web",), quantizations=("fp32",), eval_data=(x, y),
                        preprocessing=data.preprocessing, verbose=False)["passed"]
    assert "model.predict(row)" in (out / "MODEL_CARD.md").read_text()  # the card's snippet for a regressor
    row = dict(zip(bunch.feature_names, (f"{v:g}" for v in bunch.data[0])))
    pre = data.preprocessing
    features = pipelines.tabular_encoder(pre)(raw_features({c: [v] for c, v in row.items()}, pre)).numpy()
    want = model.predict(features, verbose=0).reshape(-1)
    result = _browser(out / "web", "table", json.dumps(row), tmp_path / "regressor-page.png")
    np.testing.assert_allclose(json.loads(result["top"]), want, rtol=1e-5)
    assert 25 < json.loads(result["top"])[0] < 346  # the target's units (disease progression), not standardized
