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


# Decoded pixels an encoded image may declare before a serving signature decodes it: a 389 KB PNG can declare
# 20000x20000 pixels (1.2 GB decoded). 25 megapixels holds a 24 MP camera's photo; exports take max_pixels=.
MAX_PIXELS = 25_000_000


def _header_int(data, start, length, little_endian):
    """The unsigned integer stored in bytes `start:start+length` of a scalar string."""
    raw = tf.cast(tf.io.decode_raw(tf.strings.substr(data, start, length), tf.uint8), tf.int64)  # (length,)
    shifts = tf.range(length, dtype=tf.int64) if little_endian else tf.range(length - 1, -1, -1, dtype=tf.int64)
    return tf.reduce_sum(tf.bitwise.left_shift(raw, 8 * shifts))


def encoded_pixels(data):
    """Height x width an encoded PNG, JPEG, GIF or BMP declares in its header (a scalar int64; 0 for a header
    too short to read, which the decoder then refuses), read without decoding the image."""
    long_enough = tf.strings.length(data) >= 26

    def png():  # IHDR: width and height, big-endian, at bytes 16 and 20
        return _header_int(data, 16, 4, False) * _header_int(data, 20, 4, False)

    def jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(data), tf.int64)
        return shape[0] * shape[1]

    def gif():  # logical screen: little-endian 16-bit width and height at bytes 6 and 8
        return _header_int(data, 6, 2, True) * _header_int(data, 8, 2, True)

    def bmp():  # BITMAPINFOHEADER: little-endian 32-bit width and height (negative: top-down) at 18 and 22
        height = _header_int(data, 22, 4, True)
        return _header_int(data, 18, 4, True) * tf.where(height >= 2**31, 2**32 - height, height)

    def starts(magic):
        return tf.equal(tf.strings.substr(data, 0, len(magic)), magic)

    return tf.case([(starts(b"\x89PNG\r\n\x1a\n") & long_enough, png), (starts(b"\xff\xd8\xff"), jpeg),
                    (starts(b"GIF") & long_enough, gif), (starts(b"BM") & long_enough, bmp)],
                   default=lambda: tf.constant(0, tf.int64), exclusive=True)
