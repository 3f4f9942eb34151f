import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import zoo  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")


def small_kwargs(name):
    """Builder overrides that keep a registered model's depth but shrink its
    inputs and head, so every architecture can be exercised in seconds."""
    spec = zoo.get_spec(name)
    if spec.task == "image_classification":
        if spec.family == "mlp":
            return {"classes": 3}
        return {"input_shape": (32, 32, 3), "classes": 3}
    if spec.task == "text_classification":
        return {"classes": 3}
    return {}


def example_inputs(model, batch=2, seed=0, length=12):
    """Random inputs that fit `model`: token ids with right padding for int
    inputs (0 = padding), normal floats otherwise."""
    rng = np.random.default_rng(seed)
    out = {}
    for tensor in model.inputs:
        shape = [batch] + [length if d is None else d for d in tensor.shape[1:]]
        if "int" in str(tensor.dtype):
            vocab = _vocab_for(model, tensor.name)
            tokens = rng.integers(1, vocab, size=shape).astype("int32")
            tokens[:, -2:] = 0  # right padding
            out[tensor.name] = tokens
        else:
            out[tensor.name] = rng.normal(size=shape).astype("float32")
    if len(out) == 1:
        return next(iter(out.values()))
    return out


def _vocab_for(model, input_name):
    for layer in model.layers:
        if layer.__class__.__name__ == "Embedding":
            return layer.input_dim
        vocab = getattr(layer, "vocab_size", None)
        if vocab is not None:
            return vocab
    raise AssertionError(f"no embedding found for {input_name}")


def is_classifier(model):
    return model.layers[-1].name == "predictions"


def example_targets(model, outputs, seed=1):
    rng = np.random.default_rng(seed)
    shape = tuple(outputs.shape)
    if is_classifier(model):
        return rng.integers(0, shape[-1], size=shape[:-1]).astype("int32")
    return rng.normal(size=shape).astype("float32")


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")
