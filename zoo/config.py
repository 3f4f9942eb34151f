"""`TrainConfig`: everything that shapes a training run (no TensorFlow import,
so the CLI builds its options from it instantly)."""

import dataclasses
import math

OPTIMIZERS = ("adamw", "sgd", "adam")
SCHEDULES = ("cosine", "step", "constant")

# Per-task recipe defaults `zoo train` applies where the command line leaves a field unset.
# Forecasting series are small (a few hundred windows): many short epochs, early stopping on the
# validation windows with the best weights restored (measured: benchmarks/forecasting.py).
# Tables (Gorishniy et al. 2021/2022's protocol): AdamW at a constant rate, early stopping on the
# validation rows with the best weights restored; batch 256, halved for small tables by `zoo train`.
_TABULAR = {"epochs": 100, "batch_size": 256, "learning_rate": 1e-3, "weight_decay": 1e-5,
            "early_stopping_patience": 10, "schedule": "constant"}
TASK_DEFAULTS = {
    "forecasting": {"epochs": 200, "batch_size": 16, "learning_rate": 3e-3, "weight_decay": 0.0,
                    "early_stopping_patience": 20},
    "tabular_classification": _TABULAR,
    "regression": _TABULAR,
}


@dataclasses.dataclass
class TrainConfig:
    """Everything that shapes a training run (saved to `config.json`).

    Attributes:
        epochs, batch_size: global batch size across replicas.
        optimizer: `"adamw"`, `"adam"` or `"sgd"` (Nesterov momentum).
        learning_rate: peak rate (after warmup).
        weight_decay: decoupled for AdamW; also applied by SGD as decay.
        momentum: SGD momentum.
        schedule: `"cosine"` (to 0), `"step"` (x `step_gamma` at each epoch
            in `step_epochs`) or `"constant"`.
        warmup_epochs: linear warmup from 0 (may be fractional).
        clipnorm: clip each gradient's norm (None: off).
        label_smoothing: for classifiers.
        mixed_precision: compute in bfloat16 (variables in float32; recurrent
            layers and heads stay float32).
        early_stopping_patience: stop after this many epochs without a
            better validation loss and restore the best weights (None: off).
        seed, deterministic: seeds every RNG and enables TF's deterministic
            ops, for bit-identical reruns.
        out_dir: run folder (model, checkpoints, backup, logs); None: no files.
        backup_every_steps: mid-epoch backup frequency (0: at epoch ends only);
            under a parameter server also where the chief waits for the
            scheduled steps to finish.
        keep_checkpoints: per-epoch weight files kept (0: none written).
        precise_bn_examples: after the last epoch, batch norm's moving statistics are recomputed as
            the average of the batch statistics over this many training examples ("precise BN"; 0:
            off). A short run's exponential averages (momentum 0.99 forgets slowly) are still far from
            its final weights' statistics, so the saved model would evaluate badly.
        verbose: 0 silent, 1 progress bar and epoch lines, 2 epoch lines only (logs).
    """

    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    schedule: str = "cosine"
    step_epochs: tuple = ()
    step_gamma: float = 0.1
    warmup_epochs: float = 0.0
    clipnorm: float = None
    label_smoothing: float = 0.0
    mixed_precision: bool = False
    early_stopping_patience: int = None
    seed: int = 0
    deterministic: bool = True
    out_dir: str = None
    backup_every_steps: int = 50
    keep_checkpoints: int = 3
    precise_bn_examples: int = 8192
    verbose: int = 1

    def validate(self):
        for name in ("epochs", "batch_size"):
            _check_int(name, getattr(self, name), 1)
        for name in ("backup_every_steps", "keep_checkpoints", "precise_bn_examples"):
            _check_int(name, getattr(self, name), 0)
        if self.early_stopping_patience is not None:
            _check_int("early_stopping_patience", self.early_stopping_patience, 1)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"`optimizer` must be one of {list(OPTIMIZERS)}. Received: optimizer={self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"`schedule` must be one of {list(SCHEDULES)}. Received: schedule={self.schedule!r}")
        if not (_finite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"`learning_rate` must be > 0. Received: learning_rate={self.learning_rate!r}")
        if not (_finite(self.label_smoothing) and 0.0 <= self.label_smoothing < 1.0):
            raise ValueError(f"`label_smoothing` must be in [0, 1). Received: label_smoothing={self.label_smoothing!r}")
        if self.clipnorm is not None and not (_finite(self.clipnorm) and self.clipnorm > 0):
            raise ValueError(f"`clipnorm` must be a finite number > 0, or None. Received: clipnorm={self.clipnorm!r}")
        for name in ("weight_decay", "momentum", "step_gamma"):
            value = getattr(self, name)
            if not (_finite(value) and value >= 0):
                raise ValueError(f"`{name}` must be a finite number >= 0. Received: {name}={value!r}")
        if not _finite(self.warmup_epochs) or self.warmup_epochs < 0 or (
                self.warmup_epochs > 0 and self.warmup_epochs >= self.epochs):
            raise ValueError(f"`warmup_epochs` must be in [0, epochs). Received: warmup_epochs={self.warmup_epochs!r}")
        return self


def bf16_hardware(cpuinfo="/proc/cpuinfo"):
    """What computes bfloat16 natively here — `"GPU"`, or the CPU flags among `avx512_bf16`/`amx_bf16`
    — or None. `zoo train` turns `--mixed-precision` on by default where this is not None: measured on
    an AVX512_BF16 Xeon, mixed_bfloat16 trained ResNet-20 1.31x (zoo recipe) to 1.55x (batch 128) faster
    than float32, while a CPU without it emulates bf16 and runs slower."""
    if _has_gpu():
        return "GPU"
    try:
        with open(cpuinfo) as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return None
    found = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
    return "CPU " + "+".join(found) if found else None


def _has_gpu():
    import os

    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    try:
        if backend == "jax":
            import jax

            return jax.devices()[0].platform == "gpu"
        if backend == "torch":
            import torch

            return torch.cuda.is_available()
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    except Exception:  # a backend that cannot say: assume none
        return False


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        word = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"`{name}` must be {word}. Received: {name}={value!r}")


def _finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
