"""What the image sources share: `DataSplits` of unbatched `(uint8 image, int32 label)` elements
(`image_splits`), whose `normalize` maps images to float32 in [0, 1] per batch, and whose `augment`
(train only) is the CIFAR recipe `crop_and_flip`: pad + random crop + flip. The sources themselves,
one module per kind, are in `pipelines/sources/` (`npz_file`, `idx_files`, `tfrecords`,
`image_folder`, `tfds_catalog`).
"""

import numpy as np
import tensorflow as tf

from pipelines.core import DataSplits


def check_class_indices(train_labels, where):
    """Integer labels without class names are the indices 0..K-1 of K classes, K = the largest label + 1:
    an index no training example has means a stray label (a 200 among digits would train a 201-class
    model), refused here with the fix."""
    largest = int(np.max(train_labels))
    absent = np.setdiff1d(np.arange(largest + 1), np.unique(train_labels))
    if len(absent):
        shown = ", ".join(str(int(i)) for i in absent[:8]) + (" ..." if len(absent) > 8 else "")
        raise ValueError(f"{where}: labels are class indices 0..{largest}, but {len(absent)} of those "
                         f"{largest + 1} classes have no training example ({shown}): a stray label "
                         f"{largest}? Fix the labels, or pass class_names= (--class-names) naming every class.")


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


def image_splits(train, val, test, *, name, image_shape, labels, sizes, scale=1 / 255,
                  augment=None):
    return DataSplits(
        train=train, val=val, test=test, task="image_classification",
        input_shape=tuple(image_shape), input_dtype="float32", num_classes=len(labels),
        labels=list(labels), sizes=sizes, normalize=rescale(scale), augment=augment,
        preprocessing={"type": "rescale", "scale": scale, "offset": 0.0,
                       "layout": "NHWC", "image_size": list(image_shape[:2])},
        name=name,
    )


def split_arrays(x, y, val_fraction, seed):
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = int(round(len(x) * val_fraction))
    return (x[order[n_val:]], y[order[n_val:]]), (x[order[:n_val]], y[order[:n_val]])


def array_dataset(x, y):
    return tf.data.Dataset.from_tensor_slices((x, y.astype("int32")))




def decode_image(image_bytes, image_size, channels):
    image = tf.io.decode_image(image_bytes, channels=channels, expand_animations=False)
    if image_size is not None:
        # Resized only when its size differs: an antialiased resize to the same size returns the same
        # pixels at ~3x the cost of the decode itself (CIFAR-10: 32x32 images, image_size (32, 32)).
        same = tf.reduce_all(tf.equal(tf.shape(image)[:2], image_size))
        image = tf.cond(same, lambda: image,
                        lambda: tf.cast(tf.image.resize(image, image_size, antialias=True), tf.uint8))
    image.set_shape((*(image_size or (None, None)), channels))
    return image
