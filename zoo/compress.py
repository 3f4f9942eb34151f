"""Model compression in plain Keras 3: magnitude pruning and knowledge distillation.

`tensorflow-model-optimization` rejects Keras 3 models, so pruning is written
here with `keras.ops`; distillation builds on Keras' own `keras.distillation`.
Both work on every backend. Quantization is
post-training, through the exporter (`export_model(..., quantizations=("int8",))`):
full-integer int8 with calibration data; quantization-aware training is not
offered because Keras 3 has no fake-quant layers that the TFLite converter
folds (it would need tfmot).

Example:

```python
import keras, zoo, pipelines
from zoo.compress import PruningSchedule, MagnitudePruning, sparsity
data = pipelines.load_dataset("digits")
model = zoo.mlp_tiny()
model.compile("adam", "sparse_categorical_crossentropy")
pruning = MagnitudePruning(PruningSchedule(target=0.8, begin_step=0, end_step=100))
model.fit(data.batches("train", 32), epochs=3, callbacks=[pruning], verbose=0)
sparsity(model)["overall"]   # ~0.8
```
"""

import dataclasses

import keras
import numpy as np
from keras import ops

# --------------------------------------------------------------------------
# Pruning (Zhu & Gupta 2017, "To prune, or not to prune", arXiv:1710.01878)


@dataclasses.dataclass
class PruningSchedule:
    """Polynomial sparsity ramp: `s_t = target + (initial - target) * (1 - p)^power`,
    `p` the progress from `begin_step` to `end_step`; masks update every
    `frequency` steps."""

    target: float = 0.8
    initial: float = 0.0
    begin_step: int = 0
    end_step: int = 1000
    frequency: int = 10
    power: int = 3

    def __post_init__(self):
        for name in ("target", "initial"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"`{name}` sparsity must be in [0, 1). Received: {name}={value!r}")
        if self.end_step <= self.begin_step:
            raise ValueError(f"`end_step` must be > `begin_step`. Received: begin_step={self.begin_step}, "
                             f"end_step={self.end_step}")
        if self.frequency < 1:
            raise ValueError(f"`frequency` must be >= 1. Received: frequency={self.frequency}")

    def sparsity_at(self, step):
        progress = min(max((step - self.begin_step) / (self.end_step - self.begin_step), 0.0), 1.0)
        return self.target + (self.initial - self.target) * (1.0 - progress) ** self.power


def prunable_weights(model, min_size=256):
    """Kernels of Dense/Conv/Embedding layers (biases, norms and tiny tensors
    are left dense: they are few and pruning them hurts more than it saves)."""
    out = []
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D,
                              keras.layers.DepthwiseConv2D, keras.layers.EinsumDense)):
            kernel = getattr(layer, "kernel", None)
            if kernel is None:
                kernel = getattr(layer, "depthwise_kernel", None)
            if kernel is not None and int(np.prod(kernel.shape)) >= min_size:
                out.append(kernel)
    return out


class MagnitudePruning(keras.callbacks.Callback):
    """Prune the smallest-magnitude weights of each prunable kernel to the
    scheduled sparsity while training; pruned weights stay zero.

    Masks are recomputed every `schedule.frequency` steps (per tensor, by
    magnitude) and re-applied after every step, so the optimizer cannot
    regrow them. After training the zeros are plain weights: the model saves,
    exports and compresses (gzip) like any other.
    """

    def __init__(self, schedule, min_size=256):
        super().__init__()
        self.schedule = schedule
        self.min_size = min_size
        self.masks = None
        self.step = 0

    def on_train_begin(self, logs=None):
        self.variables = prunable_weights(self.model, self.min_size)
        if not self.variables:
            raise ValueError(f"Model {self.model.name!r} has no prunable kernels (Dense/Conv with at "
                             f"least {self.min_size} weights).")
        if self.masks is None:
            self.masks = [np.ones(v.shape, "float32") for v in self.variables]

    def _update_masks(self):
        target = self.schedule.sparsity_at(self.step)
        for i, v in enumerate(self.variables):
            w = np.abs(np.asarray(ops.convert_to_numpy(v)))
            k = int(round(target * w.size))
            mask = np.ones(w.size, "float32")
            if k > 0:
                mask[np.argpartition(w.ravel(), k - 1)[:k]] = 0.0
            self.masks[i] = mask.reshape(w.shape)

    def _apply(self):
        for v, m in zip(self.variables, self.masks):
            v.assign(ops.convert_to_numpy(v) * m)

    def on_train_batch_end(self, batch, logs=None):
        if self.step >= self.schedule.begin_step and (
                (self.step - self.schedule.begin_step) % self.schedule.frequency == 0
                or self.step == self.schedule.end_step):
            self._update_masks()
        self._apply()
        self.step += 1

    def on_train_end(self, logs=None):
        self._apply()


def sparsity(model, min_size=256):
    """`{"overall": fraction of zeros in prunable kernels, "<path>": per tensor}`."""
    out, zeros, total = {}, 0, 0
    for v in prunable_weights(model, min_size):
        w = np.asarray(ops.convert_to_numpy(v))
        out[v.path] = float(np.mean(w == 0))
        zeros += int(np.sum(w == 0))
        total += w.size
    out["overall"] = zeros / total if total else 0.0
    return out


def gzipped_size(path):
    """Bytes of a file after gzip: how sparsity shows up on disk and over the wire."""
    import gzip

    with open(path, "rb") as f:
        return len(gzip.compress(f.read(), compresslevel=9))


# --------------------------------------------------------------------------
# Distillation (Hinton et al. 2015, "Distilling the Knowledge in a Neural Network", arXiv:1503.02531)


def _logit_parts(model, role):
    """Split a classifier into (body, head) so its logits can be computed.

    Soft targets need logits: the log of a softmax output loses every
    probability below float32's resolution (and clipping it stops their
    gradients), which is exactly the "dark knowledge" distillation transfers.
    Returns `(body, head)` where `logits = head(body(x))`; `head` is the final
    Dense layer's affine part, or `None` when `body` already gives logits.
    """
    from zoo import tasks

    last = tasks.output_layer(model)
    try:
        activation = tasks.head_activation(model)
    except ValueError:
        activation = getattr(getattr(last, "activation", None), "__name__", None)
    else:
        if activation == "linear":
            return model, None  # built with classifier_activation=None: already logits
        if isinstance(last, (keras.layers.Dense, keras.layers.Activation, keras.layers.Softmax)):
            body = keras.Model(_inputs(model), last.input, name=f"{model.name}_body")
            return body, (last if isinstance(last, keras.layers.Dense) else None)
    raise ValueError(
        f"The {role} must end in a softmax Dense/Activation layer or output logits "
        f"(build it with classifier_activation='softmax' or None). Received: last layer "
        f"{last.name!r} ({type(last).__name__}, activation={activation})")


@keras.saving.register_keras_serializable(package="zoo")
class _Logits(keras.layers.Layer):
    """The affine part of a softmax Dense head: its logits, in float32."""

    def __init__(self, head, **kwargs):
        super().__init__(**kwargs)
        self.head = head

    def call(self, h):
        logits = ops.matmul(ops.cast(h, self.head.kernel.dtype), self.head.kernel)
        if self.head.use_bias:
            logits = logits + self.head.bias
        return ops.cast(logits, "float32")


def logits_model(model, role="model"):
    """A model sharing `model`'s layers and weights that outputs its logits (batch, classes)."""
    body, head = _logit_parts(model, role)
    if head is None and body is model:
        return model
    h = body.outputs[0]
    logits = _Logits(head, name=f"{role}_logits")(h) if head is not None else keras.layers.Activation(
        "linear", dtype="float32", name=f"{role}_logits")(h)
    return keras.Model(_inputs(model), logits, name=f"{model.name}_logits")


@keras.saving.register_keras_serializable(package="zoo")
class SoftTargetKL(keras.distillation.DistillationLoss):
    """`T^2 * KL(softmax(teacher/T) || softmax(student/T))`, computed with log-softmax on logits.

    Keras' `LogitsDistillation` with its KL loss clips probabilities to
    1e-7 before the log, which cuts the gradient of every soft target below
    that; this one keeps them (Hinton et al. 2015, sec. 2: the T^2 factor
    keeps the soft term's gradients on the hard term's scale).
    """

    def __init__(self, temperature=4.0):
        if not isinstance(temperature, (int, float)) or temperature <= 0:
            raise ValueError(f"`temperature` must be > 0. Received: temperature={temperature!r}")
        self.temperature = float(temperature)

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        t = self.temperature
        teacher_log = ops.log_softmax(ops.stop_gradient(teacher_outputs) / t, axis=-1)
        student_log = ops.log_softmax(student_outputs / t, axis=-1)
        kl = ops.sum(ops.exp(teacher_log) * (teacher_log - student_log), axis=-1)  # (batch,)
        return (t ** 2) * ops.mean(kl)

    def validate_outputs(self, teacher_outputs, student_outputs):
        pass

    def get_config(self):
        return {"temperature": self.temperature}


def masked_sparse_crossentropy(y_true, logits):
    """Cross-entropy on labelled examples only: label -1 marks an unlabeled transfer-set example."""
    y = ops.cast(ops.reshape(y_true, (-1,)), "int32")
    labeled = ops.cast(y >= 0, "float32")
    hard = keras.losses.sparse_categorical_crossentropy(ops.maximum(y, 0), logits, from_logits=True)
    return ops.sum(hard * labeled) / ops.maximum(ops.sum(labeled), 1.0)


@keras.saving.register_keras_serializable(package="zoo")
class Distiller(keras.distillation.Distiller):
    """Train `student` on `alpha * CE(labels) + (1 - alpha) * T^2 * KL(teacher_T || student_T)`.

    Hinton et al. 2015, "Distilling the Knowledge in a Neural Network"
    (arXiv:1503.02531), on Keras' `keras.distillation.Distiller`, with what
    it lacks: both models may end in softmax (as zoo classifiers do) or
    output logits, and the loss always works on their logits, read from
    before the final softmax so that small probabilities keep their
    information and their gradients (`SoftTargetKL`); label `-1` marks an
    unlabeled example of the transfer set, which contributes only the
    soft-target term, so a teacher can pass on what it knows about data that
    has no labels. The teacher is frozen. The distiller's outputs (and so its
    metrics) are the student's logits; `distiller.student_model` is the
    student as built (it shares the trained weights).

    Trains with `model.fit` after `compile`, or with `zoo.train.fit`.

    Example:

    ```python
    distiller = Distiller(student=zoo.mlp_tiny(), teacher=big_model, alpha=0.1, temperature=4.0)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    distiller.fit(train_ds, epochs=10)
    ```
    """

    def __init__(self, student, teacher, alpha=0.1, temperature=4.0, **kwargs):
        if not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"`alpha` must be in [0, 1]. Received: alpha={alpha!r}")
        if student.output_shape[-1] != teacher.output_shape[-1]:
            raise ValueError(f"Student and teacher must predict the same classes. Received: student "
                             f"{student.output_shape[-1]}, teacher {teacher.output_shape[-1]} outputs.")
        for key in ("distillation_losses", "distillation_loss_weights", "student_loss_weight"):
            kwargs.pop(key, None)  # rebuilt from alpha/temperature (from_config passes them back)
        super().__init__(teacher=logits_model(teacher, "teacher"), student=logits_model(student, "student"),
                         distillation_losses=SoftTargetKL(temperature), student_loss_weight=float(alpha),
                         **kwargs)
        self.student_model, self.teacher_model = student, teacher
        self.alpha, self.temperature = alpha, temperature
        self.task = getattr(student, "task", None)  # zoo.train.fit reads it, and the
        self.functional_view = self.student  # outputs from this: the student's logits
        self._student_loss = masked_sparse_crossentropy  # usable before compile (zoo.train.fit)

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        super().compile(optimizer=optimizer, loss=loss or masked_sparse_crossentropy, metrics=metrics, **kwargs)

    def get_config(self):
        return {"name": self.name, "alpha": self.alpha, "temperature": self.temperature,
                "student": keras.saving.serialize_keras_object(self.student_model),
                "teacher": keras.saving.serialize_keras_object(self.teacher_model)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["student"] = keras.saving.deserialize_keras_object(config["student"])
        config["teacher"] = keras.saving.deserialize_keras_object(config["teacher"])
        return cls(**config)


def _inputs(model):
    """A single-input model's input tensor itself (not a one-element list), so calls need no list."""
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs
