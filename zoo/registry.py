"""Model registry: `register_model`, `list_models`, `create_model`, `model_info`.

Every family module decorates its public builders with `@register_model(...)`;
importing `zoo` imports the families, so the registry is always complete.

Example:

```python
import zoo
zoo.list_models("resnet*")            # ['resnet101', 'resnet110', ...]
model = zoo.create_model("resnet20", classes=10)
zoo.model_info("resnet50")["params"]  # 25636712
```
"""

import dataclasses
import difflib
import fnmatch
import functools
import importlib
import json
import os
from typing import Callable

from zoo import pretrained
from zoo.tasks_names import TASK_NAMES

# The modules whose builders register themselves are those `catalog.json` names (`family_modules`);
# imported on first use so that `import zoo` (and `zoo list`/`zoo info`, which read the catalog) stay
# fast and do not load TensorFlow. `python -m zoo.registry` finds a new family by importing every module.
# Keras classes that saved models name besides the families' own: the task model every builder returns, the
# shared layers, the distiller. (Keras and NumPy only: no TensorFlow import, so they load on any backend.)
CLASS_MODULES = ("zoo.tasks", "zoo.layers", "zoo.compress")
CATALOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "catalog.json")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one model name."""

    name: str
    builder: Callable
    family: str
    task: str
    input_shape: tuple
    input_dtype: str
    reference: str
    pretrained: tuple = ()
    tiny: bool = False
    plain_builder: Callable = None  # the function as written; `builder` adds the zoo's shipped weights

    def info(self):
        return {
            "name": self.name,
            "family": self.family,
            "task": self.task,
            "input": {"shape": self.input_shape, "dtype": self.input_dtype},
            "reference": self.reference,
            "pretrained": [*self.pretrained, *pretrained.names(self.name)],
            "tiny": self.tiny,
            "module": self.builder.__module__,
        }


_REGISTRY: dict = {}


def register_model(
    *,
    family,
    task,
    input_shape,
    input_dtype="float32",
    reference="",
    pretrained=(),
    tiny=False,
    name=None,
):
    """Decorator that registers a model builder under its function name.

    `input_shape` is the default per-example input shape (no batch axis,
    `None` for a free length) and `input_dtype` its dtype; for models with
    several inputs pass a dict `{input_name: shape}`.
    """
    if task not in TASK_NAMES:
        raise ValueError(
            f"`task` must be one of {list(TASK_NAMES)}. Received: task={task!r}"
        )

    def decorator(fn):
        key = name or fn.__name__
        if key in _REGISTRY:
            raise ValueError(
                f"A model named {key!r} is already registered "
                f"(by {_REGISTRY[key].builder.__module__})."
            )
        builder = _with_shipped_weights(key, fn)
        _REGISTRY[key] = ModelSpec(
            name=key,
            builder=builder,
            family=family,
            task=task,
            input_shape=input_shape,
            input_dtype=input_dtype,
            reference=reference,
            pretrained=tuple(pretrained),
            tiny=tiny,
            plain_builder=fn,
        )
        return builder

    return decorator


def _with_shipped_weights(key, fn):
    """`fn` that also takes `weights=NAME` for a weight set the zoo ships (`zoo.pretrained`): the builder's
    own names (`"imagenet"`) and files go to `fn` unchanged."""

    @functools.wraps(fn)
    def builder(*args, **kwargs):
        weights, own = kwargs.get("weights"), _REGISTRY[key].pretrained
        if isinstance(weights, str) and weights not in own:
            if weights in pretrained.names(key):
                return pretrained.build(key, fn, weights, args, {k: v for k, v in kwargs.items() if k != "weights"})
            if not os.path.exists(weights):
                allowed = ", ".join(["None", *map(repr, own + pretrained.names(key)), "a path to a weights file"])
                raise ValueError(f"`weights` is neither a weight set of {key!r} nor an existing file. Allowed: "
                                 f"{allowed} (`zoo list --weights` shows the zoo's own). Received: weights={weights!r}")
        return fn(*args, **kwargs)

    return builder


_LOADING = []


def load_families():
    """Import every family module (registering its builders) and every module whose Keras classes a saved
    zoo model refers to (`CLASS_MODULES`); cheap after the first call."""
    if _LOADING:  # a family's own `import keras` ran the after-Keras hook (zoo/__init__.py): the outer call loads
        return
    _LOADING.append(True)
    try:
        for module in family_modules() + CLASS_MODULES:
            importlib.import_module(module)
    finally:
        _LOADING.clear()
    import keras

    if keras.backend.backend() == "tensorflow":  # text models that take raw strings (zoo>TextToIds)
        importlib.import_module("pipelines.text")
    for callback in _AFTER_LOAD:
        callback()


# Called after `load_families`: the `zoo` package rebinds its builder attributes there (importing a
# family module binds the module, e.g. `zoo.mlp`, over the builder of the same name). A callback, so
# that this module never imports the package that imports it.
_AFTER_LOAD = []


def after_load(callback):
    """Run `callback()` after every `load_families` call."""
    _AFTER_LOAD.append(callback)


def load_model(path, **kwargs):
    """`keras.saving.load_model(path)` with every zoo layer and model class registered.

    `import zoo` does not load Keras (so the CLI stays instant); the zoo's
    Keras classes register when a family loads: through any builder, the
    registry, this function, or at `import zoo` when Keras is already loaded.
    """
    load_families()
    import zipfile

    import keras

    if not os.path.exists(path):
        raise ValueError(f"Model file {path!r} does not exist.")
    if str(path).endswith(".keras") and not zipfile.is_zipfile(path):
        raise ValueError(f"{path!r} is not a .keras file (not a zip archive: truncated, or another format). "
                         "Save the model again.")
    try:
        return keras.saving.load_model(path, **kwargs)
    except (zipfile.BadZipFile, OSError, KeyError) as err:
        raise ValueError(f"{path!r} cannot be loaded as a Keras model ({err}). Save the model again.") from None


def _spec(name):
    load_families()
    if not isinstance(name, str) or name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=5)
        hint = f" Did you mean one of: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"Unknown model name. Received: name={name!r}.{hint} "
            "Call `zoo.list_models()` for every registered name."
        )
    return _REGISTRY[name]


def list_models(pattern="*", *, family=None, task=None, tiny=None):
    """Sorted registered model names matching a shell-style `pattern`.

    Args:
        pattern: `fnmatch` wildcard, e.g. `"resnet*"`; a list of patterns
            selects the union.
        family: keep only this family (`"resnet"`, `"densenet"`, ...).
        task: keep only this task (see `zoo.registry.TASKS`).
        tiny: `True` for the tiny test variants only, `False` to leave them
            out, `None` (default) for all.
    """
    load_families()
    return _select(((k, s.info()) for k, s in _REGISTRY.items()), pattern, family, task, tiny)


def _select(items, pattern, family, task, tiny):
    patterns = [pattern] if isinstance(pattern, str) else list(pattern) if isinstance(pattern, (list, tuple)) else None
    if not patterns or not all(isinstance(p, str) for p in patterns):
        raise ValueError(f"`pattern` is a wildcard string such as 'resnet*', or a list of them. Received: "
                         f"pattern={pattern!r}")
    names = []
    for key, info in items:
        if not any(fnmatch.fnmatchcase(key, p) for p in patterns):
            continue
        if family is not None and info["family"] != family:
            continue
        if task is not None and info["task"] != task:
            continue
        if tiny is not None and info["tiny"] != tiny:
            continue
        names.append(key)
    return sorted(names)


def list_families():
    load_families()
    return sorted({spec.family for spec in _REGISTRY.values()})


def get_spec(name):
    """The `ModelSpec` of a registered name (raises `ValueError` if unknown)."""
    return _spec(name)


pretrained.set_builder_lookup(lambda name: _spec(name).plain_builder)


def create_model(name, /, **overrides):
    """Build a registered model; keyword `overrides` go to its builder."""
    spec = _spec(name)
    try:
        return spec.builder(**overrides)
    except TypeError as err:
        if "keyword argument" not in str(err):
            raise
        raise ValueError(f"{name}: {err}. Its arguments are those of {spec.builder.__module__} "
                         f"(`help(zoo.{name})`). Received: {sorted(overrides)}") from None


@functools.lru_cache(maxsize=None)
def _count_params(name):
    model = create_model(name, weights=None)
    return int(model.count_params())


def model_info(name, *, count_params=True):
    """Family, task, input spec, parameter count and reference of a model.

    The parameter count builds the model once with its defaults (cached).
    """
    spec = _spec(name)
    info = spec.info()
    if count_params:
        info["params"] = _count_params(name)
    return info


# --------------------------------------------------------------------------
# The catalog: the registry's metadata and parameter counts as JSON, so the
# CLI lists and describes models without building one (or importing Keras).
# `python -m zoo.registry` rewrites it; a test checks it against the registry.


def catalog_entries():
    """`{name: model_info(name)}` for every registered model (builds each once)."""
    return {name: model_info(name) for name in list_models()}


def read_catalog():
    with open(CATALOG) as f:
        return json.load(f)


_FAMILIES = None


def family_modules():
    """The modules whose builders register models, as the catalog names them (`module` of each model)."""
    global _FAMILIES
    if _FAMILIES is None:
        _FAMILIES = tuple(sorted({info["module"] for info in read_catalog().values()}))
    return _FAMILIES


def catalog_select(catalog, pattern="*", *, family=None, task=None, tiny=None):
    """`list_models` over a catalog dict: the same filters, no Keras."""
    return _select(catalog.items(), pattern, family, task, tiny)


def write_catalog(path=CATALOG):
    """Import every module of `zoo/` (a new family registers its builders), then write the catalog."""
    import pkgutil

    from pipelines.files import atomic_write

    for module in pkgutil.iter_modules([os.path.dirname(os.path.abspath(__file__))]):
        importlib.import_module(f"zoo.{module.name}")
    atomic_write(path, (json.dumps(catalog_entries(), indent=1, sort_keys=True) + "\n").encode())


if __name__ == "__main__":  # python -m zoo.registry: through the imported module, whose registry the families fill
    from zoo import registry as _registry

    _registry.write_catalog()
    print(f"Wrote {CATALOG}")
