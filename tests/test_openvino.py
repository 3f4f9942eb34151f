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
    # Seeded training (zoo.train.fit seeds every RNG) and the whole test split (355 digits): the int8 budget is
    # judged on 3.5 examples a point, not on one of 96, and the file is the same on every run and host.
    data = pipelines.load_dataset("digits")
    x, y = pipelines.sample_arrays(data, "test", 10**9)
    calibration = pipelines.sample_arrays(data, "train", 64)[0]
    model = zoo.train.fit(lambda: zoo.mlp_tiny(classes=10), data, config=zoo.train.TrainConfig(
        epochs=15, batch_size=32, learning_rate=3e-3, verbose=0)).model
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


def _here_and_avx2(folder, files, x):
    """Each file's outputs on this host and as an emulated AVX2-only host (export.cpu.run_as)."""
    from export import cpu
    from export.formats import runner

    here = {key: runner(entry, str(folder))[0]({"images": x}) for key, entry in files.items()}
    return here, cpu.run_as("avx2", str(folder), files, {"images": x})


def test_int8_files_answer_on_an_avx2_host_as_here(digits_export):
    # The int8 files' integer arithmetic is the same on every x86 class (7-bit weights: AVX2's saturating
    # 16-bit pair sums cannot clip them), so what the export verified here holds on an AVX2-only host.
    from export import cpu

    out, _, x, _ = digits_export
    manifest = json.loads((out / "zoo_export.json").read_text())
    assert manifest["files"]["openvino_int8"]["int8"] == "overflow_fix=enable"
    qemu = cpu.emulation_missing("avx2", {"onnx"}) is None
    files = {k: e for k, e in manifest["files"].items() if e["format"] == "openvino" or qemu}
    here, avx2 = _here_and_avx2(out, files, x)
    for key in files:
        if "int8" in key:
            np.testing.assert_array_equal(avx2[key], here[key], err_msg=key)
        else:
            np.testing.assert_allclose(avx2[key], here[key], atol=1e-5, err_msg=key)
    if not qemu:
        pytest.skip("the ONNX files' AVX2 check runs under QEMU: apt-get install qemu-user (the OpenVINO files "
                    "were checked)")


def test_full_8_bit_weights_answer_differently_on_an_avx2_host(digits_export, tmp_path, monkeypatch):
    # The control for the test above: with NNCF's default overflow fix (full 8-bit MatMul weights) the same
    # model's IR loses digits on an AVX2 host that a VNNI host gets right -- the check can fail. It needs a
    # host whose own kernels do not saturate to compare with.
    import os

    from export import cpu
    from export import openvino as openvino_format

    if cpu.host()["int8_class"] in cpu.SATURATING or os.environ.get("ONEDNN_MAX_CPU_ISA"):
        pytest.skip(f"this host's int8 kernels saturate too ({cpu.describe(cpu.host())}, ONEDNN_MAX_CPU_ISA="
                    f"{os.environ.get('ONEDNN_MAX_CPU_ISA')}): the control needs a VNNI/AMX host")
    out, model, x, _ = digits_export
    y = pipelines.sample_arrays(pipelines.load_dataset("digits"), "test", 10**9)[1]
    monkeypatch.setattr(openvino_format, "OVERFLOW_FIX", "first_layer_only")
    full = tmp_path / "full8"
    export_model(model, str(full), formats=("openvino",), calibration_data=x[:64], eval_data=(x, y),
                 max_accuracy_drop=100, verbose=False)
    control = {"openvino_int8": json.loads((full / "zoo_export.json").read_text())["files"]["openvino_int8"]}
    here, avx2 = _here_and_avx2(full, control, x)
    accuracy = {k: float(np.mean(o["openvino_int8"].argmax(-1) == y)) for k, o in (("here", here), ("avx2", avx2))}
    assert accuracy["avx2"] < accuracy["here"], accuracy


def test_zoo_verify_emulating_an_avx2_host_rechecks_the_budget_and_leaves_the_report(digits_export, tmp_path):
    import shutil
    import subprocess
    import sys

    from export import cpu

    missing = cpu.emulation_missing("avx2")
    if missing:
        pytest.skip(missing)
    out = tmp_path / "export"
    shutil.copytree(digits_export[0], out)
    before = (out / "report.json").read_bytes(), (out / "MODEL_CARD.md").read_bytes()
    # A fresh process, as a user runs it: the CLI, its runner script and the emulator.
    done = subprocess.run([sys.executable, "-m", "app.cli", "verify", str(out), "--emulate-cpu", "avx2"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Emulated CPU: AVX2-only x86 (emulated: ONNX Runtime and LiteRT under QEMU's AMD EPYC Rome model" in \
        done.stdout and "int8 class avx2" in done.stdout
    if cpu.host()["int8_class"] != "avx2":  # an export made on another class: the table says so
        assert "every file, its int8 budget included, was checked again" in done.stdout
    for key in ("onnx_int8", "openvino_int8"):
        line = next(line for line in done.stdout.splitlines() if line.startswith(key + " "))
        assert line.rstrip().endswith("yes") and " - " in line, line  # passed; no latency under emulation
    assert ((out / "report.json").read_bytes(), (out / "MODEL_CARD.md").read_bytes()) == before
