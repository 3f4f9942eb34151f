"""Sliding windows over a univariate time series, their transforms and the naive forecasts a
forecaster must beat (the `series:` source that reads a CSV file is `pipelines/sources/series_file.py`)."""

import numpy as np
import tensorflow as tf

from pipelines.core import DataSplits

TRANSFORMS = ("auto", "none", "log", "relative", "log_relative")


def resolve_transform(series, transform):
    """`(log, relative)` for a transform name. `auto`: log when the series is strictly positive and
    spans more than a factor of 2 (growth and seasonality scale with the level), relative to the last
    value either way (a trend leaves the training range without pushing inputs out of it); it never
    fails on zeros or negatives."""
    if transform not in TRANSFORMS:
        raise ValueError(f"`transform` must be one of {list(TRANSFORMS)}. Received: transform={transform!r}")
    series = np.asarray(series, "float64")
    if transform == "auto":
        positive = bool((series > 0).all())
        return positive and float(series.max() / series.min()) > 2.0, True
    if transform in ("log", "log_relative") and (series <= 0).any():
        first = int(np.flatnonzero(series <= 0)[0])
        raise ValueError(f"transform={transform!r} needs a strictly positive series; value {series[first]} at "
                         f"position {first}. Use transform='auto' or 'relative'.")
    return transform in ("log", "log_relative"), transform in ("relative", "log_relative")


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
    """Model-space windows, targets or predictions `(n, steps, 1)` of `split`'s first `n` windows (in order)
    back to series units."""
    bases = data.extras["bases"][split][:len(values), None, None]
    return from_model_space(np.asarray(values, "float32"), bases, data.preprocessing)


def from_model_space(values, bases, preprocessing):
    """The windows' transform undone: `values` scaled by the training std, shifted by each window's base (its
    last log value, `relative`) or the training mean, exponentiated where the series was logged."""
    pre = preprocessing
    z = values * pre["std"] + (bases if pre["type"] == "relative" else pre["mean"])
    return np.exp(z) if pre.get("log") else z


def naive_baselines(data, split="test", season=None):
    """RMSE and MAE in series units of the naive forecasts on `split`'s windows (the same windows the model
    is scored on): `{"last_value": {...}, "seasonal_naive": {...}, "drift": {...}}` — the last value, the
    value one season earlier (where the season fits the window), and the last value plus the window's
    average step (the drift method)."""
    pre = data.preprocessing
    xs, ys = [], []
    for x, y in data.split(split):
        xs.append(x.numpy())
        ys.append(y.numpy())
    x, y = np.stack(xs), np.stack(ys)
    truth = invert_windows(data, split, y)[..., 0]
    history = invert_windows(data, split, x)[..., 0]  # (n, input_width) in series units
    horizon = truth.shape[1]
    out = {"last_value": np.repeat(history[:, -1:], horizon, axis=1)}
    season = season or data.extras.get("season")
    if season and season <= pre["input_width"]:
        steps = np.arange(horizon)
        out["seasonal_naive"] = history[:, pre["input_width"] - season + steps % season]
    if pre["input_width"] > 1:  # in the model's space (log, relative), as the forecaster's base computes it
        z = x[..., 0]
        slope = (z[:, -1:] - z[:, :1]) / (pre["input_width"] - 1)
        out["drift"] = invert_windows(data, split, (z[:, -1:] + slope * np.arange(1, horizon + 1))[..., None])[..., 0]
    return {k: errors(truth, v) for k, v in out.items()}


def errors(truth, prediction):
    """RMSE and MAE over every window and step; with a horizon over 1 also each step's RMSE
    (`rmse_per_step`: 1 step ahead, 2 steps ahead, ...)."""
    diff = np.asarray(prediction, "float64") - np.asarray(truth, "float64")
    out = {"rmse": float(np.sqrt(np.mean(diff ** 2))), "mae": float(np.mean(np.abs(diff)))}
    if diff.ndim == 2 and diff.shape[1] > 1:
        out["rmse_per_step"] = [float(v) for v in np.sqrt(np.mean(diff ** 2, axis=0))]
    return out


def forecast_report(model, data, split="test", batch_size=256):
    """The model's RMSE/MAE in series units on `split` next to the naive baselines'."""
    ys, preds = [], []
    for x, y in data.batches(split, batch_size, training=False):
        preds.append(np.asarray(model.predict_on_batch(x)))
        ys.append(y.numpy())
    truth = invert_windows(data, split, np.concatenate(ys))[..., 0]
    prediction = invert_windows(data, split, np.concatenate(preds).reshape(truth.shape + (1,)))[..., 0]
    return {"model": errors(truth, prediction), **naive_baselines(data, split)}
