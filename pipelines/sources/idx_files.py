"""`idx:` — image classification from four IDX files (MNIST's format: MNIST, Fashion-MNIST, KMNIST,
EMNIST); MNIST is its preset.
"""

import gzip
import os
import struct

import numpy as np

from pipelines.image import (
    array_dataset,
    check_class_indices,
    image_splits,
    split_arrays,
)
from pipelines.registry import option, register_dataset, register_source


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


@register_source("idx", path="FOLDER", description="four IDX files (MNIST's format)",
                 options={"class_names": option("'a,b,c' or a file with one name per line (fixes the order)"), "val_fraction": option("held-out share for validation", type="float")})
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
    from pipelines.delimited import read_class_names

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
    names = read_class_names(class_names)
    if names is None:
        check_class_indices(np.concatenate([arrays[s][1] for s in arrays]), files["train_labels"])
        names = [str(i) for i in range(largest + 1)]
    for split, (_, y) in arrays.items():
        if largest >= len(names):
            row = int(np.flatnonzero(y >= len(names))[0]) if (y >= len(names)).any() else None
            if row is not None:
                raise ValueError(f"{files[split + '_labels']!r} example {row}: label {int(y[row])} has no class "
                                 f"name ({len(names)} given: {names}). Pass one name per label value.")
    (xt, yt), (xv, yv) = split_arrays(*arrays["train"], val_fraction, seed)
    data = image_splits(
        array_dataset(xt, yt), array_dataset(xv, yv) if len(xv) else None,
        array_dataset(*arrays["test"]), name=name or f"idx:{os.path.basename(os.path.normpath(path))}",
        image_shape=tuple(arrays["train"][0].shape[1:]), labels=names,
        sizes={"train": len(xt), "val": len(xv), "test": len(arrays["test"][0])},
    )
    data.source = path
    return data


@register_dataset("mnist", description="MNIST IDX .gz files")
def mnist(data_dir, *, val_fraction=0.1, seed=0):
    """MNIST from the four original IDX `.gz` files in `data_dir` (the `idx` source, preset).

    The last `val_fraction` of a seeded permutation of the 60,000 training
    images is held out for validation; `test` is the official 10,000.
    """
    return idx(data_dir, val_fraction=val_fraction, seed=seed, name="mnist",
               class_names=[str(i) for i in range(10)])
