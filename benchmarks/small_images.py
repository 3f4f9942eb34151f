"""Small image sets: a ResNet-20 trained with `zoo train`'s defaults on a few hundred real CIFAR-10
images of two classes (`npz:`), scored in the saved model and every exported file, with and without
precise BN (batch norm statistics recomputed after training, `--precise-bn`).

The npz holds the first `--per-class` training images of each class from ../shared/data/cifar10's
training shards and the first 500 test images of each from its test shards.

usage: python benchmarks/small_images.py [--classes cat,dog] [--per-class 200]
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def write_npz(path, classes, per_class, test_per_class=500):
    import numpy as np

    import pipelines
    from benchmarks.common import SHARED

    data = pipelines.load_dataset("cifar10", os.path.join(SHARED, "cifar10"))
    wanted = [data.labels.index(c) for c in classes]
    out = {}
    for split, limit, key in (("train", per_class, "train"), ("test", test_per_class, "test")):
        xs, ys, counts = [], [], dict.fromkeys(wanted, 0)
        for x, y in data.split(split):
            y = int(y)
            if y in counts and counts[y] < limit:
                xs.append(x.numpy())
                ys.append(classes[wanted.index(y)])
                counts[y] += 1
                if min(counts.values()) >= limit:
                    break
        out[f"x_{key}"], out[f"y_{key}"] = np.stack(xs).astype("uint8"), np.array(ys)
    np.savez(path, **out)
    return {k: v.shape for k, v in out.items()}


def batch_statistics_accuracy(run, npz, batch=64):
    """The saved weights' test accuracy with each batch normalized by its own statistics (what the weights
    learned, whatever the moving averages hold)."""
    import numpy as np

    import zoo

    model = zoo.load_model(os.path.join(run, "model.keras"))
    with np.load(npz) as f:
        x, y = f["x_test"], f["y_test"]
    names = list(json.load(open(os.path.join(run, "data.json")))["labels"])
    hits = 0
    for i in range(0, len(x), batch):
        scores = model(x[i:i + batch].astype("float32") / 255.0, training=True)
        hits += int(np.sum(np.argmax(scores, -1) == np.array([names.index(v) for v in y[i:i + batch]])))
    return hits / len(x)


def main():
    from benchmarks.common import save
    from app import cli

    p = argparse.ArgumentParser()
    p.add_argument("--classes", default="airplane,frog;cat,dog", help="class pairs, ';' between sets")
    p.add_argument("--per-class", type=int, default=200)
    p.add_argument("--epochs", type=int, help="default: zoo train's")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for k, names in enumerate(args.classes.split(";")):
            npz = os.path.join(folder, f"set{k}.npz")
            shapes = write_npz(npz, names.split(","), args.per_class)
            for precise in (8192, 0):
                run, out = os.path.join(folder, f"run{k}_{precise}"), os.path.join(folder, f"export{k}_{precise}")
                code = cli.main(["train", "resnet20", "--dataset", f"npz:{npz}", "--class-names", names,
                                 "--precise-bn", str(precise), "--quiet", "--out", run]
                                + (["--epochs", str(args.epochs)] if args.epochs else []))
                assert code == 0, code
                cli.main(["export", run, "--out", out, "--eval-size", "1000", "--max-accuracy-drop", "100"])
                report = json.load(open(os.path.join(out, "report.json")))
                history = json.load(open(os.path.join(run, "history.json")))
                accs = {r["file"]: r["accuracy"] for r in report["results"]}
                row = {"classes": names, "train images": shapes["x_train"][0],
                       "epochs": len(history["history"]["loss"]),
                       "test images scored": report["examples"], "precise BN": "on" if precise else "off",
                       "saved model (test split)": history["evaluation"]["accuracy"],
                       "same weights, batch statistics": batch_statistics_accuracy(run, npz),
                       "exported files: min": min(accs.values()), "exported files: max": max(accs.values()),
                       "files": ", ".join(f"{k} {v:.3f}" for k, v in accs.items())}
                print(row, flush=True)
                rows.append(row)
    save("small_images", "Small image sets: ResNet-20 defaults on two CIFAR-10 classes", rows,
         notes="`zoo train resnet20 --dataset npz:... --class-names ...` with the defaults (10 epochs, batch 64, "
               "AdamW 1e-3: 60 steps), then `zoo export RUN` (every file, int8 included, scored on 1,000 test "
               "images; budget relaxed so every file is written and scored). 'precise BN off' = `--precise-bn 0` "
               "(the moving averages of momentum 0.99 as training leaves them). 'batch statistics': the saved "
               "weights with each test batch normalized by its own statistics (what the weights learned). "
               "Chance: 0.5. Cat vs dog is hard for 400 images and 60 steps: the weights themselves learn little.")


if __name__ == "__main__":
    main()
