"""The edge families' small variants trained on real CIFAR-10 on this CPU, then every exported file scored on
the whole test split: what each format and precision keeps of the Keras model's accuracy.

Each model (`--models`, default the tiny variant of every image family added for edge use) is trained with
the zoo recipe (`zoo.train.fit`: AdamW, cosine schedule, precise BN) on the first `--train-size` training
images of ../shared/data/cifar10 (the JPEG copy) for `--epochs` epochs, without augmentation; then exported
to LiteRT (fp32, fp16, dynamic, full int8), ONNX (fp32, x86 int8) and OpenVINO (fp32, int8), int8 calibrated
on 300 training images, and every file scored on the 10,000 test images. The budget column says whether a
file keeps within the zoo's default 1-point budget (exports here lift it to see every file).

usage: python benchmarks/edge_cifar.py [--models mobilenet_v3_tiny,...] [--epochs 8] [--train-size 20000]
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

MODELS = ("mobilenet_v2_tiny", "mobilenet_v3_tiny", "efficientnet_lite_tiny", "efficientnet_tiny", "vit_nano")


def _data(train_size):
    import pipelines
    from benchmarks.common import SHARED

    data = pipelines.load_dataset("cifar10", os.path.join(SHARED, "cifar10"))
    x, y = pipelines.sample_arrays(data, "train", train_size)
    test_x, test_y = pipelines.sample_arrays(data, "test", 10**9)
    return data, (x, y), (test_x, test_y)


def run_one(name, train, test, epochs, folder):
    import tensorflow as tf

    import zoo
    from export import export_model

    (x, y), (test_x, test_y) = train, test
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0).batch(64)
    val = tf.data.Dataset.from_tensor_slices((test_x[:1000], test_y[:1000])).batch(256)
    start = time.perf_counter()
    result = zoo.train.fit(lambda: zoo.create_model(name, input_shape=(32, 32, 3), classes=10), ds, val,
                           config=zoo.train.TrainConfig(epochs=epochs, batch_size=64, learning_rate=3e-3, verbose=0),
                           task="image_classification")
    minutes = (time.perf_counter() - start) / 60
    report = export_model(result.model, os.path.join(folder, name), formats=("tflite", "onnx", "openvino"),
                          calibration_data=x[:300], eval_data=(test_x, test_y), max_accuracy_drop=100,
                          verbose=False)
    rows = []
    for r in report["results"]:
        lost = -100 * r["accuracy_delta"]
        rows.append({"model": name, "params": result.model.count_params(), "epochs": epochs,
                     "train minutes": minutes, "file": r["file"], "size KB": r["size_bytes"] / 1e3,
                     "Keras accuracy": r["keras_accuracy"], "file accuracy": r["accuracy"], "points lost": lost,
                     "within 1 point": "yes" if lost <= 1.0 + 1e-9 else "NO"})
        print(rows[-1], flush=True)
    return rows


def main():
    from benchmarks.common import save, scratch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--train-size", type=int, default=20000)
    args = parser.parse_args()
    _, train, test = _data(args.train_size)
    folder = scratch("zoo-edge-cifar-")
    rows = [row for name in args.models.split(",") for row in run_one(name, train, test, args.epochs, folder)]
    save("edge_cifar", "Edge families on CIFAR-10 (CPU-trained small variants): every exported file's accuracy",
         rows, notes=(f"First {args.train_size:,} training images of the JPEG CIFAR-10 copy, {args.epochs} epochs, "
                      "no augmentation, zoo recipe (AdamW lr 3e-3, cosine, precise BN), batch 64; every file "
                      "scored on the 10,000 test images; int8 calibrated on 300 training images (x86 targets). "
                      "Small widths for a 2-core CPU: the accuracies are the recipe's, not the families' best."))


if __name__ == "__main__":
    main()
