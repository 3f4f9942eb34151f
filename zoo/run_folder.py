"""The run folder of `zoo.train.fit`: config, data spec, checkpoints, best
weights, the step-exact backup and the final model, each written atomically.

Layout of `out_dir`:

    config.json            the TrainConfig
    data.json              the data spec (`DataSplits.summary()`), vectorizer.keras for text
    backup/state.npz       every model/optimizer variable, epoch, step, history, hook states
    checkpoints/epoch_NNN.weights.h5
    best.weights.h5        with early stopping
    logs/{train,validation}/   TensorBoard
    model.keras, history.json  when the run ends
"""

import dataclasses
import io
import json
import os

import numpy as np

from pipelines import files


class BackupAndRestore:
    """Step-exact backups of a run in `backup_dir/state.npz` (written atomically).

    Holds every model variable (weights, BatchNorm statistics, RNG states),
    every optimizer variable, the epoch and step reached, the history and
    the hooks' states.
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
        files.atomic_write(self.path, buffer.getvalue())

    def meta(self):
        """The backup's epoch, step, history and hook states, without touching any variable."""
        with np.load(self.path) as f:
            return json.loads(bytes(f["meta"]).decode())

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


_HELD_LOCKS = {}  # run folder -> its open lock file (this process's runs)
RESTART_PARTS = ("backup", "checkpoints", "logs", "best.weights.h5", "history.json")  # what --restart deletes
MODEL_JSON = "model.json"


def _without_names(value):
    """A layer config without its names (auto-numbered names differ between processes)."""
    if isinstance(value, dict):
        return {k: _without_names(v) for k, v in value.items() if k not in ("name", "shared_object_id")}
    if isinstance(value, (list, tuple)):
        return [_without_names(v) for v in value]
    return value


def architecture(model):
    """`{"class", "params", "sha256"}`: a fingerprint of every layer's class, arguments (names aside) and
    weight shapes, so a run resumes only into the model it started with (another `--model-arg` changes it)."""
    import hashlib

    layers = [[type(layer).__name__, _without_names(layer.get_config()), [list(w.shape) for w in layer.weights]]
              for layer in model._flatten_layers(include_self=False)]
    text = json.dumps(layers, sort_keys=True, default=str)
    return {"class": type(model).__name__, "params": int(model.count_params()),
            "sha256": hashlib.sha256(text.encode()).hexdigest()}


# What fixes the data order and the step count of a run: resuming under other
# values would continue at a step computed for another run.
RESUME_KEYS = ("epochs", "batch_size", "seed", "optimizer", "learning_rate", "weight_decay", "schedule",
               "step_epochs", "step_gamma", "warmup_epochs", "label_smoothing", "mixed_precision")


class RunFolder:
    """One run's files. Only the chief writes the shared files; every worker
    (multi-worker, parameter server) keeps its own backup."""

    def __init__(self, out_dir, *, chief=True, worker_id=None):
        self.out_dir, self.chief = out_dir, chief
        backup_dir = os.path.join(out_dir, "backup")
        if not chief:
            backup_dir = os.path.join(backup_dir, f"worker_{worker_id}")
        self.backup = BackupAndRestore(backup_dir)
        self.best_path = os.path.join(out_dir, "best.weights.h5")

    def path(self, *parts):
        return os.path.join(self.out_dir, *parts)

    def check_resume(self, config, data=None, model=None):
        """Refuse to resume under another config, data or model than the run started with, and a finished run."""
        if not self.chief or not self.backup.exists() or not os.path.exists(self.path("config.json")):
            return
        with open(self.path("config.json")) as f:
            old = json.load(f)
        new = json.loads(json.dumps(dataclasses.asdict(config)))
        diffs = [f"{k}={old.get(k)!r} (now {new.get(k)!r})" for k in RESUME_KEYS if old.get(k) != new.get(k)]
        if model is not None and os.path.exists(self.path(MODEL_JSON)):  # (runs from before it have none)
            with open(self.path(MODEL_JSON)) as f:
                before = json.load(f)
            now = architecture(model)
            if before.get("sha256") != now["sha256"]:
                diffs.append(f"another model ({before.get('class')}, {before.get('params'):,} parameters; now "
                             f"{now['class']}, {now['params']:,}: another model name or --model-arg)")
        if data is not None and os.path.exists(self.path("data.json")):
            with open(self.path("data.json")) as f:
                before = json.load(f)
            now = json.loads(json.dumps(data.summary(), default=files.json_default))  # NumPy counts too
            diffs += [f"data {k}={before.get(k)!r} (now {now.get(k)!r})" for k in ("name", "sizes", "num_classes")
                      if before.get(k) != now.get(k)]
        if diffs:
            raise ValueError(
                f"The run in {self.out_dir!r} was started with {'; '.join(diffs)}. Resuming would continue at a "
                "step computed for that run. Resume with the original value(s), or start over with --restart "
                "(restart=True), or choose another --out.")
        meta = self.backup.meta()
        if meta["epoch"] >= config.epochs and os.path.exists(self.path("model.keras")):
            raise ValueError(f"The run in {self.out_dir!r} is finished: all {config.epochs} epochs trained, saved "
                             f"in {self.path('model.keras')}. Train it again with --restart (restart=True), "
                             "or choose another --out.")

    def prepare(self, config, data=None, *, restart=False, model=None):
        """Before a run: take the folder's lock (one run at a time writes it), then start over (`restart`)
        or check that resuming is safe."""
        if self.chief:
            self._lock()
        if restart:
            self._check_is_run()
            self.clear()
        else:
            self.check_resume(config, data, model)

    def _lock(self):
        """An exclusive lock on `<out>/.zoo-run.lock` for this process's life: a second `zoo train` into the
        same folder is refused instead of overwriting the first one's model (released when the process
        ends, even if killed)."""
        import fcntl

        if os.path.abspath(self.out_dir) in _HELD_LOCKS:  # this process holds it already (a run it resumes)
            return
        os.makedirs(self.out_dir, exist_ok=True)
        handle = open(self.path(".zoo-run.lock"), "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise ValueError(f"Another training run is writing to {self.out_dir!r} (it holds the folder's lock). "
                             "Wait for it to finish, or choose another --out.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        _HELD_LOCKS[os.path.abspath(self.out_dir)] = handle  # held until the process ends

    def release(self):
        """Let another run write the folder (the end of `fit`)."""
        handle = _HELD_LOCKS.pop(os.path.abspath(self.out_dir), None)
        if handle is not None:
            handle.close()  # closing the file releases the flock

    def _check_is_run(self):
        """`--restart` deletes only what a zoo run wrote: refuse a folder that holds other things but no run."""
        ours = {*RESTART_PARTS, "config.json", "data.json", MODEL_JSON, "model.keras", "vectorizer.keras",
                "metrics.json", "forecast.json", ".zoo-run.lock"}
        present = set(os.listdir(self.out_dir)) if os.path.isdir(self.out_dir) else set()
        if present - ours and not os.path.exists(self.path("config.json")):
            raise ValueError(f"{self.out_dir!r} is not a zoo run folder (no config.json) and holds "
                             f"{sorted(present - ours)[:5]}: --restart deletes a run's backup, checkpoints, logs "
                             "and history, and will not touch a folder it did not write. Choose a new --out.")

    def clear(self):
        """Start over: remove the backup, checkpoints, best weights and logs (not the final model)."""
        for part in RESTART_PARTS:
            files.remove(self.path(part))

    def write_start(self, config, data=None, model=None):
        """config.json, data.json, model.json (its architecture's fingerprint) and the text vectorizer (chief
        only)."""
        if not self.chief:
            return
        files.write_json(self.path("config.json"), dataclasses.asdict(config))
        if model is not None:
            files.write_json(self.path(MODEL_JSON), architecture(model))
        if data is not None:
            files.write_json(self.path("data.json"), data.summary())
            if data.vectorizer is not None:
                from pipelines.text import save_vectorizer

                save_vectorizer(data.vectorizer, self.path("vectorizer.keras"))

    def save_checkpoint(self, model, epoch, keep):
        if not self.chief:
            return
        folder = self.path("checkpoints")
        save_weights(model, os.path.join(folder, f"epoch_{epoch:03d}.weights.h5"))
        names = sorted(f for f in os.listdir(folder) if f.startswith("epoch_"))
        for name in names[:-keep]:
            os.remove(os.path.join(folder, name))

    def save_best(self, model):
        if self.chief:
            save_weights(model, self.best_path)

    def has_best(self):
        return os.path.exists(self.best_path)

    def load_best(self, model):
        model.load_weights(self.best_path)

    def save_final(self, model, summary):
        if not self.chief:
            return
        save_model(model, self.path("model.keras"))
        files.write_json(self.path("history.json"), summary)


def save_weights(model, path):
    """`model.save_weights(path)`, atomically."""
    with files.atomic_path(path) as tmp:
        model.save_weights(tmp)


def save_model(model, path):
    """`model.save(path)` that never leaves a half-written file at `path`."""
    with files.atomic_path(path) as tmp:
        model.save(tmp)


def load_run(source, weights=None):
    """`(model, run_info)` from a `.keras` file, a `zoo train` run folder or a registered name: `run_info` is
    the run's `data.json` (with `"vectorizer"`, the run's fitted vectorizer, for text runs), what the card of
    the zoo's own `weights` says, or `{}`."""
    from zoo import pretrained, registry

    run_dir = None
    if os.path.isdir(source):
        if not os.path.exists(os.path.join(source, "model.keras")):
            raise ValueError(f"{source!r} is not a run folder (no model.keras in it): pass the folder `zoo train "
                             "--out` wrote (a run still training has no model.keras yet), or a .keras file.")
        run_dir, source = source, os.path.join(source, "model.keras")
    if source.endswith(".keras"):
        if not os.path.exists(source):
            raise ValueError(f"Model file {source!r} does not exist.")
        model = registry.load_model(source)
        run_dir = run_dir or os.path.dirname(os.path.abspath(source))
    elif os.sep in source or source.startswith(".") or os.path.exists(source):  # a path, not a model name
        raise ValueError(f"{source!r} is not a run folder (no model.keras in it) or a .keras file"
                         + ("" if os.path.exists(source) else ": it does not exist") + ". Pass the folder "
                         "`zoo train --out` wrote, a .keras file, or a registered model name (`zoo list`).")
    elif weights and weights in pretrained.names(source):  # the zoo's own weights: their card says the data
        return pretrained.load(source, weights, strings=False), pretrained.data_info(source, weights)
    else:
        model = registry.create_model(source, **({"weights": weights} if weights else {}))
    info = {}
    if run_dir and os.path.exists(os.path.join(run_dir, "data.json")):
        with open(os.path.join(run_dir, "data.json")) as f:
            info = json.load(f)
        vec = os.path.join(run_dir, "vectorizer.keras")
        if os.path.exists(vec):  # repaired with the model if saved before zoo's text standardization
            from pipelines.text import load_vectorizer

            info["vectorizer"], model = load_vectorizer(vec, model)
    return model, info


def read_training(run_dir):
    """`{"data": ..., "config": ...}`: what a run folder records of its data (`data.json`, without the fitted
    vectorizer) and recipe (`config.json`), for an export's manifest and model card; `{}` for no run folder."""
    out = {}
    for key, name in (("data", "data.json"), ("config", "config.json"), ("metrics", "metrics.json")):
        path = os.path.join(run_dir, name)
        if os.path.isfile(path):
            with open(path) as f:
                out[key] = json.load(f)
    if "data" in out:
        out["data"] = {k: v for k, v in out["data"].items() if k not in ("vectorizer", "preprocessing")}
    return out
