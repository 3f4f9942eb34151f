"""Data checks at the source: every split is read once before training, and
bad examples are refused with where they are and how many.

* features (float inputs): NaN or Inf;
* classification labels: outside `[0, num_classes)` (the class names);
* regression / forecasting targets: NaN or Inf.

Sources that already checked what they read (TFRecord images are decoded and
their labels checked when loaded) mark the splits done in `DataSplits.checked`.

Example:

```python
import numpy as np, pipelines
data = pipelines.from_arrays(np.ones((10, 4), "float32"), np.arange(10) % 2)
pipelines.checks.check_splits(data)      # passes; a NaN would raise ValueError
```
"""

import numpy as np

CHUNK = 4096


def _first_bad(mask):
    where = np.flatnonzero(mask)
    return int(where.size), (int(where[0]) if where.size else None)


def check_splits(data):
    """Raise `ValueError` on the first split holding bad examples (see the module docstring)."""
    classification = data.task.endswith("classification") or data.task == "seq2seq"
    for split in ("train", "val", "test"):
        ds = getattr(data, split)
        if ds is None or split in data.checked:
            continue
        bad_x = bad_y = 0
        first_x = first_y = bad_value = None
        seen = 0
        for x, y in ds.batch(CHUNK):
            x, y = x.numpy(), y.numpy()
            if x.dtype.kind == "f":
                n, i = _first_bad(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
                bad_x, first_x = bad_x + n, first_x if first_x is not None else (None if i is None else seen + i)
            if classification and data.num_classes is not None:
                flat = y.reshape(len(y), -1)
                n, i = _first_bad(((flat < 0) | (flat >= data.num_classes)).any(axis=1))
                if i is not None and first_y is None:
                    first_y, bad_value = seen + i, flat[i][(flat[i] < 0) | (flat[i] >= data.num_classes)][0]
                bad_y += n
            elif y.dtype.kind == "f":
                n, i = _first_bad(~np.isfinite(y.reshape(len(y), -1)).all(axis=1))
                bad_y, first_y = bad_y + n, first_y if first_y is not None else (None if i is None else seen + i)
            seen += len(x)
        where = f"{data.name!r} ({data.source or 'arrays'}), {split} split"
        if bad_x:
            raise ValueError(f"{where}: {bad_x} example(s) have NaN or Inf features, the first at example "
                             f"{first_x}. Fix or drop them in the source data; nothing was trained.")
        if bad_y and classification:
            names = f" ({len(data.labels)} class names)" if data.labels else ""
            raise ValueError(f"{where}: {bad_y} label(s) outside [0, {data.num_classes}){names}, the first at "
                             f"example {first_y} (label {bad_value}). Fix the labels, or give every class a "
                             "name; nothing was trained.")
        if bad_y:
            raise ValueError(f"{where}: {bad_y} target(s) are NaN or Inf, the first at example {first_y}. "
                             "Fix or drop them in the source data; nothing was trained.")
        data.checked = tuple(data.checked) + (split,)
    return data
