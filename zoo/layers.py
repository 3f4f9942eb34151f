"""Layers shared by the zoo's model families.

`BatchNormalization` is `keras.layers.BatchNormalization` with a fused
training kernel on the TensorFlow backend. Keras 3 builds training-mode batch
norm from separate ops (`moments`, then `x * inv + offset`) and differentiates
through them, which reads and writes each activation several times; the
fused kernel (`FusedBatchNormV3` and its gradient, what Keras 2 used by
default) does it in one pass each way. On this project's 2-core CPU one
forward+backward over a (16, 56, 56, 256) activation took 3.2x less time, and
ResNet-50 spends much of its training step in its 53 batch norms (see
`benchmarks/RESULTS.md`).

Everything else is Keras' own: the same variables (so keras.applications
weights load by name), the same config plus `fused`, the same moving-average
update (with the batch's population variance, as Keras 3 uses), and the plain
Keras computation for inference, for masks, for renorm/synchronized batch
norm and on the JAX and torch backends. Exported files therefore hold exactly
the graph `keras.layers.BatchNormalization` would give.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class BatchNormalization(keras.layers.BatchNormalization):
    """Batch normalization with a fused training kernel on TensorFlow.

    Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training
    by Reducing Internal Covariate Shift", ICML 2015
    (https://arxiv.org/abs/1502.03167).

    Args:
        fused: `None` (default) uses the fused kernel whenever it applies:
            TensorFlow backend, training mode, channels on the last axis, no
            mask, no renorm, not synchronized. `False` always runs Keras' own
            computation (for comparisons). `True` is the same as `None` but
            raises where the fused kernel cannot apply.
        **kwargs: the arguments of `keras.layers.BatchNormalization`.

    Example:

    ```python
    import numpy as np
    from zoo.layers import BatchNormalization
    bn = BatchNormalization(epsilon=1.001e-5)
    y = bn(np.random.rand(8, 4, 4, 3).astype("float32"), training=True)
    y.shape  # (8, 4, 4, 3)
    ```
    """

    def __init__(self, fused=None, **kwargs):
        if fused not in (None, True, False):
            raise ValueError(
                f"`fused` must be None, True or False. Received: fused={fused!r}"
            )
        super().__init__(**kwargs)
        self.fused = fused

    def _fused_applies(self, inputs, mask):
        rank = len(inputs.shape)
        reasons = []
        if keras.backend.backend() != "tensorflow":
            reasons.append(f"the backend is {keras.backend.backend()!r}")
        if self.axis not in (-1, rank - 1):
            reasons.append(f"axis={self.axis} is not the last axis")
        if rank < 2:
            reasons.append(f"inputs have rank {rank}")
        if mask is not None:
            reasons.append("a mask was passed")
        if self.renorm or self.synchronized:
            reasons.append("renorm/synchronized batch norm was asked for")
        if self.fused and reasons:
            raise ValueError(
                "`fused=True` needs the TensorFlow backend, channels on the last "
                "axis, no mask and no renorm/synchronization, but "
                + ", ".join(reasons)
                + ". Pass `fused=None` to fall back to Keras' computation."
            )
        return not reasons

    def call(self, inputs, training=None, mask=None):
        if (
            self.fused is not False
            and training
            and self.trainable
            and self._fused_applies(inputs, mask)
        ):
            return self._fused_training_call(inputs)
        return super().call(inputs, training=training, mask=mask)

    def _fused_training_call(self, inputs):
        import tensorflow as tf  # only reached on the TensorFlow backend

        channels = inputs.shape[-1]
        # The kernel takes 4-D NHWC; any (..., channels) tensor is the same
        # reduction once flattened to (rows, 1, 1, channels): a free reshape.
        x = tf.cast(inputs, "float32")  # as Keras: statistics in float32
        shape = tf.shape(x)
        x4 = tf.reshape(x, (-1, 1, 1, channels))
        gamma = self.gamma if self.scale else tf.ones((channels,), "float32")
        beta = self.beta if self.center else tf.zeros((channels,), "float32")
        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            x4,
            ops.cast(gamma, "float32"),
            ops.cast(beta, "float32"),
            epsilon=self.epsilon,
            data_format="NHWC",
            is_training=True,
        )
        # The kernel returns the Bessel-corrected variance; Keras 3 tracks
        # the population variance, and so do we (same moving statistics).
        count = tf.cast(tf.shape(x4)[0], "float32")
        variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
        momentum = self.momentum
        self.moving_mean.assign(
            self.moving_mean * momentum + ops.cast(mean, self.moving_mean.dtype) * (1.0 - momentum)
        )
        self.moving_variance.assign(
            self.moving_variance * momentum
            + ops.cast(variance, self.moving_variance.dtype) * (1.0 - momentum)
        )
        return tf.cast(tf.reshape(y, shape), self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config["fused"] = self.fused
        return config


# --------------------------------------------------------------------------
# Token ids: one policy on every backend and in every exported file


OOV_ID = 1  # the `[UNK]` id of `keras.layers.TextVectorization` (0 is padding)


def map_out_of_vocabulary(ids, vocab_size, oov_id=OOV_ID):
    """Ids outside `[0, vocab_size)` (negative, or too large) become `oov_id`.

    Why a mapping and not an error: only the TensorFlow backend can check
    values eagerly, and inside a compiled graph (XLA, JAX, LiteRT) a gather
    out of range silently clamps or returns garbage. Mapping gives the same
    answer everywhere, the one the vectorizer gives a word it does not know.
    """
    ids = ops.convert_to_tensor(ids)
    outside = ops.logical_or(ops.less(ids, 0), ops.greater_equal(ids, vocab_size))
    return ops.where(outside, ops.full_like(ids, oov_id), ids)


@keras.saving.register_keras_serializable(package="zoo")
class TokenIds(keras.layers.Layer):
    """Maps token ids outside `[0, vocab_size)` to the out-of-vocabulary id.

    Args:
        vocab_size: number of valid ids.
        oov_id: where the others go (1: `TextVectorization`'s `[UNK]`).

    Example:

    ```python
    import numpy as np
    TokenIds(vocab_size=10)(np.array([[3, 12, -1, 0]]))  # [[3, 1, 1, 0]]
    ```
    """

    def __init__(self, vocab_size, oov_id=OOV_ID, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(vocab_size, int) or vocab_size < 2:
            raise ValueError(f"`vocab_size` must be an integer >= 2. Received: vocab_size={vocab_size!r}")
        if not isinstance(oov_id, int) or not 0 <= oov_id < vocab_size:
            raise ValueError(f"`oov_id` must be in [0, vocab_size). Received: oov_id={oov_id!r}")
        self.vocab_size, self.oov_id = vocab_size, oov_id

    def call(self, ids):
        return map_out_of_vocabulary(ids, self.vocab_size, self.oov_id)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"vocab_size": self.vocab_size, "oov_id": self.oov_id})
        return config


@keras.saving.register_keras_serializable(package="zoo")
class SeriesScaling(keras.layers.Layer):
    """A window in series units to the forecaster's space, and a forecast back (`inverse=True`).

    `pipelines.series.windows` trains on `(log(series) - base) / std`, where `base` is the window's last
    (log) value when `relative`, else the training mean. Forward: `(batch, width, 1)` series units to
    model space; inverse: `[forecast (batch, horizon, 1), window in series units]` to series units.
    Inside an exported graph, the files take and return series units (`zoo export` of a forecaster).
    """

    def __init__(self, *, log=False, relative=False, mean=0.0, std=1.0, inverse=False, **kwargs):
        super().__init__(**kwargs)
        self.log, self.relative, self.mean, self.std, self.inverse = bool(log), bool(relative), float(mean), \
            float(std), bool(inverse)

    # Written so float32 keeps its digits: relative to the last value, log(x / last) and last * exp(y) rather
    # than log(x) - log(last) and exp(y + log(last)) (a difference of two large logs loses ~5x the precision).
    def call(self, inputs):
        if not self.inverse:
            window = inputs  # (batch, width, 1), series units
            if self.relative:
                last = window[:, -1:, :]
                z = ops.log(window / last) if self.log else window - last
            else:
                z = (ops.log(window) if self.log else window) - self.mean
            return z / self.std
        forecast, window = inputs  # (batch, horizon, 1) model space; the window in series units
        step = forecast * self.std
        if self.relative:
            last = window[:, -1:, :]
            return last * ops.exp(step) if self.log else last + step
        return ops.exp(step + self.mean) if self.log else step + self.mean

    def compute_output_shape(self, input_shape):
        return input_shape[0] if self.inverse else input_shape

    def get_config(self):
        return {**super().get_config(), "log": self.log, "relative": self.relative, "mean": self.mean,
                "std": self.std, "inverse": self.inverse}


def in_series_units(model, preprocessing):
    """`model` (a forecaster trained on `pipelines.series.windows`) wrapped to take a window in series units
    and return its forecast in series units, by the transform `preprocessing` records."""
    keys = {"log": preprocessing.get("log", False), "relative": preprocessing.get("type") == "relative",
            "mean": preprocessing.get("mean", 0.0), "std": preprocessing.get("std", 1.0)}
    window = keras.Input(shape=tuple(model.input_shape[1:]), name=model.inputs[0].name.split(":")[0])
    scaled = SeriesScaling(**keys, name="to_model_space")(window)  # (batch, width, 1)
    forecast = model(scaled)  # (batch, horizon, 1), model space
    out = SeriesScaling(**keys, inverse=True, name="to_series_units")([forecast, window])
    return keras.Model(window, out, name=model.name)


@keras.saving.register_keras_serializable(package="zoo")
class DropPath(keras.layers.Layer):
    """Drop path / stochastic depth: drop a whole residual branch per example and rescale the kept ones;
    identity at inference. One layer for every family: NASNet's ScheduledDropPath (Zoph et al. 2018, sec.
    4.1: the probability grows with the cell's depth and linearly over training) and the fixed, depth-scaled
    rate of stochastic depth (Huang et al. 2016, https://arxiv.org/abs/1603.09382; EfficientNet's "drop
    connect").

    Args:
        rate: the drop probability of the last block (at the end of training when scheduled).
        depth: the block's position in the network, in (0, 1]: its probability is `rate * depth`.
        scheduled: the probability also grows linearly over training: the training progress (0 -> 1) is
            the layer's non-trainable `progress` variable, which `zoo.nasnet.ScheduledDropPath` advances
            every step. Unscheduled layers hold no variable.

    Example:

    ```python
    import numpy as np
    DropPath(rate=0.4, depth=1.0)(np.ones((2, 4, 4, 3)), training=False)  # unchanged
    ```
    """

    def __init__(self, rate, depth=1.0, scheduled=True, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
            raise ValueError(f"`rate` must be a float in [0, 1). Received: rate={rate!r}")
        self.rate, self.depth, self.scheduled = rate, depth, bool(scheduled)
        self.seed_generator = keras.random.SeedGenerator()

    def build(self, input_shape):
        if self.scheduled:
            self.progress = self.add_weight(shape=(), initializer="zeros", trainable=False, name="progress")

    def call(self, x, training=False):
        if not training or self.rate == 0:
            return x
        rate = self.rate * self.depth * (ops.cast(self.progress, "float32") if self.scheduled else 1.0)
        keep = 1.0 - rate
        shape = (ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
        kept = ops.cast(keras.random.uniform(shape, seed=self.seed_generator) < keep, x.dtype)
        return x * kept / ops.cast(keep, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "depth": self.depth, "scheduled": self.scheduled})
        return config
