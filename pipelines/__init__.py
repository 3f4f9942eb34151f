"""tf.data input pipelines and distribution strategies shared by every zoo model.

Example:

```python
import pipelines
data = pipelines.load_dataset("digits")
train = data.batches("train", batch_size=64, seed=0)   # shuffled, augmented
x, y = next(iter(train))                               # (64, 8, 8, 1), (64,)
```
"""

import importlib

from pipelines import quiet
from pipelines.constants import STRATEGIES  # noqa: F401  (no TensorFlow import)

quiet.install()  # TensorFlow's start-up lines, filtered at its first import (`pipelines.quiet`)

_MODULES = {
    "pipelines.catalog": ("list_datasets", "load_dataset", "load_spec"),
    "pipelines.registry": ("DATASETS", "SOURCES", "register_dataset", "register_source"),
    "pipelines.checks": ("check_splits",),
    "pipelines.core": ("DataSplits", "from_arrays", "make_batches", "sample_arrays", "take_arrays"),
    "pipelines.delimited": ("read_class_names", "read_rows"),
    "pipelines.image": ("crop_and_flip",),
    "pipelines.series": ("forecast_report", "invert_windows", "naive_baselines", "windows"),
    "pipelines.strategy": ("get_strategy", "parameter_server_task", "serve_cluster_task", "use_logical_cpus",
                           "wait_for_cluster"),
    "pipelines.text": ("batched_text_splits", "make_vectorizer", "text_splits"),
    "pipelines.sources.idx_files": ("idx", "mnist", "read_idx"),
    "pipelines.sources.image_folder": ("image_folder",),
    "pipelines.sources.npz_file": ("digits", "image_arrays", "npz"),
    "pipelines.sources.series_file": ("airline", "read_series", "series_file"),
    "pipelines.sources.tabular_file": ("raw_feature_specs", "tabular_encoder", "tabular_file"),
    "pipelines.sources.text_file": ("read_table", "sst2", "text_file"),
    "pipelines.sources.text_folder": ("imdb", "read_text_folder", "text_folder"),
    "pipelines.sources.tfds_catalog": ("tfds_dataset", "tfds_images"),
    "pipelines.sources.tfrecords": ("cifar10", "count_records", "tfrecord_images", "tfrecords"),
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}

_SUBMODULES = ("catalog", "checks", "core", "delimited", "files", "image", "registry", "series", "sources",
               "splits", "strategy", "text")

__all__ = sorted(["STRATEGIES", *_LAZY])


def __getattr__(name):
    # TensorFlow loads with the first pipeline used, not with `import pipelines`.
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"pipelines.{name}")
    raise AttributeError(f"module 'pipelines' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
