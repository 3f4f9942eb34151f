"""Whether bfloat16 pays here: `zoo train` turns mixed bfloat16 on by default only where it was measured
faster than float32 for that model on this host.

A CPU that reports AVX512_BF16 or AMX computes bf16 natively, but that alone does not make training faster:
on this project's AMD EPYC (AVX512_BF16) mixed_bfloat16 trained ResNet-20 at 1.00x its float32 speed, a
default that cost precision for nothing, while an AVX512_BF16 Xeon ran it 1.31-1.55x faster. So the
default is a short probe: a few compiled training steps of the model, at the run's batch size, in both
precisions, interleaved; bf16 is chosen when it is at least `MIN_SPEEDUP` times faster. The result is
cached per host (CPU model and flags), TensorFlow and Keras versions and model configuration in
`~/.cache/zoo/bf16_probe.json` (`$XDG_CACHE_HOME`), so the probe runs once (again after an upgrade). GPUs
compute bf16 natively and fast: chosen without a probe.

Example:

```python
from zoo import precision
use_bf16, reason = precision.choose("resnet20", {"classes": 10}, batch_size=128)
```
"""

import json
import os

MIN_SPEEDUP = 1.1  # bf16 must save at least ~10% of a step to be worth its precision
STEPS = 6


def cache_path():
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "zoo", "bf16_probe.json")


def host_key(cpuinfo="/proc/cpuinfo"):
    """The CPU model and its bf16/int8 flags: what decides bf16's speed."""
    try:
        with open(cpuinfo) as f:
            text = f.read()
    except OSError:
        return "unknown CPU"
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "")
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return f"{name} ({' '.join(f for f in ('avx512_bf16', 'amx_bf16', 'avx512_vnni', 'avx512f') if f in flags)})"


def _batch(model, batch_size, rng):
    """Random inputs and targets of the model's shapes: token ids below 2, floats, class ids."""
    import numpy as np

    (inputs,) = model.inputs
    shape = (batch_size, *[d or 16 for d in inputs.shape[1:]])
    x = rng.integers(0, 2, size=shape) if "int" in str(inputs.dtype) else rng.normal(size=shape).astype("float32")
    out = model.outputs[0].shape
    if getattr(getattr(model, "task", None), "kind", None) == "classification":
        return x, rng.integers(0, out[-1], size=(batch_size,)), "sparse_categorical_crossentropy"
    return x, np.zeros((batch_size, *[d or 1 for d in out[1:]]), "float32"), "mse"


def _step_seconds(model_name, kwargs, batch_size, policy, steps=STEPS):
    """Median seconds of one compiled training step of the model built under `policy`."""
    import keras
    import numpy as np

    from zoo import registry
    from zoo.timing import timed

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = registry.create_model(model_name, **kwargs)
    finally:
        keras.config.set_dtype_policy(previous)
    x, y, loss = _batch(model, batch_size, np.random.default_rng(0))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss=loss)
    return timed(lambda: model.train_on_batch(x, y), repeats=steps, warmup=2)


def _versions():
    """TensorFlow's and Keras' versions: an upgrade brings other bf16 kernels, so it is probed again."""
    import keras
    import tensorflow as tf

    return f"tensorflow {tf.__version__}, keras {keras.__version__}"


def probe(model_name, kwargs, batch_size, *, steps=STEPS):
    """`{"float32_ms", "bfloat16_ms", "speedup"}` of training steps, measured interleaved (each policy twice,
    the faster round kept), cached per host, TensorFlow/Keras versions and model configuration."""
    key = json.dumps([host_key(), _versions(), model_name, kwargs, batch_size], sort_keys=True, default=str)
    path = cache_path()
    try:
        with open(path) as f:
            cached = json.load(f)
    except (OSError, ValueError):
        cached = {}
    if key in cached:
        return cached[key]
    times = {"float32": [], "mixed_bfloat16": []}
    for _ in range(2):
        for policy in times:
            times[policy].append(_step_seconds(model_name, kwargs, batch_size, policy, steps))
    result = {"float32_ms": min(times["float32"]) * 1e3, "bfloat16_ms": min(times["mixed_bfloat16"]) * 1e3}
    result["speedup"] = result["float32_ms"] / result["bfloat16_ms"]
    cached[key] = result
    try:
        from pipelines.files import write_json

        write_json(path, cached)
    except OSError:  # a read-only home: the probe runs again next time
        pass
    return result


def choose(model_name, kwargs, batch_size, task=None):
    """`(use bf16, reason)`: the default precision of a run, and why (for the log)."""
    from zoo import config, recipes

    if task in recipes.TABLE_TASKS:
        return False, "float32 (tables: small MLPs, where bf16 saves nothing and costs digits)"
    native = config.bf16_hardware()
    if native is None:
        return False, "float32 (this CPU has no native bf16: emulated bf16 runs slower)"
    if native == "GPU":
        return True, "mixed bfloat16 (the GPU computes bf16 natively)"
    try:
        measured = probe(model_name, kwargs, batch_size)
    except Exception as err:  # a model the probe cannot drive (several inputs): the safe default
        return False, f"float32 (bf16 not measured for {model_name}: {type(err).__name__})"
    ratio = f"{measured['speedup']:.2f}x float32's speed for {model_name} at batch {batch_size} on this {native}"
    if measured["speedup"] >= MIN_SPEEDUP:
        return True, f"mixed bfloat16 (measured {ratio})"
    return False, f"float32 (bf16 measured {ratio}: not faster)"
