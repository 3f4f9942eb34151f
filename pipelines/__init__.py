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

from pipelines.constants import STRATEGIES  # noqa: F401  (no TensorFlow import)

_MODULES = {
    "pipelines.catalog": ("DATASETS", "SOURCES", "list_datasets", "load_dataset", "load_spec", "register_dataset"),
    "pipelines.checks": ("check_splits",),
    "pipelines.core": ("DataSplits", "from_arrays", "make_batches"),
    "pipelines.image": ("cifar10", "count_records", "crop_and_flip", "digits", "idx", "image_arrays", "image_folder", "npz", "mnist", "read_idx",
                        "tfrecords",
                        "tfds_images", "tfrecord_images"),
    "pipelines.series": ("airline", "forecast_report", "invert_windows", "naive_baselines", "read_series", "series_file",
                          "windows"),
    "pipelines.tabular": ("raw_feature_specs", "tabular_encoder", "tabular_file"),
    "pipelines.tfds_source": ("tfds_dataset",),
    "pipelines.strategy": ("get_strategy", "parameter_server_task", "serve_cluster_task", "use_logical_cpus"),
    "pipelines.text": ("batched_text_splits", "imdb", "make_vectorizer", "read_table", "read_text_folder", "sst2",
                        "text_splits"),
    "pipelines.text_source": ("text_file",),
    "pipelines.folder_source": ("text_folder",),
    "pipelines.table": ("read_class_names", "read_rows"),
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}

__all__ = sorted(["STRATEGIES", *_LAZY])


def __getattr__(name):
    # TensorFlow loads with the first pipeline used, not with `import pipelines`.
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in ("checks", "core", "image", "series", "splits", "tabular", "table", "text", "folder_source", "text_source",
                "tfds_source", "strategy", "catalog"):
        return importlib.import_module(f"pipelines.{name}")
    raise AttributeError(f"module 'pipelines' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
