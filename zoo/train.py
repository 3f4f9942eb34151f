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
import io
import json
import os
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

OPTIMIZERS = ("adamw", "sgd", "adam")
SCHEDULES = ("cosine", "step", "constant")


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
        keep_checkpoints: per-epoch weight files kept.
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
    verbose: int = 1

    def validate(self):
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"`optimizer` must be one of {list(OPTIMIZERS)}. Received: optimizer={self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"`schedule` must be one of {list(SCHEDULES)}. Received: schedule={self.schedule!r}")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise ValueError(f"`learning_rate` must be > 0. Received: learning_rate={self.learning_rate!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"`label_smoothing` must be in [0, 1). Received: label_smoothing={self.label_smoothing!r}")
        if self.clipnorm is not None and self.clipnorm <= 0:
            raise ValueError(f"`clipnorm` must be > 0 or None. Received: clipnorm={self.clipnorm!r}")
        if self.warmup_epochs < 0 or self.warmup_epochs >= self.epochs and self.warmup_epochs > 0:
            raise ValueError(f"`warmup_epochs` must be in [0, epochs). Received: warmup_epochs={self.warmup_epochs!r}")
        return self


@dataclasses.dataclass
class TrainResult:
    model: keras.Model
    history: dict
    evaluation: dict
    out_dir: str = None


class TrainingDivergedError(FloatingPointError):
    """The loss became NaN or infinite."""


# --------------------------------------------------------------------------
# Pieces of the recipe


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


def _is_classifier(model):
    return model.layers[-1].name == "predictions" and len(model.output.shape) == 2


def _per_example_loss(model, label_smoothing):
    if _is_classifier(model):
        classes = model.output.shape[-1]

        def loss(y, p):
            onehot = tf.one_hot(tf.cast(y, tf.int32), classes)
            return keras.losses.categorical_crossentropy(
                onehot, tf.cast(p, tf.float32), label_smoothing=label_smoothing)
        return loss

    def mse(y, p):
        err = tf.square(tf.cast(y, tf.float32) - tf.cast(p, tf.float32))
        return tf.reduce_mean(tf.reshape(err, [tf.shape(err)[0], -1]), axis=-1)
    return mse


# --------------------------------------------------------------------------
# Atomic files


def _atomic_save_weights(model, path):
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{os.path.basename(path)}")
    model.save_weights(tmp)
    os.replace(tmp, path)


def _atomic_write_bytes(path, data):
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_save_model(model, path):
    """`model.save(path)` that never leaves a half-written file at `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{os.path.basename(path)}")
    model.save(tmp)
    os.replace(tmp, path)


class BackupAndRestore:
    """Step-exact backups of a run in `backup_dir/state.npz` (written atomically).

    Holds every model variable (weights, BatchNorm statistics, RNG states),
    every optimizer variable, the epoch and step reached, the history and
    the early-stopping state.
    """

    def __init__(self, backup_dir):
        self.backup_dir = backup_dir
        self.path = os.path.join(backup_dir, "state.npz")

    def exists(self):
        return os.path.exists(self.path)

    def save(self, model, optimizer, *, epoch, step, state):
        arrays = {f"m{i}": np.asarray(v.numpy()) for i, v in enumerate(model.variables)}
        arrays.update({f"o{i}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)})
        meta = dict(state, epoch=epoch, step=step, n_model=len(model.variables),
                    n_optimizer=len(optimizer.variables))
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        _atomic_write_bytes(self.path, buffer.getvalue())

    def restore(self, model, optimizer):
        with np.load(self.path) as f:
            meta = json.loads(bytes(f["meta"]).decode())
            if (meta["n_model"], meta["n_optimizer"]) != (len(model.variables), len(optimizer.variables)):
                raise ValueError(
                    f"The backup in {self.backup_dir!r} was written by a different model or optimizer "
                    f"({meta['n_model']} model / {meta['n_optimizer']} optimizer variables, this run has "
                    f"{len(model.variables)} / {len(optimizer.variables)}). Use another out_dir, or delete "
                    "the backup folder to start over.")
            pairs = [(v, f[f"m{i}"]) for i, v in enumerate(model.variables)]
            pairs += [(v, f[f"o{i}"]) for i, v in enumerate(optimizer.variables)]
            for var, value in pairs:
                if tuple(var.shape) != value.shape:
                    raise ValueError(f"The backup in {self.backup_dir!r} does not match this model "
                                     f"({var.path}: {value.shape} vs {tuple(var.shape)}).")
            for var, value in pairs:
                var.assign(value)
        return meta


# --------------------------------------------------------------------------
# The loop


def _check_data_matches_model(model, data):
    if data is None or not hasattr(data, "num_classes"):
        return
    if _is_classifier(model) and data.num_classes is not None:
        units = model.output.shape[-1]
        if units != data.num_classes:
            raise ValueError(
                f"The dataset {data.name!r} has {data.num_classes} classes but the model outputs "
                f"{units}. Build the model with classes={data.num_classes}.")


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


def fit(model, train, val=None, config=None, *, strategy=None, callbacks=()):
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
        callbacks: functions `f(epoch, logs)` called after each epoch.
    """
    config = (config or TrainConfig()).validate()
    strategy = strategy or tf.distribute.get_strategy()
    parameter_server = isinstance(strategy, tf.distribute.ParameterServerStrategy)
    if parameter_server and not hasattr(train, "batches"):
        raise ValueError(
            "Parameter-server training builds each worker's input pipeline on the worker, so `train` "
            "must be a pipelines.DataSplits (e.g. pipelines.load_dataset(...)), not a tf.data.Dataset "
            "created here.")
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    if config.mixed_precision:
        keras.config.set_dtype_policy("mixed_bfloat16")
    data = train if hasattr(train, "batches") else None
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise ValueError(f"`batch_size` ({config.batch_size}) must divide evenly over {replicas} replicas.")
    try:
        with strategy.scope():
            if not isinstance(model, keras.Model):
                if not callable(model):
                    raise ValueError(f"`model` must be a keras.Model or a function returning one. Received: {model!r}")
                model = model()
            elif parameter_server and not all("/job:ps" in v.value.device for v in model.variables):
                raise ValueError(
                    "The model was built outside `strategy.scope()`, so its variables are not on the "
                    "parameter servers. Pass a function that builds it (fit(lambda: zoo.resnet20(), ...)).")
            elif replicas > 1 and not _distributed(model):
                raise ValueError(
                    "The model was built outside `strategy.scope()`, so its variables are not "
                    "mirrored. Pass a function that builds it (fit(lambda: zoo.resnet20(), ...)) "
                    "or build it inside `with strategy.scope():`.")
            if config.mixed_precision and not model.dtype_policy.name.startswith("mixed"):
                raise ValueError("mixed_precision=True needs the model built under the mixed policy: "
                                 "pass a function that builds it instead of a model.")
            _check_data_matches_model(model, data)
            if data is not None:
                if data.sizes.get("train", 0) < config.batch_size:
                    raise ValueError(f"The train split of {data.name!r} has {data.sizes.get('train', 0)} "
                                     f"examples, fewer than one batch ({config.batch_size}). Lower batch_size.")
                steps_per_epoch = data.sizes["train"] // config.batch_size
            else:
                steps_per_epoch = int(train.cardinality())
                if steps_per_epoch < 1:
                    raise ValueError("The training dataset is empty or of unknown length: "
                                     "batch it from a finite source (or pass a pipelines.DataSplits).")
            optimizer = make_optimizer(config, steps_per_epoch)
            optimizer.build(model.trainable_variables)
    finally:
        if config.mixed_precision:
            keras.config.set_dtype_policy("float32")
    loss_fn = _per_example_loss(model, config.label_smoothing)
    classifier = _is_classifier(model)
    global_batch = config.batch_size

    def replica_train_step(x, y):
        with tf.GradientTape() as tape:
            pred = model(x, training=True)
            per_example = loss_fn(y, pred)  # (local batch,)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return _sums(per_example, y, pred)

    def replica_eval_step(x, y):
        pred = model(x, training=False)
        return _sums(loss_fn(y, pred), y, pred)

    def _sums(per_example, y, pred):
        count = tf.cast(tf.shape(per_example)[0], tf.float32)
        correct = (tf.reduce_sum(tf.cast(tf.equal(tf.argmax(pred, -1, output_type=tf.int32),
                                                  tf.cast(y, tf.int32)), tf.float32))
                   if classifier else tf.constant(0.0))
        return tf.reduce_sum(per_example), correct, count

    @tf.function
    def train_step(x, y):
        out = strategy.run(replica_train_step, args=(x, y))
        return [strategy.reduce("SUM", v, axis=None) for v in out]

    @tf.function
    def eval_step(x, y):
        if parameter_server:  # evaluated on the chief, reading the variables from the ps tasks
            return replica_eval_step(x, y)
        out = strategy.run(replica_eval_step, args=(x, y))
        return [strategy.reduce("SUM", v, axis=None) for v in out]

    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)

    def distribute(ds):
        if parameter_server:  # the chief evaluates locally; workers get data via epoch_steps
            return ds
        if multi_worker:
            options = tf.data.Options()
            options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
            ds = ds.with_options(options)
        return strategy.experimental_distribute_dataset(ds) if replicas > 1 or multi_worker else ds

    def train_batches(epoch, skip):
        if data is not None:
            ds = data.batches("train", config.batch_size, training=True, seed=config.seed,
                              epoch=epoch, drop_remainder=True)
        else:
            ds = train
        return distribute(ds.skip(skip) if skip else ds)

    def epoch_steps(epoch, skip):
        """Run the epoch's remaining steps; yield each step's (loss sum, correct, count)."""
        if parameter_server:
            yield from _parameter_server_steps(epoch, skip)
            return
        for x, y in train_batches(epoch, skip):
            yield train_step(x, y)

    if parameter_server:
        coordinator = tf.distribute.coordinator.ClusterCoordinator(strategy)
        num_workers = len(strategy._cluster_resolver.cluster_spec().job_tasks("worker"))

        @tf.function
        def scheduled_train_step(iterator):
            x, y = next(iterator)
            out = strategy.run(replica_train_step, args=(x, y))
            return [strategy.reduce("SUM", v, axis=None) for v in out]

        def _parameter_server_steps(epoch, skip):
            # Each worker reads its own shard of the epoch's batches (repeated, so
            # a faster worker never runs dry); the chief schedules the steps and
            # waits at backup boundaries, so a backup holds exactly `step` steps.
            # The splits were read here on the chief; a dataset built on one
            # machine cannot be handed to another, so send its graph (the same
            # mechanism ClusterCoordinator uses for a plain Dataset) and add the
            # worker's shard on the worker.
            ds = data.batches("train", config.batch_size, training=True, seed=config.seed,
                              epoch=epoch, drop_remainder=True, cache=False)
            ds = ds.skip(skip) if skip else ds
            try:
                recreate = ds._trace_variant_creation()
            except (tf.errors.FailedPreconditionError, tf.errors.InvalidArgumentError) as err:
                raise ValueError(
                    f"The {data.name!r} input pipeline holds state that cannot be sent to parameter-server "
                    f"workers ({str(err).splitlines()[0]}). Use the 'multi_worker' strategy for it.") from err
            spec = ds.element_spec

            def dataset_fn(_context=None):
                worker = tf.distribute.coordinator.experimental_get_current_worker_index()
                shard = tf.data.experimental.from_variant(recreate(), spec).shard(num_workers, worker)
                return shard.repeat()

            @tf.function
            def per_worker_dataset_fn():
                return strategy.distribute_datasets_from_function(dataset_fn)

            iterator = iter(coordinator.create_per_worker_dataset(per_worker_dataset_fn))
            chunk = config.backup_every_steps or steps_per_epoch
            step = skip
            while step < steps_per_epoch:
                n = min(chunk - step % chunk, steps_per_epoch - step)
                pending = [coordinator.schedule(scheduled_train_step, args=(iterator,)) for _ in range(n)]
                for result in pending:
                    yield result.fetch()
                step += n
            coordinator.join()

    if val is None and data is not None and data.val is not None:
        val = data.batches("val", config.batch_size, training=False)

    def evaluate(ds):
        total = correct = count = 0.0
        for x, y in distribute(ds):
            t, c, n = (float(v) for v in eval_step(x, y))
            total, correct, count = total + t, correct + c, count + n
        if count == 0:
            raise ValueError("The evaluation split is empty.")
        logs = {"loss": total / count}
        if classifier:
            logs["accuracy"] = correct / count
        return logs, int(count)

    chief = _is_chief(strategy)
    out_dir = config.out_dir
    backup = writer = None
    history = {}
    start_epoch, start_step = 0, 0
    best = {"val_loss": None, "epoch": None, "wait": 0}
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        backup_dir = os.path.join(out_dir, "backup")
        if not chief:  # every worker backs up its own state; only the chief keeps the run folder
            backup_dir = os.path.join(out_dir, "backup", f"worker_{strategy.cluster_resolver.task_id}")
        backup = BackupAndRestore(backup_dir)
        if backup.exists():
            meta = backup.restore(model, optimizer)
            start_epoch, start_step = meta["epoch"], meta["step"]
            history, best = meta["history"], meta["best"]
            if config.verbose and chief:
                print(f"Resuming from {backup.path}: epoch {start_epoch + 1}, step {start_step}")
        if chief:
            with open(os.path.join(out_dir, "config.json"), "w") as f:
                json.dump(dataclasses.asdict(config), f, indent=2)
            if data is not None:
                with open(os.path.join(out_dir, "data.json"), "w") as f:
                    json.dump(data.summary(), f, indent=2)
                if data.vectorizer is not None:
                    save_vectorizer(data.vectorizer, os.path.join(out_dir, "vectorizer.keras"))
            writer = {k: tf.summary.create_file_writer(os.path.join(out_dir, "logs", k))
                      for k in ("train", "validation")}

    def save_backup(epoch, step):
        if backup is not None:
            backup.save(model, optimizer, epoch=epoch, step=step,
                        state={"history": history, "best": best})

    stopped_early = False
    best_weights = None
    for epoch in range(start_epoch, config.epochs):
        skip = start_step if epoch == start_epoch else 0
        bar = keras.utils.Progbar(steps_per_epoch, verbose=config.verbose if chief else 0,
                                  stateful_metrics=["loss", "accuracy"])
        if config.verbose and chief:
            print(f"Epoch {epoch + 1}/{config.epochs}")
        total = correct = count = 0.0
        started = time.time()
        step = skip
        for sums in epoch_steps(epoch, skip):
            t, c, n = (float(v) for v in sums)
            if not np.isfinite(t):
                raise TrainingDivergedError(
                    f"The loss became {t} at epoch {epoch + 1}, step {step + 1}. Lower learning_rate "
                    f"(now {config.learning_rate}), set clipnorm, or check the inputs for NaN/Inf. "
                    + (f"The last good state is in {backup.path}." if backup and backup.exists() else ""))
            total, correct, count, step = total + t, correct + c, count + n, step + 1
            values = [("loss", total / count)] + ([("accuracy", correct / count)] if classifier else [])
            bar.update(step, values)
            if backup is not None and config.backup_every_steps and step % config.backup_every_steps == 0 \
                    and step < steps_per_epoch:
                save_backup(epoch, step)
        logs = {"loss": total / max(count, 1)}
        if classifier:
            logs["accuracy"] = correct / max(count, 1)
        if skip:  # the loss of a resumed epoch covers only its remaining steps
            logs["resumed_at_step"] = skip
        if val is not None:
            val_logs, _ = evaluate(val)
            logs.update({f"val_{k}": v for k, v in val_logs.items()})
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(
            optimizer.learning_rate if not callable(optimizer._learning_rate) else
            optimizer._learning_rate(optimizer.iterations)))
        logs["seconds"] = round(time.time() - started, 2)
        for k, v in logs.items():
            history.setdefault(k, []).append(v)
        if config.verbose and chief:
            print(" - ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in logs.items()))
        if writer:
            for split, prefix in (("train", ""), ("validation", "val_")):
                with writer[split].as_default(step=epoch + 1):
                    for k in ("loss", "accuracy"):
                        if prefix + k in logs:
                            tf.summary.scalar(f"epoch_{k}", logs[prefix + k])
                    if split == "train":
                        tf.summary.scalar("learning_rate", logs["learning_rate"])
        # Early stopping on validation loss, keeping the best weights.
        if config.early_stopping_patience is not None and "val_loss" in logs:
            if best["val_loss"] is None or logs["val_loss"] < best["val_loss"]:
                best.update(val_loss=logs["val_loss"], epoch=epoch + 1, wait=0)
                # In memory on every worker (all hold the same weights), so the
                # restore works without an out_dir and keeps workers in step.
                best_weights = model.get_weights()
                if out_dir and chief:
                    _atomic_save_weights(model, os.path.join(out_dir, "best.weights.h5"))
            else:
                best["wait"] += 1
        if out_dir and chief:
            ckpt = os.path.join(out_dir, "checkpoints", f"epoch_{epoch + 1:03d}.weights.h5")
            _atomic_save_weights(model, ckpt)
            _prune_checkpoints(os.path.join(out_dir, "checkpoints"), config.keep_checkpoints)
        for cb in callbacks:
            cb(epoch, logs)
        save_backup(epoch + 1, 0)
        if config.early_stopping_patience is not None and best["wait"] > config.early_stopping_patience - 1 \
                and best["val_loss"] is not None:
            stopped_early = True
            break
    best_file = os.path.join(out_dir, "best.weights.h5") if out_dir else None
    if stopped_early and best["epoch"] is not None and (
            best_weights is not None or (best_file and os.path.exists(best_file))):
        if best_weights is not None:
            model.set_weights(best_weights)
        else:  # resumed after a restart: the best epoch is only on disk
            model.load_weights(best_file)
        if config.verbose:
            print(f"Early stopping: restored the weights of epoch {best['epoch']}.")

    evaluation = {}
    eval_split = None
    if data is not None:
        eval_split = "test" if data.test is not None else ("val" if data.val is not None else None)
    if eval_split:
        logs, n = evaluate(data.batches(eval_split, config.batch_size, training=False))
        evaluation = dict(logs, split=eval_split, examples=n)
    elif val is not None:
        logs, n = evaluate(val)
        evaluation = dict(logs, split="val", examples=n)
    if evaluation and config.verbose and chief:
        metrics = " ".join(f"{k}={evaluation[k]:.4f}" for k in ("loss", "accuracy") if k in evaluation)
        print(f"Final evaluation on {evaluation['split']} ({evaluation['examples']} examples): {metrics}")
    if out_dir and chief:
        atomic_save_model(model, os.path.join(out_dir, "model.keras"))
        with open(os.path.join(out_dir, "history.json"), "w") as f:
            json.dump({"history": history, "evaluation": evaluation,
                       "stopped_early_at": best["epoch"] if stopped_early else None}, f, indent=2)
    return TrainResult(model=model, history=history, evaluation=evaluation, out_dir=out_dir)


def _prune_checkpoints(folder, keep):
    files = sorted(f for f in os.listdir(folder) if f.startswith("epoch_"))
    for f in files[:-keep] if keep else []:
        os.remove(os.path.join(folder, f))


def save_vectorizer(vectorizer, path):
    """Save a fitted `TextVectorization` as a small `.keras` model (strings in,
    token ids out) that exports and notebooks reload with `load_vectorizer`."""
    wrapper = keras.Sequential([keras.Input(shape=(), dtype="string"), vectorizer], name="vectorizer")
    atomic_save_model(wrapper, path)


def load_vectorizer(path):
    return keras.saving.load_model(path).layers[-1]


def clear_backup(out_dir):
    shutil.rmtree(os.path.join(out_dir, "backup"), ignore_errors=True)
