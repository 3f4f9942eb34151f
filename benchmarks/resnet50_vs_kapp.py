"""zoo resnet50 vs keras.applications.ResNet50: training images/s, same
backend, same batch, same optimizer, measured interleaved in one process.

usage: python benchmarks/resnet50_vs_kapp.py [--batch-size 16] [--image-size 224] [--rounds 3] [--steps 4]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def _unfused(model):
    """The same model with Keras' own batch-norm computation (fused=False):
    isolates what zoo's fused training kernel contributes."""
    from zoo.layers import BatchNormalization

    for layer in model.layers:
        if isinstance(layer, BatchNormalization):
            layer.fused = False
    return model


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=4)
    args = p.parse_args()

    import keras

    import zoo
    from benchmarks.common import save
    from app.bench import train_step_runner, zoo_step_runner

    shape = (args.image_size, args.image_size, 3)
    builders = {
        "keras.applications.ResNet50": lambda: keras.applications.ResNet50(weights=None, input_shape=shape),
        "zoo resnet50 (v1.5, default)": lambda: zoo.resnet50(input_shape=shape),
        "zoo resnet50 (stride_in_1x1, = KApp graph)": lambda: zoo.resnet50(input_shape=shape, stride_in_1x1=True),
        "zoo resnet50 (v1.5, Keras' unfused batch norm)": lambda: _unfused(zoo.resnet50(input_shape=shape)),
    }
    runners = {}
    for name, build in builders.items():
        for mode, make in (("Keras train step (train_on_batch)", train_step_runner), ("zoo.train step", zoo_step_runner)):
            keras.utils.set_random_seed(0)
            runners[(name, mode)] = make(build(), args.batch_size, task="image_classification")
    times = {key: [] for key in runners}
    for _ in range(args.rounds):  # interleaved: every model and mode once per round
        for key, run in runners.items():
            times[key].append(run(args.steps))
    rows = []
    for (name, mode), values in times.items():
        base = float(np.median(times[("keras.applications.ResNet50", mode)]))
        sec = float(np.median(values))
        rows.append({"model": name, "train step": mode, "batch": args.batch_size, "image size": args.image_size,
                     "train img/s": args.batch_size / sec, "ratio vs keras.applications": base / sec,
                     "per-round s/step": " ".join(f"{v:.2f}" for v in values)})
        print(rows[-1])
    save("resnet50_vs_kapp", "ResNet-50 training throughput vs keras.applications (CPU, TF backend)", rows,
         notes=(f"Synthetic fixed batch, fp32, SGD momentum, data loading excluded; median of {args.rounds} "
                f"interleaved rounds of {args.steps} steps; ratios compare models under the same step. "
                "`Keras train step` is the compiled function model.fit runs, called through "
                "train_on_batch (fit's own tf.data iterator competed with the step for the 2 cores); "
                "`zoo.train step` is the tf.function step zoo.train.fit runs. zoo's default is ResNet v1.5 (stride in the 3x3 conv; 8.22 vs 7.76 GFLOPs/img by "
                "app.bench.count_flops); `stride_in_1x1=True` builds the keras.applications graph. "
                "zoo's batch norm runs TensorFlow's fused kernel in training (zoo/layers.py; same "
                "variables and numerics as Keras'); the `unfused` row is the default model with "
                "Keras' own batch-norm computation, to show what that kernel contributes. "
                "No GPU was lent to this session, so the H100/JAX comparison was not run."))


if __name__ == "__main__":
    main()
