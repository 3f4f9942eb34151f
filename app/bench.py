"""`zoo bench`: parameters, FLOPs, training throughput and inference latency
per runtime for any registered model (in the spirit of timm's benchmark.py).

Example:

```python
from app.bench import benchmark_model
benchmark_model("resnet8", batch_size=8, runtimes=("keras", "onnx", "tflite_fp32"))
```
"""

import tempfile
import time

import numpy as np

from zoo.timing import timed

IN_PROCESS = ("keras", "keras_jit")  # the other runtimes are the export formats' files (`runtimes()`)


def runtimes():
    """Every runtime `benchmark_model` times: Keras eagerly and compiled, then each file an export format
    writes, by its manifest key (`saved_model`, `tflite_fp32`, ..., `onnx`, `onnx_int8`)."""
    from export.formats import runtimes as file_runtimes

    return IN_PROCESS + tuple(file_runtimes())


def _batch(model, batch_size, seed=0, sequence_length=128):
    from export import common

    x = common.sample_inputs(model, batch=batch_size, sequence_length=sequence_length, seed=seed)
    return x


def train_step_runner(model, batch_size, *, jit_compile=False, seed=0, task=None):
    """`run(steps) -> seconds per step` of compiled SGD train steps on one
    fixed synthetic batch (input pipeline excluded)."""
    import keras

    from zoo import tasks

    x = _batch(model, batch_size, seed)
    x = x[0] if len(x) == 1 else {t.name: v for t, v in zip(model.inputs, x)}
    rng = np.random.default_rng(seed)
    task = tasks.task_of(model, task)  # `task=` for a plain Keras model (keras.applications)
    y = task.random_targets(rng, (batch_size,) + tuple(model.output_shape[1:]))
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss=task.keras_loss(tasks.from_logits(model) if task.metric else False), jit_compile=jit_compile)
    # train_on_batch runs the same compiled train function as `fit`, without
    # fit's tf.data iterator: on 2 cores its prefetch threads compete with the
    # step and made fit-based timings jump between two levels.
    for _ in range(2):  # trace + warm up
        model.train_on_batch(x, y)

    def run(steps):
        start = time.perf_counter()
        for _ in range(steps):
            logs = model.train_on_batch(x, y)  # returns host numbers: synchronised
        del logs
        return (time.perf_counter() - start) / steps

    return run


def zoo_step_runner(model, batch_size, *, seed=0, task=None):
    """Like `train_step_runner`, but the step `zoo.train.fit` runs (`zoo.loop.Steps`):
    a `tf.function` around `strategy.run` of tape + optimizer (default strategy)."""
    import keras
    import tensorflow as tf

    from zoo import tasks
    from zoo.loop import Steps

    task = tasks.task_of(model, task)
    x = tf.constant(_batch(model, batch_size, seed)[0])
    y = tf.constant(task.random_targets(np.random.default_rng(seed), (batch_size,) + tuple(model.output_shape[1:])))
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    optimizer.build(model.trainable_variables)
    steps = Steps(model, optimizer, task, tf.distribute.get_strategy(), global_batch=batch_size,
                  from_logits=bool(task.metric) and tasks.from_logits(model), label_smoothing=0.0)
    steps.train_step(x, y)
    steps.train_step(x, y)

    def run(n):
        start = time.perf_counter()
        for _ in range(n):
            loss = steps.train_step(x, y)[0]
        float(loss)
        return (time.perf_counter() - start) / n

    return run


def count_flops(model, batch=1, sequence_length=128):
    """FLOPs of one forward pass (TF profiler on the frozen graph). MACs ~ FLOPs / 2."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    from export import common

    specs = common.input_specs(model, batch=batch, sequence_length=sequence_length)
    fn = tf.function(lambda *a: common.call_model(model, a), input_signature=specs)
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function())
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    info = tf.compat.v1.profiler.profile(graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(),
                                         cmd="op", options=opts)
    return int(info.total_float_ops)


def benchmark_model(name, *, batch_size=8, input_size=None, runtimes=("keras", "onnx", "tflite_fp32"),
                    train_steps=5, repeats=20, **model_kwargs):
    """Measure one registered model; returns a dict of figures."""
    import keras
    import tensorflow as tf

    import zoo
    from export import common
    from export.formats import runtimes as file_runtimes

    bad = [r for r in runtimes if r not in IN_PROCESS + tuple(file_runtimes())]
    if bad:
        raise ValueError(f"Unknown runtime(s) {bad}. Allowed: {list(IN_PROCESS + tuple(file_runtimes()))}.")
    spec = zoo.get_spec(name)
    if input_size is not None:
        if spec.task != "image_classification":
            raise ValueError(f"--input-size applies to image models; {name!r} is {spec.task}.")
        model_kwargs["input_shape"] = (input_size, input_size, spec.input_shape[-1])
    keras.utils.set_random_seed(0)
    model = zoo.create_model(name, **model_kwargs)
    result = {"model": name, "params": model.count_params(), "batch": batch_size}
    flops = count_flops(model)
    result["GFLOPs/example"] = flops / 1e9
    result["GMACs/example"] = flops / 2e9
    if spec.task != "seq2seq":
        run = train_step_runner(zoo.create_model(name, **model_kwargs), batch_size)
        result["train examples/s"] = batch_size / run(train_steps)
    x1 = _batch(model, 1)
    names = common.input_names(model)
    feeds = dict(zip(names, x1))
    fns = {}
    if "keras" in runtimes:
        fns["keras"] = lambda: model.predict_on_batch(x1[0] if len(x1) == 1 else
                                                      {t.name: v for t, v in zip(model.inputs, x1)})
    if "keras_jit" in runtimes:
        jit = tf.function(lambda *a: common.call_model(model, a), jit_compile=True)
        fns["keras_jit"] = lambda: jit(*x1)
    fns.update(_file_runners(model, [r for r in runtimes if r not in IN_PROCESS], feeds))
    for key, fn in fns.items():
        result[f"{key} batch-1 ms"] = timed(fn, repeats) * 1000
    return result


def _file_runners(model, keys, feeds):
    """`{runtime: fn}` running the exported files `keys` (manifest keys) on `feeds`, through the formats'
    own runners (`export.formats`): the same code that verifies the files."""
    if not keys:
        return {}
    from export import export_model, manifest
    from export.formats import FORMATS
    from export.formats import runtimes as file_runtimes

    wanted = {key: file_runtimes(model.name)[key] for key in keys}  # key -> (format, quantization)
    formats = tuple(dict.fromkeys(fmt for fmt, _ in wanted.values()))
    quantizations = tuple(dict.fromkeys(q for _, q in wanted.values()))
    out = tempfile.mkdtemp(prefix=f"zoo-bench-{model.name}-")
    calibration = _batch(model, 16, seed=1) if "int8" in quantizations else None
    export_model(model, out, formats=formats, quantizations=quantizations, calibration_data=calibration,
                 verbose=False)
    entries = manifest.read(out)["files"]
    fns = {}
    for key in keys:
        run = FORMATS[entries[key]["format"]].runner(entries[key], out)[0]
        fns[key] = (lambda run: lambda: run(feeds))(run)
    return fns
