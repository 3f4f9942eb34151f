"""The `KIND:PATH` sources, one module per kind; each registers itself (`pipelines.registry.register_source`)
and its presets (`register_dataset`). `pipelines.registry.load_sources()` imports every module here.

| kind | module | reads |
| --- | --- | --- |
| `text:` | `text_file` | CSV/TSV/JSON Lines text classification (SST-2 preset) |
| `textfolder:` | `text_folder` | class folders of text files, or their tar (IMDB preset) |
| `tabular:` | `tabular_file` | features and a target in CSV/TSV/JSONL/Parquet |
| `series:` | `series_file` | a CSV time series (airline preset) |
| `npz:` | `npz_file` | NumPy image arrays (digits preset) |
| `idx:` | `idx_files` | MNIST-format IDX files (MNIST preset) |
| `tfrecord:` | `tfrecords` | image or text TFRecord shards (CIFAR-10 preset) |
| `folder:` | `image_folder` | image class folders |
| `tfds:` | `tfds_catalog` | TensorFlow Datasets by name |
"""
