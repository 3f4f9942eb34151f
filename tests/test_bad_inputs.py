"""Bad inputs and faults: each gets one clear error (file, row or key, and the fix), an exit code,
and leaves nothing partial behind. The module reports its case count (see the last test)."""

import gzip
import json
import os
import shutil
import struct
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import pipelines
import zoo
from conftest import REPO
from export import ExportError, export_model
from app import cli
from zoo.train import TrainConfig, fit

CASES = []  # (test, case id) of every parametrized case, counted at the end


def cases(argnames, rows, ids=None):
    """`pytest.mark.parametrize` that also counts the cases."""
    ids = ids or [str(r[0]) if isinstance(r, tuple) else str(r) for r in rows]
    CASES.extend(ids)
    return pytest.mark.parametrize(argnames, rows, ids=ids)


def _zoo(capsys, *argv):
    """`zoo ARGV` in process: (exit code, stderr); argparse errors exit through SystemExit."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


# ----------------------------------------------------------------- training options

TRAIN_OPTIONS = [
    (["--epochs", "0"], "`epochs` must be a positive integer"),
    (["--epochs", "-3"], "`epochs` must be a positive integer"),
    (["--batch-size", "0"], "`batch_size` must be a positive integer"),
    (["--lr", "0"], "`learning_rate` must be > 0"),
    (["--lr", "-1"], "`learning_rate` must be > 0"),
    (["--lr", "nan"], "`learning_rate` must be > 0"),
    (["--lr", "inf"], "`learning_rate` must be > 0"),
    (["--label-smoothing", "1"], "`label_smoothing` must be in \\[0, 1\\)"),
    (["--label-smoothing", "-0.1"], "`label_smoothing` must be in \\[0, 1\\)"),
    (["--label-smoothing", "nan"], "`label_smoothing` must be in \\[0, 1\\)"),
    (["--clipnorm", "0"], "`clipnorm` must be a finite number > 0"),
    (["--clipnorm", "-1"], "`clipnorm` must be a finite number > 0"),
    (["--clipnorm", "nan"], "`clipnorm` must be a finite number > 0"),
    (["--clipnorm", "inf"], "`clipnorm` must be a finite number > 0"),
    (["--weight-decay", "-1"], "`weight_decay` must be a finite number >= 0"),
    (["--weight-decay", "nan"], "`weight_decay` must be a finite number >= 0"),
    (["--warmup-epochs", "5", "--epochs", "3"], "`warmup_epochs` must be in \\[0, epochs\\)"),
    (["--warmup-epochs", "-1"], "`warmup_epochs` must be in \\[0, epochs\\)"),
    (["--early-stopping", "0"], "`early_stopping_patience` must be a positive integer"),
    (["--backup-every", "-1"], "`backup_every_steps` must be an integer >= 0"),
    (["--step-epochs", "a,b"], "expected comma-separated integers such as 100,150; got 'a,b'"),
    (["--step-epochs", "3,,5"], "expected comma-separated integers"),
    (["--optimizer", "rmsprop"], "invalid choice: 'rmsprop'"),
    (["--schedule", "linear"], "invalid choice: 'linear'"),
    (["--strategy", "gpu"], "invalid choice: 'gpu'"),
    (["--epochs", "x"], "invalid int value: 'x'"),
    (["--model-arg", "classes"], "--model-arg takes KEY=VALUE"),
    (["--model-arg", "depth=3"], "unexpected keyword argument 'depth'"),
    (["--model-arg", "dropout=2"], "`dropout` must be a float in \\[0, 1\\)"),
    (["--data-arg", "text_column=Text"], "Dataset 'digits' has no option\\(s\\) \\['text_column'\\]. Allowed"),
    (["--data-arg", "val_fraction=1.5"], "val_fraction"),
    (["--dataset", "mnistt"], "Unknown dataset. Did you mean"),
    (["--dataset", "mnist"], "pass data_dir="),
    (["--dataset", "mnist", "--data-dir", "/nonexistent/mnist"], "does not exist"),
]


@cases("argv,message", TRAIN_OPTIONS, ids=[" ".join(a) for a, _ in TRAIN_OPTIONS])
def test_bad_training_options(argv, message, tmp_path, capsys):
    out = tmp_path / "run"
    code, err = _zoo(capsys, "train", "mlp_tiny", "--quiet", "--out", str(out), *argv)
    assert code == 2
    assert len([line for line in err.splitlines() if "error:" in line]) == 1 and "Traceback" not in err
    import re

    assert re.search(message, err), err
    assert not out.exists() or not os.listdir(out)  # nothing trained, nothing written


@cases("name,message", [("resnet_50", "Did you mean"), ("", "Unknown model name")])
def test_unknown_model_names(name, message, capsys):
    code, err = _zoo(capsys, "train", name, "--epochs", "1")
    assert code == 2 and message in err


# ----------------------------------------------------------------- data at the source


def _arrays_fit(x, y, **kw):
    data = pipelines.from_arrays(x, y, name="mine", val_fraction=0.2, test_fraction=0.2, **kw)
    return fit(lambda: zoo.mlp_tiny(input_shape=x.shape[1:], classes=data.num_classes), data,
               config=TrainConfig(epochs=1, batch_size=16, verbose=0))


def _digits_xy():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images.astype("float32")[..., None] / 16, bunch.target.astype("int32")


def _spoil(kind):
    x, y = _digits_xy()
    x, y = x.copy(), y.copy()
    if kind == "nan_pixel":
        x[17, 3, 4, 0] = np.nan
    elif kind == "inf_pixel":
        x[5, 0, 0, 0] = np.inf
    elif kind == "many_nan":
        x[:40, 1, 1, 0] = np.nan
    return x, y


@cases("kind", ["nan_pixel", "inf_pixel", "many_nan"])
def test_non_finite_features_are_refused_before_training(kind):
    x, y = _spoil(kind)
    with pytest.raises(ValueError, match="example\\(s\\) have NaN or Inf features, the first at example"):
        _arrays_fit(x, y)


@cases("labels,names", [([0, 5], ["a", "b"]), ([0, 9], ["a", "b", "c"])], ids=["labels_0_5_two_names",
                                                                                "labels_0_9_three_names"])
def test_labels_outside_the_class_names_are_refused(labels, names):
    x, _ = _digits_xy()
    y = np.array([labels[i % 2] for i in range(len(x))], "int32")
    with pytest.raises(ValueError, match=f"label\\(s\\) outside \\[0, {len(names)}\\)"):
        _arrays_fit(x, y, labels=names)


def test_non_finite_regression_targets_are_refused():
    x = np.random.default_rng(0).normal(size=(200, 12, 1)).astype("float32")
    y = np.random.default_rng(1).normal(size=(200, 1, 1)).astype("float32")
    y[30] = np.nan
    data = pipelines.from_arrays(x, y, name="series", task="forecasting", val_fraction=0.2)
    with pytest.raises(ValueError, match="target\\(s\\) are NaN or Inf, the first at example"):
        fit(lambda: zoo.lstm_forecaster_tiny(horizon=1), data, config=TrainConfig(epochs=1, verbose=0))


SST2_ROWS = {  # SST-2 is a preset of the text: source; its messages name the file, the line and the fix
    "label_5": ("train.tsv", "sentence\tlabel\ngood film\t0\nbad film\t5\n",
                "train.tsv' line 3: label '5' is not one of the class names \\['negative', 'positive'\\]"),
    "label_minus_1": ("train.tsv", "sentence\tlabel\ngood film\t-1\nbad film\t1\n",
                      "line 2: label '-1' is not one of the class names"),
    "dev_label_7": ("dev.tsv", "sentence\tlabel\ngood\t0\nmeh\t7\n", "dev.tsv' line 3: label '7'"),
    "label_text": ("train.tsv", "sentence\tlabel\ngood film\tgreat\n", "label 'great' is not one of the class names"),
    "other_header": ("train.tsv", "Category\tText\n1\tgood\n", "text_column='sentence' is not a column .* "
                     "header is \\['Category', 'Text'\\]"),
    "not_utf8": ("train.tsv", b"sentence\tlabel\ncaf\xe9 film\t1\n", "is not UTF-8 text"),
    "empty": ("train.tsv", "sentence\tlabel\n", "holds a header and no rows"),
    "short_row": ("test.tsv", "sentence\tlabel\ngood\t1\nmeh\n", "test.tsv' line 3: 1 field\\(s\\) where 2"),
}


@cases("case", sorted(SST2_ROWS))
def test_bad_tsv_files_name_file_line_and_fix(case, tmp_path):
    good = "sentence\tlabel\n" + "".join(f"film {i}\t{i % 2}\n" for i in range(20))
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        (tmp_path / name).write_text(good)
    name, text, message = SST2_ROWS[case]
    (tmp_path / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ValueError, match=message) as err:
        pipelines.load_dataset("sst2", str(tmp_path))
    assert name in str(err.value)


def _idx(path, array, *, cut=None):
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    data = (header + array.astype("uint8").tobytes())[:cut]
    with gzip.open(path, "wb") as f:
        f.write(data)


IDX_FAULTS = {"header_cut_2_bytes": 2, "header_cut_inside_dims": 9, "body_truncated": 200}


@cases("fault", sorted(IDX_FAULTS) + ["bad_magic"])
def test_broken_idx_files_name_the_file(fault, tmp_path, capsys):
    rng = np.random.default_rng(0)
    files = {"train-images-idx3-ubyte.gz": rng.integers(0, 255, (50, 28, 28)),
             "train-labels-idx1-ubyte.gz": rng.integers(0, 10, (50,)),
             "t10k-images-idx3-ubyte.gz": rng.integers(0, 255, (20, 28, 28)),
             "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, (20,))}
    for name, array in files.items():
        _idx(tmp_path / name, array)
    broken = tmp_path / "train-images-idx3-ubyte.gz"
    if fault == "bad_magic":
        with gzip.open(broken, "wb") as f:
            f.write(b"\x01\x02\x03\x04" + bytes(100))
    else:
        _idx(broken, files["train-images-idx3-ubyte.gz"], cut=IDX_FAULTS[fault])
    code, err = _zoo(capsys, "train", "mlp_tiny", "--dataset", "mnist", "--data-dir", str(tmp_path), "--epochs", "1")
    assert code == 2 and "train-images-idx3-ubyte.gz" in err and "Traceback" not in err
    assert ("truncated" in err) if fault != "bad_magic" else ("bad magic number" in err)


SERIES = {
    "missing_column": ("Month,Passengers\n1949-01,112\n1949-02\n", "line 3: 1 column\\(s\\), no 'Passengers'"),
    "not_a_number": ("Month,Passengers\n1949-01,112\n1949-02,abc\n", "line 3: 'abc' in column 'Passengers' is not"),
    "nan_value": ("Month,Passengers\n1949-01,112\n1949-02,nan\n", "line 3: 'nan' .* not a finite number"),
    "no_rows": ("Month,Passengers\n", "holds no data rows"),
}


@cases("case", sorted(SERIES))
def test_bad_series_csv_names_file_and_line(case, tmp_path):
    text, message = SERIES[case]
    path = tmp_path / "series.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        pipelines.read_series(str(path), "Passengers")
    assert "series.csv" in str(err.value)


def _tfrecords(folder, labels, *, corrupt_at=None, names=("a", "b")):
    os.makedirs(folder, exist_ok=True)
    (folder / "labels.txt").write_text("\n".join(names) + "\n")
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("test", 10)):
        with tf.io.TFRecordWriter(str(folder / f"{split}-00000-of-00001.tfrecord")) as writer:
            for i in range(n):
                image = tf.io.encode_jpeg(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).numpy()
                if split == "train" and i == corrupt_at:
                    image = b"\xff\xd8 not a JPEG body" + bytes(40)  # a valid record holding a broken image
                example = tf.train.Example(features=tf.train.Features(feature={
                    "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image])),
                    "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[labels[i % len(labels)]])),
                }))
                writer.write(example.SerializeToString())


@cases("case", ["labels_0_9_two_names", "label_minus_1", "corrupt_jpeg"])
def test_bad_tfrecords_name_file_and_record(case, tmp_path):
    folder = tmp_path / "c10"
    if case == "corrupt_jpeg":
        _tfrecords(folder, [0, 1], corrupt_at=7)
        message = "train-00000-of-00001.tfrecord': record 7 .*does not decode as an image.*skip_corrupt"
    else:
        _tfrecords(folder, list(range(10)) if case == "labels_0_9_two_names" else [0, -1])
        message = "train-00000-of-00001.tfrecord': record [0-9]+ has label .*outside the 2 class names"
    with pytest.raises(ValueError, match=message):
        pipelines.load_dataset("cifar10", str(folder))


def test_skip_corrupt_leaves_bad_records_out_and_counts_them(tmp_path):
    _tfrecords(tmp_path / "c10", [0, 1], corrupt_at=7)
    data = pipelines.load_dataset("cifar10", str(tmp_path / "c10"), skip_corrupt=True)
    assert data.sizes["train"] + data.sizes["val"] == 39
    assert data.summary()["skipped_corrupt"] == {"train": {"train-00000-of-00001.tfrecord": [7]}}
    assert sum(len(x) for x, _ in data.batches("train", 8)) == data.sizes["train"]


# ----------------------------------------------------------------- resume


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("run") / "r")
    assert cli.main(["train", "mlp_tiny", "--epochs", "2", "--batch-size", "32", "--quiet", "--out", out]) == 0
    return out


RESUME = [
    (["--batch-size", "8"], "batch_size=32 \\(now 8\\)"),
    (["--seed", "3"], "seed=0 \\(now 3\\)"),
    (["--lr", "0.01"], "learning_rate=0.001 \\(now 0.01\\)"),
    (["--epochs", "3", "--schedule", "constant"], "schedule='cosine' \\(now 'constant'\\)"),
    (["--epochs", "3", "--data-arg", "val_fraction=0.2"], "data sizes="),
    (["--epochs", "3", "--model-arg", "dropout=0.3"], "another model \\(TaskModel, .* parameters; now TaskModel"),
]


@cases("argv,message", RESUME, ids=[" ".join(a) for a, _ in RESUME])
def test_resuming_with_another_config_is_refused_with_two_ways_out(argv, message, finished_run, tmp_path, capsys):
    run = str(tmp_path / "copy")
    shutil.copytree(finished_run, run)
    before = open(os.path.join(run, "config.json")).read()
    code, err = _zoo(capsys, "train", "mlp_tiny", "--epochs", "2", "--batch-size", "32", "--quiet", "--out", run,
                     *argv)
    assert code == 2 and "--restart" in err and "original value" in err
    import re

    assert re.search(message, err), err
    assert open(os.path.join(run, "config.json")).read() == before  # not rewritten


def test_a_finished_run_says_so_and_restart_trains_again(finished_run, tmp_path, capsys):
    run = str(tmp_path / "copy")
    shutil.copytree(finished_run, run)
    code, err = _zoo(capsys, "train", "mlp_tiny", "--epochs", "2", "--batch-size", "32", "--quiet", "--out", run)
    assert code == 2 and "is finished: all 2 epochs trained" in err
    code, _ = _zoo(capsys, "train", "mlp_tiny", "--epochs", "2", "--batch-size", "8", "--quiet", "--out", run,
                   "--restart")
    assert code == 0
    assert json.load(open(os.path.join(run, "config.json")))["batch_size"] == 8


# ----------------------------------------------------------------- export


@pytest.fixture(scope="module")
def export_dir(finished_run, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("export") / "x")
    assert cli.main(["export", finished_run, "--out", out, "--quantize", "fp32,int8", "--eval-size", "100"]) == 0
    return out


EXPORT_OPTIONS = [
    (["--calibration-size", "0"], "--calibration-size: expected an integer >= 1; got '0'"),
    (["--calibration-size", "-2"], "expected an integer >= 1"),
    (["--eval-size", "0"], "--eval-size: expected an integer >= 1"),
    (["--eval-size", "-5"], "--eval-size: expected an integer >= 1"),
    (["--name", ".."], "`name` must be letters, digits"),
    (["--name", "a/b"], "`name` must be letters, digits"),
    (["--formats", "tflite,pdf"], "Unknown export format\\(s\\) \\['pdf'\\]"),
    (["--quantize", "int4"], "Unknown quantization\\(s\\) \\['int4'\\]"),
    (["--opset", "7"], "`opset` must be an integer in \\[13, 21\\]"),
    (["--dataset", "imdb"], "was trained on 'digits'; --dataset imdb"),
    (["--calibration-data", "/nonexistent/calib.npy"], "does not exist"),
]


@cases("argv,message", EXPORT_OPTIONS, ids=[" ".join(a) for a, _ in EXPORT_OPTIONS])
def test_bad_export_options(argv, message, finished_run, tmp_path, capsys):
    out = tmp_path / "x"
    code, err = _zoo(capsys, "export", finished_run, "--out", str(out), *argv)
    import re

    assert code == 2 and re.search(message, err), err
    assert "Traceback" not in err
    assert not out.exists() or not [f for f in os.listdir(out) if not f.startswith(".")]


def test_export_to_a_file_and_from_a_corrupt_model(finished_run, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code, err = _zoo(capsys, "export", finished_run, "--out", str(tmp_path / "file"))
    assert code == 2 and "is a file" in err
    (tmp_path / "bad.keras").write_bytes(b"not a zip")
    code, err = _zoo(capsys, "export", str(tmp_path / "bad.keras"), "--out", str(tmp_path / "y"))
    assert code == 2 and "is not a .keras file" in err and "not found" not in err.lower()
    (tmp_path / "calib.npy").write_text("garbage")
    code, err = _zoo(capsys, "export", finished_run, "--out", str(tmp_path / "z"), "--calibration-data",
                     str(tmp_path / "calib.npy"))
    assert code == 2 and "is not a .npy array" in err


def test_nan_verification_or_calibration_data_is_refused(tmp_path):
    x = np.random.default_rng(0).uniform(size=(8, 8, 8, 1)).astype("float32")
    x[3, 0, 0, 0] = np.nan
    with pytest.raises(ExportError, match="`eval_data` input 'images' has NaN or Inf in 1 example\\(s\\), the first at 3"):
        export_model(zoo.mlp_tiny(), str(tmp_path / "a"), eval_data=x, verbose=False)
    with pytest.raises(ExportError, match="`calibration_data`.*NaN"):
        export_model(zoo.mlp_tiny(), str(tmp_path / "b"), calibration_data=x, verbose=False)
    assert not (tmp_path / "b").exists() or not [f for f in os.listdir(tmp_path / "b") if not f.startswith(".")]


def test_files_are_readable_by_others_under_umask_022(export_dir):
    old = os.umask(0o022)
    os.umask(old)
    assert old == 0o022 or pytest.skip(f"umask is {old:o}")
    for root, dirs, names in os.walk(export_dir):
        for name in names:
            if not name.startswith("."):
                assert os.stat(os.path.join(root, name)).st_mode & 0o644 == 0o644, name


def _copy(export_dir, tmp_path):
    out = str(tmp_path / "copy")
    shutil.copytree(export_dir, out)
    return out


def _flip(path, offset=-20):
    data = bytearray(open(path, "rb").read())
    data[offset] ^= 0xFF
    open(path, "wb").write(bytes(data))


TAMPER = ["onnx_metadata_byte", "tflite_byte", "int8_tflite_byte", "model_keras_of_another_model",
          "saved_model_variables", "verify_inputs", "verify_inputs_truncated"]


@cases("what", TAMPER)
def test_verify_fails_on_every_changed_file(what, export_dir, tmp_path, capsys):
    out = _copy(export_dir, tmp_path)
    manifest = json.load(open(os.path.join(out, "zoo_export.json")))
    if what == "onnx_metadata_byte":
        path = os.path.join(out, manifest["files"]["onnx"]["path"])
        data = open(path, "rb").read()
        at = data.index(b"zoo.name")
        _flip(path, at + 2)
    elif what == "tflite_byte":
        _flip(os.path.join(out, manifest["files"]["tflite_fp32"]["path"]), 100)
    elif what == "int8_tflite_byte":  # a byte of its weights (the middle of the file): it still loads
        path = os.path.join(out, manifest["files"]["tflite_int8"]["path"])
        _flip(path, os.path.getsize(path) // 2)
    elif what == "verify_inputs_truncated":
        path = os.path.join(out, "verify_inputs.npz")
        open(path, "wb").write(open(path, "rb").read()[:300])
    elif what == "model_keras_of_another_model":
        zoo.mlp_tiny().save(os.path.join(out, "model.keras"))
    elif what == "saved_model_variables":
        folder = os.path.join(out, manifest["files"]["saved_model"]["path"], "variables")
        _flip(os.path.join(folder, sorted(f for f in os.listdir(folder) if f.startswith("variables.data"))[0]))
    else:
        with np.load(os.path.join(out, "verify_inputs.npz")) as f:
            arrays = {k: f[k] for k in f.files}
        arrays["images"] = arrays["images"][::-1].copy()
        np.savez(os.path.join(out, "verify_inputs.npz"), **arrays)
    code = cli.main(["verify", out])
    printed = capsys.readouterr()
    assert code in (1, 2), (code, printed.err)
    if code == 1:  # the file loads: the hash names it
        report = json.load(open(os.path.join(out, "report.json")))
        assert not report["passed"] and report["changed_since_export"]
        entries = {**manifest["files"], **manifest.get("references", {})}
        assert "changed since export (sha256 differs): " in printed.out
        assert all(os.path.join(out, entries[k]["path"]) in printed.out for k in report["changed_since_export"])
    else:  # the file no longer loads: named, not a traceback
        assert any(m in printed.err for m in ("cannot be loaded", "cannot be read", "is not a readable",
                                              "is not a loadable")), printed.err
        assert "Changed since export (sha256 differs): " in printed.err, printed.err
        assert "Traceback" not in printed.err
        assert "verify_inputs.npz" in printed.err or what != "verify_inputs_truncated"


@cases("what", ["truncated_tflite", "truncated_onnx", "deleted_file"])
def test_verify_names_unreadable_or_missing_files(what, export_dir, tmp_path, capsys):
    out = _copy(export_dir, tmp_path)
    manifest = json.load(open(os.path.join(out, "zoo_export.json")))
    key = {"truncated_tflite": "tflite_fp32", "truncated_onnx": "onnx", "deleted_file": "tflite_int8"}[what]
    path = os.path.join(out, manifest["files"][key]["path"])
    if what == "deleted_file":
        os.remove(path)
    else:
        open(path, "wb").write(open(path, "rb").read()[:200])
    code, err = _zoo(capsys, "verify", out)
    assert code == 2 and os.path.basename(path) in err and "Traceback" not in err


def test_verify_passes_on_an_untouched_copy(export_dir, tmp_path, capsys):
    out = _copy(export_dir, tmp_path)
    code, _ = _zoo(capsys, "verify", out)
    assert code == 0


def test_a_failing_export_publishes_no_saved_model_version(tmp_path, monkeypatch):
    import export.verify as verify_module

    model = zoo.mlp_tiny()
    x = np.random.default_rng(0).uniform(size=(4, 8, 8, 1)).astype("float32")
    monkeypatch.setattr(verify_module, "FP32_TOL", -1.0)  # every fp32 file fails its criterion
    report = export_model(model, str(tmp_path), quantizations=("fp32",), eval_data=x, verbose=False)
    assert not report["passed"]
    assert not os.path.exists(tmp_path / "saved_model" / "mlp_tiny" / "1")  # never live unverified
    manifest = json.load(open(tmp_path / "zoo_export.json"))
    assert "saved_model" not in manifest["files"] and "verification failed" in manifest["skipped"]["saved_model"]
    assert os.path.exists(tmp_path / "report.json") and os.path.exists(tmp_path / "mlp_tiny.fp32.tflite")


def test_stale_temporaries_of_killed_exports_are_removed(export_dir, tmp_path, capsys):
    out = _copy(export_dir, tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = [os.path.join(out, f".tmp-{dead}-abcd1234-export"),
             os.path.join(out, "saved_model", "mlp_tiny", f".tmp-{dead}-abcd1234-3")]
    for path in stale:
        os.makedirs(os.path.join(path, "variables"))
    code, _ = _zoo(capsys, "export", os.path.join(out, "model.keras"), "--out", out, "--formats", "saved_model",
                   "--overwrite")
    assert code == 0
    assert not any(os.path.exists(p) for p in stale)
    assert sorted(os.listdir(os.path.join(out, "saved_model", "mlp_tiny"))) == ["1", "2"]


def test_concurrent_exports_to_one_folder_get_distinct_versions(finished_run, tmp_path):
    out = str(tmp_path / "x")
    cmd = [sys.executable, "-m", "app.cli", "export", finished_run, "--out", out, "--formats", "saved_model",
           "--overwrite"]
    procs = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1][-2000:] for r in results]
    assert sorted(os.listdir(os.path.join(out, "saved_model", "mlp_tiny"))) == ["1", "2"]


def test_digits_serving_bytes_scales_8_bit_images_to_the_training_range(finished_run, export_dir):
    model = zoo.load_model(os.path.join(finished_run, "model.keras"))
    manifest = json.load(open(os.path.join(export_dir, "zoo_export.json")))
    fn = tf.saved_model.load(os.path.join(export_dir, manifest["files"]["saved_model"]["path"]))
    digits = _digits_xy()[0][:4]  # [0, 1], as training saw them
    png = [tf.io.encode_png(np.round(d * 255).astype("uint8")).numpy() for d in digits]
    got = fn.signatures["serving_bytes"](image_bytes=tf.constant(png))["class_ids"].numpy()
    want = np.argmax(keras.ops.convert_to_numpy(model(np.round(digits * 255) / 255)), -1)
    np.testing.assert_array_equal(got, want)


def test_text_export_has_one_sequence_length_and_truncates_long_inputs(tmp_path):
    model = zoo.transformer_tiny(classes=2)  # max_length 32, no vectorizer: the model's length
    export_model(model, str(tmp_path), quantizations=("fp32",), verbose=False)
    manifest = json.load(open(tmp_path / "zoo_export.json"))
    assert manifest["tflite_inputs"][0]["shape"] == [None, 32]
    ids = np.random.default_rng(0).integers(2, 100, size=(2, 500)).astype("int32")
    fn = tf.saved_model.load(str(tmp_path / manifest["files"]["saved_model"]["path"])).signatures["serving_default"]
    got = fn(tokens=tf.constant(ids))["probabilities"].numpy()  # 500 tokens: truncated, no index error
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(model(ids[:, :32])), atol=1e-5)
    import onnxruntime

    sess = onnxruntime.InferenceSession(str(tmp_path / "transformer_tiny.onnx"))
    np.testing.assert_allclose(sess.run(None, {"tokens": ids})[0], got, atol=1e-4)


def test_the_module_reports_its_case_count():
    print(f"\nbad-input cases: {len(CASES)} parametrized (+ {12} single tests)")
    assert len(CASES) >= 80, len(CASES)


# ----------------------------------------------------------------- round 2: silent readings made loud


def test_data_args_read_python_constants_and_name_their_flag():
    from app.commands import parse_model_args

    assert parse_model_args(["skip_corrupt=False", "limit=20", "x=None", "on=true", "name=abc", "u=[64,64]"]) == {
        "skip_corrupt": False, "limit": 20, "x": None, "on": True, "name": "abc", "u": (64, 64)}
    with pytest.raises(ValueError, match="--data-arg takes KEY=VALUE"):
        parse_model_args(["limit"], "--data-arg")


def test_names_given_as_a_string_or_a_number_are_refused(tmp_path):
    with pytest.raises(ExportError, match=r"`formats` is a list of names, e.g. formats=\('onnx',\)"):
        export_model(zoo.mlp_tiny(), str(tmp_path), formats="onnx", verbose=False)
    with pytest.raises(ExportError, match="`quantizations` is a list"):
        export_model(zoo.mlp_tiny(), str(tmp_path), quantizations="int8", verbose=False)
    with pytest.raises(ValueError, match="`pattern` is a wildcard string"):
        zoo.list_models(5)


def test_exporting_a_path_that_is_not_a_run_says_so(tmp_path, capsys):
    code = cli.main(["export", str(tmp_path / "missing" / "run"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "is not a run folder" in err and "does not exist" in err and "Unknown model" not in err
    (tmp_path / "empty").mkdir()
    assert cli.main(["export", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 2
    assert "no model.keras in it" in capsys.readouterr().err


def test_model_arguments_that_cannot_build_a_model_are_value_errors():
    with pytest.raises(ValueError, match="`classes` must be a positive integer up to 1,000,000"):
        zoo.create_model("mlp_tiny", classes=10**12)
    with pytest.raises(ValueError, match="`input_shape` of an MLP must be fully known positive integers"):
        zoo.create_model("mlp_tiny", input_shape=())


def test_one_class_image_folder_and_a_byte_order_mark(tmp_path):
    import tensorflow as tf

    folder = tmp_path / "images" / "cats"
    folder.mkdir(parents=True)
    for i in range(3):
        tf.io.write_file(str(folder / f"{i}.png"), tf.io.encode_png(np.full((8, 8, 3), i * 40, "uint8")))
    with pytest.raises(ValueError, match="has one class folder \\('cats'\\); a classifier needs two or more"):
        pipelines.image_folder(str(tmp_path / "images"), image_size=(8, 8))
    table = tmp_path / "bom.csv"  # Excel's "CSV UTF-8" starts with a byte-order mark
    table.write_bytes("\ufefftext,label\n".encode("utf-8") + b"".join(
        f"review {i} {'good' if i % 2 else 'bad'},{i % 2}\n".encode() for i in range(30)))
    data = pipelines.text_file(str(table), text_column="text", label_column="label", sequence_length=4)
    assert data.extras["columns"]["text"] == ["text"] and data.labels == ["0", "1"]


def test_a_header_repeated_inside_a_file_is_refused_with_its_line(tmp_path):
    # Concatenated CSVs: the second file's header as data would make every column text and add a class
    # named after the label column.
    rows = "".join(f"{i},{i * 0.5},{'a' if i % 2 else 'b'}\n" for i in range(40))
    table = tmp_path / "joined.csv"
    table.write_text("x,y,label\n" + rows + "x,y,label\n" + rows)
    with pytest.raises(ValueError, match="joined.csv' line 42 repeats the header row.*Delete that line"):
        pipelines.tabular_file(str(table))
    texts = tmp_path / "joined_texts.csv"
    half = "".join(f"review {i} {'good' if i % 2 else 'bad'},{i % 2}\n" for i in range(30))
    texts.write_text("text,label\n" + half + "text,label\n" + half)
    with pytest.raises(ValueError, match="joined_texts.csv' line 32 repeats the header row"):
        pipelines.text_file(str(texts), sequence_length=4)


# ----------------------------------------------------------------- the path policy (pipelines.paths)


def _reviews(root, n=6):
    for c in ("neg", "pos"):
        os.makedirs(root / c, exist_ok=True)
        for i in range(n):
            (root / c / f"{i}.txt").write_text(f"{'great' if c == 'pos' else 'awful'} film number {i}")


def test_links_are_followed_inside_a_data_folder_and_refused_outside(tmp_path):
    root = tmp_path / "reviews"
    _reviews(root)
    os.symlink(root / "pos" / "0.txt", root / "pos" / "again.txt")  # inside: followed
    data = pipelines.text_folder(str(root), val_fraction=0.0, test_fraction=0.0, sequence_length=4)
    assert data.sizes["train"] == 13
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0")
    os.symlink(secret, root / "pos" / "passwd.txt")  # outside: refused, named
    with pytest.raises(ValueError, match=r"passwd.txt' resolves to .*secret.txt', outside .*reviews'"):
        pipelines.text_folder(str(root), val_fraction=0.0, test_fraction=0.0, sequence_length=4)
    images = tmp_path / "images"
    import tensorflow as tf

    for c in ("a", "b"):
        os.makedirs(images / c)
        for i in range(2):
            tf.io.write_file(str(images / c / f"{i}.png"), tf.io.encode_png(np.full((8, 8, 3), 9, "uint8")))
    outside = tmp_path / "elsewhere.png"
    tf.io.write_file(str(outside), tf.io.encode_png(np.zeros((8, 8, 3), "uint8")))
    os.symlink(outside, images / "a" / "linked.png")
    with pytest.raises(ValueError, match="linked.png' resolves to .*elsewhere.png', outside"):
        pipelines.image_folder(str(images), image_size=(8, 8))
    assert secret.read_text() == "root:x:0:0" and outside.exists()


@cases("member", ["../escape.txt", "/abs/pos/x.txt", "link"])
def test_archive_members_outside_the_archive_or_links_are_refused(member, tmp_path):
    import io
    import tarfile

    root = tmp_path / "src"
    _reviews(root)
    path = tmp_path / "reviews.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(root, arcname="reviews")
        info = tarfile.TarInfo("reviews/pos/evil.txt" if member == "link" else member)
        if member == "link":
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
        else:
            data = b"great film"
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    expected = "holds a link 'reviews/pos/evil.txt' -> '/etc/passwd'" if member == "link" else \
        f"holds a member '{member}' outside the archive's folder"
    with pytest.raises(ValueError, match=expected):
        pipelines.text_folder(str(path), val_fraction=0.0, test_fraction=0.0, sequence_length=4)


def test_a_manifest_entry_outside_the_export_folder_is_refused(export_dir, tmp_path, capsys):
    out = _copy(export_dir, tmp_path)
    manifest_path = os.path.join(out, "zoo_export.json")
    manifest = json.load(open(manifest_path))
    key = next(iter(manifest["files"]))
    manifest["files"][key]["path"] = "../../outside.onnx"
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)
    before = open(manifest_path).read()
    code, err = _zoo(capsys, "verify", out)
    assert code == 2 and f"the entry {key!r} points outside the export folder" in err
    assert open(manifest_path).read() == before  # not rewritten with a new hash


@cases("field,value,problem", [
    ("vocabulary", "/etc/passwd", "a vocabulary file path"),
    ("standardize", {"module": "os", "class_name": "function", "config": "system", "registered_name": "function"},
     "code to run as its standardization"),
    ("split", {"class_name": "__lambda__", "config": {"code": "..."}}, "code to run as its split"),
], ids=["vocabulary_path", "standardize_os_system", "split_lambda"])
def test_a_crafted_vectorizer_is_refused_before_keras_reads_it(field, value, problem, tmp_path):
    import zipfile

    from pipelines.text import load_vectorizer, make_vectorizer, save_vectorizer

    good = str(tmp_path / "vectorizer.keras")
    save_vectorizer(make_vectorizer(np.array(["a b c", "b c d"]), max_tokens=10, sequence_length=4), good)
    crafted = str(tmp_path / "crafted.keras")
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(crafted, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                layer = next(l for l in config["config"]["layers"] if l["class_name"] == "TextVectorization")
                layer["config"][field] = value
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    with pytest.raises(ValueError, match=f"crafted.keras' names {problem}.*Refused"):
        load_vectorizer(crafted)


def test_fit_checks_the_task_and_input_shape_as_the_cli_does():
    digits = pipelines.digits()
    with pytest.raises(ValueError, match="'lstm_forecaster_tiny' is a forecasting model but the dataset 'digits' is "
                                         "image_classification"):
        fit(lambda: zoo.lstm_forecaster_tiny(horizon=1), digits, config=TrainConfig(epochs=1, verbose=0))
    with pytest.raises(ValueError, match=r"gives inputs of shape \(8, 8, 1\), but 'mlp_tiny' takes \(28, 28, 1\)"):
        fit(lambda: zoo.mlp_tiny(input_shape=(28, 28, 1)), digits, config=TrainConfig(epochs=1, verbose=0))


def test_an_out_folder_under_a_file_or_read_only_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("mine")
    code, err = _zoo(capsys, "train", "mlp_tiny", "--epochs", "1", "--out", str(blocker / "run"))
    assert code == 2 and f"{str(blocker)!r} is a file, so no folder can be made under it" in err
    code, err = _zoo(capsys, "export", "mlp_tiny", "--out", str(blocker / "x"))
    assert code == 2 and "is a file, so no folder can be made under it" in err
    assert blocker.read_text() == "mine"
    import app.commands as commands

    monkeypatch.setattr(commands.os, "access", lambda path, mode: False)  # a read-only mount (root ignores chmod)
    code, err = _zoo(capsys, "train", "mlp_tiny", "--epochs", "1", "--out", str(tmp_path / "ro" / "run"))
    assert code == 2 and "is not writable (read-only, or another user's)" in err


def test_a_full_disk_names_the_file_and_leaves_the_old_one(tmp_path, monkeypatch, capsys):
    import errno

    from pipelines import files

    target = tmp_path / "config.json"
    target.write_text("{}\n")
    def full(path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "_fsync_tree", full)
    with pytest.raises(OSError, match=r"No space left on the device to write .*config.json.*unchanged.*--out"):
        files.write_json(str(target), {"a": 1})
    assert target.read_text() == "{}\n" and os.listdir(tmp_path) == ["config.json"]  # no temporary left


def test_an_export_killed_while_publishing_is_completed_by_the_next_command(export_dir, finished_run, tmp_path,
                                                                              capsys):
    out = _copy(export_dir, tmp_path)
    script = ("import os, signal, sys\n"
              f"sys.path.insert(0, {REPO!r})\n"
              "from export import publish\n"
              "real = publish._move\n"
              "def half(stage, out_dir, paths):\n"
              "    real(stage, out_dir, paths[:len(paths) // 2])\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n"
              "publish._move = half\n"
              "from app import cli\n"
              f"cli.main(['export', {finished_run!r}, '--out', {out!r}, '--overwrite', '--quantize', 'fp32,int8', "
              "'--eval-size', '100'])\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert proc.returncode == -9, proc.stderr[-2000:]  # killed half-way through moving its files in
    assert os.path.exists(os.path.join(out, ".zoo-publish.json"))
    assert json.load(open(os.path.join(out, "zoo_export.json")))["files"]["saved_model"]["path"].endswith("1")
    code = cli.main(["verify", out])
    printed = capsys.readouterr().out
    assert code == 0 and "Completed the publish of an export that was killed" in printed
    manifest = json.load(open(os.path.join(out, "zoo_export.json")))
    assert manifest["files"]["saved_model"]["path"].endswith(os.path.join("mlp_tiny", "2"))  # the new export, whole
    assert not os.path.exists(os.path.join(out, ".zoo-publish.json"))
    assert not [f for f in os.listdir(out) if f.startswith(".tmp-")]


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def test_a_cluster_that_does_not_answer_is_reported_and_sigterm_stops_a_waiting_run(tmp_path):
    import signal
    import socket
    import time

    own, peer = _free_port(), _free_port()
    env = {**os.environ, "ZOO_CLUSTER_WAIT": "3", "ZOO_STOP_GRACE": "2", "TF_CONFIG": json.dumps(
        {"cluster": {"worker": [f"localhost:{own}", f"localhost:{peer}"]}, "task": {"type": "worker", "index": 0}})}
    command = [sys.executable, "-m", "app.cli", "train", "mlp_tiny", "--strategy", "multi_worker", "--epochs", "1",
               "--out", str(tmp_path / "run")]
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert f"does not answer: no answer within 3 s from worker 1 at localhost:{peer}" in proc.stderr
    # The peer's port answers but no TensorFlow is behind it: TensorFlow then waits inside C++ for ever,
    # holding the GIL, with SIGTERM taken over by its preemption notifier. SIGTERM still stops the run.
    with socket.create_server(("", peer)):
        run = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(240):  # until this task's own address answers: its cluster wait, then TensorFlow's server
            try:
                socket.create_connection(("localhost", own), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        time.sleep(5)  # TensorFlow's strategy waiting for the peer
        assert run.poll() is None
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=120)
    assert run.returncode == 130 and "zoo: stopped" in err


def test_series_date_errors_name_the_files_own_lines(tmp_path):
    # A blank line shifts every later line: the duplicated date is named by the line it is on.
    path = tmp_path / "sales.csv"
    months = [f"2020-{m:02d}" for m in range(1, 13)]
    rows = [f"{d},{i}" for i, d in enumerate(months)] + ["2020-12,99"]
    path.write_text("month,units\n\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValueError, match="lines 14 and 15: the date 2020-12 appears twice"):
        pipelines.load_dataset(f"series:{path}", date_column="month", input_width=2)
