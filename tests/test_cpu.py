"""`export.cpu`: the CPU class an export was verified on, named in the manifest, report and card; `zoo verify`
on another class says so; x86 int8 ONNX weights within 7 bits (checked, not trusted to ONNX Runtime)."""

import json

import numpy as np
import pytest

import zoo
from export import ExportError, cpu, export_model, verify_export
from export import onnx as onnx_format


@pytest.mark.parametrize("flags, machine, expected", [
    ("sse4_1 avx avx2 fma", "x86_64", "avx2"),  # AMD EPYC Rome/Milan, Intel Haswell-Coffee Lake
    ("avx2 avx512f avx512bw", "x86_64", "avx512"),  # Skylake-SP: AVX-512 without VNNI still saturates
    ("avx2 avx512f avx512bw avx512_vnni", "x86_64", "avx512_vnni"),
    ("avx2 avx_vnni", "x86_64", "avx_vnni"),
    ("avx2 avx512bw avx512_vnni amx_tile amx_int8", "x86_64", "amx"),
    ("sse4_1", "x86_64", "sse"),
    ("fp asimd asimddp", "aarch64", "arm64_dotprod"),
    ("fp asimd asimddp i8mm", "aarch64", "arm64_i8mm"),
])
def test_int8_class_from_flags(flags, machine, expected):
    assert cpu.int8_class(flags.split(), machine) == expected
    assert (expected in cpu.SATURATING) == (expected in ("avx2", "avx512"))


def test_this_host_is_described_by_the_flags_that_choose_its_kernels():
    here = cpu.host()
    assert set(here["flags"]) <= set(cpu.KERNEL_FLAGS) and here["emulated"] is False
    assert here["int8_class"] == cpu.int8_class(here["flags"], here["machine"])
    assert here["int8_class"] in cpu.describe(here)


def test_emulation_names_what_to_install(monkeypatch):
    monkeypatch.setattr(cpu.shutil, "which", lambda name: None)
    monkeypatch.setattr(cpu.platform, "machine", lambda: "x86_64")
    assert "apt-get install qemu-user" in cpu.emulation_missing("avx2")
    assert cpu.emulation_missing("avx2", {"openvino"}) is None  # oneDNN's own ISA cap: no emulator needed
    assert "classes that can be emulated" in cpu.emulation_missing("sse")
    with pytest.raises(ExportError, match="apt-get install qemu-user"):
        cpu.run_as("avx2", ".", {"onnx": {"format": "onnx", "path": "m.onnx"}}, {"images": np.zeros((1, 8))})


@pytest.fixture(scope="module")
def small_export(tmp_path_factory):
    model = zoo.mlp_tiny()
    x = np.random.default_rng(0).uniform(0, 1, (64, 8, 8, 1)).astype("float32")
    out = tmp_path_factory.mktemp("cpu") / "export"
    export_model(model, str(out), formats=("onnx",), quantizations=("fp32", "int8"), calibration_data=x,
                 eval_data=(x, model.predict(x, verbose=0).argmax(-1)), max_accuracy_drop=100, verbose=False)
    return out, x


def test_the_manifest_report_and_card_name_the_cpu_and_another_class_is_said(small_export, tmp_path, monkeypatch):
    import shutil

    out = tmp_path / "export"
    shutil.copytree(small_export[0], out)
    manifest = json.loads((out / "zoo_export.json").read_text())
    here = cpu.host()
    assert manifest["verified_on"] == here
    assert json.loads((out / "report.json").read_text())["cpu"] == here
    card = (out / "MODEL_CARD.md").read_text()
    assert f"int8 class {here['int8_class']}" in card and "--emulate-cpu avx2" in card
    assert "cpu_note" not in verify_export(str(out), verbose=False)  # the same class: nothing to say
    other = {**here, "model": "AMD EPYC 7B12", "flags": ["avx", "avx2", "fma"], "int8_class": "avx2"}
    monkeypatch.setattr(cpu, "host", lambda: other)
    report = verify_export(str(out), verbose=False)
    assert report["passed"] and report["cpu"] == other
    assert "AMD EPYC 7B12" in report["cpu_note"] and f"int8 class {here['int8_class']}" in report["cpu_note"]
    assert "Note: the export was verified on" in (out / "MODEL_CARD.md").read_text()


def test_x86_int8_weights_stay_within_7_bits_and_a_quantizer_that_ignores_it_is_refused(small_export, monkeypatch):
    import onnx
    from onnxruntime import quantization

    out, x = small_export
    peaks = onnx_format.weight_peaks(onnx.load(str(out / "mlp_tiny.int8.onnx")))
    assert peaks and max(peaks.values()) <= onnx_format.SATURATION_FREE
    arm = onnx.load_from_string(onnx_format.quantize_int8(str(out / "mlp_tiny.onnx"), {"images": x}, target="arm"))
    assert max(onnx_format.weight_peaks(arm).values()) > onnx_format.SATURATION_FREE  # 8-bit: the check can fail
    real = quantization.quantize_static

    def ignoring_reduce_range(*args, **kwargs):
        return real(*args, **{**kwargs, "reduce_range": False})

    monkeypatch.setattr(quantization, "quantize_static", ignoring_reduce_range)
    with pytest.raises(ExportError, match=r"ignored reduce_range.*saturates on x86 CPUs without VNNI"):
        onnx_format.quantize_int8(str(out / "mlp_tiny.onnx"), {"images": x})
