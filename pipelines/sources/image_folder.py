"""`folder:` — image classification from class subfolders of image files (`directory/<class>/<file>`).
"""

import logging
import os

import numpy as np
import tensorflow as tf

from pipelines.core import AUTOTUNE
from pipelines.image import crop_and_flip, decode_image, image_splits, split_arrays
from pipelines.paths import check_inside
from pipelines.registry import option, register_source

log = logging.getLogger("pipelines")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
# First bytes of each format tf.io.decode_image reads.
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"GIF87a", b"GIF89a")

def _is_image_file(path):
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    return any(head.startswith(m) for m in _MAGIC)


def _undecodable(paths, channels):
    """The files among `paths` that start like an image but do not decode (truncated, corrupt), found in
    one parallel pass at load instead of being dropped without a word in the middle of an epoch."""
    def decodes(i, path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        return i, tf.shape(image)[0]

    ds = tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), paths))
    ok = set()
    for i, _ in ds.map(decodes, num_parallel_calls=AUTOTUNE).ignore_errors().batch(512).as_numpy_iterator():
        ok.update(i.tolist())
    return [p for i, p in enumerate(paths) if i not in ok]


@register_source("folder", path="FOLDER", description="image class folders (FOLDER/<class>/<image>)",
                 options={"val_fraction": option("held-out share for validation", type="float"),
                          "on_error": option("folder: files that are not images or do not decode (truncated): "
                                             "skip them with a warning (default) or raise", choices=("skip", "raise"))})
def image_folder(directory, *, image_size=(224, 224), channels=3, val_fraction=0.0,
                 test_dir=None, seed=0, on_error="skip"):
    """Images in class subfolders (`directory/<class>/<file>`).

    Class names are the sorted subfolder names. Every file with an image extension is decoded once at
    load: files that are not images (another format renamed) or do not decode (a truncated JPEG) are
    skipped with a warning that counts and names them (`on_error="skip"`, `--data-arg on_error=skip`) or
    raise a `ValueError` naming them (`"raise"`); the split sizes count only the images kept.
    """
    if on_error not in ("skip", "raise"):
        raise ValueError(f"`on_error` must be 'skip' or 'raise'. Received: on_error={on_error!r}")

    def scan(root):
        if not os.path.isdir(root):
            raise ValueError(f"{root!r} is a file; folder: reads a folder of class subfolders of images." if
                             os.path.exists(root) else f"Image folder {root!r} does not exist.")
        classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        if not classes:
            raise ValueError(f"{root!r} has no class subfolders; expected {root}/<class>/<image>.")
        paths, labels, bad = [], [], []
        for i, c in enumerate(classes):
            for fname in sorted(os.listdir(os.path.join(root, c))):
                path = os.path.join(root, c, fname)
                if not fname.lower().endswith(IMAGE_EXTENSIONS):
                    continue
                check_inside(root, path, "an image folder")  # links followed inside the folder only
                if _is_image_file(path):
                    paths.append(path)
                    labels.append(i)
                else:
                    bad.append(path)
        broken = set(_undecodable(paths, channels)) if paths else set()
        if broken:
            labels = [y for p, y in zip(paths, labels) if p not in broken]
            paths = [p for p in paths if p not in broken]
            bad += sorted(broken)
        if bad:
            if on_error == "raise":
                raise ValueError(f"{len(bad)} files in {root!r} are not readable images (another format, or "
                                 f"truncated): {bad[:5]}. Remove or re-save them, or pass on_error='skip' "
                                 "(--data-arg on_error=skip) to train without them.")
            log.warning("Skipped %d unreadable image files in %s (not images, or truncated; first: %s)", len(bad),
                        root, bad[:3])
        if not paths:
            raise ValueError(f"No images found under {root!r} (extensions {IMAGE_EXTENSIONS}).")
        return classes, np.array(paths), np.array(labels, "int32"), len(bad)

    classes, paths, labels, skipped = scan(directory)
    if len(classes) < 2:  # a one-class softmax learns nothing and reports 100% accuracy
        raise ValueError(f"{directory!r} has one class folder ({classes[0]!r}); a classifier needs two or more: "
                         f"expected {directory}/<class>/<image> for every class.")

    def build(p, y):
        ds = tf.data.Dataset.from_tensor_slices((p, y))
        ds = ds.map(lambda path, label: (decode_image(tf.io.read_file(path), image_size, channels), label),
                    num_parallel_calls=AUTOTUNE, deterministic=True)
        return ds.ignore_errors(log_warning=True) if on_error == "skip" else ds

    (pt, yt), (pv, yv) = split_arrays(paths, labels, val_fraction, seed)
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
    splits = image_splits(
        build(pt, yt), build(pv, yv) if len(pv) else None, test, name=os.path.basename(directory.rstrip("/")),
        image_shape=(*image_size, channels), labels=classes, sizes=sizes,
        augment=crop_and_flip(max(1, image_size[0] // 8)),
    )
    splits.preprocessing["skipped_files"] = skipped
    return splits
