"""Training runs the tests start as subprocesses (strategies, kill/resume).

usage: python _train_script.py MODE OUT_DIR [SLEEP_PER_ELEMENT]
  mirrored   -- one-device and mirrored (2 logical CPUs) runs; prints JSON
  worker     -- one multi-worker process (TF_CONFIG from the environment)
  resumable  -- a run with mid-epoch backups every 3 steps
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

mode, out_dir = sys.argv[1], sys.argv[2]
sleep = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0

import pipelines  # noqa: E402

if mode == "mirrored":
    pipelines.use_logical_cpus(2)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo  # noqa: E402
from zoo.train import TrainConfig, fit  # noqa: E402


def slow(data, seconds):
    """Same values, slower: gives the test time to kill the run mid-epoch."""
    if not seconds:
        return data
    normalize = data.normalize

    def slow_normalize(x):
        waited = tf.py_function(lambda: time.sleep(seconds) or 0.0, [], tf.float32)
        return normalize(x) + 0.0 * waited

    data.normalize = slow_normalize
    return data


# MultiWorkerMirroredStrategy must exist before any other TF op runs.
strategy = pipelines.get_strategy("multi_worker") if mode == "worker" else None
data = slow(pipelines.digits(), sleep)
config = TrainConfig(epochs=3, batch_size=32, learning_rate=3e-3, out_dir=out_dir,
                     backup_every_steps=3, verbose=0, seed=7)

if mode == "mirrored":
    # No dropout: replicas draw their own masks, so only a deterministic model can match.
    one = fit(lambda: zoo.mlp_tiny(dropout=0.0), data, config=TrainConfig(**{**config.__dict__, "out_dir": None}),
              strategy=pipelines.get_strategy("one_device"))
    strategy = pipelines.get_strategy("mirrored")
    outside = zoo.mlp_tiny()
    try:
        fit(outside, data, config=config, strategy=strategy)
        error = None
    except ValueError as err:
        error = str(err)
    two = fit(lambda: zoo.mlp_tiny(dropout=0.0), data, config=TrainConfig(**{**config.__dict__, "out_dir": None}),
              strategy=strategy)
    diff = max(float(np.abs(a - b).max()) for a, b in zip(one.model.get_weights(), two.model.get_weights()))
    print(json.dumps({"replicas": strategy.num_replicas_in_sync, "loss_one": one.history["loss"],
                      "loss_two": two.history["loss"], "max_weight_diff": diff, "outside_error": error}))
elif mode == "worker":
    result = fit(lambda: zoo.mlp_tiny(), data, config=config, strategy=strategy)
    task = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    np.savez(os.path.join(out_dir, f"final_worker_{task}.npz"), *result.model.get_weights())
    print(json.dumps({"task": task, "loss": result.history["loss"]}))
elif mode == "resumable":
    fit(lambda: zoo.mlp_tiny(), data, config=config)
