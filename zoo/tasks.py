"""Tasks: what a model predicts, named once.

A task owns everything that depends on *what* a model predicts rather than
how it is built: the per-example loss, the metric and how predictions are
scored, whether the head emits probabilities or logits, and the names its
outputs get in every export (`probabilities`/`logits` + `class_ids`,
`forecast`, `predictions`, ...). Training (`zoo.train.fit`), export, `zoo bench`
and the tests read a model's task instead of guessing it from layer names.

Every model built by a zoo builder is a `zoo.tasks.TaskModel` (a functional
`keras.Model` that records its task name in its config, so it survives
`model.save`/`load_model`). A plain Keras model is given its task explicitly:
`fit(model, data, task="image_classification")`, `export_model(..., task=...)`.

Example:

```python
import zoo
from zoo import tasks
model = zoo.resnet8(classes=10, classifier_activation=None)
task = tasks.task_of(model)          # Classification('image_classification')
tasks.from_logits(model)             # True: the head has no softmax
task.output_names(model)             # ('logits', 'class_ids')
```
"""

import keras

from zoo.tasks_names import (  # noqa: F401
    FEATURES,
    FORECASTING,
    IMAGE_CLASSIFICATION,
    REGRESSION,
    SEQ2SEQ,
    TABULAR_CLASSIFICATION,
    TASK_NAMES,
    TEXT_CLASSIFICATION,
)


class Task:
    """Base class: one instance per task name (see `TASKS`)."""

    kind = None  # "classification" | "regression" | "seq2seq" | "features"
    metric = None  # the metric `fit` reports next to the loss (None: loss only)

    def __init__(self, name, output=None):
        self.name = name
        self._output = output

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r})"

    def __eq__(self, other):
        return isinstance(other, Task) and other.name == self.name

    def __hash__(self):
        return hash(self.name)

    def check_model(self, model):
        """Raise `ValueError` if `model`'s output cannot serve this task."""

    def per_example_loss(self, from_logits=False, label_smoothing=0.0):
        """`loss(y, pred) -> (batch,)` float32 tensor (TensorFlow ops)."""
        raise ValueError(f"Models of task {self.name!r} have no training loss: add a head for the task "
                         "you want to train (e.g. include_top=True).")

    def correct(self, y, pred):
        """Number of correct predictions in a batch (float32 scalar), for `metric`."""
        import tensorflow as tf

        return tf.constant(0.0)

    def output_names(self, model):
        """Names of the exported outputs: the model output first, then derived ones."""
        return (self._output,)

    def derived_outputs(self, model, y):
        """`{name: tensor}` of every exported output, computed from the model output `y`."""
        return {self.output_names(model)[0]: y}

    def score(self, labels, outputs):
        """`{metric: value}` of model outputs (NumPy) against labels."""
        return {}

    def keras_loss(self, from_logits=False):
        """The loss for `model.compile` (what `per_example_loss` computes, as a Keras loss)."""
        return self.per_example_loss(from_logits)

    def random_targets(self, rng, output_shape):
        """Random targets for outputs of `output_shape` (NumPy), for tests and benchmarks."""
        return rng.normal(size=output_shape).astype("float32")


class Classification(Task):
    """One label per example; outputs `(batch, classes)` probabilities or logits."""

    kind = "classification"
    metric = "accuracy"

    def check_model(self, model):
        shape = model.outputs[0].shape
        if len(model.outputs) != 1 or len(shape) != 2:
            raise ValueError(
                f"Task {self.name!r} needs one output of shape (batch, classes); model {model.name!r} "
                f"outputs {[tuple(t.shape) for t in model.outputs]}. Pass the task that matches the model "
                f"(one of {list(TASKS)}).")
        head_activation(model)  # a sigmoid/relu head is refused with the fix

    def per_example_loss(self, from_logits=False, label_smoothing=0.0):
        import tensorflow as tf

        def loss(y, pred):
            onehot = tf.one_hot(tf.cast(y, tf.int32), tf.shape(pred)[-1])
            return keras.losses.categorical_crossentropy(
                onehot, tf.cast(pred, tf.float32), from_logits=from_logits, label_smoothing=label_smoothing)
        return loss

    def correct(self, y, pred):
        import tensorflow as tf

        hits = tf.equal(tf.argmax(pred, -1, output_type=tf.int32), tf.cast(y, tf.int32))
        return tf.reduce_sum(tf.cast(hits, tf.float32))

    def output_names(self, model):
        return ("logits" if from_logits(model) else "probabilities", "class_ids")

    def derived_outputs(self, model, y):
        import tensorflow as tf

        first, ids = self.output_names(model)
        return {first: y, ids: tf.argmax(y, axis=-1, output_type=tf.int32)}

    def score(self, labels, outputs):
        import numpy as np

        return {"accuracy": float(np.mean(np.asarray(outputs).argmax(-1) == np.asarray(labels)))}

    def keras_loss(self, from_logits=False):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)

    def random_targets(self, rng, output_shape):
        return rng.integers(0, output_shape[-1], size=tuple(output_shape[:-1])).astype("int32")


class Seq2Seq(Classification):
    """Next-token prediction: `(batch, length, vocab)` outputs, int targets, 0 = padding."""

    kind = "seq2seq"

    def check_model(self, model):
        if len(model.outputs) != 1 or len(model.outputs[0].shape) != 3:
            raise ValueError(f"Task 'seq2seq' needs one output of shape (batch, length, vocab); model "
                             f"{model.name!r} outputs {[tuple(t.shape) for t in model.outputs]}.")
        head_activation(model)

    def per_example_loss(self, from_logits=False, label_smoothing=0.0):
        import tensorflow as tf

        def loss(y, pred):  # mean over the real (non-padding) target tokens of each sequence
            y = tf.cast(y, tf.int32)
            onehot = tf.one_hot(y, tf.shape(pred)[-1])
            per_token = keras.losses.categorical_crossentropy(
                onehot, tf.cast(pred, tf.float32), from_logits=from_logits,
                label_smoothing=label_smoothing)  # (batch, length)
            real = tf.cast(tf.not_equal(y, 0), tf.float32)
            return tf.reduce_sum(per_token * real, -1) / tf.maximum(tf.reduce_sum(real, -1), 1.0)
        return loss

    def correct(self, y, pred):  # sequences whose every real token is predicted
        import tensorflow as tf

        y = tf.cast(y, tf.int32)
        wrong = tf.logical_and(tf.not_equal(tf.argmax(pred, -1, output_type=tf.int32), y), tf.not_equal(y, 0))
        return tf.reduce_sum(tf.cast(tf.logical_not(tf.reduce_any(wrong, -1)), tf.float32))

    def output_names(self, model):
        return ("next_token_logits" if from_logits(model) else "next_token_probabilities",)

    def derived_outputs(self, model, y):
        return {self.output_names(model)[0]: y}

    def score(self, labels, outputs):
        import numpy as np

        labels, pred = np.asarray(labels), np.asarray(outputs).argmax(-1)
        real = labels != 0
        return {"token_accuracy": float(np.sum((pred == labels) & real) / max(int(real.sum()), 1))}


class Regression(Task):
    """Real-valued targets of the output's shape; mean squared error."""

    kind = "regression"

    def check_model(self, model):
        if len(model.outputs) != 1:
            raise ValueError(f"Task {self.name!r} needs a single-output model; {model.name!r} has "
                             f"{len(model.outputs)} outputs.")

    def keras_loss(self, from_logits=False):
        return keras.losses.MeanSquaredError()

    def per_example_loss(self, from_logits=False, label_smoothing=0.0):
        import tensorflow as tf

        def mse(y, pred):
            err = tf.square(tf.cast(y, tf.float32) - tf.cast(pred, tf.float32))
            return tf.reduce_mean(tf.reshape(err, [tf.shape(err)[0], -1]), axis=-1)
        return mse

    def score(self, labels, outputs):
        import numpy as np

        err = np.asarray(outputs, "float64") - np.asarray(labels, "float64").reshape(np.shape(outputs))
        return {"rmse": float(np.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err)))}


class Features(Task):
    """A backbone without a head (`include_top=False`): outputs features, no loss."""

    kind = "features"


TASKS = {
    IMAGE_CLASSIFICATION: Classification(IMAGE_CLASSIFICATION),
    TEXT_CLASSIFICATION: Classification(TEXT_CLASSIFICATION),
    TABULAR_CLASSIFICATION: Classification(TABULAR_CLASSIFICATION),
    FORECASTING: Regression(FORECASTING, output="forecast"),
    REGRESSION: Regression(REGRESSION, output="predictions"),
    SEQ2SEQ: Seq2Seq(SEQ2SEQ),
    FEATURES: Features(FEATURES, output="features"),
}

# Names used in manifests written before tasks had names of their own.
_LEGACY = {"classifier": IMAGE_CLASSIFICATION}


def get(name):
    """The `Task` object of a task name (or a `Task`, returned as is)."""
    if isinstance(name, Task):
        return name
    name = _LEGACY.get(name, name)
    if name not in TASKS:
        raise ValueError(f"Unknown task. Allowed: {list(TASKS)}. Received: task={name!r}")
    return TASKS[name]


def task_of(model, task=None):
    """The task of `model`: the one its builder recorded, or `task` for a plain Keras model.

    Raises `ValueError` when neither is known, when `task` contradicts the
    recorded one, or when the model's output cannot serve the task.
    """
    recorded = getattr(model, "task", None)
    if task is not None:
        given = get(task)
        if recorded is not None and get(recorded) != given and get(recorded).kind != FEATURES:
            raise ValueError(f"Model {model.name!r} was built for task {recorded!r}; it cannot train or "
                             f"export as {given.name!r}. Leave task= unset, or pass task={recorded!r}.")
        result = given
    elif recorded is not None:
        result = get(recorded)
    elif isinstance(model, TaskModel):
        raise ValueError(
            f"Model {model.name!r} is a copy that lost its task (keras.models.clone_model does not carry it). "
            f"Copy zoo models with zoo.tasks.clone_model(model), or pass task= (one of {list(TASKS)}).")
    else:
        raise ValueError(
            f"Model {model.name!r} does not record its task (it was not built by a zoo builder). Pass "
            f"task= (one of {list(TASKS)}), e.g. fit(model, data, task='image_classification').")
    result.check_model(functional_view(model))
    return result


def functional_view(model):
    """The functional model whose outputs stand for `model`'s: the model itself, or what a
    subclassed wrapper names as its `functional_view` (a `Distiller`: the student's logits)."""
    return getattr(model, "functional_view", model)


def clone_model(model, **kwargs):
    """`keras.models.clone_model` that keeps the zoo task (new weights, as Keras' does)."""
    clone = keras.models.clone_model(model, **kwargs)
    if getattr(model, "task", None) is not None:
        clone.task = model.task
    return clone


def output_layer(model):
    """The layer that produces the model's (first) output."""
    return functional_view(model).outputs[0]._keras_history.operation


def head_activation(model):
    """`"softmax"` or `"linear"`: the activation of the layer that makes the output."""
    layer = output_layer(model)
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    if activation is None:  # Reshape, Add, ...: the values pass through unchanged
        return "linear"
    name = getattr(activation, "__name__", str(activation))
    if name in ("softmax", "linear"):
        return name
    raise ValueError(
        f"The output layer {layer.name!r} of {model.name!r} applies {name!r}; a classifier's head must "
        "apply softmax (probabilities) or nothing (logits). Build it with classifier_activation='softmax' "
        "or None.")


def from_logits(model):
    """True when the classifier head emits logits (no softmax)."""
    return head_activation(model) == "linear"


@keras.saving.register_keras_serializable(package="zoo")
class TaskModel(keras.Model):
    """A functional `keras.Model` that records its task in its config.

    Args:
        inputs, outputs, name: as for `keras.Model(inputs, outputs)`.
        task: a task name from `zoo.tasks.TASKS`.

    Example:

    ```python
    import keras
    from zoo.tasks import TaskModel
    x = keras.Input((4,))
    model = TaskModel(x, keras.layers.Dense(3, activation="softmax")(x), task="tabular_classification")
    model.task  # 'tabular_classification'
    ```
    """

    def __init__(self, *args, task=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.task = None if task is None else get(task).name

    def get_config(self):
        config = super().get_config()
        config["task"] = self.task
        return config
