"""Multilayer perceptron classifiers.

The default `mlp` is the Keras `mnist_mlp` example: 784-512-512-10 with ReLU
and dropout 0.2 (98.40% MNIST test accuracy there). Inputs of any rank are
flattened, so images go in as they come out of the pipelines.

Example:

```python
from zoo import mlp
model = mlp()                                   # (28, 28, 1) -> 10 classes
small = mlp(input_shape=(8, 8, 1), hidden_units=(64,), classes=10)
```
"""

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
    if input_shape is None or not all(isinstance(d, int) and d >= 1 for d in input_shape):
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


_TABULAR_REF = "MLP baseline for tabular data (Gorishniy et al., 2021, https://arxiv.org/abs/2106.11959)"


def _tabular_mlp(task, name, classes, kwargs):
    for key, value in (("input_shape", (16,)), ("hidden_units", (64, 32)), ("dropout", 0.1), ("classes", classes),
                       ("name", name)):
        kwargs.setdefault(key, value)
    return MLP(task=task, **kwargs)


@register_model(family="mlp", task="tabular_classification", input_shape=(16,), reference=_TABULAR_REF, tiny=True)
def mlp_tabular(**kwargs):
    """64-32 MLP with dropout 0.1 for tables (`--dataset tabular:FILE.csv`): encoded features in,
    class probabilities out."""
    return _tabular_mlp("tabular_classification", "mlp_tabular", 2, kwargs)


@register_model(family="mlp", task="regression", input_shape=(16,), reference=_TABULAR_REF, tiny=True)
def mlp_regressor(**kwargs):
    """64-32 MLP with dropout 0.1 for a numeric target in a table: encoded features in, `classes`
    real values out (default 1)."""
    return _tabular_mlp("regression", "mlp_regressor", 1, kwargs)
