"""Forecasting defaults against the naive forecasts on real series the recipe was not tuned on.

For each series: `pipelines.series_file` with its defaults (transform auto, 12-step input window,
one step ahead, chronological 65/15/20 split) and `lstm_forecaster` trained with the generic
recipe (`TrainConfig()`, what `zoo train` used for every task) and with the forecasting recipe
(`zoo.config.TASK_DEFAULTS["forecasting"]`, what `zoo train` now uses for forecasting runs). Both
are scored in series units on the same test windows as the last-value and seasonal-naive forecasts.

Series: airline passengers (../shared/data/timeseries, monthly) and, from statsmodels' bundled
datasets (`pip install statsmodels`), El Nino sea-surface temperature (monthly), Mauna Loa CO2
(weekly, averaged to months), US unemployment rate (quarterly) and yearly sunspot numbers (zeros).

usage: python benchmarks/forecasting.py [--series airline,elnino,...]
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")



def _statsmodels(name):
    import statsmodels.api as sm

    if name == "elnino":
        table = sm.datasets.elnino.load_pandas().data
        months = table.columns[1:]
        values = table[months].to_numpy().reshape(-1)
        dates = [f"{int(y)}-{m + 1:02d}" for y in table["YEAR"] for m in range(12)]
        return dates, values, "temperature (C)"
    if name == "co2":
        data = sm.datasets.co2.load_pandas().data["co2"]
        monthly = data.resample("MS").mean().dropna()
        return [d.strftime("%Y-%m") for d in monthly.index], monthly.to_numpy(), "ppm"
    if name == "unemployment":
        table = sm.datasets.macrodata.load_pandas().data
        dates = [f"{int(y)}-{3 * int(q) - 2:02d}" for y, q in zip(table["year"], table["quarter"])]
        return dates, table["unemp"].to_numpy(), "percent"
    if name == "sunspots":
        table = sm.datasets.sunspots.load_pandas().data
        return [f"{int(y)}-01" for y in table["YEAR"]], table["SUNACTIVITY"].to_numpy(), "sunspot number"
    raise ValueError(name)


SERIES = {
    "airline": "monthly, 1949-1960",
    "elnino": "monthly, 1950-2010",
    "co2": "weekly -> monthly, 1958-2001",
    "unemployment": "quarterly, 1959-2009",
    "sunspots": "yearly, 1700-2008, has zeros",
}


def write_csv(name, folder):
    from benchmarks.common import SHARED

    if name == "airline":
        return os.path.join(SHARED, "timeseries", "airline-passengers.csv"), "Passengers", "Month", None
    dates, values, _ = _statsmodels(name)
    path = os.path.join(folder, f"{name}.csv")
    with open(path, "w") as f:
        f.write("date,value\n")
        for d, v in zip(dates, values):
            f.write(f"{d},{float(v)}\n")
    return path, "value", "date", (11 if name == "sunspots" else None)  # the ~11-year solar cycle


def run_one(name, folder, recipe):
    import keras

    import pipelines
    import zoo
    from zoo.config import TASK_DEFAULTS, TrainConfig
    from zoo.train import fit

    path, column, date_column, season = write_csv(name, folder)
    data = pipelines.series_file(path, column=column, date_column=date_column, season=season)
    overrides = TASK_DEFAULTS["forecasting"] if recipe == "forecasting" else {}
    keras.utils.set_random_seed(0)
    start = time.perf_counter()
    result = fit(lambda: zoo.lstm_forecaster(input_shape=tuple(data.input_shape),
                                             horizon=data.preprocessing["horizon"]),
                 data, config=TrainConfig(**{**overrides, "verbose": 0}))
    seconds = time.perf_counter() - start
    report = pipelines.forecast_report(result.model, data)
    return data, report, seconds, len(result.history.get("loss", []))


def main():
    from benchmarks.common import save
    from zoo.config import TASK_DEFAULTS

    p = argparse.ArgumentParser()
    p.add_argument("--series", default=",".join(SERIES))
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.series.split(","):
            for recipe in ("generic", "forecasting"):
                data, report, seconds, epochs = run_one(name, folder, recipe)
                last = report["last_value"]["rmse"]
                row = {"series": name, "kind": SERIES[name], "test windows": data.sizes["test"],
                       "recipe": recipe, "epochs run": epochs,
                       "transform": ("log, " if data.preprocessing["log"] else "") + data.preprocessing["type"],
                       "model RMSE": report["model"]["rmse"], "last-value RMSE": last,
                       "seasonal-naive RMSE": report.get("seasonal_naive", {}).get("rmse", "-"),
                       "model / last-value RMSE": report["model"]["rmse"] / last,
                       "model MAE": report["model"]["mae"], "last-value MAE": report["last_value"]["mae"]}
                print(row, flush=True)
                rows.append(row)
    wins = [r for r in rows if r["recipe"] == "forecasting" and r["model / last-value RMSE"] < 1.0]
    notes = (f"`lstm_forecaster`, one step ahead from 12 past steps, seed 0; RMSE/MAE in series units on the test "
             f"windows (the last 20% of each series). generic = `TrainConfig()` (10 epochs, batch 64, lr 1e-3); "
             f"forecasting = `{TASK_DEFAULTS['forecasting']}` (early stopping on the validation windows, best "
             f"weights restored). The forecasting recipe beats the last-value forecast on {len(wins)} of "
             f"{len(rows) // 2} series. Seasonal naive: the value one season earlier (12 months, 4 quarters, "
             f"an 11-year cycle for sunspots); '-' where the season is longer than the input window.")
    save("forecasting", "Forecasting defaults vs naive forecasts on real series", rows, notes=notes)


if __name__ == "__main__":
    main()
