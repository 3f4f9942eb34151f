"""What every source shares: the split bundle and the batching stage.

Every source yields *unbatched* `(inputs, label)` elements, already decoded
and small enough to cache (images stay `uint8` until batching). `make_batches`
turns one split into the batched, prefetched stream the models train on:

    cache -> [shuffle(seed, epoch)] -> [augment(seed, epoch, index)]
          -> normalize -> batch -> prefetch(AUTOTUNE)

Shuffle order and augmentation are functions of `(seed, epoch)` only (stateless
random ops), so a run restarted at epoch 7 sees exactly the batches an
uninterrupted run would have seen at epoch 7.
"""

import dataclasses

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


@dataclasses.dataclass
class DataSplits:
    """The splits of one dataset and what a model needs to know about them.

    Attributes:
        train, val, test: unbatched `tf.data.Dataset`s of `(inputs, label)`,
            or `None` where the dataset has no such split.
        task: a `zoo` task name (`image_classification`, ...).
        input_shape, input_dtype: one element's model input (after
            `normalize`).
        num_classes: label count for classifiers, else `None`.
        labels: class names, index-aligned with the model output.
        sizes: `{split: number of examples}`.
        normalize: function applied per batch/element after augmentation
            (e.g. uint8 -> float32 in [0, 1]).
        augment: `(x, seed) -> x` with a `(2,)` int32 stateless seed, applied
            to the training split only.
        preprocessing: JSON-able description of `normalize` for exports.
        vectorizer: the fitted `TextVectorization` of text datasets.
        name: dataset name.
        extras: source-specific data (e.g. the window bases of time series).
        source: where the data came from (a path), for messages.
        checked: splits already checked at the source (`pipelines.checks`).
        spec: what reloads it (`pipelines.catalog.load_spec`), set by `load_dataset`.
        cacheable: whether `batches` may keep a split in memory after its first
            pass (False for sources streamed from files too big to hold).
    """

    train: tf.data.Dataset = None
    val: tf.data.Dataset = None
    test: tf.data.Dataset = None
    task: str = "image_classification"
    input_shape: tuple = ()
    input_dtype: str = "float32"
    num_classes: int = None
    labels: list = None
    sizes: dict = dataclasses.field(default_factory=dict)
    normalize: object = None
    augment: object = None
    preprocessing: dict = dataclasses.field(default_factory=dict)
    vectorizer: object = None
    name: str = ""
    extras: dict = dataclasses.field(default_factory=dict)
    source: str = None
    checked: tuple = ()
    spec: dict = None
    cacheable: bool = True
    _cached: dict = dataclasses.field(default_factory=dict, init=False, repr=False, compare=False)

    def split(self, name):
        ds = getattr(self, name, None) if name in ("train", "val", "test") else None
        if ds is None:
            available = [s for s in ("train", "val", "test") if getattr(self, s) is not None]
            raise ValueError(
                f"Dataset {self.name!r} has no {name!r} split. Available: {available}"
            )
        return ds

    def batches(self, split, batch_size, *, training=None, seed=0, epoch=0,
                drop_remainder=False, cache=True):
        """`split` as a batched, prefetched dataset (see `make_batches`)."""
        training = (split == "train") if training is None else training
        ds = self.split(split)
        if cache and self.cacheable:
            # One cached dataset per split, reused by every call: its memory cache, filled by the first
            # complete pass, is what later epochs read (a new `.cache()` per epoch would start empty).
            if self._cached.get(split, (None,))[0] is not ds:  # (a split replaced after a call is cached anew)
                self._cached[split] = (ds, ds.cache())
            ds = self._cached[split][1]
        return make_batches(
            ds, batch_size, training=training, seed=seed, epoch=epoch,
            augment=self.augment if training else None, normalize=self.normalize,
            drop_remainder=drop_remainder, cache=False, shuffle_buffer=self.sizes.get(split),
        )

    def summary(self):
        return {
            "name": self.name, "task": self.task, "input_shape": list(self.input_shape),
            "input_dtype": self.input_dtype, "num_classes": self.num_classes,
            "labels": self.labels, "sizes": self.sizes, "preprocessing": self.preprocessing,
            **({"source": self.source} if self.source else {}),
            **({"spec": self.spec} if self.spec else {}),
            **({"class_counts": self.extras["class_counts"]} if self.extras.get("class_counts") else {}),
            **({"columns": self.extras["columns"]} if self.extras.get("columns") else {}),
            **({"dropped_rows": self.extras["dropped_rows"]} if self.extras.get("dropped_rows") else {}),
            **({"skipped_corrupt": self.extras["skipped_corrupt"]} if self.extras.get("skipped_corrupt") else {}),
        }


def check_fractions(val_fraction, test_fraction):
    """Held-out shares in [0, 1) that leave at least 10% to train, else a ValueError naming them."""
    for arg, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            raise ValueError(f"`{arg}` must be in [0, 1). Received: {arg}={value!r}")
    if val_fraction + test_fraction >= 0.9:
        raise ValueError(f"val_fraction + test_fraction must leave at least 10% to train. Received: "
                         f"val_fraction={val_fraction}, test_fraction={test_fraction}")


def _epoch_seed(seed, epoch):
    # A distinct, reproducible int64 seed per (seed, epoch).
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0])


def make_batches(ds, batch_size, *, training=False, seed=0, epoch=0, augment=None,
                 normalize=None, drop_remainder=False, cache=True, shuffle_buffer=None):
    """Batch one unbatched split for training or evaluation.

    Args:
        ds: unbatched `(inputs, label)` dataset.
        batch_size: global batch size.
        training: shuffle and augment (evaluation keeps file order).
        seed, epoch: the shuffle order and augmentation are a pure function
            of these two, so runs are reproducible and resumable.
        augment: `(x, seed) -> x`, stateless; training only. If it has a
            `batched` attribute (`(x batch, seed) -> x batch`, e.g. `crop_and_flip`),
            that is applied to whole batches instead.
        normalize: `x -> x` after augmentation (e.g. uint8 -> float).
        cache: keep decoded elements in memory after the first pass.
        shuffle_buffer: defaults to 10,000 elements.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
    if cache:
        ds = ds.cache()
    batched = getattr(augment, "batched", None) if training else None
    if training:
        ds = ds.shuffle(min(shuffle_buffer or 10_000, 50_000), seed=_epoch_seed(seed, epoch),
                        reshuffle_each_iteration=False)
        if batched is not None:
            return _augmented_batches(ds, batch_size, batched, normalize, drop_remainder, _epoch_seed(seed, epoch))
        if augment is not None:
            base = tf.constant([_epoch_seed(seed, epoch) % (2**31 - 1)], tf.int64)

            def _augment(index, element):
                x, y = element
                element_seed = tf.cast(tf.concat([base, [index]], 0), tf.int32)
                return augment(x, element_seed), y

            ds = ds.enumerate().map(_augment, num_parallel_calls=AUTOTUNE)
    if normalize is not None:
        ds = ds.map(lambda x, y: (normalize(x), y), num_parallel_calls=AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True  # parallel maps keep element order
    return ds.with_options(options).prefetch(AUTOTUNE)


def _augmented_batches(ds, batch_size, augment, normalize, drop_remainder, epoch_seed):
    """`make_batches`' training path for a batch-wise `augment`: batch, then augment and normalize each
    batch (its seed: the epoch's and the batch's index, so the epoch is a pure function of both)."""
    base = tf.constant([epoch_seed % (2**31 - 1)], tf.int64)

    def _augment(index, batch):
        x, y = batch
        x = augment(x, tf.cast(tf.concat([base, [index]], 0), tf.int32))
        return (normalize(x) if normalize is not None else x), y

    ds = ds.batch(batch_size, drop_remainder=drop_remainder).enumerate().map(_augment, num_parallel_calls=AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    return ds.with_options(options).prefetch(AUTOTUNE)


def from_arrays(x, y, *, name="arrays", task=None, val_fraction=0.0, test_fraction=0.0,
                seed=0, labels=None):
    """`DataSplits` from NumPy arrays, split with a seeded permutation.

    Example:

    ```python
    import numpy as np, pipelines
    data = pipelines.from_arrays(np.random.rand(100, 4).astype("float32"),
                                 np.arange(100) % 2, val_fraction=0.2)
    next(iter(data.batches("train", 16)))[0].shape  # (16, 4)
    ```
    """
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"`x` and `y` need the same length. Received: len(x)={len(x)}, len(y)={len(y)}")
    if len(x) == 0:
        raise ValueError("`x` is empty: there is nothing to train on.")
    for arg, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"`{arg}` must be in [0, 1). Received: {arg}={value}")
    order = np.random.default_rng(seed).permutation(len(x))
    n_test, n_val = int(len(x) * test_fraction), int(len(x) * val_fraction)
    parts = {"test": order[:n_test], "val": order[n_test:n_test + n_val],
             "train": order[n_test + n_val:]}
    is_int_labels = np.issubdtype(y.dtype, np.integer)
    num_classes = (len(labels) if labels else int(y.max()) + 1) if is_int_labels else None
    splits = {k: (tf.data.Dataset.from_tensor_slices((x[idx], y[idx])) if len(idx) else None)
              for k, idx in parts.items()}
    if task is None:
        task = "image_classification" if (is_int_labels and x.ndim >= 3) else (
            "text_classification" if is_int_labels and x.dtype.kind in "iu" else
            "image_classification" if is_int_labels else "forecasting")
    return DataSplits(
        **splits, task=task, input_shape=tuple(x.shape[1:]), input_dtype=str(x.dtype),
        num_classes=num_classes,
        labels=labels or ([str(i) for i in range(num_classes)] if num_classes else None),
        sizes={k: int(len(v)) for k, v in parts.items() if len(v)}, name=name,
        preprocessing={"type": "none"},
    )


def sample_arrays(data, split, limit, seed=0):
    """(x, y) arrays of `limit` examples drawn from `split` in a seeded random order (no augmentation):
    the first rows of a file are often one class (IMDB's test set starts with 12,500 negative
    reviews), which would calibrate int8 on one class and score every file on it."""
    ds = data.split(split)
    size = data.sizes.get(split) or 10_000
    ds = ds.shuffle(min(size, 50_000), seed=seed, reshuffle_each_iteration=False)
    return take_arrays(make_batches(ds, 64, normalize=data.normalize, cache=False), limit)


def take_arrays(ds, limit):
    """(x, y) NumPy arrays of the first `limit` examples of a batched dataset."""
    xs, ys, n = [], [], 0
    for x, y in ds:
        xs.append(x.numpy())
        ys.append(y.numpy())
        n += len(xs[-1])
        if n >= limit:
            break
    return np.concatenate(xs)[:limit], np.concatenate(ys)[:limit]
