"""Distribution strategies by name.

| name | strategy | needs |
|---|---|---|
| `default` / `one_device` | `OneDeviceStrategy` (first GPU, else CPU) | - |
| `mirrored` | `MirroredStrategy` over local GPUs (or `devices=`) | - |
| `multi_worker` | `MultiWorkerMirroredStrategy` | `TF_CONFIG` with a `cluster` and `task` |
| `tpu` | `TPUStrategy` | a reachable TPU (`tpu=` name/address) |
| `parameter_server` | `ParameterServerStrategy` | `TF_CONFIG` with `worker` and `ps` jobs |

Create the model and optimizer inside `strategy.scope()`; `zoo.train.fit`
does this when given a model-building function.
"""

import json
import os

import tensorflow as tf

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker", "tpu", "parameter_server")


def use_logical_cpus(count):
    """Split the host CPU into `count` logical devices (before any TF op runs),
    so `MirroredStrategy` can be exercised without GPUs."""
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
    except RuntimeError as err:
        existing = len(tf.config.list_logical_devices("CPU"))
        if existing < count:
            raise ValueError(
                f"Cannot split the CPU into {count} devices: TensorFlow is already initialized "
                f"with {existing}. Call use_logical_cpus() before building any model or dataset."
            ) from err
    return [d.name for d in tf.config.list_logical_devices("CPU")][:count]


def _tf_config():
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"TF_CONFIG is not valid JSON ({err}). Received: TF_CONFIG={raw!r}") from None
    if "cluster" not in config or "task" not in config:
        raise ValueError("TF_CONFIG needs 'cluster' and 'task' keys, e.g. "
                         '{"cluster": {"worker": ["host1:port", "host2:port"]}, '
                         f'"task": {{"type": "worker", "index": 0}}}}. Received: TF_CONFIG={raw!r}')
    return config


def get_strategy(name="default", *, devices=None, tpu=None):
    """A `tf.distribute.Strategy` by name (see the module table)."""
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy. Allowed: {list(STRATEGIES)}. Received: strategy={name!r}")
    if name in ("default", "one_device"):
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy((gpus[0] if gpus else tf.config.list_logical_devices("CPU")[0]).name)
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        config = _tf_config()
        if config is None or "worker" not in config["cluster"]:
            raise ValueError("strategy='multi_worker' reads the cluster from TF_CONFIG; set TF_CONFIG to "
                             '{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": i}} '
                             "on every worker.")
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.NotFoundError, RuntimeError) as err:
            raise ValueError(f"No TPU reachable ({err}). Pass tpu='<name or grpc://address>' on a TPU VM, "
                             "or choose another strategy.") from err
        return tf.distribute.TPUStrategy(resolver)
    # parameter_server
    config = _tf_config()
    if config is None or "ps" not in config["cluster"]:
        raise ValueError("strategy='parameter_server' needs TF_CONFIG with 'worker' and 'ps' jobs "
                         "(and a 'chief'); see tf.distribute.experimental.ParameterServerStrategy.")
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    return tf.distribute.ParameterServerStrategy(resolver)


def worker_info(strategy):
    """`(worker_index, num_workers)` of this process."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().jobs:
        return 0, 1
    task_id = resolver.task_id or 0
    return task_id, strategy.extended._num_workers if hasattr(strategy.extended, "_num_workers") else 1
