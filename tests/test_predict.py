"""`zoo predict` / `export.Predictor`: raw inputs (image files, text, table rows, a series) give the
Keras model's answer, in the user's terms, through a run folder, an export folder and each file."""

import csv
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

import pipelines
import zoo
from app import cli
from export import PredictError, Predictor, export_model
from zoo.recipes import model_kwargs_for
from zoo.run_folder import read_training
from zoo.train import TrainConfig, fit


def _train(name, data, out, epochs=2):
    config = TrainConfig(epochs=epochs, batch_size=16, learning_rate=3e-3, out_dir=str(out), verbose=0,
                         precise_bn_examples=0)
    return fit(lambda: zoo.create_model(name, **model_kwargs_for(name, data)), data, config=config).model


def _export(model, data, out, **kwargs):
    split = next(s for s in ("test", "val", "train") if getattr(data, s) is not None)
    x, y = pipelines.sample_arrays(data, split, 64)
    calibration = pipelines.sample_arrays(data, "train", 64)[0]
    report = export_model(model, str(out), calibration_data=calibration, eval_data=(x, y), class_names=data.labels,
                          preprocessing=data.preprocessing, vectorizer=data.vectorizer, verbose=False,
                          max_accuracy_drop=100, **kwargs)
    return report


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("digits")
    data = pipelines.digits()
    model = _train("mlp_tiny", data, root / "run", epochs=5)
    _export(model, data, root / "export", training=read_training(str(root / "run")))
    images = (np.concatenate([x.numpy() for x, _ in data.batches("test", 64, training=False)])[:5] * 16)
    paths = []
    for i, image in enumerate(images.round().astype("uint8")):
        path = root / f"digit_{i}.png"
        tf.io.write_file(str(path), tf.io.encode_png(image))
        paths.append(str(path))
    return root, model, images / 16, paths


def test_images_through_the_run_folder_the_export_and_every_file(digits_run):
    root, model, scaled, paths = digits_run
    want = model.predict(scaled, verbose=0)
    keras_answer = Predictor(str(root / "run")).predict(paths, top_k=10)
    assert [r["input"] for r in keras_answer] == paths
    for result, row in zip(keras_answer, want):
        probabilities = dict(result["classes"])
        np.testing.assert_allclose([probabilities[str(k)] for k in range(10)], row, atol=1e-5)
    manifest = json.load(open(root / "export" / "zoo_export.json"))
    for key, entry in manifest["files"].items():  # each file alone, as `zoo predict FILE` takes it
        source = root / "export" / entry["path"]
        got = Predictor(str(source)).predict(paths)
        assert [r["classes"][0][0] for r in got] == [str(k) for k in want.argmax(-1)], key
    fastest = Predictor(str(root / "export"))
    assert fastest.runtime in manifest["files"] and fastest.class_names == [str(k) for k in range(10)]
    # A .tflite (like an .onnx) file copied out of its export folder carries what predicting needs itself.
    alone = root / "alone"
    alone.mkdir(exist_ok=True)
    for key in ("tflite_int8", "onnx"):
        copy = alone / os.path.basename(manifest["files"][key]["path"])
        shutil.copy(root / "export" / manifest["files"][key]["path"], copy)
        predictor = Predictor(str(copy))
        assert predictor.class_names == [str(k) for k in range(10)], key
        assert [r["classes"][0][0] for r in predictor.predict(paths)] == [str(k) for k in want.argmax(-1)], key
    # A folder and a glob read the same images.
    assert [r["input"] for r in Predictor(str(root / "export")).predict([str(root / "digit_*.png")])] == paths


def test_bad_images_and_sources_are_clear_errors(digits_run, tmp_path):
    root, _, _, paths = digits_run
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(PredictError, match="notes.png' is not an image"):
        Predictor(str(root / "export")).predict([str(tmp_path / "notes.png")])
    with pytest.raises(PredictError, match="No image files in"):
        Predictor(str(root / "export")).predict([str(tmp_path / "*.jpg")])
    with pytest.raises(PredictError, match="does not exist"):
        Predictor(str(tmp_path / "nothing"))
    other = tmp_path / "other"
    shutil.copytree(root / "export", other)
    shutil.copy(other / "mlp_tiny.onnx", other / "stranger.onnx")
    with pytest.raises(PredictError, match="not one of the files .* another model"):
        Predictor(str(other / "stranger.onnx"))
    with pytest.raises(PredictError, match="Unknown runtime 'tpu'"):
        Predictor(str(root / "export"), runtime="tpu")
    # A .tflite without the zoo's metadata outside an export folder: refused with the fix, not guessed at.
    from export import tflite

    (tmp_path / "bare.tflite").write_bytes(tflite.convert(zoo.mlp_tiny()))
    with pytest.raises(PredictError, match="carries no zoo metadata .* pass the folder `zoo export` wrote"):
        Predictor(str(tmp_path / "bare.tflite"))
    (tmp_path / "broken.tflite").write_bytes(b"TFL3 not a model")
    with pytest.raises(ValueError, match="broken.tflite' is not a loadable LiteRT model"):
        Predictor(str(tmp_path / "broken.tflite"))
    with pytest.raises(PredictError, match="training run: its runtime is 'keras'"):
        Predictor(str(root / "run"), runtime="onnx")


def test_zoo_predict_prints_classes_and_json_lines(digits_run, capsys):
    root, _, _, paths = digits_run
    assert cli.main(["predict", str(root / "export"), *paths[:2], "--top-k", "2", "--runtime", "onnx"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "image_classification model, runtime onnx (2 input(s))" and len(lines) == 3
    assert cli.main(["predict", str(root / "run"), paths[0], "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["input"] == paths[0] and len(row["classes"]) == 3
    assert cli.main(["predict", str(root / "export"), str(root / "missing.png")]) == 2
    assert "zoo: error: Image" in capsys.readouterr().err


def test_text_from_strings_and_files_through_every_runtime(tmp_path):
    texts = np.array(["good fun film", "bad boring film", "fun good", "boring bad", "great fun", "awful bad"] * 6,
                     dtype=object)
    data = pipelines.text_splits((texts, np.array([1, 0, 1, 0, 1, 0] * 6, "int32")), name="toy",
                                 labels=["neg", "pos"], sequence_length=8)
    model = _train("lstm_classifier_tiny", data, tmp_path / "run", epochs=3)
    _export(model, data, tmp_path / "export")
    asked = ["good fun film", "Bad, boring film!", "an unknown word"]
    want = model.predict(pipelines.text.vectorize(data.vectorizer, np.array(asked, dtype=object), 8).numpy(),
                         verbose=0)
    manifest = json.load(open(tmp_path / "export" / "zoo_export.json"))
    for runtime in ["keras", *manifest["files"]]:
        got = Predictor(str(tmp_path / "export"), runtime=runtime).predict(asked, top_k=2)
        labels = [r["classes"][0][0] for r in got]
        if manifest["files"].get(runtime, {}).get("quantization", "fp32") == "fp32":
            assert labels == [["neg", "pos"][k] for k in want.argmax(-1)], runtime
            np.testing.assert_allclose([dict(r["classes"])["pos"] for r in got], want[:, 1], atol=1e-4)
    # The run folder (its vectorizer.keras) answers the same; so do a file of lines and a CSV column.
    run = Predictor(str(tmp_path / "run")).predict(asked)
    assert [r["classes"][0][0] for r in run] == [["neg", "pos"][k] for k in want.argmax(-1)]
    (tmp_path / "lines.txt").write_text("\n".join(asked) + "\n")
    with open(tmp_path / "reviews.csv", "w", newline="") as f:
        csv.writer(f).writerows([["id", "review"], *[[i, t] for i, t in enumerate(asked)]])
    for source in ("lines.txt", "reviews.csv"):
        got = Predictor(str(tmp_path / "export"), runtime="keras").predict([str(tmp_path / source)], column=(
            "review" if source.endswith(".csv") else None))
        assert [r["classes"][0][0] for r in got] == [r["classes"][0][0] for r in run], source
    with pytest.raises(PredictError, match="Text 1 is empty"):
        Predictor(str(tmp_path / "export")).predict(["fine", "  "])
    # The fp32 .tflite alone carries its vocabulary (vocab.txt in its LiteRT metadata) and answers the same.
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(tmp_path / "export" / manifest["files"]["tflite_fp32"]["path"], alone / "reviews.tflite")
    got = Predictor(str(alone / "reviews.tflite")).predict(asked, top_k=2)
    np.testing.assert_allclose([dict(r["classes"])["pos"] for r in got], want[:, 1], atol=1e-4)


def test_table_rows_with_missing_values_and_a_missing_column(tmp_path):
    from sklearn.datasets import load_iris

    bunch = load_iris()
    path = tmp_path / "iris.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sepal_length", "sepal_width", "petal_length", "petal_width", "species"])
        for row, target in zip(bunch.data, bunch.target):
            writer.writerow([*row, bunch.target_names[target]])
    data = pipelines.tabular_file(str(path), label_column="species")
    model = _train("mlp_tabular", data, tmp_path / "run", epochs=5)
    _export(model, data, tmp_path / "export")
    new = tmp_path / "new.csv"
    new.write_text("petal_width,sepal_length,sepal_width,petal_length,notes\n"
                   "0.2,5.1,3.5,1.4,a\n2.3,6.9,3.1,5.7,b\n1.3,,2.8,4.5,missing length\n")
    encoded = pipelines.tabular_encoder(data.preprocessing)(
        {"sepal_length": np.array([5.1, 6.9, np.nan], "float32"), "sepal_width": np.array([3.5, 3.1, 2.8], "float32"),
         "petal_length": np.array([1.4, 5.7, 4.5], "float32"), "petal_width": np.array([0.2, 2.3, 1.3], "float32")})
    want = model.predict(encoded.numpy(), verbose=0)
    for source, runtime in ((tmp_path / "run", None), (tmp_path / "export", "keras"), (tmp_path / "export", "onnx"),
                            (tmp_path / "export", "tflite_fp32")):
        got = Predictor(str(source), runtime=runtime).predict([str(new)], top_k=3)
        assert [r["input"] for r in got] == ["new.csv:2", "new.csv:3", "new.csv:4"]
        for result, row in zip(got, want):
            probabilities = dict(result["classes"])
            np.testing.assert_allclose([probabilities[n] for n in data.labels], row, atol=1e-4)
    (tmp_path / "short.csv").write_text("sepal_length,sepal_width\n5.1,3.5\n")
    with pytest.raises(PredictError, match=r"lacks the training column\(s\) \['petal_length', 'petal_width'\]"):
        Predictor(str(tmp_path / "export")).predict([str(tmp_path / "short.csv")])
    with pytest.raises(PredictError, match="CSV/TSV/JSONL"):
        Predictor(str(tmp_path / "export")).predict([str(tmp_path / "run" / "model.keras")])


def test_a_forecast_in_series_units_through_every_runtime(tmp_path):
    months = np.arange(72)
    values = 100 * 1.01 ** months * (1 + 0.2 * np.sin(2 * np.pi * months / 12))
    path = tmp_path / "sales.csv"
    path.write_text("month,units\n" + "".join(f"{i},{v:.4f}\n" for i, v in enumerate(values)))
    data = pipelines.load_dataset(f"series:{path}", column="units", horizon=3)  # records its spec for `zoo export`
    model = _train("lstm_forecaster_tiny", data, tmp_path / "run", epochs=2)
    _export(model, data, tmp_path / "export")
    pre = data.preprocessing
    z = np.log(values[-pre["input_width"]:]) if pre["log"] else values[-pre["input_width"]:]
    base = z[-1] if pre["type"] == "relative" else pre["mean"]
    out = model.predict(((z - base) / pre["std"])[None, :, None].astype("float32"), verbose=0)[0, :, 0]
    want = out * pre["std"] + base
    want = np.exp(want) if pre["log"] else want
    manifest = json.load(open(tmp_path / "export" / "zoo_export.json"))
    for source, runtime in [(tmp_path / "run", None)] + [(tmp_path / "export", k) for k in manifest["files"]]:
        (result,) = Predictor(str(source), runtime=runtime).predict([str(path)], column="units")
        quant = manifest["files"].get(runtime, {}).get("quantization", "fp32")
        np.testing.assert_allclose(result["forecast"], want, rtol=1e-4 if quant == "fp32" else 0.05, err_msg=runtime)
    # `zoo export RUN`: every file takes a window in series units and returns series units (transform inside).
    assert cli.main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "units")]) == 0
    manifest = json.load(open(tmp_path / "units" / "zoo_export.json"))
    assert manifest["preprocessing"]["units"] == "series"
    for runtime in ["keras", *manifest["files"]]:
        (result,) = Predictor(str(tmp_path / "units"), runtime=runtime).predict([str(path)])
        quant = manifest["files"].get(runtime, {}).get("quantization", "fp32")
        np.testing.assert_allclose(result["forecast"], want, rtol=1e-4 if quant == "fp32" else 0.1, err_msg=runtime)
    import onnxruntime as ort  # the file alone, no zoo code: a window of units in, units out

    session = ort.InferenceSession(str(tmp_path / "units" / manifest["files"]["onnx"]["path"]))
    window = values[-pre["input_width"]:][None, :, None].astype("float32")
    np.testing.assert_allclose(session.run(None, {"series": window})[0][0, :, 0], want, rtol=1e-4)
    (tmp_path / "short.csv").write_text("units\n1\n2\n")
    with pytest.raises(PredictError, match="holds 2 values; the model reads the last 12"):
        Predictor(str(tmp_path / "run")).predict([str(tmp_path / "short.csv")])


def test_every_export_has_a_model_card_whose_figures_are_the_reports(digits_run):
    from export import verify_export

    root, _, _, _ = digits_run
    folder = root / "export"
    for when in ("export", "verify"):
        if when == "verify":
            verify_export(str(folder), verbose=False)
        card = (folder / "MODEL_CARD.md").read_text()
        report = json.load(open(folder / "report.json"))
        manifest = json.load(open(folder / "zoo_export.json"))
        results = card.split("## Files and measured results")[1].split("## Inputs and outputs")[0]
        rows = {line.split("|")[1].strip(" `"): line for line in results.splitlines() if line.startswith("| `")}
        assert len(rows) == len(report["results"])
        for row in report["results"]:
            line = rows[row["file"]]
            assert f"accuracy {row['accuracy']:.4f}" in line and f"{row['latency_ms_batch1']:.3f}" in line, when
            assert f"{row['max_abs_err_batchN']:.2e}" in line
        for entry in manifest["files"].values():
            assert entry["sha256"] in card
        assert "- Data: `digits` (image_classification; train 1,266, val 176, test 355)" in card
        assert "- Recipe: epochs 5, batch_size 16" in card and f"zoo predict {folder.name} INPUT" in card
        assert "docker run" in card and "ort.InferenceSession" in card and "Interpreter(model_path" in card


def test_many_inputs_show_progress_on_a_terminal_only(digits_run, monkeypatch, tmp_path):
    import io
    import sys

    root, _, _, paths = digits_run
    many = [paths[i % len(paths)] for i in range(70)]

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for stream, shown in ((Terminal(), True), (io.StringIO(), False)):
        monkeypatch.setattr(sys, "stderr", stream)
        results = Predictor(str(root / "export"), runtime="onnx").predict(many, progress=True)
        assert len(results) == 70
        assert ("images read 70/70" in stream.getvalue()) is shown
        assert ("predicted (onnx) 70/70" in stream.getvalue()) is shown
