"""`series:` — forecasting windows from a user's CSV time series (a value column, optionally sorted by a
date column); the airline passengers series is its preset.
"""

import os

import numpy as np

from pipelines.delimited import iter_rows
from pipelines.registry import option, register_dataset, register_source
from pipelines.series import resolve_transform, windows


def read_series(path, column=None, *, date_column=None):
    """The numeric column of a CSV with a header (default: the last numeric column).

    `column` is a name or a position; with `date_column` the rows are put in
    date order first (ISO dates or any format NumPy's datetime64 reads).
    A gap (empty cell, NaN) or a non-number is refused with its line.

    Example:

    ```python
    from pipelines.series import read_series
    values = read_series("sales.csv", column="units", date_column="day")
    ```
    """
    return _read_dated(path, column, date_column)[0]


def _read_dated(path, column, date_column):
    """`(values, dates)` of a CSV series, in date order with `date_column` (dates `None` without)."""
    if not os.path.exists(path):
        raise ValueError(f"Time-series file {path!r} does not exist.")
    if os.path.isdir(path):
        raise ValueError(f"{path!r} is a folder; series: reads one CSV file (a header, a value column).")
    stem = path[:-3] if path.endswith(".gz") else path
    # a byte-order mark, .gz, bad UTF-8 (its line), another delimiter: as every table is read
    numbered = list(iter_rows(path, "\t" if stem.lower().endswith(".tsv") else ","))
    rows = [row for _, row in numbered]
    if len(rows) < 2:
        raise ValueError(f"{path!r} holds no data rows.")
    header = [h.strip() for h in rows[0]]
    col = _column(header, column, path, rows)
    values, dates, lines = [], [], []
    date_col = None if date_column is None else _column(header, date_column, path, rows)
    for row_number, r in numbered[1:]:
        lines.append(row_number)
        if col >= len(r) or (date_col is not None and date_col >= len(r)):
            raise ValueError(f"{path!r} line {row_number}: {len(r)} column(s), no {header[col]!r} (column "
                             f"{col + 1} of the header {header}). Fix the row or remove it.")
        if len(r) > len(header):  # `1,234.5` unquoted splits a number in two, shifting every later column
            raise ValueError(f"{path!r} line {row_number}: {len(r)} fields but the header has {len(header)}: a "
                             "number written with a thousands separator (1,234.5)? Quote it or drop the separator.")
        try:
            values.append(float(r[col]))
        except ValueError:
            raise ValueError(f"{path!r} line {row_number}: {r[col]!r} in column {header[col]!r} is not a "
                             "number. Fill or drop the gap.") from None
        if not np.isfinite(values[-1]):
            raise ValueError(f"{path!r} line {row_number}: {r[col]!r} in column {header[col]!r} is not a "
                             "finite number (NaN/Inf). Fill or drop the gap.")
        if date_col is not None:
            try:
                dates.append(np.datetime64(r[date_col].strip()))
            except ValueError:
                raise ValueError(f"{path!r} line {row_number}: {r[date_col]!r} in column {header[date_col]!r} is "
                                 "not a date (use ISO dates such as 1949-01 or 1949-01-31).") from None
    values = np.array(values, "float32")
    if date_col is None:
        return values, None
    dates = np.array(dates)
    order = np.argsort(dates, kind="stable")
    _check_spacing(path, dates[order], np.array(lines)[order])  # the file's own line numbers (blank lines skipped)
    return values[order], dates[order]


def _check_spacing(path, dates, lines):
    """Sorted dates are distinct and evenly spaced (the windows assume one step per row): a duplicated
    date or a gap of several steps is refused with its lines."""
    if len(dates) < 3:
        return
    steps = np.diff(dates).astype("timedelta64[D]").astype("float64")
    same = np.flatnonzero(steps == 0)
    if len(same):
        i = int(same[0])
        raise ValueError(f"{path!r} lines {lines[i]} and {lines[i + 1]}: the date {dates[i]} appears twice. "
                         "Keep one value per date.")
    usual = float(np.median(steps))
    jumps = np.flatnonzero(steps > 1.5 * usual)
    if len(jumps):
        i = int(jumps[0])
        raise ValueError(f"{path!r} line {lines[i + 1]}: the dates jump from {dates[i]} to {dates[i + 1]} "
                         f"(about {steps[i] / usual:.0f} steps of {usual:g} days): the model reads evenly spaced "
                         "steps. Fill the missing dates, or pass no date column to use the rows as they are.")


def _column(header, column, path, rows):
    if column is None:
        # The last column whose first data value is a number.
        first = rows[1]
        for i in reversed(range(len(header))):
            try:
                float(first[i])
                return i
            except (ValueError, IndexError):
                continue
        raise ValueError(f"{path!r}: no numeric column in the first data row {first}. Pass column=.")
    if isinstance(column, int) or (isinstance(column, str) and column.isdigit()):
        if int(column) >= len(header):
            raise ValueError(f"column={column!r}: {path!r} has {len(header)} columns {header}.")
        return int(column)
    if column not in header:
        raise ValueError(f"Column {column!r} not in {path!r}; the header is {header}.")
    return header.index(column)


@register_source("series", path="FILE", description="a CSV time series", options={
    "column": option("the value column (default: the last numeric one)"),
    "date_column": option("sort by this date column (and guess the season)"),
    "transform": option("default auto (never fails on zeros or negatives)",
                        choices=("auto", "none", "log", "relative", "log_relative")),
    "season": option("steps per season for the seasonal-naive baseline", type="positive_int"),
    "horizon": option("steps ahead to forecast (default 1; RMSE reported per step)", type="positive_int"),
    "input_width": option("past steps the model reads (default 12)", type="positive_int"),
    "val_fraction": option("held-out share for validation", type="float"), "test_fraction": option("held-out share for testing", type="float")})
def series_file(path, *, column=None, date_column=None, transform="auto", input_width=12, horizon=1,
                val_fraction=0.15, test_fraction=0.2, season=None, name=None):
    """Forecasting windows from any CSV time series (see `read_series` and `windows`).

    `transform`: `auto` (never fails on zeros or negatives; see
    `resolve_transform`), `none`, `log`, `relative` or `log_relative`.
    `season` (steps per season, e.g. 12 for monthly data) is recorded for the
    seasonal-naive baseline; by default it is guessed from the dates' spacing
    (monthly 12, quarterly 4, daily 7, hourly 24) or left out.

    Example:

    ```python
    import pipelines
    data = pipelines.series_file("sunspots.csv", column="SUNACTIVITY", transform="auto")
    ```
    """
    values, dates = _read_dated(path, column, date_column)
    log, relative = resolve_transform(values, transform)
    data = windows(values, input_width=input_width, horizon=horizon, val_fraction=val_fraction,
                   test_fraction=test_fraction, log=log, relative=relative,
                   name=name or f"series:{os.path.basename(path)}")
    data.source = path
    data.preprocessing["transform"] = transform
    data.extras["series"] = values
    data.extras["season"] = season or _season_of(dates)
    return data


def _season_of(dates):
    """Steps per season from the dates' median spacing (daily 7, weekly 52, monthly 12, quarterly 4), or None."""
    if dates is None or len(dates) < 2:
        return None
    dates = dates.astype("datetime64[D]")
    step = float(np.median(np.diff(dates).astype("float64")))
    for days, season in ((1, 7), (7, 52), (30.4, 12), (91.3, 4)):
        if abs(step - days) <= 0.15 * days:
            return season
    return None


@register_dataset("airline", description="airline-passengers.csv")
def airline(data_dir, *, input_width=12, horizon=1, log=True, relative=True):
    """Monthly airline passengers (`airline-passengers.csv` in `data_dir`, or the file): a preset of the
    `series:` source (`series_file`), by default in log space relative to the last month (trend-robust)."""
    path = data_dir if data_dir.endswith(".csv") else os.path.join(data_dir, "airline-passengers.csv")
    transform = {(True, True): "log_relative", (True, False): "log", (False, True): "relative"}.get(
        (bool(log), bool(relative)), "none")
    return series_file(path, column="Passengers", transform=transform, input_width=input_width, horizon=horizon,
                       season=12, name="airline")
