"""What the format modules share: the model's signature (computed once), names, float32 copies."""

import contextlib
import dataclasses
import re

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
    policies = {layer.dtype_policy.name for layer in model._flatten_layers(include_self=False)}  # nested too
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


@contextlib.contextmanager
def unrolled_backward_mask_fix():
    """While tracing an unrolled copy: Keras' TensorFlow `rnn` (3.15) zeroes the masked steps of an
    unrolled `go_backwards` layer by the mask in time order while its outputs are in processing
    (reversed) order, so a Bidirectional LSTM/GRU on padded tokens zeroed real steps and lost the
    padding ones (a trained IMDB BiLSTM's unrolled copy disagreed with it on 4% of reviews). Here such a
    call runs without that zeroing and the masked steps are zeroed by the reversed mask, as the
    `while` loop does."""
    from keras.src import backend

    original = backend.rnn

    def rnn(step_function, inputs, initial_states, go_backwards=False, mask=None, constants=None,
            unroll=False, input_length=None, time_major=False, zero_output_for_mask=False,
            return_all_outputs=True):
        fix = unroll and go_backwards and mask is not None and zero_output_for_mask
        last, outputs, states = original(
            step_function, inputs, initial_states, go_backwards=go_backwards, mask=mask, constants=constants,
            unroll=unroll, input_length=input_length, time_major=time_major,
            zero_output_for_mask=zero_output_for_mask and not fix, return_all_outputs=return_all_outputs)
        if fix:
            valid = tf.cast(mask, tf.bool)
            valid = valid[..., 0] if len(valid.shape) == 3 else valid
            valid = tf.transpose(valid) if time_major else valid  # (batch, time)
            last = tf.where(valid[:, :1], last, tf.zeros_like(last))  # the last step processed is time 0
            if return_all_outputs:
                steps = tf.reverse(valid, [1])[:, :, None]  # (batch, time, 1) in processing order
                steps = tf.transpose(steps, [1, 0, 2]) if time_major else steps
                outputs = tf.where(steps, outputs, tf.zeros_like(outputs))
        return last, outputs, states

    backend.rnn = rnn
    try:
        yield
    finally:
        backend.rnn = original


def unrolled_copy(model, specs):
    """The same model with every LSTM/GRU layer unrolled over the fixed time axis of `specs`, weights
    copied: what the int8 LiteRT converter can calibrate. A `while` loop over time is what its
    calibrator cannot run (TF 2.21); unrolled, each step is builtin FULLY_CONNECTED/LOGISTIC/TANH ops
    sharing one set of int8 weights."""
    shapes = iter([list(s.shape) for s in specs])

    def rewrite(node):
        if isinstance(node, dict):
            if node.get("class_name") in ("LSTM", "GRU", "SimpleRNN") and isinstance(node.get("config"), dict):
                node["config"]["unroll"] = True
            if node.get("class_name") == "InputLayer" and isinstance(node.get("config"), dict):
                shape = next(shapes, None)  # None: the input of a nested model (e.g. zoo.layers.in_series_units)
                if shape is not None:
                    node["config"]["batch_shape"] = [None, *shape[1:]]
            for value in node.values():
                rewrite(value)
        elif isinstance(node, list):
            for value in node:
                rewrite(value)

    config = keras.saving.serialize_keras_object(model)
    rewrite(config)
    clone = keras.saving.deserialize_keras_object(config)
    clone.set_weights(model.get_weights())
    return clone


def predict_in_chunks(model, ordered, chunk=256):
    """float32 outputs of `model` on the positional input arrays `ordered`, `chunk` examples per call (a full
    test split in one call would not fit in memory)."""
    return np.concatenate([
        np.asarray(keras.ops.convert_to_numpy(call_model(model, [x[i:i + chunk] for x in ordered])), "float32")
        for i in range(0, len(ordered[0]), chunk)])


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


def max_length(model):
    """The longest token sequence the model takes (its position table), or None when unbounded."""
    lengths = [layer.sequence_length for layer in model._flatten_layers()
               if isinstance(getattr(layer, "sequence_length", None), int)]
    return min(lengths) if lengths else None


def _vocab_size(model):
    for layer in model._flatten_layers():
        for attr in ("input_dim", "vocab_size"):
            value = getattr(layer, attr, None)
            if isinstance(value, int):
                return value
    return 100


@dataclasses.dataclass(frozen=True)
class Signature:
    """Everything the formats need to know about a model, computed once.

    Attributes:
        name: the export name (file names, TF Serving model name).
        task: the model's `zoo.tasks.Task`.
        input_names: serving names of the inputs (`images`, `tokens`, ...).
        specs: `tf.TensorSpec`s of the inputs (batch and free lengths `None`).
        outputs: exported output names; the first is the model's output
            (`probabilities`/`logits`, `forecast`, ...), the rest derived
            from it (`class_ids`).
        recurrent: LSTM/GRU inside (LiteRT needs a fixed batch of 1).
        sequence_length: the fixed length of token inputs in LiteRT files.
        vocab_size: the token vocabulary (text models), else None.
        max_tokens: longer token inputs are truncated to this (the training
            length, else the model's max length) in SavedModel and ONNX files;
            None: any length.
        truncate: `"post"` keeps the first tokens, `"pre"` the last (as training).
    """

    name: str
    task: object
    input_names: tuple
    specs: tuple
    outputs: tuple
    recurrent: bool
    sequence_length: int = None
    vocab_size: int = None
    max_tokens: int = None
    truncate: str = "post"

    @property
    def output(self):
        return self.outputs[0]

    @property
    def has_tokens(self):
        return any(s.dtype.is_integer for s in self.specs)

    def describe_inputs(self):
        return [{"name": s.name, "shape": [None if d is None else int(d) for d in s.shape], "dtype": s.dtype.name}
                for s in self.specs]


def signature_of(model, *, name, task=None, sequence_length=None, truncate="post"):
    """The `Signature` of a built model (`task` for a plain Keras model). `sequence_length` is
    the training length of token inputs (the vectorizer's), `truncate` how training cut them."""
    from zoo import tasks

    trained_length = sequence_length
    task = tasks.task_of(model, task)
    specs = tuple(input_specs(model))
    if any(s.dtype.is_integer for s in specs):
        static = [s.shape[1] for s in specs if s.dtype.is_integer and s.shape[1] is not None]
        sequence_length = sequence_length or (static[0] if static else max_length(model) or 64)
    else:
        sequence_length = None
    return Signature(name=name, task=task, input_names=tuple(s.name for s in specs), specs=specs,
                     outputs=tuple(task.output_names(model)), recurrent=has_recurrent_layers(model),
                     sequence_length=sequence_length, vocab_size=_vocab_size(model) if sequence_length else None,
                     max_tokens=(trained_length or max_length(model)) if sequence_length else None,
                     truncate=truncate)


def truncate_tokens(args, signature):
    """Token inputs longer than `signature.max_tokens` cut as training did (`truncate`); others as is."""
    if not signature.max_tokens:
        return args
    out = []
    for spec, value in zip(signature.specs, args):
        if spec.dtype.is_integer and len(spec.shape) == 2 and spec.shape[1] is None:
            keep = signature.max_tokens
            value = value[:, -keep:] if signature.truncate == "pre" else value[:, :keep]
        out.append(value)
    return out


def has_budget(task):
    """Whether the accuracy budget (`max_accuracy_drop`) judges a task's reduced-precision files with labels:
    classifiers (accuracy points lost) and tabular regressors (percent of RMSE gained)."""
    return task.kind == "classification" or task.name == "regression"


def budget_loss(task, labels, reference, predicted):
    """What a reduced-precision file's outputs `predicted` lose against the Keras model's `reference` on
    labelled examples, as a fraction compared with `max_accuracy_drop / 100`: accuracy (classifiers), or
    the RMSE's relative increase (regressors; targets in the model's output units)."""
    labels = np.asarray(labels)
    if task.kind == "classification":
        return float(np.mean(reference.argmax(-1) == labels) - np.mean(predicted.argmax(-1) == labels))
    target = labels.astype("float64").reshape(np.shape(reference))
    keras_rmse = float(np.sqrt(np.mean((np.asarray(reference, "float64") - target) ** 2)))
    rmse = float(np.sqrt(np.mean((np.asarray(predicted, "float64").reshape(target.shape) - target) ** 2)))
    return (rmse - keras_rmse) / max(keras_rmse, 1e-12)
