"""Hooks: what `zoo.train.fit` does around the steps, as `keras.callbacks.Callback`s.

`fit` calls every hook the way `model.fit` calls callbacks
(`on_train_begin`, `on_epoch_begin`, `on_train_batch_end`, `on_epoch_end`,
`on_train_end`; `model.stop_training` ends the run), so standard Keras
callbacks (`zoo.compress.MagnitudePruning`, `keras.callbacks.CSVLogger`, ...)
run under it unchanged. A hook with state that must survive a restart
implements `state()` / `load_state(state)`: the run's backup saves it.

Example:

```python
from zoo.hooks import EarlyStopping
from zoo.train import fit
fit(lambda: zoo.mlp_tiny(), data, callbacks=[keras.callbacks.CSVLogger("log.csv")])
```
"""

import os

import keras


class Hook(keras.callbacks.Callback):
    """A callback whose `state()` is saved with the run's backup."""

    def state(self):
        return {}

    def load_state(self, state):
        pass


class LearningRateLogger(Hook):
    """Adds the optimizer's current learning rate to the epoch's logs."""

    def __init__(self, optimizer):
        super().__init__()
        self.optimizer = optimizer

    def on_epoch_end(self, epoch, logs=None):
        lr = self.optimizer.learning_rate  # the schedule's value at the current step
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(lr))


def _interactive():
    """Whether standard output is a terminal or a notebook (where a progress bar can redraw)."""
    import sys

    stream = sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)()) or "ipykernel" in sys.modules


class ProgressBar(Hook):
    """`Epoch i/N`, a Keras progress bar (verbose=1) and one line of logs per epoch."""

    def __init__(self, epochs, steps_per_epoch, verbose, metric):
        super().__init__()
        self.epochs, self.steps, self.verbose, self.metric = epochs, steps_per_epoch, verbose, metric
        self.bar = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose:
            print(f"Epoch {epoch + 1}/{self.epochs}")
        names = ["loss"] + ([self.metric] if self.metric else [])
        # The bar redraws itself with carriage returns and escape codes: only where someone watches it
        # (a terminal, a notebook). Redirected to a file, the epoch lines alone say the same.
        bar = self.verbose if self.verbose != 1 or _interactive() else 0
        self.bar = keras.utils.Progbar(self.steps, verbose=bar, stateful_metrics=names)

    def on_train_batch_end(self, batch, logs=None):
        shown = [(k, logs[k]) for k in ("loss", self.metric) if k in logs]
        self.bar.update(batch + 1, shown)

    def on_epoch_end(self, epoch, logs=None):
        if self.verbose:
            print(" - ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in logs.items()))


class TensorBoard(Hook):
    """Epoch scalars (loss, metric, learning rate) for TensorBoard under `log_dir/{train,validation}`."""

    def __init__(self, log_dir, metric):
        super().__init__()
        import tensorflow as tf

        self.metric = metric
        self.writers = {k: tf.summary.create_file_writer(os.path.join(log_dir, k)) for k in ("train", "validation")}

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        names = ["loss"] + ([self.metric] if self.metric else [])
        for split, prefix in (("train", ""), ("validation", "val_")):
            with self.writers[split].as_default(step=epoch + 1):
                for k in names:
                    if prefix + k in logs:
                        tf.summary.scalar(f"epoch_{k}", logs[prefix + k])
                if split == "train" and "learning_rate" in logs:
                    tf.summary.scalar("learning_rate", logs["learning_rate"])
            self.writers[split].flush()


class Checkpoints(Hook):
    """Per-epoch weights `checkpoints/epoch_NNN.weights.h5`, the newest `keep` kept (0: none)."""

    def __init__(self, run_folder, keep):
        super().__init__()
        self.run_folder, self.keep = run_folder, keep

    def on_epoch_end(self, epoch, logs=None):
        if self.keep:
            self.run_folder.save_checkpoint(self.model, epoch + 1, self.keep)


class EarlyStopping(Hook):
    """Stop after `patience` epochs without a lower `val_loss`; restore the best weights.

    The best weights are kept in memory on every worker (all hold the same
    weights, so the restore keeps them in step and works without a run
    folder) and, with a run folder, in `best.weights.h5` for a resumed run.
    """

    def __init__(self, patience, run_folder=None, verbose=1):
        super().__init__()
        self.patience, self.run_folder, self.verbose = patience, run_folder, verbose
        self.best = {"val_loss": None, "epoch": None, "wait": 0}
        self.best_weights = None
        self.stopped = False

    def state(self):
        return dict(self.best)

    def load_state(self, state):
        self.best = dict(state)

    def on_epoch_end(self, epoch, logs=None):
        if "val_loss" not in logs:
            return
        if self.best["val_loss"] is None or logs["val_loss"] < self.best["val_loss"]:
            self.best.update(val_loss=logs["val_loss"], epoch=epoch + 1, wait=0)
            self.best_weights = self.model.get_weights()
            if self.run_folder is not None:
                self.run_folder.save_best(self.model)
        else:
            self.best["wait"] += 1
        if self.best["wait"] >= self.patience:
            self.stopped = True
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if not self.stopped or self.best["epoch"] is None:
            return
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)
        elif self.run_folder is not None and self.run_folder.has_best():
            self.run_folder.load_best(self.model)  # resumed after a restart: the best epoch is only on disk
        else:
            return
        if self.verbose:
            print(f"Early stopping: restored the weights of epoch {self.best['epoch']}.")


def as_callback(item):
    """A `keras.callbacks.Callback` as is; a function `f(epoch, logs)` as an epoch-end callback."""
    if isinstance(item, keras.callbacks.Callback):
        return item
    if callable(item):
        return keras.callbacks.LambdaCallback(on_epoch_end=item)
    raise ValueError(f"A callback must be a keras.callbacks.Callback or a function f(epoch, logs). "
                     f"Received: {item!r}")


class HookList:
    """Calls every hook in order, the way Keras' `CallbackList` does."""

    def __init__(self, hooks, model):
        self.hooks = list(hooks)
        for hook in self.hooks:
            hook.set_model(model)

    def __getattr__(self, method):  # on_train_begin, on_epoch_end, ...
        def call(*args):
            for hook in self.hooks:
                getattr(hook, method)(*args)
        return call

    def state(self):
        return {f"{i}:{type(h).__name__}": h.state() for i, h in enumerate(self.hooks) if isinstance(h, Hook)}

    def load_state(self, state):
        for i, hook in enumerate(self.hooks):
            key = f"{i}:{type(hook).__name__}"
            if isinstance(hook, Hook) and key in state:
                hook.load_state(state[key])
