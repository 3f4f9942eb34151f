"""Training: one recipe for every zoo model, on any `tf.distribute` strategy.

`fit` runs a distributed train step of its own (`strategy.run` + Keras
optimizer) instead of `model.fit`, for two reasons:

* Keras 3's `fit` fails under `MultiWorkerMirroredStrategy` (PerReplica reduce
  errors) and does not take `ParameterServerStrategy`; our step is the same
  code on one device, mirrored, multi-worker, and scheduled onto
  parameter-server workers by a `ClusterCoordinator` (asynchronous training:
  the chief runs `fit`, see `pipelines.serve_cluster_task` for the others).
* Exact resumption. Keras' `BackupAndRestore` restarts an interrupted epoch
  from its first batch with mid-epoch weights, so a resumed run differs from
  an uninterrupted one. Here the backup holds the epoch *and step*, every
  model and optimizer variable (including dropout RNG state), and the data
  order is a pure function of `(seed, epoch)`: a run killed with SIGKILL and
  restarted ends with the same weights as one never interrupted. (Under a
  parameter server the backup is exact too, but asynchronous updates make
  the continuation differ from an uninterrupted run's.)

The recipe is assembled from parts: the model's task (`zoo.tasks`: loss,
metric, logits or probabilities), the step functions and epoch runners
(`zoo.loop`), the run folder (`zoo.run_folder`) and hooks (`zoo.hooks`:
early stopping, checkpoints, TensorBoard, progress, learning-rate logging;
any `keras.callbacks.Callback` runs among them).

Example:

```python
import zoo, pipelines
from zoo.train import TrainConfig, fit
data = pipelines.load_dataset("digits")
result = fit(lambda: zoo.mlp_tiny(), data, config=TrainConfig(epochs=3, out_dir="runs/mlp"))
result.model.predict(next(iter(data.batches("test", 32)))[0]).shape  # (32, 10)
```
"""

import dataclasses
import time

import keras
import numpy as np
import tensorflow as tf

from pipelines.text import load_vectorizer as _load_vectorizer
from pipelines.text import save_vectorizer  # noqa: F401  (public here too)
from zoo import hooks as hooks_lib
from zoo import tasks
from zoo.config import OPTIMIZERS, SCHEDULES, TrainConfig  # noqa: F401  (public here too)
from zoo.loop import ParameterServerEpochs, Steps, SyncEpochs
from zoo.optim import (  # noqa: F401  (public here too: the recipe's backend-neutral parts)
    _Warmup, batch_norm_layers, learning_rate_schedule, make_optimizer, precise_batch_norm)
from zoo.run_folder import BackupAndRestore, RunFolder, save_model  # noqa: F401

atomic_save_model = save_model  # the name earlier releases exported


@dataclasses.dataclass
class TrainResult:
    model: keras.Model
    history: dict
    evaluation: dict
    out_dir: str = None


class TrainingDivergedError(FloatingPointError):
    """The loss became NaN or infinite."""


# --------------------------------------------------------------------------
# Setting up a run


def _seed(config):
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()


def _distributed(model):
    v = model.trainable_variables[0].value if model.trainable_variables else None
    return isinstance(v, tf.distribute.DistributedValues)


def _is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return resolver.task_type in (None, "chief") or (
        resolver.task_type == "worker" and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict())


def _materialize(model, strategy, config):
    """The model, built by `model()` inside the scope (and mixed policy) if it is a function."""
    parameter_server = isinstance(strategy, tf.distribute.ParameterServerStrategy)
    if not isinstance(model, keras.Model):
        if not callable(model):
            raise ValueError(f"`model` must be a keras.Model or a function returning one. Received: {model!r}")
        return model()
    if parameter_server and not all("/job:ps" in v.value.device for v in model.variables):
        raise ValueError(
            "The model was built outside `strategy.scope()`, so its variables are not on the "
            "parameter servers. Pass a function that builds it (fit(lambda: zoo.resnet20(), ...)).")
    if strategy.num_replicas_in_sync > 1 and not _distributed(model):
        raise ValueError(
            "The model was built outside `strategy.scope()`, so its variables are not "
            "mirrored. Pass a function that builds it (fit(lambda: zoo.resnet20(), ...)) "
            "or build it inside `with strategy.scope():`.")
    if config.mixed_precision and not model.dtype_policy.name.startswith("mixed"):
        raise ValueError("mixed_precision=True needs the model built under the mixed policy: "
                         "pass a function that builds it instead of a model.")
    return model


def _steps_per_epoch(train, data, config):
    if data is not None:
        if data.sizes.get("train", 0) < config.batch_size:
            raise ValueError(f"The train split of {data.name!r} has {data.sizes.get('train', 0)} "
                             f"examples, fewer than one batch ({config.batch_size}). Lower batch_size.")
        return data.sizes["train"] // config.batch_size
    steps = int(train.cardinality())
    if steps < 1:
        raise ValueError("The training dataset is empty or of unknown length: "
                         "batch it from a finite source (or pass a pipelines.DataSplits).")
    return steps


def _build(model, train, data, config, strategy):
    """(model, optimizer, steps per epoch), created inside `strategy.scope()`."""
    if config.batch_size % strategy.num_replicas_in_sync:
        raise ValueError(f"`batch_size` ({config.batch_size}) must divide evenly over "
                         f"{strategy.num_replicas_in_sync} replicas.")
    if config.mixed_precision:
        keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        with strategy.scope():
            model = _materialize(model, strategy, config)
            steps_per_epoch = _steps_per_epoch(train, data, config)
            optimizer = make_optimizer(config, steps_per_epoch)
            optimizer.build(model.trainable_variables)
    finally:
        if config.mixed_precision:
            keras.config.set_dtype_policy("float32")
    return model, optimizer, steps_per_epoch


def _check_data_matches_model(model, task, data):
    """The task and the input shape the CLI's `model_kwargs_for` checks, here for every caller of `fit`."""
    if data is None:
        return
    data_task = tasks.get(data.task) if data.task in tasks.TASKS else None
    if data_task is not None and data_task.kind != task.kind and task.kind != "features":  # (features: no loss)
        raise ValueError(f"{model.name!r} is a {task.name} model but the dataset {data.name!r} is {data.task}: pick "
                         f"a {data.task} model (`zoo list --task {data.task}`).")
    view = tasks.functional_view(model)
    expected = tuple(data.input_shape or ()) if len(view.inputs) == 1 else None
    got = tuple(view.inputs[0].shape[1:])
    if expected and (len(got) != len(expected) or any(g not in (None, e) for g, e in zip(got, expected))):
        raise ValueError(f"The dataset {data.name!r} gives inputs of shape {expected}, but {model.name!r} takes "
                         f"{got}: build the model for the data (zoo.recipes.model_kwargs_for(name, data) gives the "
                         "arguments that fit it).")
    if task.kind != "classification" or getattr(data, "num_classes", None) is None:
        return
    units = tasks.functional_view(model).outputs[0].shape[-1]
    if units != data.num_classes:
        raise ValueError(f"The dataset {data.name!r} has {data.num_classes} classes but the model outputs "
                         f"{units}. Build the model with classes={data.num_classes}.")


def _epoch_runner(steps, train, data, config, steps_per_epoch):
    def batches(epoch, cache=True):
        if data is None:
            return train
        return data.batches("train", config.batch_size, training=True, seed=config.seed, epoch=epoch,
                            drop_remainder=True, **({} if cache else {"cache": False}))

    if steps.parameter_server:
        if data is None:
            raise ValueError(
                "Parameter-server training builds each worker's input pipeline on the worker, so `train` "
                "must be a pipelines.DataSplits (e.g. pipelines.load_dataset(...)), not a tf.data.Dataset "
                "created here.")
        return ParameterServerEpochs(steps, batches, data.name, steps_per_epoch, config.backup_every_steps)
    return SyncEpochs(steps, batches)


def _hooks(config, folder, chief, optimizer, task, steps_per_epoch, callbacks):
    """The run's hooks in calling order; the user's callbacks last, as in `model.fit`."""
    out = [hooks_lib.LearningRateLogger(optimizer),
           hooks_lib.ProgressBar(config.epochs, steps_per_epoch, config.verbose if chief else 0, task.metric)]
    if config.early_stopping_patience is not None:
        out.append(hooks_lib.EarlyStopping(config.early_stopping_patience, folder, verbose=config.verbose))
    if folder is not None and chief:
        out += [hooks_lib.Checkpoints(folder, config.keep_checkpoints),
                hooks_lib.TensorBoard(folder.path("logs"), task.metric)]
    return out + [hooks_lib.as_callback(c) for c in callbacks]


# --------------------------------------------------------------------------
# Running it


@dataclasses.dataclass
class _Run:
    """What the epoch loop carries: where it is and what it has written."""

    model: keras.Model
    optimizer: object
    task: object
    steps: Steps
    epochs: object
    hooks: hooks_lib.HookList
    folder: RunFolder
    config: TrainConfig
    steps_per_epoch: int
    chief: bool
    history: dict = dataclasses.field(default_factory=dict)
    start_epoch: int = 0
    start_step: int = 0

    def save_backup(self, epoch, step):
        if self.folder is not None:
            self.folder.backup.save(self.model, self.optimizer, epoch=epoch, step=step,
                                    state={"history": self.history, "hooks": self.hooks.state()})

    def resume(self):
        if self.folder is None or not self.folder.backup.exists():
            return
        meta = self.folder.backup.restore(self.model, self.optimizer)
        self.start_epoch, self.start_step, self.history = meta["epoch"], meta["step"], meta["history"]
        self.hooks.load_state(meta.get("hooks", {}))
        if self.config.verbose and self.chief:
            print(f"Resuming from {self.folder.backup.path}: epoch {self.start_epoch + 1}, step {self.start_step}")


def _diverged(run, epoch, step, value):
    backup = run.folder.backup if run.folder is not None else None
    return TrainingDivergedError(
        f"The loss became {value} at epoch {epoch + 1}, step {step + 1}. Lower learning_rate "
        f"(now {run.config.learning_rate}), set clipnorm, or check the inputs for NaN/Inf. "
        + (f"The last good state is in {backup.path}." if backup and backup.exists() else ""))


def _train_epoch(run, epoch, skip):
    """Run one epoch's remaining steps; return its logs (train loss and metric)."""
    total = correct = count = 0.0
    step, every = skip, run.config.backup_every_steps
    metric = run.task.metric
    for sums in run.epochs.run(epoch, skip, before_step=lambda s: run.hooks.on_train_batch_begin(s, {})):
        t, c, n = (float(v) for v in sums)
        if not np.isfinite(t):
            raise _diverged(run, epoch, step, t)
        total, correct, count, step = total + t, correct + c, count + n, step + 1
        logs = {"loss": total / count, **({metric: correct / count} if metric else {})}
        run.hooks.on_train_batch_end(step - 1, logs)
        if every and step % every == 0 and step < run.steps_per_epoch:
            run.save_backup(epoch, step)
    logs = {"loss": total / max(count, 1), **({metric: correct / max(count, 1)} if metric else {})}
    if skip:  # the loss of a resumed epoch covers only its remaining steps
        logs["resumed_at_step"] = skip
    return logs


def _run_epochs(run, val):
    run.model.stop_training = False
    run.hooks.on_train_begin({})
    for epoch in range(run.start_epoch, run.config.epochs):
        started = time.time()
        run.hooks.on_epoch_begin(epoch, {})
        logs = _train_epoch(run, epoch, run.start_step if epoch == run.start_epoch else 0)
        if val is not None:
            logs.update({f"val_{k}": v for k, v in run.steps.evaluate(val)[0].items()})
        logs["seconds"] = round(time.time() - started, 2)
        run.hooks.on_epoch_end(epoch, logs)
        for k, v in logs.items():
            run.history.setdefault(k, []).append(v)
        run.save_backup(epoch + 1, 0)
        if run.model.stop_training:
            break
    run.hooks.on_train_end({})


def keep_better_than_naive(model, evaluate):
    """For a forecaster that corrects a naive forecast (`zoo.rnn.NaiveForecast`, layer `naive_forecast`):
    keep the learned correction only if its validation loss (`evaluate()`) is at most the naive forecast's,
    else zero the correction layer (`forecast`), which makes the model exactly the naive forecast. So the
    saved model is never worse than the naive forecast on the validation windows, by construction.
    Returns `{"val_loss_model", "val_loss_naive", "kept"}`, or None for other models."""
    names = {layer.name for layer in model.layers}
    if "naive_forecast" not in names or "forecast" not in names:
        return None
    head = model.get_layer("forecast")
    learned_weights = head.get_weights()
    learned = evaluate()
    head.set_weights([np.zeros_like(w) for w in learned_weights])
    naive = evaluate()
    kept = "naive" if naive < learned else "model"
    if kept == "model":
        head.set_weights(learned_weights)
    return {"val_loss_model": learned, "val_loss_naive": naive, "kept": kept}


def _naive_guard(run, val):
    if val is None or run.task.name != tasks.FORECASTING:
        return None
    with run.steps.strategy.scope():
        guard = keep_better_than_naive(run.model, lambda: run.steps.evaluate(val)[0]["loss"])
    if guard and run.config.verbose and run.chief:
        print(f"Validation loss: model {guard['val_loss_model']:.4g}, naive forecast {guard['val_loss_naive']:.4g}: "
              + ("kept the model's correction" if guard["kept"] == "model" else
                 "the naive forecast is better here, so the saved model is the naive forecast"))
    return guard


def _precise_bn(run, train, data, strategy):
    """`precise_batch_norm` after training, over training batches of another order (skipped under a
    parameter server: its variables live on the ps tasks)."""
    if not run.config.precise_bn_examples or isinstance(strategy, tf.distribute.ParameterServerStrategy):
        return
    if data is not None:
        batches = data.batches("train", run.config.batch_size, training=True, seed=run.config.seed + 1,
                               epoch=run.config.epochs, drop_remainder=True)  # no 1-example batch
    else:
        batches = train
    with strategy.scope():
        seen = precise_batch_norm(run.model, batches, run.config.precise_bn_examples)
    if run.config.verbose and run.chief and seen:
        print(f"Batch norm statistics recomputed over {seen:,} training examples (precise BN)")


def _final_evaluation(run, data, val):
    """Loss and metric on the test split (else val), printed and returned."""
    split = None
    if data is not None:
        split = "test" if data.test is not None else ("val" if data.val is not None else None)
    if split:
        logs, n = run.steps.evaluate(data.batches(split, run.config.batch_size, training=False))
    elif val is not None:
        split, (logs, n) = "val", run.steps.evaluate(val)
    else:
        return {}
    evaluation = dict(logs, split=split, examples=n)
    if run.task.kind == "regression":  # the loss is a mean squared error: its root reads in target units
        evaluation["rmse"] = float(np.sqrt(evaluation["loss"]))
    if run.config.verbose and run.chief:
        metrics = " ".join(f"{k}={evaluation[k]:.4f}" for k in ("loss", run.task.metric, "rmse") if k in evaluation)
        print(f"Final evaluation on {split} ({n} examples): {metrics}")
    return evaluation


def fit(model, train, val=None, config=None, *, strategy=None, callbacks=(), task=None, restart=False):
    """Train `model` with the zoo recipe and return a `TrainResult`.

    Args:
        model: a Keras model, or a function returning one (called inside
            `strategy.scope()`, after the mixed-precision policy is set;
            required for multi-replica strategies unless the model was built
            in the scope already).
        train: a `pipelines.DataSplits` (its train split; reproducible,
            resumable order) or a batched `tf.data.Dataset` of `(x, y)`.
        val: a batched dataset; default: the `DataSplits`' val split.
        config: a `TrainConfig`.
        strategy: a `tf.distribute.Strategy` (default: one device). With a
            `ParameterServerStrategy`, call `fit` on the chief only, with a
            `DataSplits` (each worker rebuilds its shard of every epoch).
        callbacks: `keras.callbacks.Callback`s (e.g. `zoo.compress.MagnitudePruning`),
            or functions `f(epoch, logs)` called after each epoch.
        task: the task of a plain Keras model (see `zoo.tasks.TASKS`); zoo
            models record their own.
        restart: start the run in `config.out_dir` over instead of resuming it.

    `ZOO_QUICK_RUN=1` in the environment caps every run at one epoch: the same code as a smoke test
    (the README's examples run so in the tests).
    """
    config = _quick_run((config or TrainConfig()).validate())
    strategy = strategy or tf.distribute.get_strategy()
    data = train if hasattr(train, "batches") else None
    if data is not None:
        from pipelines.checks import check_splits

        check_splits(data)  # every split once: NaN/Inf features or targets, labels out of range
    _seed(config)
    model, optimizer, steps_per_epoch = _build(model, train, data, config, strategy)
    task = tasks.task_of(model, task)
    _check_data_matches_model(model, task, data)
    from_logits = task.kind in ("classification", "seq2seq") and tasks.from_logits(model)
    steps = Steps(model, optimizer, task, strategy, global_batch=config.batch_size, from_logits=from_logits,
                  label_smoothing=config.label_smoothing)
    chief = _is_chief(strategy)
    folder = None
    if config.out_dir:
        worker = None if chief else strategy.cluster_resolver.task_id
        folder = RunFolder(config.out_dir, chief=chief, worker_id=worker)
    if folder is not None:  # before the hooks open their TensorBoard writers: --restart clears old logs only
        folder.prepare(config, data, restart=restart, model=model)
    run = _Run(model, optimizer, task, steps, _epoch_runner(steps, train, data, config, steps_per_epoch),
               hooks_lib.HookList(_hooks(config, folder, chief, optimizer, task, steps_per_epoch, callbacks), model),
               folder, config, steps_per_epoch, chief)
    run.resume()
    if folder is not None and not run.start_epoch and not run.start_step:
        folder.write_start(config, data, model)
    if val is None and data is not None and data.val is not None:
        val = data.batches("val", config.batch_size, training=False)
    _run_epochs(run, val)
    guard = _naive_guard(run, val)
    _precise_bn(run, train, data, strategy)
    evaluation = _final_evaluation(run, data, val)
    early = next((h for h in run.hooks.hooks if isinstance(h, hooks_lib.EarlyStopping)), None)
    if folder is not None:
        folder.save_final(model, {"history": run.history, "evaluation": evaluation,
                                  "stopped_early_at": early.best["epoch"] if early and early.stopped else None,
                                  **({"naive_forecast_guard": guard} if guard else {})})
        folder.release()
    return TrainResult(model=model, history=run.history, evaluation=evaluation, out_dir=config.out_dir)


def _quick_run(config):
    """`config` with one epoch when `ZOO_QUICK_RUN=1` (see `fit`)."""
    import os

    if os.environ.get("ZOO_QUICK_RUN") != "1" or config.epochs <= 1:
        return config
    return dataclasses.replace(config, epochs=1, step_epochs=(), warmup_epochs=0.0)


def load_vectorizer(path):
    """A saved `TextVectorization` (see `pipelines.text.load_vectorizer`, which also repairs old runs)."""
    return _load_vectorizer(path)[0]
