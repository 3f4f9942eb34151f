"""Make the zoo's own weight sets (`zoo/pretrained_weights/`): train a registered model with its recipe on the
real data in ../shared/data, choose float16 storage where it measures equal, export the shipped weights to
every format (`zoo export MODEL --weights NAME`), score the Keras model and every file on the whole test
split, and write the weight set with its card (and a RESULTS.md section).

usage: python benchmarks/pretrained.py SET [--run DIR] [--data-dir DIR]
SET: mlp:mnist | lstm_classifier:imdb | transformer_classifier:imdb | lstm_attention_classifier:sst2 |
     lstm_forecaster:airline | resnet20:cifar10

`--run DIR` trains into (or resumes, or reuses the finished run in) DIR: a long recipe (ResNet-20's 182
epochs) resumes step-exactly across sessions by running the same command again.
"""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# SET: the data (a ../shared/data folder), the `zoo train` arguments of the recipe, what the data is, the
# published figure to compare with, and the test accuracy the weights must reach to ship.
SETS = {
    "mlp:mnist": dict(
        subdir="mnist", train=["--epochs", "20", "--batch-size", "128", "--lr", "1e-3", "--weight-decay", "1e-4"],
        description="MNIST handwritten digits (LeCun et al. 1998), 28x28x1 grayscale images in [0, 1]",
        reference="98.40% (Keras mnist_mlp example, 20 epochs)"),
    "lstm_classifier:imdb": dict(
        subdir="imdb", train=["--data-arg", "max_tokens=20000", "--data-arg", "sequence_length=200", "--epochs", "2",
                              "--batch-size", "32", "--lr", "1e-3", "--weight-decay", "0"],
        description="IMDB movie reviews (Maas et al. 2011, aclImdb v1), binary sentiment; a review's last 200 "
                    "tokens of a 20,000-token vocabulary",
        reference="84.28% (Keras bidirectional LSTM example, 2 epochs)"),
    "transformer_classifier:imdb": dict(
        subdir="imdb", train=["--data-arg", "max_tokens=20000", "--data-arg", "sequence_length=200", "--epochs", "3",
                              "--batch-size", "32", "--lr", "5e-4", "--warmup-epochs", "0.2", "--early-stopping", "1"],
        description="IMDB movie reviews (Maas et al. 2011, aclImdb v1), binary sentiment; a review's last 200 "
                    "tokens of a 20,000-token vocabulary",
        reference="87.45% (Keras text classification with Transformer, 2 epochs)"),
    "lstm_attention_classifier:sst2": dict(
        subdir="sst2", train=["--data-arg", "sequence_length=64", "--epochs", "3", "--batch-size", "64",
                              "--lr", "2e-3"],
        description="SST-2 (Socher et al. 2013; GLUE's binary split), sentences of movie reviews; scored on the "
                    "labelled test split of the treebank",
        reference="85.4% (Socher et al. 2013, RNTN, binary sentences)"),
    "lstm_forecaster:airline": dict(
        subdir="timeseries", train=["--epochs", "300", "--batch-size", "8", "--lr", "3e-3", "--weight-decay", "0"],
        description="Monthly international airline passengers 1949-1960 (Box & Jenkins), thousands; windows of 12 "
                    "months, forecasting the next",
        reference="the seasonal-naive forecast (the same month a year earlier) on the same test months"),
    "resnet20:cifar10": dict(
        subdir="cifar10", minimum=0.9125,
        train=["--data-arg", "val_fraction=0", "--epochs", "182", "--batch-size", "128", "--optimizer", "sgd",
               "--lr", "0.1", "--weight-decay", "1e-3", "--warmup-epochs", "0.5", "--backup-every", "100"],
        description="CIFAR-10 (Krizhevsky 2009), 32x32 RGB in [0, 1], all 50,000 training images (crop and flip "
                    "augmentation); the JPEG copy in ../shared/data",
        reference="91.25% (He et al. 2016, Table 6: ResNet-20, 182 epochs). SGD's decoupled weight decay 1e-3 "
                  "at momentum 0.9 is the paper's L2 1e-4 (lr x 1e-4 / (1 - 0.9) per step)"),
}
FLOAT16_TOLERANCE = dict(accuracy=0.0005, rmse=0.001)  # 0.05 points; 0.1% of the RMSE


def zoo_command(*args):
    return [sys.executable, "-m", "app.cli", *args]


def train(key, run_dir, data_dir):
    """Train (or resume) the recipe into `run_dir` unless it holds a finished run; the command, as a user
    would type it (for a run trained elsewhere, `benchmarks/gpu_resnet20.py`, the command that made it)."""
    model, dataset = key.split(":")
    summary = os.path.join(run_dir, "history.json")
    elsewhere = None
    if os.path.exists(summary):
        with open(summary) as f:
            elsewhere = json.load(f).get("trained_on")
    recipe = elsewhere["train_args"] if elsewhere else SETS[key]["train"]
    args = ["train", model, "--dataset", dataset, "--data-dir", data_dir, *recipe, "--no-mixed-precision",
            *([] if "--seed" in recipe else ["--seed", "0"]), "--out", run_dir]
    if not os.path.exists(summary):
        subprocess.run(zoo_command(*args), check=True)
    shown = [a if a != data_dir else f"../shared/data/{SETS[key]['subdir']}" for a in args]
    command = "zoo " + " ".join(a for a in shown[:-2]) + " --out RUN"
    if elsewhere:
        return (f"{elsewhere['command'].split(' --out ')[0]} --out DIR  # on {elsewhere['device']} "
                f"({elsewhere['backend']}), the recipe of: {command}; then: python benchmarks/gpu_resnet20.py "
                "import DIR --run RUN")
    return command


def evaluate(model, data, split):
    """Accuracy, or a forecaster's RMSE in series units, of `model` on the whole `split`."""
    import numpy as np

    import pipelines

    x, y = pipelines.take_arrays(data.batches(split, 512, training=False), 10**9)
    pred = model.predict(x, batch_size=512, verbose=0)
    if data.task == "forecasting":
        truth, values = pipelines.invert_windows(data, split, y), pipelines.invert_windows(data, split, pred)
        return "rmse", float(np.sqrt(np.mean((values - truth) ** 2))), pred
    return "accuracy", float(np.mean(np.argmax(pred, -1) == y.reshape(-1))), pred


def storage(model, data, split):
    """`(dtype, note)`: float16 where the test metric of float16-stored weights equals float32's."""
    import numpy as np

    metric, full, pred = evaluate(model, data, split)
    originals = [np.asarray(v.numpy()) for v in model.weights]
    for v, a in zip(model.weights, originals):
        if a.dtype.kind == "f":
            v.assign(a.astype("float16").astype(a.dtype))
    _, half, pred16 = evaluate(model, data, split)
    for v, a in zip(model.weights, originals):
        v.assign(a)
    delta = abs(half - full) / (full if metric == "rmse" else 1)
    same = delta <= FLOAT16_TOLERANCE[metric]
    agreement = "" if metric == "rmse" else (
        f", the same class for {np.mean(np.argmax(pred, -1) == np.argmax(pred16, -1)):.2%} of the examples")
    note = (f"{metric} {half:.4f} with float16 weights vs {full:.4f} with float32 on the {split} split{agreement}"
            + ("" if same else "; float32 kept"))
    return ("float16" if same else "float32"), note


def package(key, run_dir, data_dir, command):
    """Write the weight set from the finished run; returns its card."""
    import pipelines
    import zoo
    from zoo import pretrained, recipes
    from zoo.run_folder import load_run

    model_name, weights = key.split(":")
    trained, info = load_run(run_dir)
    data = pipelines.load_spec(info["spec"], data_dir=data_dir, **(
        {"vectorizer": info["vectorizer"], "sequence_length": info["preprocessing"]["sequence_length"],
         "truncate": info["preprocessing"].get("truncate", "post")} if info.get("vectorizer") is not None else {}))
    kwargs = recipes.model_kwargs_for(model_name, data)
    model = zoo.create_model(model_name, **kwargs)
    model.set_weights(trained.get_weights())  # the same architecture, or this raises
    split = "test" if data.test is not None else "val"
    dtype, note = storage(model, data, split)
    with open(os.path.join(run_dir, "history.json")) as f:
        summary = json.load(f)
    history, elsewhere = summary["history"], summary.get("trained_on")
    from benchmarks.common import machine

    card = {"model": model_name, "weights": weights, "builder": pretrained._plain(kwargs), "task": data.task,
            "labels": data.labels, "preprocessing": data.preprocessing,
            "data": {"name": data.name, "description": SETS[key]["description"], "sizes": data.sizes},
            "recipe": {"command": command, "epochs_run": len(history["loss"]),
                       "train_minutes": elsewhere["minutes"] if elsewhere else sum(history.get("seconds", [])) / 60,
                       "hardware": (f"{elsewhere['device']}, {elsewhere['backend']}, {elsewhere['precision']}"
                                    if elsewhere else f"{os.cpu_count()} CPU cores, float32"),
                       "config": json.load(open(os.path.join(run_dir, "config.json")))},
            "storage": {"dtype": dtype, "note": note},
            "date": datetime.date.today().isoformat(), "machine": machine(), "zoo_version": zoo.__version__}
    folder = os.path.join(pretrained.WEIGHTS_DIR, f"{model_name}-{weights}")
    vocabulary = info["vectorizer"].get_vocabulary() if info.get("vectorizer") is not None else None
    previous = folder + ".previous"  # a set shipped before: back in place if this one fails or falls short
    shutil.rmtree(previous, ignore_errors=True)
    if os.path.isdir(folder):
        shutil.copytree(folder, previous)
    try:
        pretrained.save(folder, model, card, dtype=dtype, vocabulary=vocabulary)  # staged: the export reads it
        card["metrics"] = measure(key, data_dir, data, split)
        card["metrics"]["reference"] = SETS[key]["reference"]
        if data.task == "forecasting":  # the naive forecasts on the same test windows, in series units
            card["metrics"]["baselines"] = {k: v["rmse"] for k, v in pipelines.naive_baselines(data, split).items()}
        keras_row = card["metrics"]["rows"][0]
        if keras_row["value"] < SETS[key].get("minimum", 0):
            raise SystemExit(f"{key}: test accuracy {keras_row['value']:.4f} is below {SETS[key]['minimum']}: "
                             "not shipped.")
        loaded = pretrained.load(model_name, weights, strings=False)
        saved = pretrained.save(folder, loaded, card, dtype=dtype, vocabulary=vocabulary)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        if os.path.isdir(previous):
            os.replace(previous, folder)
        raise
    shutil.rmtree(previous, ignore_errors=True)
    return saved


def measure(key, data_dir, data, split):
    """`zoo export MODEL --weights NAME` (every format and quantization) scored on the whole split."""
    model_name, weights = key.split(":")
    out = tempfile.mkdtemp(prefix="zoo-pretrained-")
    try:
        subprocess.run(zoo_command("export", model_name, "--weights", weights, "--dataset", data.name, "--data-dir",
                                   data_dir, "--eval-size", str(data.sizes[split]), "--calibration-size", "300",
                                   "--quantize", "fp32,fp16,dynamic,int8", "--max-accuracy-drop", "100",
                                   "--out", os.path.join(out, "export")), check=True)
        with open(os.path.join(out, "export", "report.json")) as f:
            report = json.load(f)
        with open(os.path.join(out, "export", "zoo_export.json")) as f:
            entries = json.load(f)["files"]
    finally:
        shutil.rmtree(out, ignore_errors=True)
    metric = "accuracy" if "accuracy" in report["results"][0] else "rmse"
    rows = [{"file": "Keras model", "value": report["results"][0][f"keras_{metric}"]}]
    rows += [{"file": r["file"], "value": r[metric], "bytes": r["size_bytes"],
              "latency_ms_batch1": r["latency_ms_batch1"], "note": _note(entries.get(r["file"], {}))}
             for r in report["results"]]
    return {"split": split, "examples": report["examples"], "metric": metric, "rows": rows}


def _note(entry):
    """How an int8 file was made, as its manifest entry says (target CPU family, ops kept in float)."""
    parts = []
    if entry.get("target"):
        parts.append(f"{entry['target']}: {entry['activations']} activations"
                     + (", 7-bit weights" if entry.get("reduce_range") else ""))
    if entry.get("quantized_ops"):
        parts.append(f"int8 only in {', '.join(entry['quantized_ops'])}")
    if entry.get("float_ops"):
        parts.append(f"kept in float: {', '.join(entry['float_ops'])}")
    return "; ".join(parts)


def main():
    from benchmarks.common import SHARED, save

    p = argparse.ArgumentParser()
    p.add_argument("set", choices=sorted(SETS))
    p.add_argument("--run", help="run folder to train into, resume or reuse (default: a temporary one)")
    p.add_argument("--data-dir")
    args = p.parse_args()
    data_dir = os.path.abspath(args.data_dir or os.path.join(SHARED, SETS[args.set]["subdir"]))
    run_dir = args.run or tempfile.mkdtemp(prefix="zoo-run-")
    command = train(args.set, run_dir, data_dir)
    card = package(args.set, run_dir, data_dir, command)
    rows = [{"file": r["file"], f"test {card['metrics']['metric']}": r["value"]} for r in card["metrics"]["rows"]]
    size = sum(f["bytes"] for f in card["files"].values())
    save(f"pretrained_{args.set.replace(':', '_')}", f"Shipped weights `{args.set}`", rows,
         notes=f"`{command}`; {card['recipe']['epochs_run']} epochs, {card['recipe']['train_minutes']:.1f} min of "
               f"training. Scored on the {card['metrics']['examples']:,} examples of the {card['metrics']['split']} "
               f"split with the shipped weights ({card['storage']['note']}); reference: {SETS[args.set]['reference']}. "
               f"Package files: {size / 1e6:.2f} MB ({', '.join(sorted(card['files']))}, stored as "
               f"{card['storage']['dtype']}).")
    print(json.dumps(card["metrics"], indent=1))


if __name__ == "__main__":
    main()
