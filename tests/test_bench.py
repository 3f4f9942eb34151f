"""`zoo bench` and the benchmark helpers (figures exist and are sane; no timing asserts)."""

import json
import os
import subprocess
import sys

import pytest

import zoo
from conftest import REPO
from app import cli
from app.bench import benchmark_model, count_flops


def test_flops_of_a_dense_network_match_the_matmuls():
    model = zoo.mlp_tiny(hidden_units=(32,))
    matmul_flops = 2 * (64 * 32 + 32 * 10)
    assert matmul_flops <= count_flops(model) < 1.2 * matmul_flops


def test_benchmark_model_reports_every_requested_runtime():
    result = benchmark_model("mlp_tiny", batch_size=4, runtimes=("keras", "onnx", "tflite_fp32", "tflite_int8"),
                             train_steps=2, repeats=3)
    assert result["params"] == zoo.model_info("mlp_tiny")["params"]
    for key in ("train examples/s", "keras batch-1 ms", "onnx batch-1 ms", "tflite_fp32 batch-1 ms",
                "tflite_int8 batch-1 ms"):
        assert result[key] > 0, key
    with pytest.raises(ValueError, match="Unknown runtime"):
        benchmark_model("mlp_tiny", runtimes=("tensorrt",))


def test_cli_bench(capsys):
    assert cli.main(["bench", "lstm_forecaster_tiny", "--batch-size", "2", "--runtimes", "keras",
                     "--steps", "1", "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert "GFLOPs/example" in out and "keras batch-1 ms" in out


def test_results_render_from_json(tmp_path):
    # The renderer turns every results/*.json into a section with command, date and machine.
    script = (
        "import benchmarks.common as c, os\n"
        f"c.RESULTS_DIR = {str(tmp_path)!r}; c.HERE = {str(tmp_path)!r}\n"
        "c.save('demo', 'Demo table', [{'a': 1.5, 'b': 'x'}], notes='n')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=REPO), timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = open(tmp_path / "RESULTS.md").read()
    assert "## Demo table" in text and "| 1.5 | x |" in text and "Machine:" in text
    assert json.load(open(tmp_path / "demo.json"))["command"].startswith("python ")
