"""int8 files on both x86 CPU classes: run here and as an AVX2-only host (no VNNI) would run them.

Models trained on scikit-learn's digits (the README test's recipe: 15 epochs, batch 32, lr 3e-3, seed 0),
exported to ONNX and OpenVINO fp32/int8 (calibrated on 300 training digits, x86 target) twice:

- the zoo's recipe: 7-bit int8 weights everywhere (ONNX Runtime's `reduce_range`, NNCF's overflow fix on
  every MatMul/convolution), so the sums of u8 x s8 pairs cannot saturate VPMADDUBSW's 16-bit lanes;
- the full 8-bit recipe it replaces for OpenVINO (NNCF's default overflow fix: the first convolution only)
  and the one ONNX Runtime's guide gives for VNNI CPUs (`reduce_range=False`).

Every file is scored on the whole digits test split on this host and under `export.cpu.run_as("avx2")`
(ONNX Runtime under QEMU's EPYC-Rome CPU model, OpenVINO with oneDNN capped at AVX2), with the largest
difference between the two hosts' outputs. Emulation changes which kernels run, not their arithmetic:
it reproduces VPMADDUBSW's saturation (the 8-bit ONNX file loses points only there).

usage: apt-get install qemu-user; python benchmarks/int8_cpu_class.py [--models mlp_tiny,resnet8]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

MODELS = {"mlp_tiny": {}, "resnet8": {"input_shape": (8, 8, 1)}}


def _train(name):
    import pipelines
    import zoo

    data = pipelines.digits()
    result = zoo.train.fit(lambda: zoo.create_model(name, classes=10, **MODELS[name]), data,
                           config=zoo.train.TrainConfig(epochs=15, batch_size=32, learning_rate=3e-3, verbose=0))
    calibration = np.concatenate([x.numpy() for x, _ in data.batches("train", 64, training=False)])[:300]
    test = [np.concatenate(a) for a in zip(*[(x.numpy(), y.numpy()) for x, y in data.batches("test", 64)])]
    return result.model, calibration, test


def _export(model, calibration, test, folder, recipe):
    from export import export_model
    from export import onnx as onnx_format
    from export import openvino as openvino_format

    saved = dict(onnx_format.TARGETS["x86"]), openvino_format.OVERFLOW_FIX
    if recipe == "8-bit":
        onnx_format.TARGETS["x86"]["reduce_range"] = False
        openvino_format.OVERFLOW_FIX = "first_layer_only"
    try:
        export_model(model, folder, formats=("onnx", "openvino"), quantizations=("fp32", "int8"),
                     calibration_data=calibration, eval_data=tuple(test), max_accuracy_drop=100, verbose=False)
    finally:
        onnx_format.TARGETS["x86"], openvino_format.OVERFLOW_FIX = saved[0], saved[1]


def _outputs(folder, x):
    """`({key: outputs here}, {key: outputs as an emulated AVX2 host})` of the export's files."""
    from export import cpu
    from export import manifest as manifest_lib
    from export.formats import runner

    files = manifest_lib.read(folder)["files"]
    here = {}
    for key, entry in files.items():
        run, _ = runner(entry, folder)
        here[key] = np.concatenate([run({"images": x[i:i + 256]}) for i in range(0, len(x), 256)])
    return here, cpu.run_as("avx2", folder, files, {"images": x})


def run_one(name, scratch):
    from export import cpu

    model, calibration, (x, y) = _train(name)
    keras_acc = float(np.mean(model.predict(x, verbose=0).argmax(-1) == y))
    here_class = cpu.host()["int8_class"]
    rows = []
    for recipe in ("zoo (7-bit weights)", "8-bit"):
        folder = os.path.join(scratch, f"{name}-{recipe.split()[0]}")
        _export(model, calibration, (x, y), folder, recipe.split()[0])
        here, avx2 = _outputs(folder, x)
        for key in here:
            if "int8" not in key and recipe != "zoo (7-bit weights)":
                continue  # the float files are the same in both exports
            acc_here, acc_avx2 = (float(np.mean(o[key].argmax(-1) == y)) for o in (here, avx2))
            rows.append({"model": name, "file": key, "int8 recipe": recipe if "int8" in key else "-",
                         f"accuracy here ({here_class})": acc_here, "accuracy AVX2 (emulated)": acc_avx2,
                         "points lost here": 100 * (keras_acc - acc_here),
                         "points lost AVX2": 100 * (keras_acc - acc_avx2),
                         "max |here - AVX2|": float(np.abs(here[key] - avx2[key]).max()),
                         "examples": int(len(y))})
            print(rows[-1], flush=True)
    return rows


def main():
    from benchmarks.common import save, scratch
    from export import cpu

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    missing = cpu.emulation_missing("avx2")
    if missing:
        sys.exit(f"int8_cpu_class.py: {missing}")
    folder = scratch("zoo-int8-cpu-")
    rows = [row for name in args.models.split(",") for row in run_one(name, folder)]
    save("int8_cpu_class", "int8 files on both x86 CPU classes: this host vs an emulated AVX2-only host (digits)",
         rows, notes=("Whole digits test split; points lost against the Keras model. AVX2 (emulated): "
                      f"{cpu.describe(cpu.emulated('avx2'))}; OpenVINO there with ONEDNN_MAX_CPU_ISA=AVX2. "
                      "The zoo's files (7-bit weights) give the same outputs on both classes; full 8-bit weights "
                      "saturate VPMADDUBSW's 16-bit pair sums on AVX2 and lose points there only."))


if __name__ == "__main__":
    main()
