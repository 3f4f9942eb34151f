"""float32 vs mixed bfloat16 training throughput on this machine: ResNet-20 (CIFAR size, img/s) and the
Transformer classifier (IMDB size, tokens/s), the zoo train step (`zoo.loop.Steps`), each model built
once per precision and measured interleaved in one process (fp32, bf16, fp32, bf16, ...).

This is the measurement behind `zoo train`'s default (`zoo.config.bf16_hardware`): mixed precision on
where the hardware computes bf16 natively (AVX512_BF16/AMX CPUs, GPUs), off elsewhere.

usage: python benchmarks/mixed_precision.py [--rounds 3] [--steps 5]
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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=5)
    args = p.parse_args()

    import keras

    import zoo
    from benchmarks.common import save
    from zoo.bench import zoo_step_runner
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
    native = bf16_hardware()
    save("mixed_precision", "float32 vs mixed bfloat16 training throughput", rows, notes=(
        f"zoo train step on one fixed batch, median of {args.rounds} interleaved rounds of {args.steps} steps. "
        f"Native bf16 here: {native or 'none (no AVX512_BF16/AMX, no GPU)'}, so `zoo train` defaults to "
        f"{'mixed bfloat16' if native else 'float32'} on this machine."))


if __name__ == "__main__":
    main()
