"""Distribution strategies by name.

| name | strategy | needs |
|---|---|---|
| `default` / `one_device` | `OneDeviceStrategy` (first GPU, else CPU) | - |
| `mirrored` | `MirroredStrategy` over local GPUs (or `devices=`) | - |
| `multi_worker` | `MultiWorkerMirroredStrategy` | `TF_CONFIG` with a `cluster` and `task` |
| `tpu` | `TPUStrategy` | a reachable TPU (`tpu=` name/address) |
| `parameter_server` | `ParameterServerStrategy` | `TF_CONFIG` with `chief`, `worker` and `ps` jobs |

Create the model and optimizer inside `strategy.scope()`; `zoo.train.fit`
does this when given a model-building function.

Parameter-server training (asynchronous): the `chief` process runs
`zoo.train.fit`, which schedules train steps onto the workers; the variables
live on the `ps` tasks. `worker` and `ps` processes only serve: call
`serve_cluster_task()` there (`zoo train ... --strategy parameter_server` does
this by itself when `TF_CONFIG` names a worker or ps task). Servers run until
they are stopped, as with TensorFlow's own parameter-server setup.
"""

import json
import os

import tensorflow as tf

from pipelines.constants import STRATEGIES


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
    config = _parameter_server_config()
    task = config["task"].get("type")
    if task in ("worker", "ps"):
        raise ValueError(
            f"TF_CONFIG names this process a {task!r} task: parameter-server workers and ps tasks only "
            "serve. Call pipelines.serve_cluster_task() here (`zoo train --strategy parameter_server` "
            "does), and create the strategy in the 'chief' process.")
    if task != "chief":
        raise ValueError("strategy='parameter_server' is created by the 'chief' task, which coordinates "
                         f"training. Received: task type {task!r}.")
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    return tf.distribute.ParameterServerStrategy(resolver)


def _parameter_server_config():
    config = _tf_config()
    cluster = (config or {}).get("cluster", {})
    missing = [job for job in ("chief", "worker", "ps") if not cluster.get(job)]
    if missing:
        raise ValueError(
            "strategy='parameter_server' needs TF_CONFIG with 'chief', 'worker' and 'ps' jobs, e.g. "
            '{"cluster": {"chief": ["host0:port"], "worker": ["host1:port", "host2:port"], '
            '"ps": ["host3:port"]}, "task": {"type": "worker", "index": 0}}. '
            f"Missing: {missing}.")
    return config


def parameter_server_task():
    """The `TF_CONFIG` task type of this process (`"chief"`, `"worker"`, `"ps"`), or None."""
    config = _tf_config()
    return (config or {}).get("task", {}).get("type")


def serve_cluster_task(join=True):
    """Run this process's parameter-server `worker` or `ps` task (from `TF_CONFIG`).

    Blocks serving the chief's requests when `join` (the default); returns the
    started `tf.distribute.Server` otherwise.
    """
    config = _parameter_server_config()
    task = config["task"]
    if task.get("type") not in ("worker", "ps"):
        raise ValueError("serve_cluster_task() runs a 'worker' or 'ps' task; this process is "
                         f"{task.get('type')!r}. The chief runs zoo.train.fit instead.")
    # Workers queue several closures per step (dataset, variable reads and
    # updates); with the default of one inter-op thread per core, a 2-core
    # worker can deadlock waiting on its own queue.
    server_config = tf.compat.v1.ConfigProto()
    server_config.inter_op_parallelism_threads = max(16, 2 * (os.cpu_count() or 1))
    # Workers/ps must tolerate the chief restarting (resume from its backup).
    os.environ.setdefault("GRPC_FAIL_FAST", "use_caller")
    server = tf.distribute.Server(
        tf.train.ClusterSpec(config["cluster"]), job_name=task["type"], task_index=int(task.get("index", 0)),
        protocol=config.get("rpc_layer", "grpc"), config=server_config, start=True)
    if join:
        server.join()
    return server


# --------------------------------------------------------------------------
# A cluster that does not answer: said within a minute (the collectives themselves wait without a word)


def cluster_peers(config=None):
    """`[(job, index, "host:port")]` of the other tasks in `TF_CONFIG` (not this process's own)."""
    config = config or _tf_config() or {}
    own = (config.get("task", {}).get("type"), int(config.get("task", {}).get("index", 0)))
    return [(job, i, address) for job, addresses in config.get("cluster", {}).items()
            for i, address in enumerate(addresses) if (job, i) != own]


def silent_peers(peers, timeout=2.0):
    """The peers that do not accept a TCP connection within `timeout` seconds."""
    import socket

    out = []
    for job, index, address in peers:
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
        except (OSError, ValueError):
            out.append((job, index, address))
    return out


def wait_for_cluster(timeout=60.0, config=None):
    """Return once every other `TF_CONFIG` task accepts a TCP connection; raise a `ValueError` naming those
    that do not within `timeout` seconds. TensorFlow itself waits for a missing task forever, without a word
    and holding the GIL (so no thread, signal handler or Ctrl-C runs meanwhile). Our own address listens
    meanwhile, so that peers probing it see this task; TensorFlow's server binds it once we close it."""
    import socket
    import time

    config = config or _tf_config() or {}
    peers = cluster_peers(config)
    task = config.get("task", {})
    own = config.get("cluster", {}).get(task.get("type"), [None] * (int(task.get("index", 0)) + 1))
    listener = None
    try:
        own_address = own[int(task.get("index", 0))]
        host, _, port = own_address.rpartition(":")
        listener = socket.create_server(("", int(port)), reuse_port=False)
    except (OSError, ValueError, IndexError, TypeError):
        listener = None  # the port is taken or the address unreadable: TensorFlow will say
    try:
        deadline = time.monotonic() + timeout
        silent = peers
        while silent:
            silent = silent_peers(silent, timeout=1.0)
            if silent and time.monotonic() > deadline:
                shown = ", ".join(f"{job} {index} at {address}" for job, index, address in silent)
                raise ValueError(f"The cluster in TF_CONFIG does not answer: no answer within {timeout:.0f} s from "
                                 f"{shown}. Start the same command there (its TF_CONFIG names its task type and "
                                 "index), check the addresses, or raise ZOO_CLUSTER_WAIT (seconds).")
            if silent:
                time.sleep(0.5)
    finally:
        if listener is not None:
            listener.close()
