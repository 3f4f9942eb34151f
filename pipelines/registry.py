"""The one registration point for data: `KIND:PATH` sources and named datasets.

A source module in `pipelines/sources/` declares its kind once, on its loader:

```python
from pipelines.registry import option, register_source

@register_source("lines", path="FILE", description="one example per line: LABEL<TAB>TEXT",
                 options={"class_names": option("'a,b' or a file of names (fixes the order)")})
def line_file(path, *, class_names=None, val_fraction=0.1):
    ...
```

`load_dataset("lines:my.txt")`, `zoo train --dataset lines:my.txt --class-names a,b`, `list_datasets()`
and the unknown-kind error all read that declaration: every module in `pipelines/sources/` is
imported by `load_sources()`, and `python -m pipelines.registry` writes `pipelines/sources.json`, which
the command line reads so that `zoo --help` imports no TensorFlow (a test checks the file is current).
Named datasets (presets such as `mnist`) register with `@register_dataset` beside their source.

This module imports neither TensorFlow nor the sources.
"""

import dataclasses
import importlib
import json
import os
import pkgutil
from typing import Callable

CATALOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sources.json")
OPTION_TYPES = ("str", "int", "positive_int", "float")  # the command line's types for them: app.cli._TYPES


@dataclasses.dataclass(frozen=True)
class Source:
    """A `KIND:PATH` source: `loader(path, **options)` returns `DataSplits`."""

    kind: str
    loader: Callable
    path: str  # what PATH names, for help texts: FILE, FOLDER, NAME
    description: str
    options: dict  # option name -> `option(...)`: the command-line flags (`--label-column`)
    local: bool = True  # PATH must exist on this machine (False: a catalog name, e.g. `tfds:`)
    takes_data_dir: bool = False  # the loader also takes `data_dir=` (`tfds:`)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A named dataset: `loader(data_dir, **options)` returns `DataSplits`."""

    name: str
    loader: Callable
    needs_data_dir: bool
    description: str


SOURCES = {}  # kind -> Source
DATASETS = {}  # name -> Dataset


def option(help, *, type="str", choices=None, negate=None):
    """A source option as a command-line flag: `--NAME` (underscores as dashes) taking a value of `type`
    ("str", "int", "positive_int", "float"), or with `negate="--no-NAME"` a switch that passes False."""
    if type not in OPTION_TYPES:
        raise ValueError(f"Unknown option type. Allowed: {sorted(OPTION_TYPES)}. Received: type={type!r}")
    return {"help": help, "type": type, "choices": list(choices) if choices else None, "negate": negate}


def register_source(kind, *, path="FILE", description, options=None, local=True, takes_data_dir=False):
    """Register `loader(path, **options)` as the `KIND:PATH` source `kind` (see the module docstring)."""
    if not kind.isidentifier() or kind in SOURCES:
        raise ValueError(f"Source kinds are unique identifiers. Received: kind={kind!r}")

    def decorator(loader):
        SOURCES[kind] = Source(kind, loader, path, description, dict(options or {}), local, takes_data_dir)
        return loader

    return decorator


def register_dataset(name, *, needs_data_dir=True, description=""):
    """Register a loader `fn(data_dir, **options) -> DataSplits` under `name` for `load_dataset` and
    `zoo train --dataset NAME` (in a module your code imports first).

    Example:

    ```python
    import pipelines
    from pipelines.registry import register_dataset

    @register_dataset("my_reviews", description="reviews.csv in data_dir")
    def my_reviews(data_dir, sequence_length=128):
        return pipelines.text_file(f"{data_dir}/reviews.csv", sequence_length=sequence_length)
    ```
    """
    if name in DATASETS or ":" in name:
        raise ValueError(f"A dataset named {name!r} is already registered (or has a ':'). Pick another name.")

    def decorator(fn):
        DATASETS[name] = Dataset(name, fn, needs_data_dir, description)
        return fn

    return decorator


def load_sources():
    """Import every module in `pipelines/sources/` (each registers its kinds and presets); cheap after
    the first call."""
    from pipelines import sources

    for module in pkgutil.iter_modules(sources.__path__):
        importlib.import_module(f"pipelines.sources.{module.name}")


def source_catalog():
    """`{"sources": {kind: {path, description, options}}, "datasets": {name: description}}` as registered,
    JSON-able: what `pipelines/sources.json` holds."""
    load_sources()
    return {"sources": {k: {"path": SOURCES[k].path, "description": SOURCES[k].description,
                            "options": SOURCES[k].options} for k in sorted(SOURCES)},
            "datasets": {name: DATASETS[name].description for name in sorted(DATASETS)}}


def read_catalog():
    """`pipelines/sources.json` without importing the sources (for the command line)."""
    with open(CATALOG) as f:
        return json.load(f)


def write_catalog():
    from pipelines.files import atomic_write

    atomic_write(CATALOG, json.dumps(source_catalog(), indent=1, sort_keys=False) + "\n")


if __name__ == "__main__":  # python -m pipelines.registry: through the imported module the sources fill
    from pipelines import registry as _registry

    _registry.write_catalog()
    print(f"Wrote {_registry.CATALOG}")
