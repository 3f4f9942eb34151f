"""Sliding windows over a univariate time series (CSV)."""

import csv
import os

import numpy as np
import tensorflow as tf

from pipelines.core import DataSplits


def read_series(path, column=None):
    """The numeric column of a CSV with a header (default: the last column)."""
    if not os.path.exists(path):
        raise ValueError(f"Time-series file {path!r} does not exist.")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        raise ValueError(f"{path!r} holds no data rows.")
    header, body = rows[0], [r for r in rows[1:] if r]
    col = len(header) - 1 if column is None else (header.index(column) if column in header else -1)
    if col < 0:
        raise ValueError(f"Column {column!r} not in {path!r}; the header is {header}.")
    values = []
    for row_number, r in enumerate(rows[1:], start=2):
        if not r:
            continue
        if col >= len(r):
            raise ValueError(f"{path!r} line {row_number}: {len(r)} column(s), no {header[col]!r} (column "
                             f"{col + 1} of the header {header}). Fix the row or remove it.")
        try:
            values.append(float(r[col]))
        except ValueError:
            raise ValueError(f"{path!r} line {row_number}: {r[col]!r} in column {header[col]!r} is not a "
                             "number.") from None
        if not np.isfinite(values[-1]):
            raise ValueError(f"{path!r} line {row_number}: {r[col]!r} in column {header[col]!r} is not a "
                             "finite number (NaN/Inf). Fill or drop the gap.")
    return np.array(values, "float32")


def windows(series, *, input_width=12, horizon=1, val_fraction=0.15, test_fraction=0.2,
            log=False, relative=False, name="series"):
    """Chronological train/val/test windows, scaled with train statistics only.

    Each element is `(x, y)`: `x` the `(input_width, 1)` past, `y` the
    `(horizon, 1)` future. The test split's windows start `input_width`
    steps before its first target so no target is seen in training.

    Args:
        log: model `log(series)` (multiplicative growth and seasonality
            become additive).
        relative: express each window relative to its last observed value,
            scaled by the std of one-step changes: the model predicts the
            change, so a trend that leaves the training range does not push
            its inputs out of range. Plain mode standardizes by the train
            mean/std instead.

    `preprocessing` records how to invert; `DataSplits.extras["bases"][split]`
    holds each window's reference value (needed by `invert_windows`).
    """
    series = np.asarray(series, "float32")
    n = len(series)
    n_test, n_val = int(n * test_fraction), int(n * val_fraction)
    n_train = n - n_test - n_val
    if n_train < input_width + horizon:
        raise ValueError(f"The training part ({n_train} steps) is shorter than one window "
                         f"(input_width + horizon = {input_width + horizon}). Use a longer series "
                         "or smaller windows.")
    if log and (series <= 0).any():
        raise ValueError("log=True needs a strictly positive series.")
    z = np.log(series) if log else series
    if relative:
        offset, scale = 0.0, float(np.diff(z[:n_train]).std() or 1.0)
    else:
        offset, scale = float(z[:n_train].mean()), float(z[:n_train].std() or 1.0)

    def make(start, stop):
        # Targets lie in [start, stop); inputs may reach back before `start`.
        xs, ys, bases = [], [], []
        for t in range(max(start, input_width), stop - horizon + 1):
            base = z[t - 1] if relative else offset
            xs.append((z[t - input_width:t, None] - base) / scale)
            ys.append((z[t:t + horizon, None] - base) / scale)
            bases.append(base)
        if not xs:
            return None, 0, None
        xs, ys = np.stack(xs).astype("float32"), np.stack(ys).astype("float32")
        return tf.data.Dataset.from_tensor_slices((xs, ys)), len(xs), np.asarray(bases, "float32")

    train, n_tr, b_tr = make(0, n_train)
    val, n_va, b_va = make(n_train, n_train + n_val)
    test, n_te, b_te = make(n_train + n_val, n)
    return DataSplits(
        train=train, val=val, test=test, task="forecasting", input_shape=(input_width, 1),
        input_dtype="float32", sizes={k: v for k, v in (("train", n_tr), ("val", n_va), ("test", n_te)) if v},
        preprocessing={"type": "relative" if relative else "standardize", "log": bool(log),
                       "mean": offset, "std": scale, "input_width": input_width, "horizon": horizon},
        extras={"bases": {"train": b_tr, "val": b_va, "test": b_te}},
        name=name,
    )


def invert_windows(data, split, values):
    """Model-space targets/predictions `(n, horizon, 1)` of `split` back to series units."""
    pre = data.preprocessing
    bases = data.extras["bases"][split][:, None, None]
    z = np.asarray(values, "float32") * pre["std"] + (bases if pre["type"] == "relative" else pre["mean"])
    return np.exp(z) if pre.get("log") else z


def airline(data_dir, *, input_width=12, horizon=1, log=True, relative=True):
    """Monthly airline passengers 1949-1960 (`airline-passengers.csv`), by
    default in log space relative to the last month (trend-robust)."""
    path = data_dir if data_dir.endswith(".csv") else os.path.join(data_dir, "airline-passengers.csv")
    return windows(read_series(path, "Passengers"), input_width=input_width, horizon=horizon,
                   log=log, relative=relative, name="airline")
