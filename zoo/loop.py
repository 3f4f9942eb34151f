"""The parts of `zoo.train.fit` that run steps: the distributed step
functions (one place for train and eval) and the epoch runners
(synchronous strategies; parameter server with its coordinator).

A step returns the sums the loop needs, `(loss sum, correct, count)`, so
metrics over an epoch are exact whatever the number of replicas.
"""

import keras
import tensorflow as tf


def _uses_own_loss(model):
    """Models such as `zoo.compress.Distiller` define their loss in `compute_loss`."""
    return type(model).compute_loss is not keras.Model.compute_loss


class Steps:
    """`train_step(x, y)` and `eval_step(x, y)` as `tf.function`s over `strategy`.

    The loss is the task's per-example loss averaged over the *global*
    batch (`tf.nn.compute_average_loss`), so gradients are the same on one
    device and on N replicas; a model with its own `compute_loss` (a
    distiller) is averaged as a whole.
    """

    def __init__(self, model, optimizer, task, strategy, *, global_batch, from_logits, label_smoothing):
        self.model, self.optimizer, self.task, self.strategy = model, optimizer, task, strategy
        self.global_batch = global_batch
        self.loss_fn = task.per_example_loss(from_logits=from_logits, label_smoothing=label_smoothing)
        self.parameter_server = isinstance(strategy, tf.distribute.ParameterServerStrategy)
        self.multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        self.train_step = tf.function(self._reduced(self.replica_train_step))
        self.eval_step = tf.function(self._eval)

    def _losses(self, x, y, pred, training):
        """(per-example losses (local batch,), the loss to minimise)."""
        if _uses_own_loss(self.model):
            mean = tf.cast(self.model.compute_loss(x, y, pred, training=training), tf.float32)
            local = tf.shape(pred)[0]
            per_example = tf.fill([local], mean)
        else:
            per_example = self.loss_fn(y, pred)  # (local batch,)
        loss = tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch)
        if self.model.losses:
            loss += tf.nn.scale_regularization_loss(tf.add_n(self.model.losses))
        return per_example, loss

    def replica_train_step(self, x, y):
        with tf.GradientTape() as tape:
            pred = self.model(x, training=True)
            per_example, loss = self._losses(x, y, pred, True)
        variables = self.model.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return self._sums(per_example, y, pred)

    def replica_eval_step(self, x, y):
        pred = self.model(x, training=False)
        return self._sums(self._losses(x, y, pred, False)[0], y, pred)

    def _sums(self, per_example, y, pred):
        count = tf.cast(tf.shape(per_example)[0], tf.float32)
        correct = self.task.correct(y, pred) if self.task.metric else tf.constant(0.0)
        return tf.reduce_sum(per_example), correct, count

    def _reduced(self, replica_fn):
        def step(x, y):
            out = self.strategy.run(replica_fn, args=(x, y))
            return [self.strategy.reduce("SUM", v, axis=None) for v in out]
        return step

    def _eval(self, x, y):
        if self.parameter_server:  # the chief evaluates, reading the variables from the ps tasks
            return self.replica_eval_step(x, y)
        return self._reduced(self.replica_eval_step)(x, y)

    def distribute(self, ds):
        """A batched dataset as the strategy wants it (the chief keeps its own under a parameter server)."""
        if self.parameter_server:
            return ds
        if self.multi_worker:
            options = tf.data.Options()
            options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
            ds = ds.with_options(options)
        if self.strategy.num_replicas_in_sync > 1 or self.multi_worker:
            return self.strategy.experimental_distribute_dataset(ds)
        return ds

    def evaluate(self, ds):
        """`({"loss": ..., metric: ...}, examples)` over a batched dataset."""
        total = correct = count = 0.0
        for x, y in self.distribute(ds):
            t, c, n = (float(v) for v in self.eval_step(x, y))
            total, correct, count = total + t, correct + c, count + n
        if count == 0:
            raise ValueError("The evaluation split is empty.")
        logs = {"loss": total / count}
        if self.task.metric:
            logs[self.task.metric] = correct / count
        return logs, int(count)


class SyncEpochs:
    """Epochs on one device, mirrored or multi-worker: every replica steps together."""

    def __init__(self, steps, batches):
        self.steps, self.batches = steps, batches  # batches(epoch, cache=True) -> dataset

    def run(self, epoch, skip, before_step=lambda step: None):
        """Run the epoch's steps from `skip` on; yield each step's (loss sum, correct, count).
        `before_step(step)` is called before each step runs (the hooks' `on_train_batch_begin`)."""
        ds = self.batches(epoch)
        for step, (x, y) in enumerate(self.steps.distribute(ds.skip(skip) if skip else ds), start=skip):
            before_step(step)
            yield self.steps.train_step(x, y)


class ParameterServerEpochs:
    """Steps scheduled onto parameter-server workers by a `ClusterCoordinator`.

    Each worker reads its own shard of the epoch's batches (repeated, so a
    faster worker never runs dry); the chief schedules the steps and waits
    at backup boundaries, so a backup holds exactly `step` steps.
    """

    def __init__(self, steps, batches, data_name, steps_per_epoch, backup_every_steps):
        strategy = steps.strategy
        self.steps, self.batches, self.data_name = steps, batches, data_name
        self.steps_per_epoch, self.chunk = steps_per_epoch, backup_every_steps or steps_per_epoch
        self.coordinator = tf.distribute.coordinator.ClusterCoordinator(strategy)
        # ParameterServerStrategy keeps its resolver private (its public
        # `cluster_resolver` is None); it is the only record of the worker count.
        self.num_workers = len(strategy._cluster_resolver.cluster_spec().job_tasks("worker"))

        @tf.function
        def scheduled_train_step(iterator):
            x, y = next(iterator)
            return steps._reduced(steps.replica_train_step)(x, y)

        self.scheduled_train_step = scheduled_train_step

    def _per_worker_iterator(self, epoch, skip):
        # The splits were read here on the chief; a dataset built on one
        # machine cannot be handed to another, so send its graph (the same
        # mechanism ClusterCoordinator uses for a plain Dataset) and add the
        # worker's shard on the worker.
        ds = self.batches(epoch, cache=False)
        ds = ds.skip(skip) if skip else ds
        try:
            recreate = ds._trace_variant_creation()
        except (tf.errors.FailedPreconditionError, tf.errors.InvalidArgumentError) as err:
            raise ValueError(
                f"The {self.data_name!r} input pipeline holds state that cannot be sent to parameter-server "
                f"workers ({str(err).splitlines()[0]}). Use the 'multi_worker' strategy for it.") from err
        spec, num_workers = ds.element_spec, self.num_workers

        def dataset_fn(_context=None):
            worker = tf.distribute.coordinator.experimental_get_current_worker_index()
            return tf.data.experimental.from_variant(recreate(), spec).shard(num_workers, worker).repeat()

        @tf.function
        def per_worker_dataset_fn():
            return self.steps.strategy.distribute_datasets_from_function(dataset_fn)

        return iter(self.coordinator.create_per_worker_dataset(per_worker_dataset_fn))

    def run(self, epoch, skip, before_step=lambda step: None):
        iterator = self._per_worker_iterator(epoch, skip)
        step = skip
        while step < self.steps_per_epoch:
            n = min(self.chunk - step % self.chunk, self.steps_per_epoch - step)
            pending = []
            for i in range(n):
                before_step(step + i)
                pending.append(self.coordinator.schedule(self.scheduled_train_step, args=(iterator,)))
            for result in pending:
                yield result.fetch()
            step += n
        self.coordinator.join()
