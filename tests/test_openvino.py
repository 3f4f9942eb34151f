"""The `openvino` export format: IR fp32 equal to Keras (f32 precision named where the CPU defaults to
bf16), NNCF int8 within the budget, its weights file checked, `zoo predict` through it."""

import builtins
import json
import os

import numpy as np
import pytest

import pipelines
import zoo
from export import ExportError, Predictor, export_model, verify_export

openvino = pytest.importorskip("openvino", reason='OpenVINO is an optional extra: pip install "keras-zoo[openvino]"')


@pytest.fixture(scope="module")
def digits_export(tmp_path_factory):
    data = pipelines.load_dataset("digits")
    x, y = pipelines.sample_arrays(data, "test", 96)
    calibration = pipelines.sample_arrays(data, "train", 64)[0]
    model = zoo.mlp_tiny(classes=10)
    model.compile("adam", "sparse_categorical_crossentropy")
    train_x, train_y = pipelines.sample_arrays(data, "train", 1000)
    model.fit(train_x, train_y, epochs=15, batch_size=32, verbose=0)
    out = tmp_path_factory.mktemp("ov") / "digits"
    report = export_model(model, str(out), formats=("onnx", "openvino"), calibration_data=calibration,
                          eval_data=(x, y), class_names=data.labels, preprocessing=data.preprocessing, verbose=False)
    return out, model, x, report


def test_ir_files_equal_keras_and_int8_keeps_accuracy(digits_export):
    out, model, x, report = digits_export
    rows = {r["file"]: r for r in report["results"]}
    assert report["passed"] and {"openvino", "openvino_int8"} <= set(rows)
    assert rows["openvino"]["max_abs_err_batchN"] <= 1e-4
    assert rows["openvino_int8"]["accuracy_delta"] >= -0.01
    manifest = json.loads((out / "zoo_export.json").read_text())
    entry = manifest["files"]["openvino"]
    assert entry["path"] == "openvino/mlp_tiny.xml" and list(entry["assets"]) == ["mlp_tiny.bin"]
    assert entry["interpreter_options"] == {"INFERENCE_PRECISION_HINT": "f32"}
    # The size is the graph and its weights.
    assert rows["openvino"]["size_bytes"] == sum(os.path.getsize(out / "openvino" / f)
                                                 for f in ("mlp_tiny.xml", "mlp_tiny.bin"))
    card = (out / "MODEL_CARD.md").read_text()
    assert "compile_model" in card and "INFERENCE_PRECISION_HINT=f32" in card
    # The names a server reads: the signature's input and both outputs.
    compiled = openvino.Core().compile_model(str(out / "openvino" / "mlp_tiny.xml"), "CPU")
    assert {p.get_any_name() for p in compiled.inputs} == {"images"}
    assert len(compiled.outputs) == 2 and compiled.output("class_ids").get_element_type() == openvino.Type.i32
    assert compiled.output("probabilities").get_partial_shape()[1] == 10


def test_zoo_predict_runs_the_ir_and_a_changed_bin_fails_verify(digits_export, tmp_path):
    import shutil

    out, model, x, _ = digits_export
    want = model.predict(x[:4], verbose=0)
    for source, runtime in ((str(out), "openvino"), (str(out / "openvino" / "mlp_tiny.xml"), None)):
        predictor = Predictor(source, runtime=runtime)  # the export folder, or the .xml file itself
        assert predictor.runtime == "openvino"
        np.testing.assert_allclose(predictor._outputs(x[:4]), want, atol=1e-4)
    copy = tmp_path / "export"
    shutil.copytree(out, copy)
    data = bytearray((copy / "openvino" / "mlp_tiny.bin").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "openvino" / "mlp_tiny.bin").write_bytes(bytes(data))
    report = verify_export(str(copy), verbose=False)
    assert not report["passed"] and "openvino" in report["changed_since_export"]


def test_without_openvino_the_error_says_what_to_install(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_openvino(name, *args, **kwargs):
        if name == "openvino" or name.startswith("openvino."):
            raise ImportError("No module named 'openvino'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_openvino)
    with pytest.raises(ExportError, match=r'pip install "keras-zoo\[openvino\]"'):
        export_model(zoo.mlp_tiny(classes=3), str(tmp_path / "out"), formats=("openvino",), verbose=False)
    assert not (tmp_path / "out" / "zoo_export.json").exists()
