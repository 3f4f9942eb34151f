"""Compression on real data (MNIST): pruning, distillation and int8, each
against the uncompressed model — size, batch-1 LiteRT latency and accuracy.

usage: python benchmarks/compression.py [--epochs 20] [--few-labels 1000] [--data-dir ../shared/data/mnist]

Variants (all exported to TFLite and scored from the file on the 10,000 test
images):
  baseline      `zoo.mlp` (784-512-512-10), trained `--epochs`
  pruned 80/90% the baseline fine-tuned with `MagnitudePruning` (Zhu & Gupta
                schedule) to 80% / 90% zeros in every kernel; fp32 and int8
  int8          the baseline, full-integer post-training quantization
  dense control the baseline fine-tuned like the pruned models, without pruning
  student       784-64-10 trained alone, and the same student distilled from
                the baseline (`Distiller`, Hinton et al. 2015)
  few labels    teacher and student trained on `--few-labels` labels; the
                distilled student also learns the teacher's soft targets on
                the rest of the training images (their labels unused)
Sizes are the `.tflite` file and its gzip (pruned zeros only shrink the
latter: TFLite stores dense tensors). Latency: LiteRT, 2 threads, batch 1,
all files timed interleaved in one process; ratios are against the baseline.
"""

import argparse
import glob
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from benchmarks.common import scratch  # noqa: E402


def arrays(data, split, batch=1024):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in data.batches(split, batch, training=False)])
    return np.concatenate(xs), np.concatenate(ys)


def interleaved_latency_ms(interpreters, sample, rounds=7, calls=200):
    """Median over rounds of the mean batch-1 call time, files timed in turn."""
    from export import tflite

    times = {name: [] for name in interpreters}
    for interp in interpreters.values():  # warm up
        tflite.run(interp, {"images": sample})
    for _ in range(rounds):
        for name, interp in interpreters.items():
            start = time.perf_counter()
            for _ in range(calls):
                tflite.run(interp, {"images": sample})
            times[name].append((time.perf_counter() - start) / calls * 1e3)
    return {name: float(np.median(t)) for name, t in times.items()}


def main():
    from benchmarks.common import SHARED, save

    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--few-labels", type=int, default=1000)
    p.add_argument("--finetune-epochs", type=int, default=4)
    p.add_argument("--data-dir")
    args = p.parse_args()

    import keras

    import pipelines
    import zoo
    from export import export_model, tflite
    from zoo.compress import Distiller, MagnitudePruning, PruningSchedule, gzipped_size, sparsity

    data = pipelines.mnist(args.data_dir or os.path.join(SHARED, "mnist"))
    x_train, y_train = arrays(data, "train")
    x_test, y_test = arrays(data, "test")
    if not 0 < args.few_labels < len(x_train):
        p.error(f"--few-labels must be between 1 and {len(x_train) - 1} (the training split has "
                f"{len(x_train)} images). Received: --few-labels {args.few_labels}")
    batch = 128
    steps_per_epoch = int(np.ceil(len(x_train) / batch))

    def compiled(model, lr):
        model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def train(build, seed, x, y, epochs=args.epochs, lr=1e-3, callbacks=()):
        keras.utils.set_random_seed(seed)
        model = compiled(build(), lr)
        model.fit(x, y, epochs=epochs, batch_size=batch, callbacks=list(callbacks), verbose=2)
        return model

    def from_baseline():
        model = zoo.tasks.clone_model(baseline)
        model.set_weights(baseline.get_weights())
        return model

    def student():
        return zoo.mlp(hidden_units=(64,), dropout=0.0, name="student")

    def distill(teacher, labels):
        keras.utils.set_random_seed(1)
        model = student()
        distiller = Distiller(model, teacher, alpha=0.1, temperature=4.0)
        distiller.compile(keras.optimizers.Adam(1e-3))
        distiller.fit(x_train, labels, epochs=args.epochs, batch_size=batch, verbose=2)
        return model

    start = time.time()
    baseline = train(zoo.mlp, 0, x_train, y_train)
    models = {"baseline": baseline}
    # Control: the same fine-tuning without pruning, so the pruned rows show
    # what pruning costs rather than what extra epochs bring.
    models["baseline fine-tuned (dense)"] = train(from_baseline, 0, x_train, y_train,
                                                  epochs=args.finetune_epochs, lr=3e-4)
    ramp = max(1, int(0.6 * args.finetune_epochs * steps_per_epoch))  # ramp, then recover at target
    for target in (0.8, 0.9):
        pruning = MagnitudePruning(PruningSchedule(target=target, end_step=ramp, frequency=50))
        models[f"pruned {target:.0%}"] = train(from_baseline, 0, x_train, y_train,
                                               epochs=args.finetune_epochs, lr=3e-4, callbacks=[pruning])

    # Full labels: the student alone vs taught by the baseline.
    models["student alone"] = train(student, 1, x_train, y_train)
    models["student distilled"] = distill(baseline, y_train)

    # Few labels (the case distillation is for): teacher and student see the
    # same `--few-labels` labels, repeated to the full set's number of steps;
    # the distilled student also gets the teacher's soft targets on the other
    # training images, whose labels it never sees (-1).
    n = args.few_labels
    reps = int(np.ceil(len(x_train) / n))
    xs, ys = np.tile(x_train[:n], (reps, 1, 1, 1)), np.tile(y_train[:n], reps)
    few_teacher = train(zoo.mlp, 0, xs, ys)
    models[f"teacher, {n:,} labels"] = few_teacher
    models[f"student alone, {n:,} labels"] = train(student, 1, xs, ys)
    unlabeled = y_train.copy()
    unlabeled[n:] = -1
    models[f"student distilled, {n:,} labels + unlabeled"] = distill(few_teacher, unlabeled)
    train_minutes = (time.time() - start) / 60

    # Export every variant (int8 for the baseline and the pruned models) and
    # score each file on the test split.
    files, accuracy = {}, {}
    out = scratch("zoo-compress-")
    calibration = x_train[:500]
    for name, model in models.items():
        quantize = ("fp32", "int8") if name == "baseline" or name.startswith("pruned") else ("fp32",)
        folder = os.path.join(out, re.sub(r"[^A-Za-z0-9]+", "_", name))
        report = export_model(model, folder, formats=("tflite",), quantizations=quantize,
                              calibration_data=calibration if "int8" in quantize else None,
                              eval_data=(x_test, y_test), verbose=False)
        if not report["passed"]:
            raise SystemExit(f"{name}: export verification failed: {report['results']}")
        for q in quantize:
            label = name if q == "fp32" else f"{name} + int8"
            if name == "baseline" and q == "int8":
                label = "int8 (post-training)"
            files[label] = (glob.glob(os.path.join(folder, f"*.{q}.tflite"))[0], model)
            accuracy[label] = {r["file"]: r["accuracy"] for r in report["results"]}[f"tflite_{q}"]

    interpreters = {label: tflite.interpreter(model_path=path) for label, (path, _) in files.items()}
    latency = interleaved_latency_ms(interpreters, x_test[:1])

    base_path = files["baseline"][0]
    base_gz, base_ms, base_acc = gzipped_size(base_path), latency["baseline"], accuracy["baseline"]
    rows = []
    for label, (path, model) in files.items():
        zeros = sparsity(model)["overall"]
        nonzero = int(sum(np.count_nonzero(w) for w in model.get_weights()))
        gz = gzipped_size(path)
        rows.append({
            "variant": label,
            "params (nonzero)": f"{model.count_params():,} ({nonzero:,})",
            "kernel sparsity": round(zeros, 3),
            "file KB": round(os.path.getsize(path) / 1e3, 1),
            "gzipped KB": round(gz / 1e3, 1),
            "gzipped size vs baseline": round(gz / base_gz, 3),
            "batch-1 ms": round(latency[label], 4),
            "latency vs baseline": round(latency[label] / base_ms, 3),
            "test accuracy (file)": round(accuracy[label], 4),
            "vs baseline (points)": round(100 * (accuracy[label] - base_acc), 2),
        })
    notes = (f"MNIST (`../shared/data/mnist`), 10,000 test images, accuracy of each exported `.tflite` "
             f"file. Baseline `zoo.mlp` (784-512-512-10) trained {args.epochs} epochs (Adam 1e-3, batch "
             f"{batch}); pruned variants fine-tuned {args.finetune_epochs} epochs from it (Adam 3e-4, "
             "sparsity ramp over the first 60% of steps), and the dense control fine-tuned the same way "
             f"without pruning; students (784-64-10) trained {args.epochs} epochs, alone or with "
             "`zoo.compress.Distiller` (alpha 0.1, temperature 4, chosen on 5,000 held-out training "
             f"images, not the test set). Few-label rows: teacher and students see the same {n:,} labels "
             "(repeated to the same number of steps); the distilled student also gets the teacher's soft "
             "targets on the other training images, never their labels. `vs baseline` is always against "
             f"the full-label baseline. int8 calibrated on 500 training images. {train_minutes:.1f} min of "
             "training. Latency: LiteRT 2 threads, batch 1, all files timed interleaved in one process "
             "(median of 7 rounds x 200 calls). Pruning shrinks the gzipped file, not the latency: TFLite "
             "runs the zeros as dense weights.")
    save("compression_mnist", "Compression on MNIST: pruning, distillation, int8 (LiteRT, CPU)", rows,
         notes=notes)
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
