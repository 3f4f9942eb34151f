"""Multilayer perceptrons: image classifiers and the tabular models.

The default `mlp` is the Keras `mnist_mlp` example: 784-512-512-10 with ReLU
and dropout 0.2 (98.40% MNIST test accuracy there). Inputs of any rank are
flattened, so images go in as they come out of the pipelines.

The tabular models (`mlp_tabular`, `mlp_regressor`) are MLP-PLR (Gorishniy et
al. 2022): each standardized numeric feature is embedded by periodic functions
with trained frequencies, a per-feature linear map and a ReLU
(`PeriodicEmbedding`), the rest of the encoded row (missing indicators, one-hot
categories) passes through, and an MLP reads the concatenation. A regressor
given its target's training mean and standard deviation ends in a fixed
`Rescaling` to target units: the network fits a standardized target, and every
exported file outputs target units.

Example:

```python
from zoo import mlp
model = mlp()                                   # (28, 28, 1) -> 10 classes
small = mlp(input_shape=(8, 8, 1), hidden_units=(64,), classes=10)
```
"""

import math

import keras
from keras import layers

from zoo import _common
from zoo.layers import BatchNormalization
from zoo.registry import register_model
from zoo.weights import load_weights


def MLP(
    input_shape=(28, 28, 1),
    hidden_units=(512, 512),
    activation="relu",
    dropout=0.2,
    normalization=None,
    include_top=True,
    weights=None,
    classes=10,
    classifier_activation="softmax",
    name="mlp",
    task="image_classification",
):
    """Flatten, then `Dense -> [norm] -> activation -> dropout` per hidden layer.

    Args:
        input_shape: per-example shape; flattened first.
        hidden_units: sizes of the hidden layers (may be empty).
        activation: hidden activation.
        dropout: dropout after each hidden layer.
        normalization: `None`, `"batch"` or `"layer"`, before the activation.
        include_top: add the classifier (else return the last hidden layer).
        weights: `None` or a weights file path.
        classes: number of classes.
        classifier_activation: activation of the classifier (`None` = logits).
        name: model name.
        task: `"image_classification"` (input `images`), `"tabular_classification"` or
            `"regression"` (input `features`: an encoded feature vector; `classes` outputs with no
            activation for regression).
    """
    if input_shape is None or not len(input_shape) or not all(isinstance(d, int) and d >= 1 for d in input_shape):
        raise ValueError(
            "`input_shape` of an MLP must be fully known positive integers, "
            f"e.g. (28, 28, 1). Received: input_shape={input_shape!r}"
        )
    _common.check_positive_ints("hidden_units", hidden_units, allow_empty=True)
    _common.check_rate("dropout", dropout)
    _common.check_choice("normalization", normalization, (None, "batch", "layer"))
    _common.check_classes(classes, include_top)
    _common.check_weights_arg(weights)
    _common.check_choice("task", task, ("image_classification", "tabular_classification", "regression"))
    if task == "regression":
        classifier_activation = None  # real-valued outputs

    inputs = layers.Input(shape=tuple(input_shape), name="images" if task == "image_classification" else "features")
    x = layers.Flatten(name="flatten")(inputs)  # (batch, prod(input_shape))
    for i, units in enumerate(hidden_units):
        # With a normalization after it, the Dense bias would be cancelled.
        x = layers.Dense(units, use_bias=normalization is None, name=f"dense_{i}")(x)
        if normalization == "batch":
            x = BatchNormalization(name=f"norm_{i}")(x)
        elif normalization == "layer":
            x = layers.LayerNormalization(name=f"norm_{i}")(x)
        x = layers.Activation(activation, name=f"act_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
    if include_top:
        x = layers.Dense(
            classes, activation=classifier_activation,
            dtype=_common.head_dtype(), name="predictions",
        )(x)
    model = _common.task_model(inputs, x, name=name, task=task,
                                 include_top=include_top)
    return load_weights(model, weights)


@keras.saving.register_keras_serializable(package="zoo")
class PeriodicEmbedding(layers.Layer):
    """Periodic embeddings of numerical features, "PLR" of Gorishniy, Rubachev & Babenko, "On Embeddings
    for Numerical Features in Tabular Deep Learning", NeurIPS 2022 (https://arxiv.org/abs/2203.05556).

    Feature `i` with value `x` becomes `ReLU(W_i [sin(2 pi c_i x), cos(2 pi c_i x)] + b_i)`: `frequencies`
    trained frequencies `c_i` (initialised from N(0, `frequency_scale`)) and a `dim`-wide linear map per
    feature. A plain MLP sees each number through one weight per unit and so fits smooth functions of it
    first; the periodic basis lets it fit the sharp, irregular dependencies that trees find easily.

    Only the first `numeric_features` columns of the input are embedded (all when None); the others
    (missing indicators, one-hot categories) pass through. Output: `(batch, numeric * dim + rest)`.

    Args:
        numeric_features: how many leading input columns are numeric (None: all).
        frequencies: frequencies per feature (`k` in the paper).
        dim: embedding width per feature.
        frequency_scale: standard deviation of the initial frequencies (`sigma`).
    """

    def __init__(self, numeric_features=None, frequencies=48, dim=24, frequency_scale=0.1, **kwargs):
        super().__init__(**kwargs)
        if numeric_features is not None:
            _common.check_positive_int("numeric_features", numeric_features)
        _common.check_positive_int("frequencies", frequencies)
        _common.check_positive_int("dim", dim)
        if not (isinstance(frequency_scale, (int, float)) and frequency_scale > 0):
            raise ValueError(f"`frequency_scale` must be a number > 0. Received: frequency_scale={frequency_scale!r}")
        self.numeric_features, self.frequencies = numeric_features, frequencies
        self.dim, self.frequency_scale = dim, float(frequency_scale)

    def build(self, input_shape):
        width = input_shape[-1]
        n = width if self.numeric_features is None else self.numeric_features
        if n > width:
            raise ValueError(f"`numeric_features` ({n}) exceeds the input width ({width}). Received: "
                             f"numeric_features={self.numeric_features}")
        self.n = n
        self.c = self.add_weight(shape=(n, self.frequencies), name="frequencies",
                                 initializer=keras.initializers.RandomNormal(stddev=self.frequency_scale))
        bound = 1 / math.sqrt(2 * self.frequencies)  # as torch.nn.Linear, the paper's layer
        self.w = self.add_weight(shape=(n, 2 * self.frequencies, self.dim), name="kernel",
                                 initializer=keras.initializers.RandomUniform(-bound, bound))
        self.b = self.add_weight(shape=(n, self.dim), name="bias",
                                 initializer=keras.initializers.RandomUniform(-bound, bound))

    def call(self, inputs):
        ops = keras.ops
        numbers = inputs[:, :self.n]  # (batch, n)
        angle = 2 * math.pi * numbers[:, :, None] * ops.cast(self.c, inputs.dtype)  # (batch, n, k)
        periodic = ops.concatenate([ops.sin(angle), ops.cos(angle)], axis=-1)  # (batch, n, 2k)
        # Per-feature linear map as one batched matmul over the features: (n, batch, 2k) @ (n, 2k, dim).
        mapped = ops.matmul(ops.transpose(periodic, (1, 0, 2)), ops.cast(self.w, inputs.dtype))
        embedded = ops.relu(ops.transpose(mapped, (1, 0, 2)) + ops.cast(self.b, inputs.dtype))  # (batch, n, dim)
        flat = ops.reshape(embedded, (-1, self.n * self.dim))
        if self.n == inputs.shape[-1]:
            return flat
        return ops.concatenate([flat, inputs[:, self.n:]], axis=-1)

    def compute_output_shape(self, input_shape):
        width = input_shape[-1]
        n = width if self.numeric_features is None else self.numeric_features
        return (input_shape[0], n * self.dim + width - n)

    def get_config(self):
        return {**super().get_config(), "numeric_features": self.numeric_features, "frequencies": self.frequencies,
                "dim": self.dim, "frequency_scale": self.frequency_scale}


def TabularMLP(
    input_shape=(16,),
    numeric_features=None,
    embedding="periodic",
    frequencies=48,
    embedding_dim=24,
    frequency_scale=0.1,
    hidden_units=(256, 256),
    dropout=0.1,
    classes=2,
    task="tabular_classification",
    target_mean=None,
    target_std=None,
    weights=None,
    name="mlp_tabular",
):
    """MLP-PLR for an encoded table row (`pipelines.tabular_file`): periodic numeric embeddings, then
    `Dense -> ReLU -> dropout` per hidden layer, then the head.

    Args:
        input_shape: `(encoded_size,)`.
        numeric_features: leading numeric columns to embed (None: all; 0: none, a plain MLP).
        embedding: `"periodic"` or None (no embedding).
        frequencies, embedding_dim, frequency_scale: of `PeriodicEmbedding`.
        hidden_units, dropout: the MLP.
        classes: classes (classification) or outputs (regression).
        task: `"tabular_classification"` (softmax probabilities) or `"regression"`.
        target_mean, target_std: a regression target's training mean and standard deviation: the
            output is `network * target_std + target_mean` (fixed), in target units.
        weights: `None` or a weights file path.
        name: model name.
    """
    if input_shape is None or len(tuple(input_shape)) != 1 or not (isinstance(input_shape[0], int)
                                                                   and input_shape[0] >= 1):
        raise ValueError(f"`input_shape` of a tabular model is (encoded_size,). Received: input_shape={input_shape!r}")
    _common.check_choice("embedding", embedding, ("periodic", None))
    _common.check_choice("task", task, ("tabular_classification", "regression"))
    if numeric_features is not None and (isinstance(numeric_features, bool) or not isinstance(numeric_features, int)
                                         or not 0 <= numeric_features <= input_shape[0]):
        raise ValueError(f"`numeric_features` must be an integer in [0, {input_shape[0]}] (the leading numeric "
                         f"columns of the input). Received: numeric_features={numeric_features!r}")
    _common.check_positive_ints("hidden_units", hidden_units, allow_empty=True)
    _common.check_rate("dropout", dropout)
    _common.check_classes(classes, True)
    _common.check_weights_arg(weights)
    if (target_mean is None) != (target_std is None) or (target_std is not None and not target_std > 0):
        raise ValueError("`target_mean` and `target_std` (> 0) go together. Received: "
                         f"target_mean={target_mean!r}, target_std={target_std!r}")
    if target_std is not None and task != "regression":
        raise ValueError(f"`target_mean`/`target_std` scale a regression target; task={task!r} has classes.")

    inputs = layers.Input(shape=tuple(input_shape), name="features")
    x = inputs  # (batch, encoded)
    if embedding == "periodic" and numeric_features != 0:
        # float32 under mixed precision too: bfloat16 keeps ~3 digits of the angle 2 pi c x, too few for sin/cos.
        x = PeriodicEmbedding(numeric_features, frequencies, embedding_dim, frequency_scale,
                              dtype="float32" if _common.head_dtype() else None,
                              name="numeric_embedding")(x)  # (batch, numeric * dim + rest)
    for i, units in enumerate(hidden_units):
        x = layers.Dense(units, activation="relu", name=f"dense_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
    x = layers.Dense(classes, activation="softmax" if task == "tabular_classification" else None,
                     dtype=_common.head_dtype(), name="predictions")(x)
    if target_std is not None:  # standardized network output -> target units (fixed, in every export)
        x = layers.Rescaling(float(target_std), offset=float(target_mean), dtype=_common.head_dtype(),
                             name="target_scale")(x)
    model = _common.task_model(inputs, x, name=name, task=task, include_top=True)
    return load_weights(model, weights)


_REF = "Keras examples, mnist_mlp (784-512-512-10, dropout 0.2)"


@register_model(family="mlp", task="image_classification", input_shape=(28, 28, 1), reference=_REF)
def mlp(**kwargs):
    """MNIST-sized MLP: 784-512-512-10, 669,706 parameters."""
    return MLP(**kwargs)


@register_model(family="mlp", task="image_classification", input_shape=(8, 8, 1), reference=_REF, tiny=True)
def mlp_tiny(**kwargs):
    """64-32-10 MLP for scikit-learn's 8x8 digits: tests and the quickstart."""
    kwargs.setdefault("input_shape", (8, 8, 1))
    kwargs.setdefault("hidden_units", (32,))
    kwargs.setdefault("dropout", 0.1)
    kwargs.setdefault("name", "mlp_tiny")
    return MLP(**kwargs)


_TABULAR_REF = ("MLP-PLR: Gorishniy et al., On Embeddings for Numerical Features in Tabular Deep Learning, 2022 "
                "(https://arxiv.org/abs/2203.05556)")


@register_model(family="mlp", task="tabular_classification", input_shape=(16,), reference=_TABULAR_REF, tiny=True)
def mlp_tabular(**kwargs):
    """MLP-PLR for tables (`--dataset tabular:FILE.csv`): periodic embeddings of the numeric columns,
    256-256 MLP, dropout 0.1; encoded features in, class probabilities out."""
    return TabularMLP(**{"task": "tabular_classification", "name": "mlp_tabular", **kwargs})


@register_model(family="mlp", task="regression", input_shape=(16,), reference=_TABULAR_REF, tiny=True)
def mlp_regressor(**kwargs):
    """MLP-PLR for a numeric target in a table: encoded features in, `classes` real values out (default
    1), in target units when built with `target_mean`/`target_std` (`zoo train` passes the training
    split's)."""
    return TabularMLP(**{"task": "regression", "classes": 1, "name": "mlp_regressor", **kwargs})
