"""The JAX backend: every tiny model trains under `KERAS_BACKEND=jax`, and the text models keep the
zoo's id and length policy there (test_sequence_limits has it on TensorFlow and in exported files).

One subprocess for both: importing JAX and Keras and compiling costs ~10 s a process on this machine.
nasnet_tiny, resnet_tiny and densenet_tiny only predict here: XLA compiles their training steps in ~50 s
together (half of this test); their layers are the Conv/BatchNorm/pooling/concat layers that resnet8 trains
here, plus NASNet's DropPath, which trains compiled in test_weights. So do mobilenet_v2_tiny, mobilenet_v3_tiny
and efficientnet_tiny (12-15 s of compilation each): efficientnet_lite_tiny trains their depthwise
convolutions and MBConv blocks here, and their squeeze-excite and (hard-)swish are Keras' own
GlobalAveragePooling2D/Multiply/Activation layers.
"""

import json
import os
import subprocess
import sys

import pytest

import zoo
from conftest import FAST_XLA, REPO, small_kwargs
from export.common import max_length

# The id clamp and the length check live in the layers every text model shares (tested for every text
# model on TensorFlow and in exported files in test_sequence_limits); on JAX the tiny variants run them.
TEXT_MODELS = zoo.list_models(task="text_classification", tiny=True) + zoo.list_models(task="seq2seq", tiny=True)

_SCRIPT = r"""
import json, numpy as np, keras, zoo
from conftest import small_kwargs
assert keras.backend.backend() == "jax"

# 1. Every tiny model: one compiled training step (jit), then inference-mode predictions.
INFERENCE_ONLY = {"nasnet_tiny", "resnet_tiny", "densenet_tiny", "mobilenet_v2_tiny", "mobilenet_v3_tiny",
                  "efficientnet_tiny"}
rng = np.random.default_rng(0)
for name in zoo.list_models(tiny=True):
    model = zoo.create_model(name)
    inputs = {}
    for t in model.inputs:
        shape = [2] + [8 if d is None else d for d in t.shape[1:]]
        inputs[t.name] = (rng.integers(1, 16, size=shape).astype("int32")
                          if "int" in str(t.dtype) else rng.normal(size=shape).astype("float32"))
    x = inputs if len(inputs) > 1 else next(iter(inputs.values()))
    task = zoo.tasks.task_of(model)
    shape = model.compute_output_shape({k: v.shape for k, v in inputs.items()} if len(inputs) > 1 else x.shape)
    if name not in INFERENCE_ONLY:
        model.compile(optimizer="adam", loss=task.keras_loss())
        hist = model.fit(x, task.random_targets(rng, tuple(shape)), epochs=1, verbose=0)
        assert np.isfinite(hist.history["loss"][0]), name
    y = np.asarray(model.predict_on_batch(x))
    assert np.isfinite(y).all(), name
    print("ok", name, json.dumps(list(y.shape)))

# 2. Text models: ids outside [0, vocab) read as [UNK] (1); past max_length a ValueError.
out = {}
for name in NAMES:
    model = zoo.create_model(name, **small_kwargs(name))
    vocab = [l.input_dim for l in model._flatten_layers()
             if isinstance(l, keras.layers.Embedding) and "position" not in l.name][-1]
    ids = np.random.default_rng(0).integers(2, vocab, size=(2, 10)).astype("int32")
    bad, mapped = ids.copy(), ids.copy()
    bad[0, 1], bad[0, 3], bad[1, 2] = vocab, vocab + 1000, -3
    mapped[0, 1] = mapped[0, 3] = mapped[1, 2] = 1
    lengths = [l.sequence_length for l in model._flatten_layers()
               if isinstance(getattr(l, "sequence_length", None), int)]
    long_ids = np.ones((1, (min(lengths) if lengths else 59) + 5), "int32")
    feed = lambda ids: {t.name: ids for t in model.inputs} if len(model.inputs) > 1 else ids
    got, want = np.asarray(model(feed(bad))), np.asarray(model(feed(mapped)))
    row = {"finite": bool(np.isfinite(got).all()), "max_diff": float(np.abs(got - want).max())}
    try:
        row["long"] = bool(np.isfinite(np.asarray(model(feed(long_ids)))).all())
    except ValueError as err:
        row["long_error"] = str(err)
    out[name] = row
print("RESULT", json.dumps(out))
"""


def test_tiny_models_train_and_text_models_keep_the_id_and_length_policy_on_jax():
    pytest.importorskip("jax")
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", XLA_FLAGS=FAST_XLA,
               PYTHONPATH=os.pathsep.join([os.path.join(REPO, "tests"), REPO]))
    proc = subprocess.run([sys.executable, "-c", _SCRIPT.replace("NAMES", repr(TEXT_MODELS))], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()

    trained = {line.split()[1]: tuple(json.loads(line.split(maxsplit=2)[2])) for line in lines if line.startswith("ok")}
    assert list(trained) == zoo.list_models(tiny=True)
    for name, shape in trained.items():
        want = zoo.create_model(name).output_shape
        assert shape == (2,) + tuple(8 if d is None else d for d in want[1:]), (name, shape, want)

    result = json.loads(next(line for line in lines if line.startswith("RESULT"))[7:])
    assert sorted(result) == sorted(TEXT_MODELS)
    for name, row in result.items():
        assert row["finite"] and row["max_diff"] < 1e-5, (name, row)  # never NaN, ids mapped to [UNK]
        limit = max_length(zoo.create_model(name, **small_kwargs(name)))
        if limit is None:  # recurrent: any length
            assert row.get("long") is True, (name, row)
        else:
            assert f"{limit + 5} tokens; this model takes at most max_length={limit}" in row["long_error"], (name, row)
