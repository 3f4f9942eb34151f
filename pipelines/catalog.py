"""Datasets by name: `load_dataset("cifar10", data_dir=...)`, and your own files by kind:
`load_dataset("text:reviews.csv", text_column="Text")`, for every kind registered in
`pipelines/sources/` (`pipelines.registry`). Every loaded `DataSplits` records its `spec` (kind, absolute path, options), which a run
saves so `zoo export RUN` reloads the same data for calibration and scoring.
"""

import json
import os

from pipelines.registry import DATASETS, SOURCES, load_sources, register_dataset  # noqa: F401  (public here too)


def _is_tfds_name(name):
    """True for names in the TFDS catalog (no download: the builder list is local)."""
    try:
        import tensorflow_datasets as tfds

        return name.split(":")[0].split("/")[0] in set(tfds.list_builders())
    except Exception:  # TFDS missing or broken: fall back to the built-in names
        return False


def list_datasets():
    """Every registered dataset name, then every source as `KIND:PATH`."""
    load_sources()
    return sorted(DATASETS) + [f"{kind}:<{SOURCES[kind].path.lower()}>" for kind in sorted(SOURCES)]


def load_dataset(name, data_dir=None, **kwargs):
    """`DataSplits` for a named dataset or a file of your own.

    `name` is one of `list_datasets()`: a built-in or registered name, any
    TFDS dataset name (`tfds:<name>` to be explicit; loaded with `tfds.load`,
    from `data_dir` when given), or `KIND:PATH` for your own data, KIND one of the
    registered sources (`pipelines.SOURCES`; the table in `pipelines/sources/__init__.py`):
    `text:` (CSV/TSV/JSONL), `textfolder:`, `tabular:`, `series:`, `npz:`, `idx:`,
    `tfrecord:`, `folder:`. Options go to the loader; unknown ones are refused with the
    allowed ones.
    """
    data = _load(name, data_dir, kwargs)
    data.spec = _spec(name, data_dir, kwargs)
    return data


def _load(name, data_dir, kwargs):
    load_sources()
    kind, _, path = name.partition(":")
    if path and kind in SOURCES:
        source = SOURCES[kind]
        _check_options(name, source.loader, kwargs, skip=("path", "directory", "name", "augment", "data_dir"))
        if source.local and not os.path.exists(path):
            raise ValueError(f"{path!r} does not exist (dataset {name!r}).")
        wants_folder, takes_file = source.path.startswith("FOLDER"), source.path == "FILE" or "TAR" in source.path
        if source.local and os.path.isfile(path) and not takes_file:
            raise ValueError(f"{path!r} is a file; {kind}: reads a folder ({source.description}).")
        if source.local and os.path.isdir(path) and not wants_folder:
            raise ValueError(f"{path!r} is a folder; {kind}: reads one file ({source.description}).")
        return source.loader(path, **kwargs, **({"data_dir": data_dir} if source.takes_data_dir else {}))
    if path and kind not in DATASETS:
        raise ValueError(f"Unknown data kind {kind!r} in {name!r}. Allowed: "
                         f"{[f'{k}:{s.path}' for k, s in SOURCES.items()]}.")
    if name not in DATASETS and "tfds" in SOURCES and _is_tfds_name(name):  # a bare TFDS name
        return _load(f"tfds:{name}", data_dir, kwargs)
    if name not in DATASETS:
        import difflib

        close = difflib.get_close_matches(name, list(DATASETS), n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(f"Unknown dataset.{hint} Allowed: {list_datasets()}. Received: dataset={name!r}")
    dataset = DATASETS[name]
    if dataset.needs_data_dir:
        if data_dir is None:
            raise ValueError(f"Dataset {name!r} reads {dataset.description}: pass data_dir= (--data-dir).")
        if not os.path.exists(data_dir):
            raise ValueError(f"data_dir {data_dir!r} does not exist (dataset {name!r} needs {dataset.description}).")
    _check_options(name, dataset.loader, kwargs, skip=("data_dir",))
    import inspect

    # A loader reads its folder first (`fn(data_dir, **options)`); digits, which reads none, has no such argument.
    takes_dir = dataset.needs_data_dir or "data_dir" in inspect.signature(dataset.loader).parameters
    return dataset.loader(data_dir, **kwargs) if takes_dir else dataset.loader(**kwargs)


def _spec(name, data_dir, kwargs):
    """What reloads this data: the name with an absolute path, the data_dir, the JSON-able options."""
    kind, _, path = name.partition(":")
    if path and kind in SOURCES and SOURCES[kind].local:
        name = f"{kind}:{os.path.abspath(path)}"
    options = {}
    for key, value in kwargs.items():
        if isinstance(value, str) and os.sep in value and os.path.exists(value):
            value = os.path.abspath(value)  # e.g. text_file's val=/test= files, read again from anywhere
        try:
            options[key] = json.loads(json.dumps(value))
        except (TypeError, ValueError):
            continue  # e.g. a fitted vectorizer: a run saves it beside the model
    return {"dataset": name, "data_dir": os.path.abspath(data_dir) if data_dir else None, "options": options}


def load_spec(spec, *, data_dir=None, **overrides):
    """Reload the data a `DataSplits.spec` (a run's `data.json["spec"]`) describes. `data_dir` replaces
    the recorded folder (or, for `KIND:PATH` data, the path) when the data has moved."""
    name, recorded_dir = spec["dataset"], spec.get("data_dir")
    kind, _, path = name.partition(":")
    load_sources()
    local = path and kind in SOURCES and SOURCES[kind].local
    if data_dir and local:
        name = f"{kind}:{data_dir}"
    where = data_dir or recorded_dir or (path if local else None)
    if where and not os.path.exists(where):
        raise ValueError(f"The run's data {where!r} is gone (moved or on another machine). Pass --data-dir with "
                         "where it is now, or --calibration-data FILE.npy to calibrate without it.")
    return load_dataset(name, data_dir or recorded_dir, **{**spec.get("options", {}), **overrides})


def _check_options(name, loader, kwargs, skip=()):
    """Unknown options are refused with the allowed ones (a TypeError deep inside would name none)."""
    import inspect

    allowed = [p for p in inspect.signature(loader).parameters if p not in skip]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"Dataset {name!r} has no option(s) {unknown}. Allowed (--data-arg KEY=VALUE): {allowed}.")
