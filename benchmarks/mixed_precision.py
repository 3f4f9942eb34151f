"""float32 vs mixed bfloat16 training throughput on this machine: ResNet-20 (CIFAR size, img/s) and the
Transformer classifier (IMDB size, tokens/s), the zoo train step (`zoo.loop.Steps`), each model built
once per precision and measured interleaved in one process (fp32, bf16, fp32, bf16, ...).

`zoo train` makes the same comparison per model, briefly (`zoo/precision.py`): mixed precision is its
default only where that probe measured it faster on the host.

With `--accuracy TASK [TASK ...]` (tasks of `benchmarks/accuracy.py`) it trains each task's full recipe
instead, in float32 and in mixed bfloat16 with the same seed, plus float32 with a second seed: the
bf16-vs-fp32 difference is read against that seed-to-seed difference (the noise).

usage: python benchmarks/mixed_precision.py [--rounds 3] [--steps 5]
       python benchmarks/mixed_precision.py --accuracy transformer_imdb mlp_mnist
       python benchmarks/mixed_precision.py --accuracy resnet20_cifar10 --runs mixed_bfloat16:0
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

MODELS = {  # name: (builder kwargs, batch, tokens per example or None for images)
    "resnet20": (dict(), 128, None),
    "transformer_classifier": (dict(vocab_size=20000, sequence_length=200), 32, 200),
}


RUNS = (("float32", 0), ("mixed_bfloat16", 0), ("float32", 1))


def earlier_float32(name, epochs):
    """The float32 seed-0 test accuracy `benchmarks/accuracy.py NAME` measured with the same recipe, with where
    it comes from, or None: the same code and seed give the same run (`zoo.train` is deterministic)."""
    import json

    from benchmarks.common import RESULTS_DIR

    path = os.path.join(RESULTS_DIR, f"accuracy_{name}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        record = json.load(f)
    if f"{epochs} epochs" not in record.get("notes", ""):
        return None
    keras_row = next(r for r in record["rows"] if r.get("artifact") == "Keras model")
    return keras_row["test accuracy"], f"`{record['command']}`, {record['date']}"


def full_runs(tasks, runs=RUNS):
    """Test accuracy of each task's recipe: fp32 seed 0, bf16 seed 0, fp32 seed 1 (the noise), or `runs`."""
    import time

    import pipelines
    import zoo
    from benchmarks.accuracy import TASKS, arrays
    from benchmarks.common import SHARED, save
    from zoo.recipes import model_kwargs_for
    from zoo.train import TrainConfig, fit

    rows = []
    for name in tasks:
        task = TASKS[name]
        data = pipelines.load_dataset(task["dataset"], os.path.join(SHARED, task["subdir"]), **task.get("data", {}))
        split = "val" if task["dataset"] == "sst2" else "test"
        x_test, y_test = arrays(data, split)
        kwargs = model_kwargs_for(task["model"], data)
        accuracy = {}
        earlier = earlier_float32(name, task["epochs"]) if ("float32", 0) not in runs else None
        if earlier:
            accuracy[("float32", 0)], source = earlier
            rows.append({"task": name, "precision": "float32", "seed": 0, "epochs run": task["epochs"],
                         f"{split} accuracy": accuracy[("float32", 0)], "examples": len(y_test),
                         "from": source})
        for precision, seed in runs:
            config = TrainConfig(epochs=task["epochs"], verbose=2, seed=seed,
                                 mixed_precision=precision == "mixed_bfloat16", **task["config"])
            start = time.time()
            result = fit(lambda: zoo.create_model(task["model"], **kwargs), data, config=config)
            minutes = (time.time() - start) / 60
            predicted = result.model.predict(x_test, batch_size=256, verbose=0).argmax(-1)
            accuracy[(precision, seed)] = float(np.mean(predicted == y_test))
            rows.append({"task": name, "precision": precision, "seed": seed,
                         "epochs run": len(result.history["loss"]), "train minutes": minutes,
                         f"{split} accuracy": accuracy[(precision, seed)], "examples": len(y_test),
                         "from": "this run"})
            print(rows[-1], flush=True)
        for label, a, b in (("bf16 - fp32 (seed 0)", ("mixed_bfloat16", 0), ("float32", 0)),
                            ("fp32 seed 1 - seed 0 (noise)", ("float32", 1), ("float32", 0))):
            if a in accuracy and b in accuracy:
                rows.append({"task": name, "precision": label, "seed": "",
                             f"{split} accuracy": accuracy[a] - accuracy[b]})
        columns = ["task", "precision", "seed", "epochs run", "train minutes", f"{split} accuracy", "examples",
                   "from"]
        save("mixed_precision_accuracy" + ("" if list(tasks) == ["mlp_mnist"] else "_" + "_".join(tasks)),
             "float32 vs mixed bfloat16: accuracy of full training runs", rows,
             columns=columns, notes=(
                 "Each task's `benchmarks/accuracy.py` recipe trained in one process: float32 and mixed bfloat16 "
                 "with seed 0, float32 with seed 1 (or the runs `--runs` names; a float32 seed-0 row not run here "
                 "is `benchmarks/accuracy.py`'s own run of the same recipe, named in `from`); accuracy on the full "
                 "test split (SST-2: dev). Recurrent layers and the classifier head stay float32 under the mixed "
                 "policy. The bf16 difference is within noise when it is no larger than the seed-to-seed "
                 "difference."))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--accuracy", nargs="+", metavar="TASK", help="full training runs instead (accuracy tasks)")
    p.add_argument("--runs", nargs="+", metavar="PRECISION:SEED", help="with --accuracy: only these runs "
                   "(e.g. mixed_bfloat16:0 where three runs of the recipe take too long)")
    args = p.parse_args()
    if args.accuracy:
        runs = RUNS
        if args.runs:
            runs = [(r.split(":")[0], int(r.split(":")[1])) for r in args.runs]
            bad = [r for r, _ in runs if r not in ("float32", "mixed_bfloat16")]
            if bad:
                p.error(f"--runs takes float32:SEED or mixed_bfloat16:SEED. Received: {bad}")
        return full_runs(args.accuracy, runs)

    import keras

    import zoo
    from benchmarks.common import save
    from app.bench import zoo_step_runner
    from zoo.config import bf16_hardware

    runners = {}
    for name, (kwargs, batch, _) in MODELS.items():
        for precision in ("float32", "mixed_bfloat16"):
            keras.config.set_dtype_policy(precision)
            keras.utils.set_random_seed(0)
            runners[(name, precision)] = zoo_step_runner(zoo.create_model(name, **kwargs), batch)
            keras.config.set_dtype_policy("float32")
    times = {key: [] for key in runners}
    for _ in range(args.rounds):
        for key, run in runners.items():
            times[key].append(run(args.steps))
    rows = []
    for (name, precision), values in times.items():
        _, batch, tokens = MODELS[name]
        seconds = float(np.median(values))
        rate = batch * (tokens or 1) / seconds
        base = batch * (tokens or 1) / float(np.median(times[(name, "float32")]))
        rows.append({"model": name, "precision": precision, "batch": batch,
                     "unit": "tokens/s" if tokens else "img/s", "train rate": rate, "x float32": rate / base})
    from zoo.precision import MIN_SPEEDUP

    native = bf16_hardware()
    save("mixed_precision", "float32 vs mixed bfloat16 training throughput", rows, notes=(
        f"zoo train step on one fixed batch, median of {args.rounds} interleaved rounds of {args.steps} steps. "
        f"Native bf16 here: {native or 'none (no AVX512_BF16/AMX, no GPU)'}. `zoo train` turns mixed bfloat16 on "
        f"for a model only where a short probe of its own training steps (`zoo/precision.py`) measures it at "
        f"least {MIN_SPEEDUP}x faster on the host (cached per host and model); this table is that comparison "
        "with more steps."))


if __name__ == "__main__":
    main()
