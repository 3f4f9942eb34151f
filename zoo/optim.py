"""The recipe's backend-neutral parts: the optimizer and its learning-rate schedule, and precise batch norm.

No TensorFlow here: `zoo.train.fit` (any `tf.distribute` strategy) and a run on another Keras backend
(`benchmarks/gpu_resnet20.py`, JAX on a GPU) build the same optimizer from the same `TrainConfig`.
"""

import keras
import numpy as np


def learning_rate_schedule(config, steps_per_epoch):
    total = config.epochs * steps_per_epoch
    warmup = int(round(config.warmup_epochs * steps_per_epoch))
    lr = float(config.learning_rate)
    if config.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else lr, decay_steps=max(1, total - warmup),
            warmup_target=lr if warmup else None, warmup_steps=warmup)
    if config.schedule == "step":
        boundaries = [int(e * steps_per_epoch) for e in config.step_epochs]
        values = [lr * config.step_gamma ** i for i in range(len(boundaries) + 1)]
        base = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values) if boundaries else lr
    else:
        base = lr
    if not warmup:
        return base
    return _Warmup(base, warmup, lr)


@keras.saving.register_keras_serializable(package="zoo")
class _Warmup(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, after, warmup_steps, peak):
        self.after, self.warmup_steps, self.peak = after, warmup_steps, peak

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        after = self.after(step) if callable(self.after) else self.after
        return keras.ops.where(step < self.warmup_steps, self.peak * (step + 1) / self.warmup_steps, after)

    def get_config(self):
        return {"after": keras.optimizers.schedules.serialize(self.after) if callable(self.after) else self.after,
                "warmup_steps": self.warmup_steps, "peak": self.peak}

    @classmethod
    def from_config(cls, config):
        after = config["after"]
        if isinstance(after, dict):
            after = keras.optimizers.schedules.deserialize(after)
        return cls(after, config["warmup_steps"], config["peak"])


def make_optimizer(config, steps_per_epoch):
    lr = learning_rate_schedule(config, steps_per_epoch)
    common = dict(learning_rate=lr, clipnorm=config.clipnorm)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(weight_decay=config.weight_decay, **common)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(**common)
    return keras.optimizers.SGD(momentum=config.momentum, nesterov=True,
                                weight_decay=config.weight_decay or None, **common)


def batch_norm_layers(model):
    """The trainable `keras.layers.BatchNormalization` layers of `model` (nested models included); frozen
    ones (a fine-tuned backbone's) run in inference mode and keep their statistics."""
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]


def precise_batch_norm(model, batches, max_examples=8192):
    """Set every trainable batch-norm layer's moving mean and variance to the average of its batch
    statistics over `batches` (training mode, up to `max_examples` examples); returns the examples used.

    "Precise BN" (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021, https://arxiv.org/abs/2105.07576;
    pycls and Detectron2's `update_bn_stats`): the exponential moving average of a short run mixes the
    statistics of many older weights and, with momentum 0.99, still remembers its initial values (0 and
    1) after a few hundred steps, so a model trained for a few dozen steps evaluates near chance although
    its weights are good. Averaging fresh batch statistics of the final weights fixes that, whatever the
    run length. Each batch runs eagerly with momentum 0, so a layer's moving statistics are that batch's
    (later layers see earlier layers normalized by batch statistics, as in training)."""
    layers = batch_norm_layers(model)
    if not layers or max_examples <= 0:
        return 0
    momenta = [layer.momentum for layer in layers]
    sums = [[np.zeros(layer.moving_mean.shape, "float64"), np.zeros(layer.moving_variance.shape, "float64")]
            for layer in layers]
    seen = count = 0
    try:
        for layer in layers:
            layer.momentum = 0.0
        for x, _ in batches:
            model(x, training=True)
            for total, layer in zip(sums, layers):
                total[0] += np.asarray(keras.ops.convert_to_numpy(layer.moving_mean), "float64")
                total[1] += np.asarray(keras.ops.convert_to_numpy(layer.moving_variance), "float64")
            count += 1
            seen += int(keras.tree.flatten(x)[0].shape[0])
            if seen >= max_examples:
                break
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    if not count:
        return 0
    for (mean, variance), layer in zip(sums, layers):
        layer.moving_mean.assign((mean / count).astype(layer.moving_mean.dtype))
        layer.moving_variance.assign((variance / count).astype(layer.moving_variance.dtype))
    return seen
