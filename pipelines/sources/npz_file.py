"""`npz:` — image classification from NumPy arrays (`keras.datasets`' `.npz` layout), and the arrays
source behind it (`image_arrays`); scikit-learn's digits is its preset.
"""

import os

import numpy as np

from pipelines.core import check_fractions
from pipelines.image import array_dataset, check_class_indices, image_splits
from pipelines.registry import option, register_dataset, register_source


def image_arrays(x, y, *, test=None, class_names=None, val_fraction=0.1, test_fraction=0.2, seed=0, scale=None,
                 name="arrays", where="arrays"):
    """`DataSplits` of images from arrays: `x` `(n, height, width[, channels])`, `y` `(n,)` class
    indices or class-name strings. Held-out splits are a seeded *stratified* permutation (every split
    sees every class): `val_fraction`, and `test_fraction` unless `test=(x_test, y_test)` is given.
    `scale` maps pixels to [0, 1] (default 1/255 for integer pixels, 1 for floats). `where` names the
    data in errors."""
    from pipelines.delimited import read_class_names

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
        if names is None:
            check_class_indices(np.concatenate([p[1] for p in parts.values()]), where)
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
    return image_splits(*(array_dataset(*splits[k]) if k in splits else None for k in ("train", "val", "test")),
                         name=name, image_shape=x.shape[1:], labels=names,
                         sizes={k: int(len(v[0])) for k, v in splits.items()}, scale=scale)


@register_source("npz", path="FILE", description="NumPy image arrays in keras.datasets' .npz layout",
                 options={"class_names": option("'a,b,c' or a file with one name per line (fixes the order)"), "val_fraction": option("held-out share for validation", type="float"), "test_fraction": option("held-out share for testing", type="float")})
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


@register_dataset("digits", needs_data_dir=False, description="scikit-learn's bundled 8x8 digits (offline)")
def digits(*, val_fraction=0.1, test_fraction=0.2, seed=0):
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, offline): a preset of the arrays
    source (`image_arrays`, as `npz:` files are read). Pixels are 0..16, scaled to [0, 1]; 70% train,
    10% val, 20% test by default, stratified."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return image_arrays(bunch.images.astype("uint8"), bunch.target.astype("int32"), val_fraction=val_fraction,
                        test_fraction=test_fraction, seed=seed, scale=1 / 16, name="digits",
                        class_names=[str(i) for i in range(10)])
