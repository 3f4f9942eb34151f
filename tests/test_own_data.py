"""Your own data (README "Your own data"): text, IDX and series files the tests write, through
`zoo train --dataset KIND:PATH` -> `zoo export RUN` (the run's data reloaded for calibration and
scoring) -> `zoo verify`; class names in every export; bad files named by file, line and fix."""

import gzip
import json
import os
import re
import struct

import keras
import numpy as np
import pytest
import tensorflow as tf

import pipelines

WORDS = {
    "business": "market shares profit bank stock investors quarter revenue merger economy",
    "sport": "match goal team season coach league players win cup striker",
    "tech": "software chip phone internet users data cloud startup app device",
}


def _news_rows(n, seed=0):
    """Short 'news' lines of three classes (string labels), with shared filler words."""
    rng = np.random.default_rng(seed)
    filler = "the a of in on said new year after over".split()
    rows = []
    for i in range(n):
        label = sorted(WORDS)[i % 3]
        words = list(rng.choice(WORDS[label].split(), 4)) + list(rng.choice(filler, 4))
        rng.shuffle(words)
        rows.append((label, " ".join(words).capitalize() + "."))
    return rows


def _write_news_tsv(path, n=360):
    with open(path, "w", encoding="utf8") as f:
        f.write("Category\tText\n")
        for label, text in _news_rows(n):
            f.write(f"{label}\t{text}\n")
    return str(path)


# ------------------------------------------------------------------- text


def test_text_file_reads_string_labels_another_header_and_splits_by_row_hash(tmp_path):
    path = _write_news_tsv(tmp_path / "news.tsv")
    data = pipelines.load_dataset(f"text:{path}", text_column="Text", label_column="Category", sequence_length=16)
    assert data.labels == ["business", "sport", "tech"]
    assert set(data.sizes) == {"train", "val", "test"} and sum(data.sizes.values()) == 360
    assert data.spec == {"dataset": f"text:{os.path.abspath(path)}", "data_dir": None,
                         "options": {"text_column": "Text", "label_column": "Category", "sequence_length": 16}}
    # Columns guessed when not given: the longest values are the text, the fewest distinct the label.
    guessed = pipelines.text_file(path, sequence_length=16)
    assert guessed.extras["columns"]["text"] == ["Text"] and guessed.extras["columns"]["label"] == "Category"
    # Adding rows keeps every old row in its split (the split is a hash of the row).
    test_rows = {bytes(x.numpy()) for x, _ in data.split("test")}
    with open(path, "a", encoding="utf8") as f:
        for label, text in _news_rows(120, seed=7):
            f.write(f"{label}\t{text}\n")
    bigger = pipelines.load_dataset(f"text:{path}", text_column="Text", label_column="Category",
                                    vectorizer=data.vectorizer, sequence_length=16)
    assert test_rows <= {bytes(x.numpy()) for x, _ in bigger.split("test")}


def test_text_jsonl_gz_and_separate_files_with_class_names(tmp_path):
    rows = _news_rows(90)
    for name, part in (("train.jsonl.gz", rows[:60]), ("test.jsonl.gz", rows[60:])):
        with gzip.open(tmp_path / name, "wt", encoding="utf8") as f:
            for label, text in part:
                f.write(json.dumps({"body": text, "topic": label}) + "\n")
    data = pipelines.text_file(str(tmp_path / "train.jsonl.gz"), test=str(tmp_path / "test.jsonl.gz"),
                               text_column="body", label_column="topic", class_names="tech,sport,business")
    assert data.labels == ["tech", "sport", "business"] and data.sizes == {"train": 60, "test": 30}
    labels = np.array([int(y) for _, y in data.split("test")])
    assert list(labels[:3]) == [2, 1, 0]  # business, sport, tech in the file; named order kept


def test_text_csv_is_streamed_with_quoted_fields_spanning_lines(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text('label,text\npos,"good, ""really""\nfine"\nneg,bad film\n')
    data = pipelines.text_file(str(path), val_fraction=0.0, test_fraction=0.0, sequence_length=8)
    assert data.sizes == {"train": 2} and data.labels == ["neg", "pos"]
    (ids, label), _ = list(data.split("train"))
    vocab = data.vectorizer.get_vocabulary()
    assert sorted(vocab[i] for i in ids.numpy() if i) == ["fine", "good", "really"] and int(label) == 1
    assert data.cacheable  # small files are kept in memory after the first epoch


def test_a_text_run_exports_with_its_class_names_and_real_accuracy(tmp_path, zoo_cli):
    path = _write_news_tsv(tmp_path / "news.tsv", n=600)
    run, out = str(tmp_path / "run"), str(tmp_path / "export")
    proc = zoo_cli("train", "lstm_classifier_tiny", "--dataset", f"text:{path}", "--text-column", "Text",
                "--label-column", "Category", "--data-arg", "sequence_length=16", "--epochs", "4", "--lr", "0.01",
                "--quiet", "--out", run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "3 classes ['business', 'sport', 'tech']" in proc.stdout
    proc = zoo_cli("export", run, "--out", out, "--quantize", "fp32,int8")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.load(open(os.path.join(out, "report.json")))
    manifest = json.load(open(os.path.join(out, "zoo_export.json")))
    assert manifest["labels"] == ["business", "sport", "tech"]
    rows = {r["file"]: r for r in report["results"]}
    # The recurrent model's int8 files: LiteRT full-integer (builtin ops only) and ONNX static int8, each
    # within the 1-point budget on the run's test split.
    from export import tflite

    ops = tflite.op_names(open(os.path.join(out, manifest["files"]["tflite_int8"]["path"]), "rb").read())
    assert "FULLY_CONNECTED" in ops and not tflite.non_builtin_ops(
        open(os.path.join(out, manifest["files"]["tflite_int8"]["path"]), "rb").read())
    for key in ("tflite_int8", "onnx_int8"):
        assert rows[key]["passed"] and -rows[key]["accuracy_delta"] <= 0.01, rows[key]
    # Scored on the run's own test split (reloaded from the recorded spec), not on random inputs.
    test_size = json.load(open(os.path.join(run, "data.json")))["sizes"]["test"]
    assert report["examples"] == test_size and rows["onnx"]["accuracy"] > 0.9
    import onnxruntime as ort

    meta = ort.InferenceSession(os.path.join(out, manifest["files"]["onnx"]["path"])).get_modelmeta()
    assert json.loads(meta.custom_metadata_map["zoo.labels"]) == ["business", "sport", "tech"]
    served = tf.saved_model.load(os.path.join(out, manifest["files"]["saved_model"]["path"]))
    names = served.signatures["serving_text"](text=tf.constant(["profit bank merger shares", "goal match cup"]))
    assert [n.decode() for n in names["class_names"].numpy()] == ["business", "sport"]
    assert zoo_cli("verify", out).returncode == 0


# ------------------------------------------------------------------- IDX


def _write_idx(path, array):
    array = np.asarray(array, "uint8")
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.tobytes())


def _write_digits_idx(folder):
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images * 16).clip(0, 255).astype("uint8")
    os.makedirs(folder, exist_ok=True)
    _write_idx(os.path.join(folder, "train-images-idx3-ubyte.gz"), images[:1400])
    _write_idx(os.path.join(folder, "train-labels-idx1-ubyte.gz"), digits.target[:1400])
    _write_idx(os.path.join(folder, "t10k-images-idx3-ubyte.gz"), images[1400:])
    _write_idx(os.path.join(folder, "t10k-labels-idx1-ubyte.gz"), digits.target[1400:])
    return str(folder)


NAMES = "zero,one,two,three,four,five,six,seven,eight,nine"


def test_an_idx_run_with_class_names_trains_exports_int8_and_verifies(tmp_path, zoo_cli):
    folder = _write_digits_idx(tmp_path / "idx")
    run, out = str(tmp_path / "run"), str(tmp_path / "export")
    proc = zoo_cli("train", "mlp_tiny", "--dataset", f"idx:{folder}", "--class-names", NAMES, "--epochs", "20",
                   "--lr", "0.003",
                "--quiet", "--out", run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.load(open(os.path.join(run, "data.json")))
    assert data["name"] == "idx:idx" and data["labels"] == NAMES.split(",")
    proc = zoo_cli("export", run, "--out", out, "--formats", "saved_model,tflite", "--quantize", "fp32,int8")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.load(open(os.path.join(out, "report.json")))
    rows = {r["file"]: r for r in report["results"]}
    assert report["examples"] == 397 and rows["tflite_int8"]["accuracy"] > 0.8  # the run's 397 test images
    manifest = json.load(open(os.path.join(out, "zoo_export.json")))
    assert manifest["labels"] == NAMES.split(",")
    served = tf.saved_model.load(os.path.join(out, manifest["files"]["saved_model"]["path"]))
    x = {manifest["inputs"][0]["name"]: tf.zeros((2, 8, 8, 1))}
    names = served.signatures["serving_default"](**x)["class_names"].numpy()
    assert names.shape == (2,) and names[0].decode() in NAMES.split(",")


def test_an_npz_run_in_keras_datasets_layout_trains_exports_and_verifies(tmp_path, zoo_cli):
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, names = (digits.images * 16).clip(0, 255).astype("uint8"), np.array(NAMES.split(","))
    path = str(tmp_path / "digits.npz")  # string labels: class names from the data
    np.savez(path, x_train=images[:1400], y_train=names[digits.target[:1400]], x_test=images[1400:],
             y_test=names[digits.target[1400:]])
    run, out = str(tmp_path / "run"), str(tmp_path / "export")
    proc = zoo_cli("train", "mlp_tiny", "--dataset", f"npz:{path}", "--epochs", "20", "--lr", "0.003", "--quiet",
                   "--out", run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.load(open(os.path.join(run, "data.json")))
    assert data["labels"] == sorted(NAMES.split(",")) and data["sizes"]["test"] == 397
    assert sum(data["sizes"].values()) == 1797
    proc = zoo_cli("export", run, "--out", out, "--formats", "onnx", "--quantize", "fp32,int8")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rows = {r["file"]: r for r in json.load(open(os.path.join(out, "report.json")))["results"]}
    assert rows["onnx"]["accuracy"] > 0.85 and rows["onnx_int8"]["passed"], rows
    assert zoo_cli("verify", out).returncode == 0


@pytest.mark.parametrize("arrays,message", [
    ({"x_train": np.array([{"a": 1}], dtype=object), "y_train": np.zeros(1)}, "object arrays .*np.savez"),
    ({"images": np.zeros((4, 8, 8)), "labels": np.zeros(4)}, "holds the arrays \\['images', 'labels'\\]; expected"),
    ({"x": np.zeros((4, 8)), "y": np.zeros(4, "int64")}, "expected images \\(n, height, width.*`tabular:`"),
    ({"x": np.zeros((4, 8, 8)), "y": np.array([0, 1, 5, 1])}, "example 2: label 5 is not one of the 2 class names"),
    ({"x": np.full((4, 8, 8), np.nan), "y": np.array([0, 1, 0, 1])}, "image 0 holds NaN"),
])
def test_bad_npz_files_are_named_with_the_fix(tmp_path, arrays, message):
    path = str(tmp_path / "bad.npz")
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message):
        pipelines.load_dataset(f"npz:{path}", class_names="a,b")


def test_a_moved_dataset_is_named_at_export_and_data_dir_points_at_it(tmp_path, zoo_cli):
    folder = _write_digits_idx(tmp_path / "idx")
    run = str(tmp_path / "run")
    assert zoo_cli("train", "mlp_tiny", "--dataset", f"idx:{folder}", "--epochs", "1", "--quiet",
                "--out", run).returncode == 0
    os.rename(folder, tmp_path / "moved")
    proc = zoo_cli("export", run, "--out", str(tmp_path / "x"), "--quantize", "fp32")
    assert proc.returncode == 2 and "is gone" in proc.stderr and "--data-dir" in proc.stderr
    assert not os.path.exists(tmp_path / "x")
    proc = zoo_cli("export", run, "--out", str(tmp_path / "x"), "--quantize", "fp32", "--data-dir",
                str(tmp_path / "moved"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.load(open(tmp_path / "x" / "report.json"))["examples"] == 397


# ------------------------------------------------------------------- series


def _write_series_with_zeros(path, months=240):
    """A monthly demand series that is zero in every January (shop closed) with trend and season."""
    t = np.arange(months)
    values = 50 + 0.2 * t + 20 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 3, months)
    values[t % 12 == 0] = 0.0
    with open(path, "w") as f:
        f.write("month,store,units\n")
        for i, v in enumerate(values):
            f.write(f"{1990 + i // 12}-{i % 12 + 1:02d},A,{v:.2f}\n")
    return str(path)


def test_series_auto_transform_takes_zeros_and_reports_baselines(tmp_path, zoo_cli):
    path = _write_series_with_zeros(tmp_path / "units.csv")
    with pytest.raises(ValueError, match="strictly positive.*transform='auto'"):
        pipelines.series_file(path, column="units", transform="log")
    data = pipelines.series_file(path, column="units", date_column="month")
    assert data.extras["season"] == 12 and data.preprocessing["log"] is False
    baselines = pipelines.naive_baselines(data)
    # On a series with a strong yearly season, last year's value beats last month's.
    assert baselines["seasonal_naive"]["rmse"] < baselines["last_value"]["rmse"]
    run, out = str(tmp_path / "run"), str(tmp_path / "export")
    proc = zoo_cli("train", "lstm_forecaster_tiny", "--dataset", f"series:{path}", "--column", "units",
                "--date-column", "month", "--epochs", "2", "--horizon", "3", "--quiet", "--out", run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "last_value" in proc.stdout and "seasonal_naive" in proc.stdout and "RMSE t+3" in proc.stdout
    report = json.load(open(os.path.join(run, "forecast.json")))
    assert set(report) == {"model", "last_value", "seasonal_naive", "drift"}
    assert all(len(row["rmse_per_step"]) == 3 for row in report.values())
    # The model corrects the seasonal-naive forecast (better on the validation windows) and keeps its
    # correction only if it does better there: never worse on them, by construction (2 epochs here).
    guard = json.load(open(os.path.join(run, "history.json")))["naive_forecast_guard"]
    assert guard["kept"] in ("model", "naive") and min(guard["val_loss_model"], guard["val_loss_naive"]) == \
        (guard["val_loss_model"] if guard["kept"] == "model" else guard["val_loss_naive"])
    model = keras.saving.load_model(os.path.join(run, "model.keras"))
    assert model.get_layer("naive_forecast").lag == 12
    horizon3 = pipelines.series_file(path, column="units", date_column="month", horizon=3)
    val = pipelines.forecast_report(model, horizon3, split="val")
    assert val["model"]["rmse"] <= val["seasonal_naive"]["rmse"] * 1.02  # the guard's loss is in model space
    proc = zoo_cli("export", run, "--out", out, "--formats", "saved_model,onnx", "--quantize", "fp32")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rows = json.load(open(os.path.join(out, "report.json")))["results"]
    assert all(np.isfinite(r["rmse"]) and abs(r["rmse"] - r["keras_rmse"]) < 1e-4 for r in rows)


# ------------------------------------------------------------------- bad files


@pytest.mark.parametrize("content,args,message", [
    ("Category\tText\nsport\tgoal\nbusiness\n", ["--text-column", "Text", "--label-column", "Category"],
     "news.tsv' line 3: 1 field\\(s\\) where 2 are expected"),
    ("Category\tText\nsport\tgoal\n", ["--text-column", "Txt", "--label-column", "Category"],
     "text_column='Txt' is not a column .* Did you mean 'Text'"),
    ("Category\tText\nsport\tgoal\ntech\tchip\n", ["--label-column", "Category", "--class-names", "sport,business"],
     "line 3: label 'tech' is not one of the class names"),
    ("Category\tText\nsport\tgoal\n", ["--data-arg", "limit=5"], "has no option\\(s\\) \\['limit'\\]. Allowed"),
    ("Category\tText\nsport\tgoal\n\ntech\tchip\n", [], "news.tsv' line 3 is blank. Remove the blank lines"),
    ("Category\tText\nsport\tgoal\nsport\tcup\n", ["--label-column", "Category"], "a classifier needs two or more"),
])
def test_bad_text_files_are_one_line_errors_with_file_line_and_fix(tmp_path, content, args, message, zoo_cli):

    path = tmp_path / "news.tsv"
    path.write_text(content)
    _assert_one_line_error(zoo_cli("train", "lstm_classifier_tiny", "--dataset", f"text:{path}", *args, "--epochs",
                                   "1", "--out", str(tmp_path / "run")), message)


def _assert_one_line_error(proc, message):
    import re

    assert proc.returncode == 2
    assert proc.stderr.startswith("zoo: error:") and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert re.search(message, proc.stderr), proc.stderr


def test_source_options_are_checked_against_the_source(tmp_path):
    path = _write_news_tsv(tmp_path / "news.tsv", n=30)
    with pytest.raises(ValueError, match="Dataset 'sst2' has no option\\(s\\) \\['text_column'\\]"):
        pipelines.load_dataset("sst2", str(tmp_path), text_column="Text")
    with pytest.raises(ValueError, match="Unknown data kind 'csv'"):
        pipelines.load_dataset(f"csv:{path}")
    with pytest.raises(ValueError, match="does not exist"):
        pipelines.load_dataset("text:/no/such.csv")


# ------------------------------------------------------------------- TFRecord


def test_tfrecords_with_custom_keys_and_class_names_train_export_and_verify(tmp_path, zoo_cli):
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = digits.target < 3
    images = (digits.images[keep] * 16).clip(0, 255).astype("uint8")[..., None]
    labels = digits.target[keep]
    folder = tmp_path / "shards"
    folder.mkdir()
    for split, part in (("train", slice(0, 420)), ("test", slice(420, None))):
        with tf.io.TFRecordWriter(str(folder / f"{split}-00000.tfrecord")) as writer:
            for image, label in zip(images[part], labels[part]):
                png = tf.io.encode_png(np.repeat(image, 3, -1)).numpy()
                writer.write(tf.train.Example(features=tf.train.Features(feature={
                    "png": tf.train.Feature(bytes_list=tf.train.BytesList(value=[png])),
                    "digit": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
                })).SerializeToString())
    proc = zoo_cli("train", "mlp_tiny", "--dataset", f"tfrecord:{folder}", "--class-names", "zero,one,two",
                   "--data-arg", "image_key=png", "--data-arg", "label_key=digit", "--epochs", "10", "--lr", "0.003",
                   "--quiet", "--out", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "3 classes ['zero', 'one', 'two']" in proc.stdout and "train 378, val 42, test" in proc.stdout
    out = str(tmp_path / "x")
    proc = zoo_cli("export", str(tmp_path / "run"), "--out", out, "--formats", "onnx", "--quantize", "fp32")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.load(open(os.path.join(out, "report.json")))
    assert report["examples"] == len(labels) - 420 and report["results"][0]["accuracy"] > 0.9
    assert json.load(open(os.path.join(out, "zoo_export.json")))["labels"] == ["zero", "one", "two"]
    # A wrong key is named with the fix.
    proc = zoo_cli("train", "mlp_tiny", "--dataset", f"tfrecord:{folder}", "--class-names", "zero,one,two",
                   "--epochs", "1", "--out", str(tmp_path / "run2"))
    assert proc.returncode == 2 and "image_key='image/encoded'" in proc.stderr and "Pass image_key=" in proc.stderr


def test_text_tfrecords_with_custom_keys_train_export_and_verify(tmp_path, zoo_cli):
    folder = tmp_path / "news"
    folder.mkdir()
    rows = _news_rows(420)
    names = sorted(WORDS)
    for split, part in (("train", rows[:330]), ("test", rows[330:])):
        with tf.io.TFRecordWriter(str(folder / f"{split}-00000.tfrecord")) as writer:
            for label, text in part:
                writer.write(tf.train.Example(features=tf.train.Features(feature={
                    "body": tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()])),
                    "topic": tf.train.Feature(int64_list=tf.train.Int64List(value=[names.index(label)])),
                })).SerializeToString())
    run, out = str(tmp_path / "run"), str(tmp_path / "x")
    proc = zoo_cli("train", "lstm_classifier_tiny", "--dataset", f"tfrecord:{folder}", "--class-names", ",".join(names),
                   "--data-arg", "text_key=body", "--data-arg", "label_key=topic", "--data-arg", "sequence_length=16",
                   "--epochs", "4", "--lr", "0.01", "--quiet", "--out", run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "3 classes ['business', 'sport', 'tech']" in proc.stdout and "train 297, val 33, test 90" in proc.stdout
    # The same command again: the run is finished (its data summary holds NumPy counts: compared, not a crash).
    _assert_one_line_error(zoo_cli("train", "lstm_classifier_tiny", "--dataset", f"tfrecord:{folder}", "--class-names",
                                   ",".join(names), "--data-arg", "text_key=body", "--data-arg", "label_key=topic",
                                   "--data-arg", "sequence_length=16", "--epochs", "4", "--lr", "0.01", "--out", run),
                           "is finished: all 4 epochs trained")
    proc = zoo_cli("export", run, "--out", out, "--formats", "onnx", "--quantize", "fp32")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.load(open(os.path.join(out, "report.json")))
    assert report["examples"] == 90 and all(r["accuracy"] > 0.9 for r in report["results"]), report
    assert zoo_cli("verify", out).returncode == 0
    # A wrong key is named with the fix.
    _assert_one_line_error(zoo_cli("train", "lstm_classifier_tiny", "--dataset", f"tfrecord:{folder}",
                                   "--class-names", ",".join(names), "--data-arg", "text_key=text", "--epochs", "1",
                                   "--out", str(tmp_path / "run2")),
                           "text_key='text' \\(bytes\\) and label_key='label' \\(int64\\).*--data-arg text_key=")


# ------------------------------------------------------------------- text folders


def _write_news_folders(root, rows, split=None, first=0):
    """One .txt file per row under root/[split/]<class>/."""
    for i, (label, text) in enumerate(rows, start=first):
        folder = os.path.join(root, *([split] if split else []), label)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{i:05d}.txt"), "w", encoding="utf8") as f:
            f.write(text)


def test_a_text_folder_run_trains_exports_and_verifies_with_its_class_names(tmp_path, zoo_cli):
    root = tmp_path / "news"
    _write_news_folders(root, _news_rows(480))
    (root / "README.txt").write_text("not a document: outside every class folder")
    run, out = str(tmp_path / "run"), str(tmp_path / "x")
    proc = zoo_cli("train", "lstm_classifier_tiny", "--dataset", f"textfolder:{root}", "--data-arg",
                   "sequence_length=16", "--epochs", "4", "--lr", "0.01", "--quiet", "--out", run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "3 classes ['business', 'sport', 'tech']" in proc.stdout
    sizes = json.load(open(os.path.join(run, "data.json")))["sizes"]
    assert sum(sizes.values()) == 480 and set(sizes) == {"train", "val", "test"}
    proc = zoo_cli("export", run, "--out", out, "--formats", "onnx", "--quantize", "fp32")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.load(open(os.path.join(out, "report.json")))
    assert report["examples"] == sizes["test"] and all(r["accuracy"] > 0.9 for r in report["results"]), report
    assert json.load(open(os.path.join(out, "zoo_export.json")))["labels"] == ["business", "sport", "tech"]
    assert zoo_cli("verify", out).returncode == 0


def test_text_folders_split_folders_tar_archives_limit_and_stable_splits(tmp_path):
    import tarfile

    rows = _news_rows(300)
    _write_news_folders(tmp_path / "corpus" / "wrapped", rows[:240], "train")
    _write_news_folders(tmp_path / "corpus" / "wrapped", rows[240:], "test")
    os.makedirs(tmp_path / "corpus" / "wrapped" / "train" / "unsup")  # aclImdb's unlabeled folder: not a class
    (tmp_path / "corpus" / "wrapped" / "train" / "unsup" / "u.txt").write_text("no label")
    (tmp_path / "corpus" / "wrapped" / "imdbEr.txt").write_text("0.1 0.2")  # a file beside the split folders
    archive = str(tmp_path / "corpus.tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "corpus", arcname="corpus")
    for source in (str(tmp_path / "corpus"), archive):  # the wrapping folders are looked through
        data = pipelines.text_folder(source, val_fraction=0.25, sequence_length=8)
        assert data.labels == ["business", "sport", "tech"]
        assert data.sizes["test"] == 60 and data.sizes["train"] + data.sizes["val"] == 240
        assert 30 < data.sizes["val"] < 90  # carved out of train/ by a fingerprint of each document
        assert data.extras["class_counts"]["test"] == {"business": 20, "sport": 20, "tech": 20}
    # Reading in place from the archive gives the same documents in every split as the folder.
    vectorizer = data.vectorizer  # the same token ids for the same texts

    def val_ids(source):
        return {bytes(x.numpy()) for x, _ in
                pipelines.text_folder(source, val_fraction=0.25, vectorizer=vectorizer).split("val")}

    before = val_ids(str(tmp_path / "corpus"))
    assert before == val_ids(archive)
    # Adding documents keeps every old one's split.
    _write_news_folders(tmp_path / "corpus" / "wrapped", _news_rows(60, seed=3), "train", first=1000)
    assert before < val_ids(str(tmp_path / "corpus"))
    # `limit`: exactly that many per split folder, a seeded sample of every class.
    small = pipelines.text_folder(archive, limit=30, val_fraction=0.2, seed=1)
    assert small.sizes["train"] + small.sizes["val"] == 30 and small.sizes["test"] == 30
    assert all(n > 0 for n in small.extras["class_counts"]["test"].values())
    assert [int(y) for _, y in small.split("test")] == [int(y) for _, y in
                                                         pipelines.text_folder(archive, limit=30, seed=1).split("test")]


@pytest.mark.parametrize("layout,args,message", [
    ({"a/1.txt": b"\xff\xfe bad bytes", "b/2.txt": b"fine"}, {}, "1.txt' is not UTF-8 text.*Re-save it as UTF-8"),
    ({"a/1.txt": b"only one class"}, {}, "one class folder \\['a'\\]; a classifier needs two"),
    ({"a/1.txt": b"x", "b/2.txt": b"y"}, {"class_names": "a,c"}, "no training folder for class\\(es\\) \\['c'\\]"),
    ({"train/a/1.txt": b"x", "train/b/2.txt": b"y", "test/z/3.txt": b"z"}, {}, "test folder has a class folder 'z'"),
    ({"1.txt": b"x"}, {}, "No <class>/ folders of text files found"),
])
def test_bad_text_folders_are_named_with_the_fix(tmp_path, layout, args, message):
    for name, content in layout.items():
        os.makedirs(os.path.dirname(tmp_path / "docs" / name), exist_ok=True)
        (tmp_path / "docs" / name).write_bytes(content)
    with pytest.raises(ValueError, match=message):
        pipelines.load_dataset(f"textfolder:{tmp_path / 'docs'}", **args)


def test_a_cached_split_is_read_from_its_source_once(tmp_path):
    """Epochs after the first read the memory cache, not the source (a new `.cache()` per epoch would re-read)."""
    reads = []

    def source():
        reads.append(1)
        yield from ((np.float32([i]), np.int32(i % 2)) for i in range(10))

    spec = (tf.TensorSpec((1,), tf.float32), tf.TensorSpec((), tf.int32))
    data = pipelines.DataSplits(train=tf.data.Dataset.from_generator(source, output_signature=spec),
                                task="image_classification", input_shape=(1,), num_classes=2, sizes={"train": 10})
    for epoch in range(3):
        assert sum(len(y) for _, y in data.batches("train", 4, epoch=epoch)) == 10
    assert len(reads) == 1
    data.cacheable = False  # a source too big to hold: read every epoch
    for epoch in range(2):
        list(data.batches("train", 4, epoch=epoch))
    assert len(reads) == 3


# ------------------------------------------------------------------- tabular


def _write_iris_csv(path):
    """scikit-learn's iris as a CSV with the species as strings and a categorical column derived from a
    real feature (so one column is one-hot encoded)."""
    from sklearn.datasets import load_iris

    iris = load_iris()
    with open(path, "w", encoding="utf8") as f:
        f.write("sepal length (cm),sepal width (cm),site,petal length (cm),petal width (cm),species\n")
        for (a, b, c, d), t in zip(iris.data, iris.target):
            f.write(f"{a},{b},{'north' if b > 3.0 else 'south'},{c},{d},{iris.target_names[t]}\n")
    return str(path)


def test_a_tabular_run_classifies_and_its_saved_model_takes_raw_named_columns(tmp_path, zoo_cli):
    path = _write_iris_csv(tmp_path / "iris.csv")
    run, out = str(tmp_path / "run"), str(tmp_path / "export")
    proc = zoo_cli("train", "mlp_tabular", "--dataset", f"tabular:{path}", "--label-column", "species",
                   "--epochs", "40", "--lr", "0.01", "--batch-size", "16", "--quiet", "--out", run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pre = json.load(open(os.path.join(run, "data.json")))["preprocessing"]
    assert pre["inputs"] == ["sepal_length_cm", "sepal_width_cm", "site", "petal_length_cm", "petal_width_cm"]
    assert [c["name"] for c in pre["categorical"]] == ["site"]
    assert sorted(pre["categorical"][0]["vocabulary"]) == ["north", "south"]
    assert pre["encoded_size"] == 4 + 3  # 4 standardized numbers, 2 sites + 1 out-of-vocabulary slot

    proc = zoo_cli("export", run, "--out", out)  # all formats; int8 calibrated on the run's training rows
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.load(open(os.path.join(out, "report.json")))
    rows = {r["file"]: r for r in report["results"]}
    assert report["examples"] == json.load(open(os.path.join(run, "data.json")))["sizes"]["test"]
    assert rows["saved_model"]["accuracy"] > 0.85 and rows["tflite_int8"]["accuracy"] > 0.8, rows
    manifest = json.load(open(os.path.join(out, "zoo_export.json")))
    assert manifest["labels"] == ["setosa", "versicolor", "virginica"]
    assert manifest["preprocessing"]["type"] == "tabular"  # the encoding, for LiteRT/ONNX clients

    # TF Serving clients send the raw columns; the SavedModel encodes them as training did.
    served = tf.saved_model.load(os.path.join(out, manifest["files"]["saved_model"]["path"]))
    raw = {"sepal_length_cm": [5.1, 6.7], "sepal_width_cm": [3.5, 3.0], "site": ["north", "south"],
           "petal_length_cm": [1.4, 5.2], "petal_width_cm": [0.2, 2.3]}
    got = served.signatures["serving_features"](**{k: tf.constant(v) for k, v in raw.items()})
    assert [n.decode() for n in got["class_names"].numpy()] == ["setosa", "virginica"]
    missing = served.signatures["serving_features"](**{k: tf.constant(v if k != "sepal_width_cm" else [np.nan, 3.0])
                                                       for k, v in raw.items()})  # NaN: a missing value
    assert np.isfinite(missing["probabilities"].numpy()).all()
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"column ..sepal width \(cm\).. holds Inf"):
        served.signatures["serving_features"](**{k: tf.constant(v if k != "sepal_width_cm" else [np.inf, 3.0])
                                                 for k, v in raw.items()})
    encoded = pipelines.tabular_encoder(pre)({pre["columns"][i]: np.array(v) for i, v in enumerate(raw.values())})
    import keras

    model = keras.saving.load_model(os.path.join(run, "model.keras"))
    np.testing.assert_allclose(got["probabilities"].numpy(), model.predict(encoded, verbose=0), atol=1e-5)
    assert zoo_cli("verify", out).returncode == 0


def _write_diabetes_csv(path, target_name, transform=lambda t: t):
    """scikit-learn's diabetes table (real measurements; the target: disease progression after a year,
    through `transform`) as a CSV."""
    from sklearn.datasets import load_diabetes

    diabetes = load_diabetes(scaled=False)
    with open(path, "w") as f:
        f.write(",".join(diabetes.feature_names + [target_name]) + "\n")
        for row, target in zip(diabetes.data, diabetes.target):
            f.write(",".join(f"{v:g}" for v in row) + f",{transform(target):g}\n")
    return str(path)


def test_a_tabular_regression_run_beats_the_mean_and_exports_its_rmse(tmp_path, zoo_cli):
    path = _write_diabetes_csv(tmp_path / "diabetes.csv", "progression")
    run, out = str(tmp_path / "run"), str(tmp_path / "export")
    proc = zoo_cli("train", "mlp_regressor", "--dataset", f"tabular:{path}", "--categorical-columns", "sex",
                   "--epochs", "60", "--lr", "0.01", "--batch-size", "32", "--quiet", "--out", run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.load(open(os.path.join(run, "data.json")))
    assert data["task"] == "regression" and data["preprocessing"]["categorical"][0]["name"] == "sex"
    proc = zoo_cli("export", run, "--out", out, "--quantize", "fp32,int8")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rows = json.load(open(os.path.join(out, "report.json")))["results"]
    for r in rows:  # scored in target units on the run's test rows; int8 (calibrated on its training rows) too
        assert abs(r["rmse"] - r["keras_rmse"]) < (0.01 if r["quantization"] == "int8" else 1e-5) * r["keras_rmse"], r
    # Predicting the training mean scores the test targets' spread (~77 here); the model must do better.
    test = pipelines.load_spec(data["spec"]).split("test")
    y = np.concatenate([t.numpy() for _, t in test.batch(1000)])
    assert rows[0]["keras_rmse"] < 0.9 * float(np.sqrt(np.mean((y - y.mean()) ** 2))), rows[0]


def _write_iris_with_gaps(path):
    """The iris CSV of `_write_iris_csv` with the gaps real tables have: empty numeric cells, `?` and `NA`
    spellings, a missing category, and three rows without a target."""
    lines = open(_write_iris_csv(path)).read().splitlines()
    rows = [line.split(",") for line in lines[1:]]
    for i, row in enumerate(rows):
        if i % 7 == 0:
            row[1] = ""  # sepal width: empty
        if i % 11 == 3:
            row[3] = "?"  # petal length: another spelling
        if i % 13 == 5:
            row[2] = "NA"  # site (categorical): missing
        if i % 17 == 4:
            row[4] = "n/a"
    for i in (10, 70, 130):
        rows[i][5] = ""  # no target: left out
    path.write_text("\n".join([lines[0]] + [",".join(r) for r in rows]) + "\n")
    return str(path)


def test_a_table_with_missing_values_trains_exports_and_verifies_through_every_file(tmp_path, zoo_cli):
    path = _write_iris_with_gaps(tmp_path / "iris_gaps.csv")
    run, out = str(tmp_path / "run"), str(tmp_path / "export")
    proc = zoo_cli("train", "mlp_tabular", "--dataset", f"tabular:{path}", "--label-column", "species", "--out", run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "left out 3 row(s) whose target 'species' missing" in proc.stdout
    assert "balanced acc" in proc.stdout and "majority class" in proc.stdout  # metrics next to the baseline
    summary = json.load(open(os.path.join(run, "data.json")))
    assert sum(v for k, v in summary["dropped_rows"].items() if k != "reason") == 3
    assert sum(summary["sizes"].values()) == 147
    pre = summary["preprocessing"]
    assert pre["layout"] == {"numeric": 4, "indicators": 3, "categorical": 4}  # site: north, south, "" + OOV
    assert "" in pre["categorical"][0]["vocabulary"]  # missing is a category of its own
    assert [c["missing"] for c in pre["numeric"]] == [False, True, True, True]  # sepal length has no gap
    metrics = json.load(open(os.path.join(run, "metrics.json")))
    assert metrics["model"]["accuracy"] > 0.85 and metrics["model"]["accuracy"] > metrics["baseline"]["accuracy"]

    proc = zoo_cli("export", run, "--out", out)  # every format, int8 calibrated on rows with gaps
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.load(open(os.path.join(out, "report.json")))
    assert report["passed"] and {r["file"] for r in report["results"]} == {
        "saved_model", "tflite_fp32", "tflite_fp16", "tflite_dynamic", "tflite_int8", "onnx", "onnx_int8"}
    assert report["baseline"]["name"].startswith("majority class") and "balanced_accuracy" in report["keras_metrics"]
    with np.load(os.path.join(out, "verify_inputs.npz")) as f:
        encoded = f["features"]
    indicators = encoded[:, 4:7]
    assert indicators.any(), "the verified examples include imputed values"  # every file ran them
    assert np.all(np.abs(encoded[indicators[:, 0] == 1, 1]) < 1e-6)  # imputed: the mean, standardized 0

    # TF Serving clients send NaN / "" / an NA spelling: the SavedModel imputes and flags as training did.
    manifest = json.load(open(os.path.join(out, "zoo_export.json")))
    served = tf.saved_model.load(os.path.join(out, manifest["files"]["saved_model"]["path"]))
    raw = {"sepal_length_cm": [5.1, 6.7, np.nan], "sepal_width_cm": [np.nan, 3.0, 3.1], "site": ["north", "", "NA"],
           "petal_length_cm": [1.4, np.nan, 5.0], "petal_width_cm": [0.2, 2.3, np.nan]}
    got = served.signatures["serving_features"](**{k: tf.constant(v, tf.string if k == "site" else tf.float32)
                                                   for k, v in raw.items()})
    features = pipelines.tabular_encoder(pre)({c: np.array(v, object if c == "site" else "float32")
                                              for c, v in zip(pre["columns"], raw.values())}).numpy()
    assert features[:, 4:7].tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]  # indicators of the three gaps
    assert features[1, -4:].tolist() == features[2, -4:].tolist()  # "" and "NA": the same category
    model = keras.saving.load_model(os.path.join(run, "model.keras"))
    np.testing.assert_allclose(got["probabilities"].numpy(), model.predict(features, verbose=0), atol=1e-5)
    assert zoo_cli("verify", out).returncode == 0


def test_a_regression_target_in_the_hundreds_of_thousands_trains_with_the_defaults(tmp_path, zoo_cli):
    """Prices: a target ~250,000 (diabetes progression x 1,000 + 100,000): the regressor fits the
    standardized target and outputs target units in Keras and in every exported file."""
    path = _write_diabetes_csv(tmp_path / "prices.csv", "price", lambda t: 100_000 + 1000 * t)
    run, out = str(tmp_path / "run"), str(tmp_path / "export")
    proc = zoo_cli("train", "mlp_regressor", "--dataset", f"tabular:{path}", "--out", run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "RMSE" in proc.stdout and "R²" in proc.stdout and "training mean" in proc.stdout
    metrics = json.load(open(os.path.join(run, "metrics.json")))
    assert metrics["model"]["rmse"] < 0.85 * metrics["baseline"]["rmse"] and metrics["model"]["r2"] > 0.25, metrics
    pre = json.load(open(os.path.join(run, "data.json")))["preprocessing"]
    assert abs(pre["target_scale"]["mean"] - 252_000) < 10_000 and 50_000 < pre["target_scale"]["std"] < 100_000
    proc = zoo_cli("export", run, "--out", out, "--formats", "tflite,onnx", "--quantize", "fp32,int8")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.load(open(os.path.join(out, "report.json")))
    for r in report["results"]:  # target units in every file; int8 within the 1% RMSE budget
        assert abs(r["metrics"]["rmse"] - metrics["model"]["rmse"]) <= 0.01 * metrics["model"]["rmse"] + 1, r
    assert report["baseline"]["name"] == "training mean"


def test_a_parquet_table_reads_as_its_csv_does(tmp_path, zoo_cli):
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    csv_path = _write_iris_csv(tmp_path / "iris.csv")
    header, *lines = open(csv_path).read().splitlines()
    columns = list(zip(*[line.split(",") for line in lines]))
    table = pa.table({name: [v if name in ("site", "species") else float(v) for v in values]
                      for name, values in zip(header.split(","), columns)})
    pq.write_table(table, tmp_path / "iris.parquet")
    from_csv = pipelines.tabular_file(csv_path, label_column="species")
    from_parquet = pipelines.load_dataset(f"tabular:{tmp_path / 'iris.parquet'}", label_column="species")
    assert from_parquet.preprocessing == from_csv.preprocessing and from_parquet.sizes == from_csv.sizes
    assert from_parquet.labels == ["setosa", "versicolor", "virginica"]
    x_csv = np.concatenate([x.numpy() for x, _ in from_csv.split("train").batch(512)])
    x_parquet = np.concatenate([x.numpy() for x, _ in from_parquet.split("train").batch(512)])
    np.testing.assert_array_equal(x_parquet, x_csv)
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    _assert_one_line_error(zoo_cli("train", "mlp_tabular", "--dataset", f"tabular:{tmp_path / 'bad.parquet'}",
                                   "--epochs", "1", "--out", str(tmp_path / "run")),
                           "bad.parquet' is not a readable Parquet file .*save the table as CSV")


def test_a_large_gzipped_table_streams_with_a_regression_target_and_epochs_that_reread_it(tmp_path, monkeypatch):
    """12,000 rows of a real-valued target (past the 10,000 distinct values the profiling pass keeps):
    a regression; a table too big to cache (CACHE_BYTES lowered) is read again each epoch, the same rows."""
    import gzip

    from pipelines.sources import tabular_file as tabular

    rng = np.random.default_rng(0)
    path = str(tmp_path / "houses.csv.gz")
    with gzip.open(path, "wt", encoding="utf8") as f:
        f.write("rooms,zone,area,price\n")
        for _ in range(12_000):
            rooms, zone, area = int(rng.integers(1, 6)), str(rng.choice(["a", "b", "c"])), rng.uniform(30, 200)
            f.write(f"{rooms},{zone},{area:.3f},{1000 * area + 5000 * rooms + rng.normal(0, 100):.4f}\n")
    monkeypatch.setattr(tabular, "CACHE_BYTES", 1000)
    data = pipelines.tabular_file(path)
    assert data.task == "regression" and not data.cacheable and sum(data.sizes.values()) == 12_000
    assert data.extras["columns"]["kinds"] == {"rooms": "numeric", "zone": "categorical", "area": "numeric"}
    assert sorted(data.preprocessing["categorical"][0]["vocabulary"]) == ["a", "b", "c"]
    numeric = {c["name"]: c for c in data.preprocessing["numeric"]}
    assert abs(numeric["area"]["mean"] - 115) < 3 and abs(numeric["rooms"]["mean"] - 3) < 0.1  # training rows' statistics
    epochs = [np.concatenate([y.numpy() for _, y in data.batches("test", 512, training=False)]) for _ in range(2)]
    assert len(epochs[0]) == data.sizes["test"] and (epochs[0] == epochs[1]).all()
    x, _ = next(iter(data.batches("train", 4096, training=False)))
    assert abs(float(np.mean(x.numpy()[:, 0]))) < 0.1  # standardized


@pytest.mark.parametrize("content,args,message", [
    ("a,b,y\n1,2,\n3,,\n", [], "table.csv': the target column 'y' is empty in every row"),
    ("1,2,x\n3,4,y\n", [], "line 1 is .*a tabular file needs a header row"),
    ("a,b,y\n1,2,x\n3,4\n", [], "line 3: 2 field\\(s\\), but the header names 3"),
    ("a,b,y\n1,2,x\n3,4,y\n", ["--task", "regression"], "task='regression' needs a numeric target"),
    ("a,b,y\n1,2,x\n3,4,y\n", ["--label-column", "z"], "label_column='z' is not a column"),
])
def test_bad_tabular_files_are_one_line_errors_with_file_line_and_fix(tmp_path, content, args, message, zoo_cli):

    path = tmp_path / "table.csv"
    path.write_text(content)
    _assert_one_line_error(zoo_cli("train", "mlp_tabular", "--dataset", f"tabular:{path}", *args, "--epochs", "1",
                                   "--out", str(tmp_path / "run")), message)


@pytest.mark.parametrize("cell, column", [("inf", "price"), ("-Infinity", "area"), ("1e400", "area")])
def test_a_non_finite_number_in_a_table_is_refused_with_its_line(tmp_path, cell, column):
    """One infinity would turn a regression into hundreds of classes, or a numeric column into categories."""
    rows = [f"{i},{50 + i}.5,{1000 + 7 * i}.25" for i in range(40)]
    index = 1 if column == "area" else 2
    parts = rows[17].split(",")
    parts[index] = cell
    rows[17] = ",".join(parts)
    path = tmp_path / "houses.csv"
    path.write_text("rooms,area,price\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=rf"houses.csv' line 19: column '{column}' holds '{re.escape(cell)}', "
                                         "which is not a finite number"):
        pipelines.tabular_file(str(path), label_column="price")
    rows[17] = rows[17].replace(cell, "")  # a missing value instead: read as missing, as before
    path.write_text("rooms,area,price\n" + "\n".join(rows) + "\n")
    data = pipelines.tabular_file(str(path), label_column="price")
    assert data.task == "regression"


def test_a_stray_integer_label_is_refused_instead_of_adding_classes(tmp_path):
    """Without class names, integer labels are indices: one label 200 among 0..2 must not train 201 classes."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (60, 8, 8), dtype="uint8")
    y = np.arange(60) % 3
    y[7] = 200
    np.savez(tmp_path / "stray.npz", x=x, y=y)
    with pytest.raises(ValueError, match=r"class indices 0..200, but 197 of those 201 classes have no training "
                                         r"example \(3, 4, 5, .*a stray label 200\?.*class_names="):
        pipelines.load_dataset(f"npz:{tmp_path / 'stray.npz'}")
    with pytest.raises(ValueError, match="label 200 is not one of the 3 class names"):
        pipelines.load_dataset(f"npz:{tmp_path / 'stray.npz'}", class_names="a,b,c")
    y[7] = 1
    np.savez(tmp_path / "ok.npz", x=x, y=y)
    assert pipelines.load_dataset(f"npz:{tmp_path / 'ok.npz'}").num_classes == 3


@pytest.mark.parametrize("edit, message", [
    (lambda rows: rows.__setitem__(5, '1950-05,1,234.5'), r"line 7: 3 fields but the header has 2: a number written "
                                                          r"with a thousands separator"),
    (lambda rows: rows.__setitem__(5, rows[4]), r"lines 6 and 7: the date 1950-05 appears twice"),
    (lambda rows: [rows.pop(5) for _ in range(10)], r"line 7: the dates jump from 1950-05 to 1951-04 "
                                                    r"\(about 11 steps of 30 days\)"),
])
def test_series_with_a_split_number_a_duplicated_date_or_a_gap_is_refused(tmp_path, edit, message):
    rows = [f"{1950 + i // 12}-{i % 12 + 1:02d},{100 + i}" for i in range(36)]
    edit(rows)
    path = tmp_path / "sales.csv"
    path.write_text("month,units\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=message):
        pipelines.series_file(str(path), column="units", date_column="month")
