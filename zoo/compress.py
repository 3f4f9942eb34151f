"""Model compression in plain Keras 3: magnitude pruning and knowledge distillation.

`tensorflow-model-optimization` rejects Keras 3 models, so both are written
here with `keras.ops` and work on every backend. Quantization is
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
    last = model.layers[-1]
    name = getattr(getattr(last, "activation", None), "__name__", None)
    softmax = name == "softmax" or isinstance(last, keras.layers.Softmax)
    if not softmax and name in (None, "linear"):
        return model, None  # built with classifier_activation=None: already logits
    if softmax and isinstance(last, (keras.layers.Dense, keras.layers.Activation, keras.layers.Softmax)):
        body = keras.Model(model.inputs, last.input, name=f"{model.name}_body")
        return body, (last if isinstance(last, keras.layers.Dense) else None)
    raise ValueError(
        f"The {role} must end in a softmax Dense/Activation layer or output logits "
        f"(build it with classifier_activation='softmax' or None). Received: last layer "
        f"{last.name!r} ({type(last).__name__}, activation={name})")


def _dense_logits(head, h):
    logits = ops.matmul(ops.cast(h, head.kernel.dtype), head.kernel)
    if head.use_bias:
        logits = logits + head.bias
    return ops.cast(logits, "float32")


@keras.saving.register_keras_serializable(package="zoo")
class Distiller(keras.Model):
    """Train `student` on `alpha * CE(labels) + (1 - alpha) * T^2 * KL(teacher_T || student_T)`.

    Hinton et al. 2015, "Distilling the Knowledge in a Neural Network"
    (arXiv:1503.02531). Both models may end in softmax (as zoo classifiers
    do) or output logits: the loss works on their logits, which are read
    from before the final softmax so that small probabilities keep their
    information and their gradients. The teacher is frozen. Label `-1` marks
    an unlabeled example of the transfer set: it contributes only the
    soft-target term, so a teacher can pass on what it knows about data that
    has no labels. The distiller's own outputs (and so its metrics) are the
    student's logits; use `distiller.student` afterwards.

    Example:

    ```python
    distiller = Distiller(student=zoo.mlp_tiny(), teacher=big_model, alpha=0.1, temperature=4.0)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    distiller.fit(train_ds, epochs=10)
    ```
    """

    def __init__(self, student, teacher, alpha=0.1, temperature=4.0, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"`alpha` must be in [0, 1]. Received: alpha={alpha!r}")
        if temperature <= 0:
            raise ValueError(f"`temperature` must be > 0. Received: temperature={temperature!r}")
        if student.output_shape[-1] != teacher.output_shape[-1]:
            raise ValueError(f"Student and teacher must predict the same classes. Received: student "
                             f"{student.output_shape[-1]}, teacher {teacher.output_shape[-1]} outputs.")
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.alpha = alpha
        self.temperature = temperature
        self._student_body, self._student_head = _logit_parts(student, "student")
        self._teacher_body, self._teacher_head = _logit_parts(teacher, "teacher")

    @staticmethod
    def _logits(body, head, x, training):
        h = body(x, training=training)
        return ops.cast(h, "float32") if head is None else _dense_logits(head, h)

    def call(self, x, training=False):
        return self._logits(self._student_body, self._student_head, x, training)  # (batch, classes)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        t = self.temperature
        teacher_logits = ops.stop_gradient(self._logits(self._teacher_body, self._teacher_head, x, False))
        soft_teacher = ops.softmax(teacher_logits / t, axis=-1)
        kl = ops.sum(soft_teacher * (ops.log_softmax(teacher_logits / t, axis=-1)
                                     - ops.log_softmax(y_pred / t, axis=-1)), axis=-1)
        y = ops.cast(ops.reshape(y, (-1,)), "int32")
        labeled = ops.cast(y >= 0, "float32")  # -1: unlabeled transfer-set example
        hard = keras.losses.sparse_categorical_crossentropy(ops.maximum(y, 0), y_pred, from_logits=True)
        hard = ops.sum(hard * labeled) / ops.maximum(ops.sum(labeled), 1.0)
        # T^2 keeps the soft term's gradients on the hard term's scale (Hinton et al., sec. 2).
        return self.alpha * hard + (1.0 - self.alpha) * (t ** 2) * ops.mean(kl)

    def get_config(self):
        config = super().get_config()
        config.update({"student": keras.saving.serialize_keras_object(self.student),
                       "teacher": keras.saving.serialize_keras_object(self.teacher),
                       "alpha": self.alpha, "temperature": self.temperature})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["student"] = keras.saving.deserialize_keras_object(config["student"])
        config["teacher"] = keras.saving.deserialize_keras_object(config["teacher"])
        return cls(**config)
