"""Streaming a big text CSV: `pipelines.text_file` (tf.data `CsvDataset`, nothing held in Python
lists) against the common recipe `pandas.read_csv` + `tf.data.Dataset.from_tensor_slices`.

Both do the same job on a generated CSV of N rows (header `label,text`, four string classes,
~20-word texts): class names from the labels, a `TextVectorization` adapted on the texts, then one
epoch of token-id batches. Each path runs in its own fresh process (so peak RSS is its own), the two
alternating over the rounds; rows/s is N over the whole job's wall time.

usage: python benchmarks/text_streaming.py [--rows 1000000] [--rounds 2]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CLASSES = ["business", "science", "sport", "world"]


def write_csv(path, rows, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(5000)])
    with open(path, "w", encoding="utf8") as f:
        f.write("label,text\n")
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            labels = rng.integers(0, 4, n)
            ids = rng.zipf(1.3, (n, 20)) % 5000
            for label, row in zip(labels, words[ids]):
                f.write(f"{CLASSES[label]},\"{' '.join(row)}, {CLASSES[label]} news\"\n")


def _rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024


def _peak_mib():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_zoo(path):
    import pipelines

    data = pipelines.text_file(path, text_column="text", label_column="label", val_fraction=0.0,
                               test_fraction=0.0, sequence_length=64)
    rows = sum(int(y.shape[0]) for _, y in data.batches("train", 256, training=False, cache=False))
    return rows, data.labels


def run_pandas(path):
    import keras
    import pandas as pd
    import tensorflow as tf

    from pipelines.text import standardize

    frame = pd.read_csv(path)
    labels = frame["label"].astype("category")
    names = [str(c) for c in labels.cat.categories]
    ds = tf.data.Dataset.from_tensor_slices((frame["text"].to_numpy(dtype=str), labels.cat.codes.to_numpy("int32")))
    vectorizer = keras.layers.TextVectorization(max_tokens=20000, standardize=standardize, output_sequence_length=64)
    vectorizer.adapt(ds.map(lambda t, y: t).batch(1024))
    epoch = ds.batch(256).map(lambda t, y: (vectorizer(t), y), num_parallel_calls=tf.data.AUTOTUNE)
    rows = sum(int(y.shape[0]) for _, y in epoch.prefetch(2))
    return rows, names


def child(kind, path):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf  # noqa: F401 (the baseline RSS includes TensorFlow and Keras)
    import keras  # noqa: F401

    baseline = _rss_mib()
    start = time.perf_counter()
    rows, names = (run_zoo if kind == "zoo" else run_pandas)(path)
    seconds = time.perf_counter() - start
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mib": _peak_mib(), "baseline_mib": baseline,
                      "labels": names}))


def main():
    from benchmarks.common import save

    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--child", nargs=2, metavar=("KIND", "CSV"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(*args.child)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "news.csv")
        write_csv(path, args.rows)
        size_mib = os.path.getsize(path) / 2**20
        runs = {"zoo": [], "pandas": []}
        for _ in range(args.rounds):
            for kind in runs:
                out = subprocess.run([sys.executable, __file__, "--child", kind, path], capture_output=True,
                                     text=True, check=True)
                result = json.loads(out.stdout.strip().splitlines()[-1])
                assert result["rows"] == args.rows and result["labels"] == CLASSES, result
                runs[kind].append(result)
                print(kind, {k: result[k] for k in ("seconds", "peak_mib", "baseline_mib")}, flush=True)
    best = {k: min(v, key=lambda r: r["seconds"]) for k, v in runs.items()}
    peak = {k: max(r["peak_mib"] for r in v) for k, v in runs.items()}
    rows = []
    for kind, label in (("zoo", "pipelines.text_file (tf.data CsvDataset, streamed)"),
                        ("pandas", "pandas.read_csv + from_tensor_slices")):
        r = best[kind]
        rows.append({"pipeline": label, "rows/s": args.rows / r["seconds"], "seconds": r["seconds"],
                     "peak RSS MiB": peak[kind], "RSS after importing TF+Keras MiB": r["baseline_mib"],
                     "peak RSS above that MiB": peak[kind] - r["baseline_mib"],
                     "x pandas rows/s": best["pandas"]["seconds"] / r["seconds"],
                     "x pandas peak RSS": peak[kind] / peak["pandas"]})
    save("text_streaming", f"Streaming a {args.rows:,}-row text CSV ({size_mib:.0f} MiB)", rows,
         notes=f"One job per process: read the CSV, class names from the string labels, adapt a 20,000-token "
               f"TextVectorization on the texts, one epoch of (256, 64) token-id batches. zoo: val/test fractions "
               f"0 (all rows train), no cache. Best wall time of {args.rounds} rounds per path (alternating), "
               f"peak RSS the largest over rounds (ru_maxrss of the process, TensorFlow included).")


if __name__ == "__main__":
    main()
