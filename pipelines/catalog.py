"""Datasets by name: `load_dataset("cifar10", data_dir=...)`."""

import os

from pipelines import image, series, text

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


from pipelines.constants import BUILTIN_DATASETS, DATASET_PREFIXES  # noqa: E402



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
    """`DataSplits` for a named dataset.

    `name` is one of `list_datasets()`: a built-in name, any TFDS image
    dataset name (`tfds:<name>` to be explicit; loaded with `tfds.load`,
    downloading unless `data_dir` holds it), or `folder:<path>` (image class
    folders).
    """
    if name.startswith("tfds:"):
        return image.tfds_images(name[5:], data_dir=data_dir, **kwargs)
    if name.startswith("folder:"):
        return image.image_folder(name[7:], **kwargs)
    if name not in DATASETS and _is_tfds_name(name):
        return image.tfds_images(name, data_dir=data_dir, **kwargs)
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
    _check_options(name, loader, kwargs)
    return loader(data_dir, **kwargs)


def _check_options(name, loader, kwargs):
    """Unknown options are refused with the allowed ones (a TypeError deep inside would name none)."""
    import inspect

    target = image.digits if name == "digits" else loader
    allowed = [p for p in inspect.signature(target).parameters if p != "data_dir"]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"Dataset {name!r} has no option(s) {unknown}. Allowed (--data-arg KEY=VALUE): {allowed}.")
