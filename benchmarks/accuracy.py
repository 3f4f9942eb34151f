"""Accuracy runs on the real datasets in ../shared/data: train a zoo model with
the zoo recipe, export it (SavedModel, TFLite, ONNX) and score the Keras model
**and every exported file** on the full test split.

usage: python benchmarks/accuracy.py TASK [--epochs N] [--data-dir DIR]
TASK: mlp_mnist | bilstm_imdb | transformer_imdb | gru_sst2 | forecaster_airline | resnet20_cifar10
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from benchmarks.common import scratch  # noqa: E402

# task: (model, dataset, data subdir, reference, TrainConfig overrides, model overrides, data overrides)
TASKS = {
    "mlp_mnist": dict(model="mlp", dataset="mnist", subdir="mnist", epochs=20,
                      reference="98.40% (Keras mnist_mlp example, 20 epochs)",
                      config=dict(batch_size=128, learning_rate=1e-3, weight_decay=1e-4)),
    "bilstm_imdb": dict(model="lstm_classifier", dataset="imdb", subdir="imdb", epochs=2,
                        reference="84.28% (Keras bidirectional LSTM example, 2 epochs)",
                        config=dict(batch_size=32, learning_rate=1e-3, weight_decay=0.0),
                        data=dict(max_tokens=20000, sequence_length=200)),
    "transformer_imdb": dict(model="transformer_classifier", dataset="imdb", subdir="imdb", epochs=3,
                             reference="87.45% (Keras text classification with Transformer, 2 epochs)",
                             # up to 3 epochs, keeping the epoch with the best validation loss
                             config=dict(batch_size=32, learning_rate=5e-4, warmup_epochs=0.2,
                                         early_stopping_patience=1),
                             data=dict(max_tokens=20000, sequence_length=200)),
    "gru_sst2": dict(model="lstm_attention_classifier", dataset="sst2", subdir="sst2", epochs=3,
                     reference="report dev accuracy",
                     config=dict(batch_size=64, learning_rate=2e-3), data=dict(sequence_length=64)),
    "forecaster_airline": dict(model="lstm_forecaster", dataset="airline", subdir="timeseries", epochs=300,
                               reference="seasonal-naive baseline (same test months)",
                               config=dict(batch_size=8, learning_rate=3e-3, weight_decay=0.0)),
    "resnet20_cifar10": dict(model="resnet20", dataset="cifar10", subdir="cifar10", epochs=40,
                             reference="91.25% (He et al. 2016, Table 6; 182 epochs)",
                             config=dict(batch_size=128, optimizer="sgd", learning_rate=0.1,
                                         weight_decay=1e-4, warmup_epochs=0.5)),
}


def arrays(data, split, batch=512):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in data.batches(split, batch, training=False)])
    return np.concatenate(xs), np.concatenate(ys)


def main():
    from benchmarks.common import SHARED, save

    p = argparse.ArgumentParser()
    p.add_argument("task", choices=sorted(TASKS))
    p.add_argument("--epochs", type=int)
    p.add_argument("--data-dir")
    args = p.parse_args()
    task = TASKS[args.task]
    epochs = args.epochs or task["epochs"]

    import zoo
    from export import export_model
    from export.formats import runner as _runner
    from zoo.recipes import model_kwargs_for
    from zoo.train import TrainConfig, fit
    import pipelines

    data = pipelines.load_dataset(task["dataset"], args.data_dir or os.path.join(SHARED, task["subdir"]),
                                  **task.get("data", {}))
    kwargs = model_kwargs_for(task["model"], data)
    config = TrainConfig(epochs=epochs, verbose=2, seed=0, **task["config"])  # epoch lines, no bar
    start = time.time()
    result = fit(lambda: zoo.create_model(task["model"], **kwargs), data, config=config)
    train_minutes = (time.time() - start) / 60
    test_split = "val" if task["dataset"] == "sst2" else "test"  # SST-2: the dev split
    x_test, y_test = arrays(data, test_split)
    x_train, _ = arrays(data, "train")
    out = scratch(f"zoo-acc-{args.task}-")
    classifier = data.task != "forecasting"
    quant = ("fp32", "fp16", "dynamic", "int8")  # int8: LiteRT and ONNX, every family
    rng = np.random.default_rng(0)
    calibration = x_train[rng.permutation(len(x_train))[:300]] if "int8" in quant else None
    report = export_model(result.model, out, quantizations=quant, calibration_data=calibration,
                          eval_data=(x_test, y_test) if classifier else x_test, class_names=data.labels,
                          preprocessing=data.preprocessing, vectorizer=data.vectorizer,
                          max_accuracy_drop=100, verbose=True)  # measure every file's drop, fail none
    rows = []
    if classifier:
        keras_acc = report["results"][0]["keras_accuracy"]
        rows.append({"artifact": "Keras model", "test accuracy": keras_acc})
        for r in report["results"]:
            rows.append({"artifact": r["file"], "test accuracy": r["accuracy"],
                         "vs Keras": r["accuracy_delta"], "agreement": r["agreement"]})
        headline = keras_acc
    else:
        truth = pipelines.invert_windows(data, "test", y_test)[:, :, 0]

        def rmse(pred):
            return float(np.sqrt(np.mean((pipelines.invert_windows(data, "test", pred)[:, :, 0] - truth) ** 2)))

        keras_pred = result.model.predict(x_test, verbose=0)
        rows.append({"artifact": "Keras model", "test RMSE (passengers)": rmse(keras_pred)})
        import json

        manifest = json.load(open(os.path.join(out, "zoo_export.json")))
        for key, entry in manifest["files"].items():
            run, dynamic = _runner(entry, out)
            pred = run({"series": x_test}) if dynamic else np.concatenate(
                [run({"series": x_test[i:i + 1]}) for i in range(len(x_test))])
            rows.append({"artifact": key, "test RMSE (passengers)": rmse(pred)})
        # Seasonal naive: next month = the same month a year earlier (12 steps back).
        series = pipelines.read_series(os.path.join(args.data_dir or os.path.join(SHARED, task["subdir"]),
                                                    "airline-passengers.csv"), "Passengers")
        n_test = len(truth)
        targets = series[-n_test:]
        naive = series[-n_test - 12:-12]
        rows.append({"artifact": "seasonal-naive baseline", "test RMSE (passengers)":
                     float(np.sqrt(np.mean((naive - targets) ** 2)))})
        assert np.allclose(targets, truth[:, 0], rtol=1e-3), "test targets misaligned"
        headline = rows[0]["test RMSE (passengers)"]
    for r in rows:
        print(r)
    title = {"mlp_mnist": "MLP on MNIST", "bilstm_imdb": "BiLSTM on IMDB",
             "transformer_imdb": "Transformer encoder on IMDB", "gru_sst2": "LSTM + attention on SST-2 (dev)",
             "forecaster_airline": "LSTM forecaster on airline passengers",
             "resnet20_cifar10": "ResNet-20 on CIFAR-10 (JPEG copy)"}[args.task]
    epochs_run = len(result.history["loss"])
    ran = f"{epochs_run} epochs" + (f" (of up to {epochs}; early stopping)" if epochs_run < epochs else "")
    note = (f"`{task['model']}` with its registered defaults, {ran}, "
            f"{train_minutes:.1f} min of training on this CPU; reference: {task['reference']}. "
            f"Recipe: {task['config']}. Exported files scored on the same {len(x_test)} "
            f"{test_split} examples; int8 calibrated on 300 training examples.")
    if task["config"].get("early_stopping_patience") is not None:
        val_losses = result.history["val_loss"]
        kept = int(np.argmin(val_losses)) + 1
        note += (f" Early stopping on validation loss: {len(val_losses)} epochs run, the weights of "
                 f"epoch {kept} (lowest validation loss) kept.")
    if task["epochs"] > epochs or args.task == "resnet20_cifar10":
        note += f" CPU budget: {epochs} epochs run (the reference trains far longer)."
    save(f"accuracy_{args.task}", title, rows, notes=note)
    print("headline:", headline)


if __name__ == "__main__":
    main()
