"""Datasets by name: `load_dataset("cifar10", data_dir=...)`, and your own files by kind:
`load_dataset("text:reviews.csv", text_column="Text")` (`text:`, `textfolder:`, `tabular:`, `idx:`, `npz:`, `series:`, `folder:`,
`tfds:`). Every loaded `DataSplits` records its `spec` (kind, absolute path, options), which a run
saves so `zoo export RUN` reloads the same data for calibration and scoring.
"""

import json
import os

from pipelines import folder_source, image, series, tabular, text, text_source, tfds_source

# name -> (loader, needs data_dir, description)
DATASETS = {
    "digits": (lambda data_dir, **kw: image.digits(**kw), False,
               "scikit-learn's bundled 8x8 digits (offline)"),
    "mnist": (image.mnist, True, "MNIST IDX .gz files"),
    "cifar10": (image.cifar10, True, "CIFAR-10 TFRecord shards + labels.txt"),
    "imdb": (text.imdb, True, "aclImdb folder or its .tar.gz"),
    "sst2": (text.sst2, True, "SST-2 train/dev/test .tsv"),
    "airline": (series.airline, True, "airline-passengers.csv"),
}


from pipelines.constants import DATASET_PREFIXES  # noqa: E402

# kind -> loader(path, **options) for `kind:PATH`
SOURCES = {
    "text": text_source.text_file,
    "textfolder": folder_source.text_folder,
    "tabular": tabular.tabular_file,
    "idx": image.idx,
    "npz": image.npz,
    "series": series.series_file,
    "tfrecord": image.tfrecords,
    "folder": image.image_folder,
}


def register_dataset(name, *, needs_data_dir=True, description=""):
    """Register a loader `fn(data_dir, **options) -> DataSplits` under `name` for `load_dataset` and
    `zoo train --dataset NAME` (in a module your code imports first).

    Example:

    ```python
    import pipelines
    from pipelines.catalog import register_dataset

    @register_dataset("my_reviews", description="reviews.csv in data_dir")
    def my_reviews(data_dir, sequence_length=128):
        return pipelines.text_file(f"{data_dir}/reviews.csv", sequence_length=sequence_length)
    ```
    """
    def decorator(fn):
        if name in DATASETS or ":" in name:
            raise ValueError(f"A dataset named {name!r} is already registered (or has a ':'). Pick another name.")
        DATASETS[name] = (fn, needs_data_dir, description)
        return fn

    return decorator



def _is_tfds_name(name):
    """True for names in the TFDS catalog (no download: the builder list is local)."""
    try:
        import tensorflow_datasets as tfds

        return name.split(":")[0].split("/")[0] in set(tfds.list_builders())
    except Exception:  # TFDS missing or broken: fall back to the built-in names
        return False


def list_datasets():
    return sorted(DATASETS) + list(DATASET_PREFIXES)


def load_dataset(name, data_dir=None, **kwargs):
    """`DataSplits` for a named dataset or a file of your own.

    `name` is one of `list_datasets()`: a built-in or registered name, any
    TFDS dataset name (`tfds:<name>` to be explicit; loaded with `tfds.load`,
    from `data_dir` when given), or `KIND:PATH` for your own data:
    `text:` (CSV/TSV/JSONL, `pipelines.text_file`), `textfolder:` (class folders of text files or
    their tar archive, `pipelines.text_folder`), `tabular:` (a table of features and a
    target, `pipelines.tabular_file`), `idx:` (four IDX files, `pipelines.idx`), `npz:` (NumPy
    image arrays in keras.datasets' layout, `pipelines.npz`), `series:` (a CSV time series,
    `pipelines.series_file`), `tfrecord:` (image or text TFRecord shards, `pipelines.tfrecords`),
    `folder:` (image class folders). Options go to the loader; unknown ones
    are refused with the allowed ones.
    """
    data = _load(name, data_dir, kwargs)
    data.spec = _spec(name, data_dir, kwargs)
    return data


def _load(name, data_dir, kwargs):
    kind, _, path = name.partition(":")
    if path and kind == "tfds":
        _check_options(name, tfds_source.tfds_dataset, kwargs, skip=("name", "data_dir"))
        return tfds_source.tfds_dataset(path, data_dir=data_dir, **kwargs)
    if path and kind in SOURCES:
        _check_options(name, SOURCES[kind], kwargs, skip=("path", "directory", "name", "augment"))
        if not os.path.exists(path):
            raise ValueError(f"{path!r} does not exist (dataset {name!r}).")
        return SOURCES[kind](path, **kwargs)
    if path and kind not in DATASETS:
        raise ValueError(f"Unknown data kind {kind!r} in {name!r}. Allowed: {[k + ':PATH' for k in SOURCES]} and "
                         "tfds:NAME.")
    if name not in DATASETS and _is_tfds_name(name):
        _check_options(name, tfds_source.tfds_dataset, kwargs, skip=("name", "data_dir"))
        return tfds_source.tfds_dataset(name, data_dir=data_dir, **kwargs)
    if name not in DATASETS:
        import difflib

        close = difflib.get_close_matches(name, list(DATASETS), n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(f"Unknown dataset.{hint} Allowed: {list_datasets()}. Received: dataset={name!r}")
    loader, needs_dir, what = DATASETS[name]
    if needs_dir:
        if data_dir is None:
            raise ValueError(f"Dataset {name!r} reads {what}: pass data_dir= (--data-dir).")
        if not os.path.exists(data_dir):
            raise ValueError(f"data_dir {data_dir!r} does not exist (dataset {name!r} needs {what}).")
    _check_options(name, image.digits if name == "digits" else loader, kwargs, skip=("data_dir",))
    return loader(data_dir, **kwargs)


def _spec(name, data_dir, kwargs):
    """What reloads this data: the name with an absolute path, the data_dir, the JSON-able options."""
    kind, _, path = name.partition(":")
    if path and kind in SOURCES:
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
    if data_dir and path and kind in SOURCES:
        name = f"{kind}:{data_dir}"
    where = data_dir or recorded_dir or (path if kind in SOURCES else None)
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
