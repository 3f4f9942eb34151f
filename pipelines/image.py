"""Image sources: scikit-learn digits, MNIST IDX, TFRecord shards, image
folders, TFDS. Each returns `DataSplits` of unbatched `(uint8 image, int32
label)` elements; `normalize` maps images to float32 in [0, 1] per batch and
`augment` (train only) is the CIFAR recipe: 4-pixel pad + random crop + flip.
"""

import glob
import gzip
import logging
import os
import struct

import numpy as np
import tensorflow as tf

from pipelines.core import AUTOTUNE, DataSplits, check_fractions

log = logging.getLogger("pipelines")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
# First bytes of each format tf.io.decode_image reads.
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"GIF87a", b"GIF89a")


def rescale(scale):
    def normalize(x):
        return tf.cast(x, tf.float32) * scale

    return normalize


def crop_and_flip(pad=4):
    """Pad by `pad`, random crop back, random horizontal flip (He et al. 2016).

    The returned `augment(image, seed)` works on one image; its `augment.batched(images, seed)` does the
    same to a whole batch at once (each image its own crop and flip, drawn from the one seed), which
    `make_batches` prefers: per-image tf.data maps cost more than the arithmetic (CIFAR-10 on 2 cores)."""

    def augment(image, seed):
        shape = tf.shape(image)
        padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
        seeds = tf.random.experimental.stateless_split(seed, 2)
        image = tf.image.stateless_random_crop(padded, shape, seed=seeds[0])
        return tf.image.stateless_random_flip_left_right(image, seed=seeds[1])

    def reflect(i, n):  # index on an axis reflect-padded by `pad` (shifted by -pad) -> index in the image
        i = tf.abs(i)
        return tf.where(i >= n, 2 * (n - 1) - i, i)

    def batched(images, seed):
        # One gather of source pixels instead of pad + crop + flip: the same pixels, ~3x faster.
        shape = tf.shape(images)
        b, h, w = shape[0], shape[1], shape[2]  # (batch, height, width, channels)
        seeds = tf.random.experimental.stateless_split(seed, 2)
        corner = tf.random.stateless_uniform([b, 2], seeds[0], maxval=2 * pad + 1, dtype=tf.int32)
        flip = tf.random.stateless_uniform([b, 1], seeds[1]) < 0.5
        rows = reflect(corner[:, :1] - pad + tf.range(h)[None], h)  # (batch, height)
        steps = tf.where(flip, tf.range(w - 1, -1, -1)[None], tf.range(w)[None])  # right to left where flipped
        cols = reflect(corner[:, 1:] - pad + steps, w)  # (batch, width)
        pixel = tf.reshape(rows[:, :, None] * w + cols[:, None, :], [b, h * w])  # (batch, height * width)
        out = tf.gather(tf.reshape(images, [b, h * w, -1]), pixel, axis=1, batch_dims=1)
        return tf.reshape(out, shape)

    augment.batched = batched
    return augment


def _image_splits(train, val, test, *, name, image_shape, labels, sizes, scale=1 / 255,
                  augment=None):
    return DataSplits(
        train=train, val=val, test=test, task="image_classification",
        input_shape=tuple(image_shape), input_dtype="float32", num_classes=len(labels),
        labels=list(labels), sizes=sizes, normalize=rescale(scale), augment=augment,
        preprocessing={"type": "rescale", "scale": scale, "offset": 0.0,
                       "layout": "NHWC", "image_size": list(image_shape[:2])},
        name=name,
    )


def _split_arrays(x, y, val_fraction, seed):
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = int(round(len(x) * val_fraction))
    return (x[order[n_val:]], y[order[n_val:]]), (x[order[:n_val]], y[order[:n_val]])


def _from_arrays(x, y):
    return tf.data.Dataset.from_tensor_slices((x, y.astype("int32")))


# ----------------------------------------------------------------- digits


def image_arrays(x, y, *, test=None, class_names=None, val_fraction=0.1, test_fraction=0.2, seed=0, scale=None,
                 name="arrays", where="arrays"):
    """`DataSplits` of images from arrays: `x` `(n, height, width[, channels])`, `y` `(n,)` class
    indices or class-name strings. Held-out splits are a seeded *stratified* permutation (every split
    sees every class): `val_fraction`, and `test_fraction` unless `test=(x_test, y_test)` is given.
    `scale` maps pixels to [0, 1] (default 1/255 for integer pixels, 1 for floats). `where` names the
    data in errors."""
    from pipelines.table import read_class_names

    check_fractions(val_fraction, 0.0 if test is not None else test_fraction)
    parts = {"train": (np.asarray(x), np.asarray(y))}
    if test is not None:
        parts["test"] = (np.asarray(test[0]), np.asarray(test[1]))
    for split, (xs, ys) in parts.items():
        if xs.ndim not in (3, 4) or ys.ndim != 1 or len(xs) != len(ys) or not len(xs):
            raise ValueError(f"{where} ({split}): expected images (n, height, width[, channels]) and labels (n,) "
                             f"of one length n > 0; got {xs.shape} and {ys.shape}. (A table of features is "
                             "`tabular:`.)")
        if xs.dtype.kind == "f" and not np.isfinite(xs).all():
            row = int(np.flatnonzero(~np.isfinite(xs.reshape(len(xs), -1)).all(1))[0])
            raise ValueError(f"{where} ({split}) image {row} holds NaN or infinity. Fix or drop it.")
    names = read_class_names(class_names)
    if all(p[1].dtype.kind in "iu" for p in parts.values()):
        largest = max(int(p[1].max()) for p in parts.values())
        names = names or [str(i) for i in range(largest + 1)]
        index = None
    else:
        found = sorted({str(v) for p in parts.values() for v in p[1]})
        names = names or found
        index = {c: i for i, c in enumerate(names)}
    coded = {}
    for split, (xs, ys) in parts.items():
        codes = np.array([index.get(str(v), -1) for v in ys]) if index is not None else ys.astype("int64")
        bad = np.flatnonzero((codes < 0) | (codes >= len(names)))
        if len(bad):
            raise ValueError(f"{where} ({split}) example {int(bad[0])}: label {ys[bad[0]].item()!r} is not one of the "
                             f"{len(names)} class names {names}. Fix the labels or the class names.")
        coded[split] = (xs if xs.ndim == 4 else xs[..., None], codes.astype("int32"))
    x, y = coded["train"]
    rng = np.random.default_rng(seed)
    held = {"train": [], "val": [], "test": []}
    for label in range(len(names)):  # stratified: every split sees every class
        idx = rng.permutation(np.flatnonzero(y == label))
        n_test = int(len(idx) * test_fraction) if test is None else 0
        n_val = int(len(idx) * val_fraction)
        held["test"].append(idx[:n_test])
        held["val"].append(idx[n_test:n_test + n_val])
        held["train"].append(idx[n_test + n_val:])
    held = {k: np.sort(np.concatenate(v)) for k, v in held.items()}
    splits = {k: (x[v], y[v]) for k, v in held.items() if len(v)}
    if test is not None:
        splits["test"] = coded["test"]
    if scale is None:
        scale = 1.0 if x.dtype.kind == "f" else 1 / 255
    return _image_splits(*(_from_arrays(*splits[k]) if k in splits else None for k in ("train", "val", "test")),
                         name=name, image_shape=x.shape[1:], labels=names,
                         sizes={k: int(len(v[0])) for k, v in splits.items()}, scale=scale)


def npz(path, *, class_names=None, val_fraction=0.1, test_fraction=0.2, seed=0, scale=None):
    """Image classification from a NumPy `.npz` of arrays: Keras' dataset layout (`x_train`,
    `y_train`, `x_test`, `y_test`, as `keras.datasets.mnist`'s `mnist.npz`) or one pool (`x`, `y`,
    split by `test_fraction`). Images `(n, height, width[, channels])`, integer pixels scaled by
    1/255 (or `scale=`); labels class indices (`class_names=` names them) or strings. Object arrays
    (pickles) are refused: a `.npz` cannot run code here.

    Example:

    ```python
    import pipelines
    data = pipelines.npz("mnist.npz", class_names="0,1,2,3,4,5,6,7,8,9")
    ```
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except ValueError as err:
        raise ValueError(f"{path!r} holds object arrays (pickled Python objects), which are not loaded: "
                         f"save plain numeric/string arrays (np.savez). ({err})") from None
    except (OSError, EOFError) as err:
        raise ValueError(f"{path!r} is not a readable .npz file ({err}). Re-save it with np.savez.") from None
    if {"x_train", "y_train"} <= set(arrays):
        test = (arrays["x_test"], arrays["y_test"]) if {"x_test", "y_test"} <= set(arrays) else None
        x, y = arrays["x_train"], arrays["y_train"]
    elif {"x", "y"} <= set(arrays):
        x, y, test = arrays["x"], arrays["y"], None
    else:
        raise ValueError(f"{path!r} holds the arrays {sorted(arrays)}; expected x_train, y_train (and x_test, "
                         "y_test: keras.datasets' layout) or x, y. Re-save it with those names.")
    data = image_arrays(x, y, test=test, class_names=class_names, val_fraction=val_fraction,
                        test_fraction=test_fraction, seed=seed, scale=scale,
                        name=f"npz:{os.path.basename(path)}", where=repr(path))
    data.source = path
    return data


def digits(*, val_fraction=0.1, test_fraction=0.2, seed=0):
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, offline): a preset of the arrays
    source (`image_arrays`, as `npz:` files are read). Pixels are 0..16, scaled to [0, 1]; 70% train,
    10% val, 20% test by default, stratified."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return image_arrays(bunch.images.astype("uint8"), bunch.target.astype("int32"), val_fraction=val_fraction,
                        test_fraction=test_fraction, seed=seed, scale=1 / 16, name="digits",
                        class_names=[str(i) for i in range(10)])


# ----------------------------------------------------------------- IDX


def read_idx(path):
    """A NumPy array from an IDX file (MNIST's format), gzipped or not."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise ValueError(f"Could not read IDX file {path!r} ({err}); it is missing, "
                         "truncated or not gzip. Re-download or re-copy it.") from err
    if len(data) < 4:
        raise ValueError(f"{path!r} is truncated ({len(data)} bytes, shorter than an IDX header). Re-copy the file.")
    if data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path!r} is not an unsigned-byte IDX file (bad magic number).")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"{path!r} is truncated inside its header ({len(data)} bytes; the header of a "
                         f"{ndim}-d IDX file takes {4 + 4 * ndim}). Re-copy the file.")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    expected = int(np.prod(dims))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != expected:
        raise ValueError(f"{path!r} is truncated: its header says {dims} ({expected} bytes), "
                         f"the file holds {body.size}. Re-copy the file.")
    return body.reshape(dims)


MNIST_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
               "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}


def idx(path, *, class_names=None, val_fraction=0.1, seed=0, train_images=None, train_labels=None,
        test_images=None, test_labels=None, name=None):
    """Image classification from four IDX files (MNIST's format): MNIST, Fashion-MNIST, KMNIST, EMNIST...

    `path` is a folder holding them under MNIST's names (`train-images-idx3-ubyte[.gz]`, ...), or pass
    each file (`train_images=`, ...; relative to `path`). `class_names` (a list, a comma-separated
    string or a file with one name per line) names the label values 0..K-1; default "0", "1", ....
    The last `val_fraction` of a seeded permutation of the training images is held out for validation.

    Example:

    ```python
    import pipelines
    data = pipelines.idx("fashion-mnist/", class_names="tshirt,trouser,pullover,dress,coat,sandal,shirt,"
                         "sneaker,bag,boot")
    ```
    """
    from pipelines.table import read_class_names

    given = {"train_images": train_images, "train_labels": train_labels, "test_images": test_images,
             "test_labels": test_labels}
    if not os.path.isdir(path) and not all(given.values()):
        raise ValueError(f"IDX folder {path!r} does not exist. Point it at the folder holding the four IDX files "
                         "(MNIST's names), or pass train_images=, train_labels=, test_images=, test_labels=.")
    files = {}
    for key, stem in MNIST_FILES.items():
        if given[key]:
            candidate = given[key] if os.path.isabs(given[key]) else os.path.join(path, given[key])
            if not os.path.exists(candidate):
                raise ValueError(f"{key}={given[key]!r}: {candidate!r} does not exist.")
            files[key] = candidate
            continue
        candidates = [os.path.join(path, stem + ext) for ext in (".gz", "")]
        found = next((p for p in candidates if os.path.exists(p)), None)
        if found is None:
            raise ValueError(f"IDX file {stem}(.gz) not found in {path!r}. Point the path at the folder holding "
                             f"the four IDX files, or pass {key}= with the file's name.")
        files[key] = found
    arrays = {}
    for split in ("train", "test"):
        x, y = read_idx(files[f"{split}_images"]), read_idx(files[f"{split}_labels"])
        if len(x) != len(y):
            raise ValueError(f"IDX {split}: {files[split + '_images']!r} holds {len(x)} images but "
                             f"{files[split + '_labels']!r} {len(y)} labels. Pair the right files.")
        if x.ndim != 3 or y.ndim != 1:
            raise ValueError(f"IDX {split}: expected images (n, height, width) and labels (n,); got "
                             f"{x.shape} and {y.shape}.")
        arrays[split] = (x[..., None], y.astype("int32"))
    if arrays["train"][0].shape[1:] != arrays["test"][0].shape[1:]:
        raise ValueError(f"IDX train images are {arrays['train'][0].shape[1:3]} but test images "
                         f"{arrays['test'][0].shape[1:3]}.")
    largest = max(int(arrays[s][1].max()) for s in arrays)
    names = read_class_names(class_names) or [str(i) for i in range(largest + 1)]
    for split, (_, y) in arrays.items():
        if largest >= len(names):
            row = int(np.flatnonzero(y >= len(names))[0]) if (y >= len(names)).any() else None
            if row is not None:
                raise ValueError(f"{files[split + '_labels']!r} example {row}: label {int(y[row])} has no class "
                                 f"name ({len(names)} given: {names}). Pass one name per label value.")
    (xt, yt), (xv, yv) = _split_arrays(*arrays["train"], val_fraction, seed)
    data = _image_splits(
        _from_arrays(xt, yt), _from_arrays(xv, yv) if len(xv) else None,
        _from_arrays(*arrays["test"]), name=name or f"idx:{os.path.basename(os.path.normpath(path))}",
        image_shape=tuple(arrays["train"][0].shape[1:]), labels=names,
        sizes={"train": len(xt), "val": len(xv), "test": len(arrays["test"][0])},
    )
    data.source = path
    return data


def mnist(data_dir, *, val_fraction=0.1, seed=0):
    """MNIST from the four original IDX `.gz` files in `data_dir` (the `idx` source, preset).

    The last `val_fraction` of a seeded permutation of the 60,000 training
    images is held out for validation; `test` is the official 10,000.
    """
    return idx(data_dir, val_fraction=val_fraction, seed=seed, name="mnist",
               class_names=[str(i) for i in range(10)])


# ----------------------------------------------------------------- TFRecord


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


def _decode(image_bytes, image_size, channels):
    image = tf.io.decode_image(image_bytes, channels=channels, expand_animations=False)
    if image_size is not None:
        # Resized only when its size differs: an antialiased resize to the same size returns the same
        # pixels at ~3x the cost of the decode itself (CIFAR-10: 32x32 images, image_size (32, 32)).
        same = tf.reduce_all(tf.equal(tf.shape(image)[:2], image_size))
        image = tf.cond(same, lambda: image,
                        lambda: tf.cast(tf.image.resize(image, image_size, antialias=True), tf.uint8))
    image.set_shape((*(image_size or (None, None)), channels))
    return image


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
        return _decode(ex[image_key], image_size, channels), tf.cast(ex[label_key], tf.int32)

    def check(ex):  # (label, decoded size) of a parsed example: what validation needs, at the least cost
        image = tf.io.decode_image(ex[image_key], channels=channels, expand_animations=False)
        return tf.cast(ex[label_key], tf.int32), tf.size(image)

    def check_and_keep(ex):  # the epochs' decode, done once
        return tf.cast(ex[label_key], tf.int32), _decode(ex[image_key], image_size, channels)

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


def tfrecords(path, *, class_names=None, image_key="image/encoded", label_key="image/class/label",
              image_size=None, channels=3, train="train-*.tfrecord", test="test-*.tfrecord", val_fraction=0.1,
              skip_corrupt=False, augment=None, name=None, text_key=None, max_tokens=20000, sequence_length=128,
              truncate="post", vectorizer=None):
    """Image (or, with `text_key`, text) classification from your `tf.train.Example` TFRecord shards.

    With `text_key` the records hold a text feature (bytes) and an int64 label
    (`label_key`, default "label" there): see `pipelines.text_source.tfrecord_text`
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
    from pipelines.table import read_class_names

    if text_key is not None:
        from pipelines.text_source import tfrecord_text

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
    data = _image_splits(
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


def cifar10(data_dir, *, val_fraction=0.1, seed=0, skip_corrupt=False):
    """CIFAR-10 from TFRecord shards `train-*.tfrecord`/`test-*.tfrecord` plus
    `labels.txt` (the layout in `../shared/data/cifar10`): the `tfrecords`
    source with CIFAR's size and augmentation."""
    if not os.path.exists(os.path.join(data_dir, "labels.txt")):
        raise ValueError(f"{os.path.join(data_dir, 'labels.txt')!r} not found: point --data-dir at the CIFAR-10 "
                         "TFRecord folder (train-*.tfrecord, test-*.tfrecord, labels.txt).")
    return tfrecords(data_dir, image_size=(32, 32), val_fraction=val_fraction, skip_corrupt=skip_corrupt,
                     augment=crop_and_flip(4), name="cifar10")


# ----------------------------------------------------------------- folders


def _is_image_file(path):
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    return any(head.startswith(m) for m in _MAGIC)


def image_folder(directory, *, image_size=(224, 224), channels=3, val_fraction=0.0,
                 test_dir=None, seed=0, on_error="skip"):
    """Images in class subfolders (`directory/<class>/<file>`).

    Class names are the sorted subfolder names. Files that are not images
    (checked by their first bytes) are skipped with a warning that counts them
    (`on_error="skip"`) or raise a `ValueError` naming them (`"raise"`).
    Images that pass that check but fail to decode (a truncated JPEG) are
    dropped by `ignore_errors` in skip mode.
    """
    if on_error not in ("skip", "raise"):
        raise ValueError(f"`on_error` must be 'skip' or 'raise'. Received: on_error={on_error!r}")

    def scan(root):
        if not os.path.isdir(root):
            raise ValueError(f"Image folder {root!r} does not exist.")
        classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        if not classes:
            raise ValueError(f"{root!r} has no class subfolders; expected {root}/<class>/<image>.")
        paths, labels, bad = [], [], []
        for i, c in enumerate(classes):
            for fname in sorted(os.listdir(os.path.join(root, c))):
                path = os.path.join(root, c, fname)
                if not fname.lower().endswith(IMAGE_EXTENSIONS):
                    continue
                if _is_image_file(path):
                    paths.append(path)
                    labels.append(i)
                else:
                    bad.append(path)
        if bad:
            if on_error == "raise":
                raise ValueError(f"{len(bad)} files in {root!r} are not readable images: "
                                 f"{bad[:5]}. Remove them or pass on_error='skip'.")
            log.warning("Skipped %d unreadable image files in %s (first: %s)", len(bad), root, bad[:3])
        if not paths:
            raise ValueError(f"No images found under {root!r} (extensions {IMAGE_EXTENSIONS}).")
        return classes, np.array(paths), np.array(labels, "int32"), len(bad)

    classes, paths, labels, skipped = scan(directory)

    def build(p, y):
        ds = tf.data.Dataset.from_tensor_slices((p, y))
        ds = ds.map(lambda path, label: (_decode(tf.io.read_file(path), image_size, channels), label),
                    num_parallel_calls=AUTOTUNE, deterministic=True)
        return ds.ignore_errors(log_warning=True) if on_error == "skip" else ds

    (pt, yt), (pv, yv) = _split_arrays(paths, labels, val_fraction, seed)
    test = None
    sizes = {"train": len(pt)}
    if len(pv):
        sizes["val"] = len(pv)
    if test_dir is not None:
        test_classes, ptest, ytest, _ = scan(test_dir)
        if test_classes != classes:
            raise ValueError(f"Test classes {test_classes} differ from train classes {classes}.")
        test = build(ptest, ytest)
        sizes["test"] = len(ptest)
    splits = _image_splits(
        build(pt, yt), build(pv, yv) if len(pv) else None, test, name=os.path.basename(directory.rstrip("/")),
        image_shape=(*image_size, channels), labels=classes, sizes=sizes,
        augment=crop_and_flip(max(1, image_size[0] // 8)),
    )
    splits.preprocessing["skipped_files"] = skipped
    return splits


# ----------------------------------------------------------------- TFDS


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
    return _image_splits(
        out.get("train"), out.get("val"), out.get("test"), name=name, image_shape=shape,
        labels=list(label_feature.names), sizes=sizes,
        augment=crop_and_flip(max(1, shape[0] // 8)) if augment else None,
    )
