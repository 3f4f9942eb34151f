"""The tabular MLP's int8 ONNX file on real tables: its batched embedding MatMuls quantized per tensor (what
`zoo export` writes) next to ONNX Runtime's per-channel default for them (scales on axis 1 of the 3-D weight,
the file onnxruntime-web refused) and the float file -- test metric and batch-1 latency, one process.

Each table is trained as `benchmarks/tabular.py` trains it (`train_default`: the CSV read by
`pipelines.tabular_file`, the zoo model with `zoo train`'s defaults, seed 0); int8 calibrated on 300 training
rows, x86 target; every file scored on the whole test split; latency: 1 thread, batch 1, median of 3
interleaved rounds.

usage: pip install -e ".[bench]"; python benchmarks/tabular_int8.py [--tables cancer,penguins,...]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

TABLES = ("cancer", "penguins", "diabetes", "cars", "fair")


def _files(model, data, folder):
    """`{name: ONNX path or bytes}`: float, int8 as exported, int8 with the batched weights per channel."""
    import pipelines
    from export import onnx as onnx_format

    path = os.path.join(folder, "float.onnx")
    with open(path, "wb") as f:
        f.write(onnx_format.convert(model))
    calibration = {"features": pipelines.sample_arrays(data, "train", 300)[0]}
    files = {"fp32": path, "int8 (zoo: batched MatMul weights per tensor)": onnx_format.quantize_int8(path, calibration)}
    as_exported = onnx_format._per_tensor_weights
    onnx_format._per_tensor_weights = lambda float_path: {}  # ONNX Runtime's own per-channel axis for them
    try:
        files["int8 (per channel on axis 1, before)"] = onnx_format.quantize_int8(path, calibration)
    finally:
        onnx_format._per_tensor_weights = as_exported
    return files


def run_one(name, folder):
    import pipelines
    from benchmarks.common import timed
    from benchmarks.tabular import train_default
    from export import onnx as onnx_format

    _, _, about, _, data, model_name, _, _, result, _ = train_default(name, folder)
    x, y = pipelines.sample_arrays(data, "test", 10**9)
    sessions = {k: onnx_format.session(v, threads=1) for k, v in _files(result.model, data, folder).items()}
    times = {k: [] for k in sessions}
    for _ in range(3):
        for k, s in sessions.items():
            times[k].append(timed(lambda: onnx_format.run(s, {"features": x[:1]}), 300, warmup=20))
    rows = []
    for k, s in sessions.items():
        out = onnx_format.run(s, {"features": x})
        metric = ("test accuracy", float(np.mean(out.argmax(-1) == y.reshape(-1)))) if data.task != "regression" \
            else ("test RMSE", float(np.sqrt(np.mean((out.reshape(-1) - y.reshape(-1)) ** 2))))
        ms = float(np.median(times[k])) * 1000
        rows.append({"table": name, "data": about, "model": model_name, "test rows": len(y), "file": k,
                     metric[0]: metric[1], "batch-1 ms": ms,
                     "vs fp32": ms / (float(np.median(times["fp32"])) * 1000)})
    return rows


def main():
    import tempfile

    from benchmarks.common import save

    p = argparse.ArgumentParser()
    p.add_argument("--tables", default=",".join(TABLES))
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.tables.split(","):
            for row in run_one(name, folder):
                print(row, flush=True)
                rows.append(row)
    save("tabular_int8", "Tables: the tabular MLP's int8 ONNX file, batched embedding weights per tensor vs per "
         "channel", rows, columns=["table", "data", "model", "test rows", "file", "test accuracy", "test RMSE",
                                   "batch-1 ms", "vs fp32"],
         notes="Each table trained as benchmarks/tabular.py trains it (zoo train's defaults, seed 0); ONNX files "
               "from the same weights, int8 x86 (U8 activations, 7-bit S8 weights) calibrated on 300 training "
               "rows; 'before': the batched (3-D) MatMul weights of the periodic numeric embedding per channel "
               "on ONNX Runtime's default axis 1 (the summed axis), which onnxruntime-web refuses to run; "
               "'zoo': per tensor, as `zoo export` writes them now. Test split scored whole; latency 1 thread, "
               "batch 1, median of 3 interleaved rounds of 300 calls.")


if __name__ == "__main__":
    main()
