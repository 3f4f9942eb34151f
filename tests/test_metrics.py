"""The metrics people read (`zoo.metrics`), checked against scikit-learn's, and the naive forecast a
forecaster corrects."""

import numpy as np
import pytest
from sklearn import metrics as sk

import pipelines
import zoo
from zoo import metrics


@pytest.mark.parametrize("classes", [2, 4])
def test_classification_metrics_match_scikit_learn(classes):
    rng = np.random.default_rng(classes)
    labels = rng.integers(0, classes, 300)
    labels[:5] = 0  # class 0 present; the last class never predicted below
    scores = rng.random((300, classes)) + 0.8 * np.eye(classes)[labels]
    scores[:, -1] *= 0.2 if classes > 2 else 1.0
    scores = np.round(scores, 1)  # ties, as a coarse model (or int8) produces
    got = metrics.classification(labels, scores)
    predicted = scores.argmax(-1)
    assert got["accuracy"] == pytest.approx(sk.accuracy_score(labels, predicted))
    assert got["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(labels, predicted))
    assert got["macro_f1"] == pytest.approx(sk.f1_score(labels, predicted, average="macro"))
    if classes == 2:
        assert got["roc_auc"] == pytest.approx(sk.roc_auc_score(labels, scores[:, 1]))
    else:
        assert "roc_auc" not in got


def test_regression_metrics_and_baselines():
    rng = np.random.default_rng(0)
    y = rng.normal(150_000, 40_000, 200)
    pred = y + rng.normal(0, 10_000, 200)
    got = metrics.regression(y, pred)
    assert got["rmse"] == pytest.approx(np.sqrt(sk.mean_squared_error(y, pred)))
    assert got["mae"] == pytest.approx(sk.mean_absolute_error(y, pred))
    assert got["r2"] == pytest.approx(sk.r2_score(y, pred))
    name, base = metrics.baseline("regression", y, {"target_scale": {"mean": 150_000.0, "std": 1.0}})
    assert name == "training mean" and base["rmse"] == pytest.approx(np.sqrt(np.mean((y - 150_000) ** 2)))
    labels = np.array([0, 0, 0, 1])
    name, base = metrics.baseline("classification", labels, {"majority_class": 0}, num_classes=2)
    assert base["accuracy"] == 0.75 and base["balanced_accuracy"] == 0.5 and base["roc_auc"] == 0.5
    assert metrics.baseline("classification", labels, {}) is None  # nothing recorded: no baseline line


def test_an_untrained_seasonal_forecaster_is_exactly_the_seasonal_naive_forecast(tmp_path):
    t = np.arange(120)
    path = tmp_path / "s.csv"
    values = 100 + t + 10 * np.sin(2 * np.pi * t / 12)
    path.write_text("month,v\n" + "".join(f"{1990 + i // 12}-{i % 12 + 1:02d},{v:.3f}\n" for i, v in enumerate(values)))
    data = pipelines.series_file(str(path), column="v", date_column="month", horizon=3)
    model = zoo.lstm_forecaster_tiny(horizon=3, base="seasonal", season=12)
    report = pipelines.forecast_report(model, data)
    assert report["model"]["rmse"] == pytest.approx(report["seasonal_naive"]["rmse"], rel=1e-5)
    with pytest.raises(ValueError, match="at least 13 steps"):
        zoo.lstm_forecaster_tiny(base="seasonal", season=13)
    with pytest.raises(ValueError, match="base='drift' needs a known window of at least 2 steps"):
        zoo.lstm_forecaster_tiny(base="drift", input_shape=(1, 1))


def test_an_untrained_drift_forecaster_is_exactly_the_drift_forecast(tmp_path):
    t = np.arange(120)
    path = tmp_path / "s.csv"
    path.write_text("v\n" + "".join(f"{50 + 2 * i + np.sin(i):.3f}\n" for i in t))
    data = pipelines.series_file(str(path), column="v", horizon=2)
    report = pipelines.forecast_report(zoo.lstm_forecaster_tiny(base="drift"), data)
    assert report["model"]["rmse"] == pytest.approx(report["drift"]["rmse"], rel=1e-5)
    assert report["drift"]["rmse"] < report["last_value"]["rmse"]  # a trending series
