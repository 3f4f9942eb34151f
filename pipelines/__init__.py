"""tf.data input pipelines and distribution strategies shared by every zoo model.

Example:

```python
import pipelines
data = pipelines.load_dataset("digits")
train = data.batches("train", batch_size=64, seed=0)   # shuffled, augmented
x, y = next(iter(train))                               # (64, 8, 8, 1), (64,)
```
"""

from pipelines.catalog import DATASETS, list_datasets, load_dataset
from pipelines.core import DataSplits, from_arrays, make_batches
from pipelines.image import (cifar10, count_records, crop_and_flip, digits, image_folder,
                             mnist, read_idx, tfds_images, tfrecord_images)
from pipelines.series import airline, invert_windows, read_series, windows
from pipelines.strategy import (STRATEGIES, get_strategy, parameter_server_task, serve_cluster_task,
                                use_logical_cpus)
from pipelines.text import imdb, make_vectorizer, read_table, read_text_folder, sst2, text_splits

__all__ = [
    "DATASETS", "DataSplits", "STRATEGIES", "airline", "cifar10", "count_records", "crop_and_flip",
    "digits", "from_arrays", "get_strategy", "image_folder", "imdb", "invert_windows", "list_datasets",
    "load_dataset", "make_batches", "make_vectorizer", "mnist", "parameter_server_task", "read_idx",
    "read_series", "read_table", "read_text_folder", "serve_cluster_task", "sst2", "text_splits",
    "tfds_images", "tfrecord_images",
    "use_logical_cpus", "windows",
]
