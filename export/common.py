"""What the format modules share: signatures, names, float32 copies, atomic writes."""

import json
import os
import re
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

_GENERIC_NAME = re.compile(r"^(input_layer|input|keras_tensor|inputs?)(_\d+)?$")


class ExportError(ValueError):
    """An export or verification that cannot go on, with what to do about it."""


def check_built(model):
    if not isinstance(model, keras.Model):
        raise ExportError(f"`model` must be a keras.Model. Received: {type(model).__name__}")
    if not model.built or not model.inputs:
        raise ExportError(
            f"Model {model.name!r} was never built (it has no inputs yet). Call it once on a batch, "
            "or build it with `model.build(input_shape)`, before exporting.")


def task_of(model):
    """`classifier`, `seq2seq` or `regression`, from the head."""
    last = model.layers[-1]
    if last.name == "predictions":
        return "seq2seq" if len(model.outputs[0].shape) == 3 else "classifier"
    return "regression"


def input_names(model):
    """Stable, meaningful names for the serving signature inputs."""
    names = []
    for tensor in model.inputs:
        name = tensor.name
        if _GENERIC_NAME.match(name):
            if "int" in str(tensor.dtype):
                name = "tokens"
            elif len(tensor.shape) == 4:
                name = "images"
            elif len(tensor.shape) == 3:
                name = "series"
            else:
                name = "features"
        names.append(name)
    if len(set(names)) != len(names):
        names = [f"{n}_{i}" for i, n in enumerate(names)]
    return names


def output_name(model):
    return {"classifier": "probabilities", "seq2seq": "next_token_probabilities",
            "regression": "forecast" if len(model.outputs[0].shape) == 3 else "outputs"}[task_of(model)]


def input_specs(model, *, batch=None, sequence_length=None):
    """`tf.TensorSpec`s (named) for the model inputs; `None` dims stay dynamic
    unless `sequence_length` fixes the time axis of int (token) inputs."""
    specs = []
    for tensor, name in zip(model.inputs, input_names(model)):
        shape = list(tensor.shape)
        shape[0] = batch
        if sequence_length is not None:
            shape = [sequence_length if (i > 0 and d is None) else d for i, d in enumerate(shape)]
        specs.append(tf.TensorSpec(shape, tf.as_dtype(str(tensor.dtype)), name=name))
    return specs


def has_recurrent_layers(model):
    def walk(layers):
        for layer in layers:
            if isinstance(layer, (keras.layers.LSTM, keras.layers.GRU, keras.layers.SimpleRNN,
                                  keras.layers.RNN)):
                return True
            inner = getattr(layer, "forward_layer", None)
            if inner is not None or (hasattr(layer, "layers") and walk(layer.layers)):
                return True
        return False

    return walk(model.layers)


def call_model(model, args):
    """Call with the signature's positional args, as a dict for multi-input models."""
    if len(model.inputs) == 1:
        return model(args[0], training=False)
    return model({t.name: a for t, a in zip(model.inputs, args)}, training=False)


def _to_float32_config(config):
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy" or config.get("class_name") == "FloatDTypePolicy":
            return {**config, "config": {**config.get("config", {}), "name": "float32"}}
        out = {}
        for k, v in config.items():
            if k == "dtype" and isinstance(v, str) and v.startswith("mixed"):
                out[k] = "float32"
            else:
                out[k] = _to_float32_config(v)
        return out
    if isinstance(config, list):
        return [_to_float32_config(v) for v in config]
    return config


def float32_copy(model):
    """`model` itself when it computes in float32, else the same architecture
    rebuilt in float32 with the weights copied: mixed-precision (bf16/fp16)
    graphs do not convert to TFLite/ONNX cleanly and their kernels differ."""
    policies = {layer.dtype_policy.name for layer in model.layers}
    if policies <= {"float32"} or all(not p.startswith("mixed") and p != "bfloat16" for p in policies):
        return model
    config = _to_float32_config(keras.saving.serialize_keras_object(model))
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        clone = keras.saving.deserialize_keras_object(config)
    finally:
        keras.config.set_dtype_policy(previous)
    clone.set_weights([np.asarray(w, dtype="float32") if np.asarray(w).dtype.kind == "f" else w
                       for w in model.get_weights()])
    return clone


def sample_inputs(model, *, batch=2, sequence_length=16, seed=0, vocab_size=None):
    """Random inputs that fit the model (images in [0, 1], token ids >= 1)."""
    rng = np.random.default_rng(seed)
    out = []
    for spec in input_specs(model, sequence_length=sequence_length):
        shape = [batch] + list(spec.shape[1:])
        if spec.dtype.is_integer:
            vocab = vocab_size or _vocab_size(model)
            out.append(rng.integers(1, vocab, size=shape).astype(spec.dtype.as_numpy_dtype))
        elif len(shape) == 4:
            out.append(rng.uniform(0, 1, size=shape).astype("float32"))
        else:
            out.append(rng.normal(size=shape).astype("float32"))
    return out


def _vocab_size(model):
    for layer in model._flatten_layers():
        for attr in ("input_dim", "vocab_size"):
            value = getattr(layer, attr, None)
            if isinstance(value, int):
                return value
    return 100


def atomic_write(path, data: bytes):
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".tmp-{os.path.basename(path)}-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path, obj):
    atomic_write(path, json.dumps(obj, indent=2, default=_json_default).encode())


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.ndarray, tuple)):
        return list(o)
    return str(o)


def temp_dir_beside(path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(path)),
                            prefix=f".tmp-{os.path.basename(path)}-")


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)
