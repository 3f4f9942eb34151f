"""`tfrecord:` — image (or text) classification from `tf.train.Example` TFRecord shards, every record
decoded once up front; CIFAR-10 is its preset.
"""

import glob
import os

import numpy as np
import tensorflow as tf

from pipelines.core import AUTOTUNE
from pipelines.image import crop_and_flip, decode_image, image_splits
from pipelines.registry import option, register_dataset, register_source


def count_records(files):
    """Records per file; a truncated or corrupt file is a `ValueError` naming it."""
    if not files:
        return {}
    try:  # all files at once, in parallel, in batches; a bad file is then found file by file
        batches = tf.data.Dataset.range(len(files)).interleave(
            lambda k: tf.data.TFRecordDataset(tf.gather([os.fspath(f) for f in files], k)).batch(4096).map(
                lambda b: (k, tf.shape(b)[0])),
            cycle_length=max(1, len(files)), num_parallel_calls=AUTOTUNE)
        counts = np.zeros(len(files), "int64")
        for k, n in batches.as_numpy_iterator():
            counts[k] += n
        return {path: int(n) for path, n in zip(files, counts)}
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError):
        pass
    counts = {}
    for path in files:
        try:  # in batches (fast); a bad file is counted again record by record to name where it breaks
            counts[path] = sum(int(b.shape[0]) for b in tf.data.TFRecordDataset(path).batch(4096))
            continue
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError):
            pass
        n = 0
        try:
            for _ in tf.data.TFRecordDataset(path):
                n += 1
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as err:
            raise ValueError(
                f"TFRecord file {path!r} is truncated or corrupt after {n} records "
                f"({err.message.splitlines()[0]}). Re-copy it, or leave it out of the "
                "file pattern."
            ) from None
        counts[path] = n
    return counts


def _checked_records(files, counts, features, check, signature, keep):
    """`{file: (record indices, labels, images or None)}` of the records that decode; `check(parsed
    example) -> (label, image or its size)`, `signature` its output's `tf.TensorSpec`s. First one
    parallel pass over all the files, 1024 records parsed at once; only when a record fails there, a
    pass per file, record by record, that names it. (Measured on CIFAR-10's 8 train shards: one pass
    over all files takes half the time of one pass per file, and parsing records one at a time costs
    about as much as decoding them: prices that only data with a corrupt record pays.)"""
    def checked_batch(records):
        return tf.map_fn(check, tf.io.parse_example(records, features), fn_output_signature=signature,
                         parallel_iterations=16)

    try:
        # The image (or its size, so the decode is not pruned from the graph) comes back with the label.
        ds = tf.data.TFRecordDataset(files).batch(1024).map(checked_batch, num_parallel_calls=AUTOTUNE)
        parts = [(y.numpy(), image.numpy() if keep else None) for y, image in ds]
        labels = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0,), "int32")
        images = np.concatenate([p[1] for p in parts]) if parts and keep else None
    except tf.errors.InvalidArgumentError:  # a record that does not parse or decode: find which, file by file
        out = {}
        for path in files:
            ds = tf.data.TFRecordDataset(path).enumerate()
            ds = ds.map(lambda i, r: (i, *check(tf.io.parse_single_example(r, features))),
                        num_parallel_calls=AUTOTUNE, deterministic=True).ignore_errors()
            parts = [(i.numpy(), y.numpy(), image.numpy() if keep else None) for i, y, image in ds.batch(8192)]
            out[path] = (np.concatenate([p[0] for p in parts]) if parts else np.zeros((0,), "int64"),
                         np.concatenate([p[1] for p in parts]) if parts else np.zeros((0,), "int32"),
                         np.concatenate([p[2] for p in parts]) if parts and keep else None)
        return out
    starts = np.cumsum([0] + [counts[f] for f in files])
    return {path: (np.arange(counts[path], dtype="int64"), labels[a:b], None if images is None else images[a:b])
            for path, a, b in zip(files, starts[:-1], starts[1:])}


def _validate_records(files, counts, features, check, signature, num_classes, skip_corrupt, keep=False):
    """Decode every record of every file once (`counts`: `count_records(files)`; `features`, `check`,
    `signature`: see `_checked_records`): `(good records, {file: corrupt indices}, kept)`.

    A record whose image does not decode is named by file and index (or, with
    `skip_corrupt`, counted and left out); a label outside `[0, num_classes)`
    is refused by file and index. With `keep`, `check` returns the decoded
    (fixed-size) image and `kept` is `{file: (indices, images, labels)}`: the
    decode this check pays for anyway is what the epochs then read."""
    good, corrupt, kept = 0, {}, {}
    checked = _checked_records(files, counts, features, check, signature, keep)
    for path in files:
        total = counts[path]
        indices, labels, images = checked[path]
        missing = sorted(set(range(total)) - set(indices.tolist()))
        if missing and not skip_corrupt:
            raise ValueError(f"TFRecord file {path!r}: record {missing[0]} (of {len(missing)} corrupt) does not "
                             "decode as an image. Re-create the file, or pass skip_corrupt=True "
                             "(--data-arg skip_corrupt=true) to leave such records out (they are counted in the "
                             "run's data summary).")
        if missing:
            corrupt[path] = missing
        if num_classes is not None:
            bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
            if bad.size:
                raise ValueError(f"TFRecord file {path!r}: record {int(indices[bad[0]])} has label "
                                 f"{int(labels[bad[0]])}, outside the {num_classes} class names (labels.txt); "
                                 f"{bad.size} such record(s) in this file. Fix the labels or the class names.")
        if keep:
            kept[path] = (indices, images, labels)
        good += len(indices)
    return good, corrupt, kept


def _in_stream_order(files, counts, kept, cycle_length):
    """The kept `(images, labels)` in the order `TFRecordDataset(files, num_parallel_reads=cycle_length)`
    reads them (a deterministic interleave, one record per file in turn), corrupt records left out."""
    n = [counts[f] for f in files]
    if len(files) <= cycle_length:  # every file in the cycle from the start: record i of each file in turn
        pairs = np.concatenate([np.stack([np.full(k, f), np.arange(k)], 1) for f, k in enumerate(n)]).astype("int64")
        pairs = pairs[np.lexsort((pairs[:, 0], pairs[:, 1]))]
    else:  # files wait for a free slot in the cycle: as tf.data does it
        order = tf.data.Dataset.from_tensor_slices((np.arange(len(files), dtype="int64"), np.array(n, "int64")))
        order = order.interleave(lambda f, k: tf.data.Dataset.range(k).map(lambda i: tf.stack([f, i])),
                                 cycle_length=cycle_length, block_length=1)
        pairs = np.concatenate(list(order.batch(65536).as_numpy_iterator())) if sum(n) else np.zeros((0, 2), "int64")
    # Row of (file, record) among the kept images, -1 for a corrupt record.
    row_of, offset = [], 0
    for path, total in zip(files, n):
        indices = kept[path][0]
        rows = np.full(total, -1, "int64")
        rows[indices] = offset + np.arange(len(indices))
        row_of.append(rows)
        offset += len(indices)
    starts = np.cumsum([0] + n[:-1])
    rows = np.concatenate(row_of)[starts[pairs[:, 0]] + pairs[:, 1]]
    rows = rows[rows >= 0]
    images = np.concatenate([kept[p][1] for p in files if kept[p][1] is not None])
    labels = np.concatenate([kept[p][2] for p in files])
    return images[rows], labels[rows]


IN_MEMORY_BYTES = 2 * 2**30  # decoded images up to this size are kept from the validation pass


def tfrecord_images(file_pattern, *, image_size=None, channels=3, image_key="image/encoded",
                    label_key="image/class/label", validate=True, num_classes=None, skip_corrupt=False,
                    report=None):
    """Unbatched `(uint8 image, label)` from TFRecords of `tf.train.Example`.

    Returns `(dataset, num_examples)`. With `validate`, every record is
    decoded once up front, so a truncated shard, an image that does not
    decode or a label outside `[0, num_classes)` fails here, named by file
    and record, instead of in the middle of an epoch. With `skip_corrupt`,
    records that do not decode are left out and listed in `report["corrupt"]`.
    When the images have one size (`image_size`) and fit in `IN_MEMORY_BYTES`,
    the decoded images of that pass are kept and the dataset reads them from
    memory (`report["in_memory"]`), so no epoch, the first included, decodes.
    """
    files = sorted(glob.glob(file_pattern))
    if not files:
        raise ValueError(f"No TFRecord files match {file_pattern!r}.")
    features = {image_key: tf.io.FixedLenFeature([], tf.string),
                label_key: tf.io.FixedLenFeature([], tf.int64)}

    def parse(record):
        ex = tf.io.parse_single_example(record, features)
        return decode_image(ex[image_key], image_size, channels), tf.cast(ex[label_key], tf.int32)

    def check(ex):  # (label, decoded size) of a parsed example: what validation needs, at the least cost
        image = tf.io.decode_image(ex[image_key], channels=channels, expand_animations=False)
        return tf.cast(ex[label_key], tf.int32), tf.size(image)

    def check_and_keep(ex):  # the epochs' decode, done once
        return tf.cast(ex[label_key], tf.int32), decode_image(ex[image_key], image_size, channels)

    cycle = min(len(files), 8) if len(files) > 1 else 1
    counts = count_records(files) if validate else None  # a truncated file is named here
    keep = validate and image_size is not None and \
        sum(counts.values()) * int(np.prod(image_size)) * channels <= IN_MEMORY_BYTES
    label_spec = tf.TensorSpec([], tf.int32)
    checker = (check_and_keep, (label_spec, tf.TensorSpec((*image_size, channels), tf.uint8))) if keep else \
        (check, (label_spec, tf.TensorSpec([], tf.int32)))
    num, corrupt, kept = _validate_records(files, counts, features, *checker, num_classes, skip_corrupt,
                                           keep=keep) if validate else (None, {}, {})
    if validate and num == 0:
        raise ValueError(f"The TFRecord files matching {file_pattern!r} hold no readable records.")
    if report is not None:
        report["corrupt"] = {os.path.basename(f): idx for f, idx in corrupt.items()}
        report["in_memory"] = bool(keep)
    if keep:
        return tf.data.Dataset.from_tensor_slices(_in_stream_order(files, counts, kept, cycle)), num
    ds = tf.data.TFRecordDataset(files, num_parallel_reads=cycle if len(files) > 1 else None)
    ds = ds.map(parse, num_parallel_calls=AUTOTUNE, deterministic=True)
    return (ds.ignore_errors() if corrupt else ds), num


@register_source("tfrecord", path="FOLDER", description="image or text tf.train.Example TFRecord shards",
                 options={"class_names": option("'a,b,c' or a file with one name per line (fixes the order)"), "val_fraction": option("held-out share for validation", type="float")})
def tfrecords(path, *, class_names=None, image_key="image/encoded", label_key="image/class/label",
              image_size=None, channels=3, train="train-*.tfrecord", test="test-*.tfrecord", val_fraction=0.1,
              skip_corrupt=False, augment=None, name=None, text_key=None, max_tokens=20000, sequence_length=128,
              truncate="post", vectorizer=None):
    """Image (or, with `text_key`, text) classification from your `tf.train.Example` TFRecord shards.

    With `text_key` the records hold a text feature (bytes) and an int64 label
    (`label_key`, default "label" there): see `pipelines.sources.text_file.tfrecord_text`
    (`max_tokens`, `sequence_length`, `truncate`, `vectorizer` as for `text_file`).

    `path` is the folder; `train`/`test` are file patterns in it. Feature keys
    are configurable (`image_key`: encoded JPEG/PNG bytes, `label_key`: int64
    class index). Class names come from `class_names` (a list, a
    comma-separated string or a file) or `labels.txt` in the folder. Images
    are resized to `image_size` (default: the first training image's size).
    Every record is decoded once up front (see `tfrecord_images`). The first
    `val_fraction` of the training records is held out for validation.

    Example:

    ```python
    import pipelines
    data = pipelines.tfrecords("flowers/", image_key="jpeg", label_key="class", class_names="flowers/names.txt")
    ```
    """
    from pipelines.delimited import read_class_names

    if text_key is not None:
        from pipelines.sources.text_file import tfrecord_text

        return tfrecord_text(path, text_key=text_key, class_names=class_names, train=train, test=test,
                             label_key="label" if label_key == "image/class/label" else label_key,
                             val_fraction=val_fraction, max_tokens=max_tokens, sequence_length=sequence_length,
                             truncate=truncate, vectorizer=vectorizer)
    if not os.path.isdir(path):
        raise ValueError(f"TFRecord folder {path!r} does not exist.")
    labels = read_class_names(class_names)
    if labels is None:
        labels_path = os.path.join(path, "labels.txt")
        if not os.path.exists(labels_path):
            raise ValueError(f"No class names for the TFRecords in {path!r}: pass class_names= (--class-names a,b,c or a "
                             "file with one name per line), or put labels.txt (one name per line) in the folder.")
        labels = read_class_names(labels_path)
    if image_size is None:
        files = sorted(glob.glob(os.path.join(path, train)))
        if not files:
            raise ValueError(f"No TFRecord files match {os.path.join(path, train)!r} (train=).")
        image_size = _first_image_size(files[0], image_key, channels)
    reports = {"train": {}, "test": {}}
    options = dict(image_size=tuple(image_size), channels=channels, image_key=image_key, label_key=label_key,
                   num_classes=len(labels), skip_corrupt=skip_corrupt)
    train_ds, n_train = tfrecord_images(os.path.join(path, train), **options, report=reports["train"])
    test_ds, n_test = (tfrecord_images(os.path.join(path, test), **options, report=reports["test"])
                       if glob.glob(os.path.join(path, test)) else (None, 0))
    n_val = int(n_train * val_fraction)
    data = image_splits(
        train_ds.skip(n_val), train_ds.take(n_val) if n_val else None, test_ds,
        name=name or f"tfrecord:{os.path.basename(os.path.normpath(path))}",
        image_shape=(*image_size, channels), labels=labels,
        sizes={k: v for k, v in (("train", n_train - n_val), ("val", n_val), ("test", n_test)) if v},
        augment=augment,
    )
    data.source, data.checked = path, ("train", "val", "test")  # decoded and label-checked above
    # Splits read from memory need no cache (a second copy, filled by the first epoch).
    data.cacheable = not all(r.get("in_memory") for r in reports.values() if r)
    data.extras["skipped_corrupt"] = {k: v["corrupt"] for k, v in reports.items() if v.get("corrupt")}
    return data


def _first_image_size(path, image_key, channels):
    try:
        record = next(iter(tf.data.TFRecordDataset(path).take(1)))
        ex = tf.io.parse_single_example(record, {image_key: tf.io.FixedLenFeature([], tf.string)})
        return tuple(int(d) for d in tf.io.decode_image(ex[image_key], channels=channels).shape[:2])
    except StopIteration:
        raise ValueError(f"{path!r} holds no records.") from None
    except (tf.errors.InvalidArgumentError, tf.errors.DataLossError) as err:
        raise ValueError(f"{path!r}: the first record has no decodable image under image_key={image_key!r} "
                         f"({err.message.splitlines()[0]}). Pass image_key= (and image_size=).") from None


@register_dataset("cifar10", description="CIFAR-10 TFRecord shards + labels.txt")
def cifar10(data_dir, *, val_fraction=0.1, seed=0, skip_corrupt=False):
    """CIFAR-10 from TFRecord shards `train-*.tfrecord`/`test-*.tfrecord` plus
    `labels.txt` (the layout in `../shared/data/cifar10`): the `tfrecords`
    source with CIFAR's size and augmentation."""
    if not os.path.exists(os.path.join(data_dir, "labels.txt")):
        raise ValueError(f"{os.path.join(data_dir, 'labels.txt')!r} not found: point --data-dir at the CIFAR-10 "
                         "TFRecord folder (train-*.tfrecord, test-*.tfrecord, labels.txt).")
    return tfrecords(data_dir, image_size=(32, 32), val_fraction=val_fraction, skip_corrupt=skip_corrupt,
                     augment=crop_and_flip(4), name="cifar10")
