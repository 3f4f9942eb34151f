"""TensorFlow Datasets by name (`--dataset tfds:NAME`, or a plain TFDS name): image and text
classification, from `data_dir` when given, with one clear error when the data is neither
there nor downloadable (offline)."""

import os

import numpy as np
import tensorflow as tf

from pipelines.core import AUTOTUNE
from pipelines.image import crop_and_flip, image_splits
from pipelines.registry import register_source


def _builder(name, data_dir):
    import tensorflow_datasets as tfds

    try:
        return tfds.builder(name, data_dir=data_dir)
    except Exception as err:  # DatasetNotFoundError and friends: name the catalog
        raise ValueError(f"TFDS has no dataset {name!r} ({type(err).__name__}: {str(err).splitlines()[0]}). "
                         "See https://www.tensorflow.org/datasets/catalog.") from None


def _prepare(builder, name, data_dir):
    """Download and prepare the dataset unless `data_dir` already holds it."""
    if builder.is_prepared():
        return
    here = data_dir or builder.data_dir
    if data_dir and os.path.isdir(data_dir):
        files = sorted(f for f in os.listdir(data_dir) if not f.startswith("."))[:4]
        if any(f.endswith((".gz", ".csv", ".tsv", ".tfrecord", ".jsonl")) or "idx" in f for f in files):
            raise ValueError(
                f"--data-dir {data_dir!r} holds files ({', '.join(files)}), not a prepared TFDS {name!r}. For your "
                f"own files use a source: --dataset idx:{data_dir} (IDX), tfrecord:{data_dir}, text:FILE, "
                "tabular:FILE or series:FILE.")
    try:
        if getattr(builder.download_and_prepare, "__module__", "").startswith("tensorflow_datasets.core"):
            _check_online()  # a real download (not tfds.testing.mock_data's): fail fast offline
        builder.download_and_prepare()
    except Exception as err:  # no network: requests/urllib errors, DownloadError, ...
        first = str(err).splitlines()[0] if str(err) else ""
        raise ValueError(
            f"TFDS could not download {name!r} into {here!r} ({type(err).__name__}: {first[:200]}). This machine "
            f"may be offline: run `tfds build {name} --data_dir DIR` where there is internet, copy DIR here and "
            "pass --data-dir DIR.") from None


PROBE = ("storage.googleapis.com", 443)  # where TFDS keeps most prepared datasets and checksums


def _check_online(timeout=5.0):
    """Fail within seconds on a machine without internet, instead of TFDS' downloader retrying each file for
    minutes (212 s and 56 log lines measured). Skipped behind a proxy, which a direct probe cannot see through."""
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return
    import socket

    try:
        socket.create_connection(PROBE, timeout=timeout).close()
    except OSError as err:
        raise ConnectionError(f"no connection to {PROBE[0]}:{PROBE[1]} within {timeout:g} s: {err}") from None


@register_source("tfds", path="NAME", description="a TensorFlow Datasets name (downloaded, or from --data-dir)",
                 local=False, takes_data_dir=True)
def tfds_dataset(name, *, data_dir=None, splits=("train", "validation", "test"), download=True, image_size=None,
                 augment=True, max_tokens=20000, sequence_length=200, truncate="post"):
    """A TFDS classification dataset by name: images (`tfds_images`) or text (token ids through a
    `TextVectorization` fitted on the training split, as the `text:` source), chosen from the
    dataset's supervised features. `splits` maps to train/val/test (TFDS slicing works:
    `("train[:90%]", "train[90%:]", "test")`); a missing validation split is skipped.

    Example (with internet, or a `data_dir` that holds the prepared dataset):

    ```python
    import pipelines
    data = pipelines.load_dataset("tfds:imdb_reviews", sequence_length=256)
    data.task  # 'text_classification'
    ```
    """
    import tensorflow_datasets as tfds


    builder = _builder(name, data_dir)
    if download:
        _prepare(builder, name, data_dir)
    info = builder.info
    if not info.supervised_keys:
        raise ValueError(f"TFDS {name!r} has no supervised (input, label) keys; the zoo trains classifiers on it.")
    x_key, y_key = info.supervised_keys[:2]
    feature = info.features[x_key]
    if isinstance(feature, tfds.features.Image):
        return tfds_images(name, data_dir=data_dir, splits=splits, image_size=image_size, download=False,
                                 augment=augment)
    if isinstance(feature, tfds.features.Text):
        return _tfds_text(builder, name, splits, info.features[y_key], max_tokens, sequence_length, truncate)
    raise ValueError(f"TFDS {name!r} has {type(feature).__name__} inputs; the zoo reads image or text "
                     "classification datasets from TFDS.")


def _tfds_text(builder, name, splits, label_feature, max_tokens, sequence_length, truncate):
    from pipelines.text import text_splits

    pairs = {}
    for key, split in zip(("train", "val", "test"), splits):
        if split is None:
            continue
        try:
            ds = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False)
        except ValueError as err:
            if key == "train" or "Unknown split" not in str(err):
                raise ValueError(f"TFDS {name!r} split {split!r}: {err}") from None
            continue
        texts, labels = [], []
        for text, label in ds.batch(4096).as_numpy_iterator():
            texts += [t.decode("utf8", errors="replace") for t in text]
            labels.append(label)
        pairs[key] = (np.array(texts, dtype=object), np.concatenate(labels).astype("int32") if labels else
                      np.zeros((0,), "int32"))
    names = list(getattr(label_feature, "names", None) or [str(i) for i in range(int(label_feature.num_classes))])
    return text_splits(pairs["train"], pairs.get("val"), pairs.get("test"), name=name, labels=names,
                       max_tokens=max_tokens, sequence_length=sequence_length, truncate=truncate)


def tfds_images(name, *, data_dir=None, splits=("train", "validation", "test"), image_size=None,
                download=True, augment=True):
    """An image-classification TFDS dataset by name (`tfds.load`, supervised).

    `splits` maps to train/val/test in order; TFDS slicing works
    (`("train[:90%]", "train[90%:]", "test")`). Names that the catalog lacks
    are skipped when they are missing from the dataset (e.g. no validation).
    """
    import tensorflow_datasets as tfds

    out, sizes, info = {}, {}, None
    for key, split in zip(("train", "val", "test"), splits):
        if split is None:
            continue
        try:
            ds, info = tfds.load(name, split=split, data_dir=data_dir, as_supervised=True,
                                 with_info=True, download=download, shuffle_files=False)
        except ValueError as err:
            if key == "train" or "Unknown split" not in str(err):
                raise ValueError(f"tfds.load({name!r}, split={split!r}) failed: {err}") from err
            continue  # e.g. no validation split
        if image_size is not None:
            ds = ds.map(lambda x, y: (tf.cast(tf.image.resize(x, image_size, antialias=True), tf.uint8), y),
                        num_parallel_calls=AUTOTUNE)
        out[key] = ds.map(lambda x, y: (x, tf.cast(y, tf.int32)))
        n = int(ds.cardinality())
        sizes[key] = n if n >= 0 else int(ds.reduce(0, lambda c, _: c + 1))
        if sizes[key] == 0:
            raise ValueError(f"TFDS split {split!r} of {name!r} is empty.")
    shape = info.features[info.supervised_keys[0]].shape
    if image_size is not None:
        shape = (*image_size, shape[-1])
    label_feature = info.features[info.supervised_keys[1]]
    return image_splits(
        out.get("train"), out.get("val"), out.get("test"), name=name, image_shape=shape,
        labels=list(label_feature.names), sizes=sizes,
        augment=crop_and_flip(max(1, shape[0] // 8)) if augment else None,
    )
